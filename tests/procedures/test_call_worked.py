"""A call with ten proposals, scored, ranked and allocated by hand (weights of
data/call_criteria.csv: strategies 20, LUM 15, green network 15, regeneration area 15,
indicators 15, co-funding 20; min score 20; allocation 'skip'; tie rule score ↓, co-funding share ↓,
requested ↑, submission ↑, id ↑)."""
from __future__ import annotations

from fractions import Fraction as F

import pytest
from sqlalchemy import create_engine

from sttm.equalization.fund import Ledger, contribution
from sttm.procedures import adhesion as ad
from sttm.procedures import annual_call as call
from sttm.procedures.annual_call import CallError, Proposal

A, B, C, D, E, G = "015146", "015010", "015027", "015036", "015040", "015050"
K = 100 * 1000                                   # 1,000 € in cents


def P(pid, istat, strategies, lum, green, regen, ind, cost, req, cof, cat="urban_regeneration"):
    return Proposal(pid, istat, f"Intervento {pid}", cat, cost * K, req * K, cof * K,
                    tuple(f"sttm{s}" for s in strategies), lum, green, regen, ind, submitted_at=f"2026-05-01T10:{pid[1:]}")


TEN = [
    P("P01", A, [1, 2, 3], 1, True, True, 800, 500, 250, 250, "green_network_nbs"),
    P("P02", B, [1, 2], 2, True, False, None, 400, 300, 100),
    P("P03", C, [2], 1, False, True, 500, 300, 200, 60, "mobility_infrastructure"),
    P("P04", D, [1], 0, True, True, 1000, 200, 150, 50, "environmental_compensation"),
    P("P05", A, [3], 3, False, True, 200, 1000, 150, 400),
    P("P06", G, [1, 2], 1, True, True, 900, 100, 80, 20),      # case c: no financing from the fund
    P("P07", B, [2], 0, False, False, None, 100, 100, 0),       # below the minimum score
    P("P08", C, [1], 2, True, False, None, 200, 100, 100),
    P("P09", D, [1], 2, True, False, None, 100, 50, 50),
    P("P10", E, [1], 2, False, True, None, 100, 40, 60, "public_services"),
]

# Hand-worked scores: strategies 20·n/3, LUM {1: 15, 2: 10, 3: 5}, green 15, regeneration 15,
# indicators 15·‰/1000, co-funding 20·min(share/0.5, 1).
BY_HAND = {
    "P01": 20 + 15 + 15 + 15 + 12 + 20,                      # 97
    "P02": F(40, 3) + 10 + 15 + 0 + 0 + 10,                  # 48.33 (share 0.25)
    "P03": F(20, 3) + 15 + 0 + 15 + F(15, 2) + 8,            # 52.17 (share 0.2)
    "P04": F(20, 3) + 0 + 15 + 15 + 15 + 10,                 # 61.67 (share 0.25)
    "P05": F(20, 3) + 5 + 0 + 15 + 3 + 16,                   # 45.67 (share 0.4)
    "P06": F(40, 3) + 15 + 15 + 15 + F(27, 2) + 8,           # 79.83, excluded (case c: no fund_financing)
    "P07": F(20, 3),                                         # 6.67, excluded (< 20)
    "P08": F(20, 3) + 10 + 15 + 20,                          # 51.67 (share 0.5)
    "P09": F(20, 3) + 10 + 15 + 20,                          # 51.67 (share 0.5, requests less than P08)
    "P10": F(20, 3) + 10 + 15 + 20,                          # 51.67 (share 0.6: first of the three)
}
# Ranking and allocation of a 1,000,000 € budget (fund holds 1,200,000 €):
# 1 P01 250k → 750k left; 2 P04 150k → 600k; 3 P03 200k → 400k; 4 P10 40k → 360k;
# 5 P09 50k → 310k; 6 P08 100k → 210k; 7 P02 300k does not fit; 8 P05 150k fits → 60k left.
RANKING = ["P01", "P04", "P03", "P10", "P09", "P08", "P02", "P05"]
FUNDED = {"P01": 250, "P04": 150, "P03": 200, "P10": 40, "P09": 50, "P08": 100, "P05": 150}


@pytest.fixture
def eng(tmp_path):
    e = create_engine(f"sqlite:///{tmp_path / 'kb.gpkg'}")
    fin = {"fin_contribution": "10%", "real_estate_availability": "immobile"}
    for istat, case in ((A, "b"), (B, "a"), (C, "b"), (D, "a"), (E, "b"), (G, "c")):
        aid = ad.open_adhesion(e, istat, case, author="u")
        first = ad.cases()[case]["steps"][0]["id"]
        ad.record_step(e, aid, first, act_ref="r", author="t", author_role=f"comune:{istat}")
        ad.record_step(e, aid, "adhesion_act", act_ref="DCC", author="t", author_role=f"comune:{istat}",
                       commitments={k: v for k, v in fin.items() if k in ad.cases()[case]["obligations"]})
    Ledger(e).post(contribution(1_200_000_00, source="region", comune=None, cause_type="funding_decree",
                                cause_ref="DGR 99/2026", author="cmm", author_role="cmm"))
    return e


def test_scores_by_hand():
    for p in TEN:
        assert call.score(p) == BY_HAND[p.proposal_id], p.proposal_id


def test_ranking_allocation_and_ledger(eng):
    call.open_call(eng, "AVV-2026", year=2026, budget=1_000_000_00, author="cmm")
    call.submit(eng, "AVV-2026", TEN, author="cmm", author_role="cmm")
    ranking = call.decide(eng, "AVV-2026", author="dirigente", author_role="cmm")
    ranked = [r for r in ranking if r.rank is not None]
    assert [r.proposal.proposal_id for r in sorted(ranked, key=lambda r: r.rank)] == RANKING
    assert {r.proposal.proposal_id: r.granted // K for r in ranking if r.granted} == FUNDED
    excluded = {r.proposal.proposal_id: r.reason for r in ranking if r.outcome == "excluded"}
    assert set(excluded) == {"P06", "P07"} and "sezione finanziaria" in excluded["P06"] and "soglia" in excluded["P07"]
    led = Ledger(eng)
    assert led.balance("financial", "fund") == (1_200 - 940) * K
    assert led.balance("financial", "use:urban_regeneration") == (150 + 100 + 50) * K    # P05 + P08 + P09
    rows = call.decisions_of(eng, "AVV-2026")
    assert [r["proposal_id"] for r in rows][:8] == RANKING and all(r["posting_seq"] for r in rows if r["granted"])
    assert led.verify().ok and led.verify().n_postings == 1 + 7
    with pytest.raises(CallError):
        call.decide(eng, "AVV-2026", author="dirigente", author_role="cmm")
    assert led.verify().n_postings == 8


def test_budget_limited_by_fund(eng):
    call.open_call(eng, "AVV-X", year=2026, budget=5_000_000_00, author="cmm")
    call.submit(eng, "AVV-X", [TEN[0], TEN[4]], author="cmm", author_role="cmm")
    ranking, budget = call.preview(eng, "AVV-X")
    assert budget == 1_200_000_00                            # the fund holds less than the call's budget


def test_adhesion_act_missing_is_excluded(eng):
    aid = ad.open_adhesion(eng, "015070", "c", author="u")   # case c: may present, act not yet recorded
    call.open_call(eng, "AVV-2026", year=2026, budget=1_000_000_00, author="cmm")
    call.submit(eng, "AVV-2026", [P("Q9", "015070", [1, 2, 3], 1, True, True, 1000, 100, 50, 50)], author="t",
                author_role="comune:015070")
    [r], _ = call.preview(eng, "AVV-2026")
    assert r.outcome == "excluded" and "atto deliberativo" in r.reason and aid


def test_submission_rules(eng):
    call.open_call(eng, "AVV-2026", year=2026, budget=1_000_000_00, author="cmm")
    aid = ad.open_adhesion(eng, "015060", "d", author="u")
    ad.record_step(eng, aid, "adhesion_act", act_ref="DCC", author="t", author_role="comune:015060",
                   commitments={"soil_quota_sharing": "x"})
    with pytest.raises(CallError) as ei:                     # case d has no right to the call
        call.submit(eng, "AVV-2026", [P("Q1", "015060", [1], 0, False, False, None, 10, 5, 0)], author="t",
                    author_role="comune:015060")
    assert ei.value.code == "not_adherent"
    with pytest.raises(CallError) as ei:                     # a comune submits only its own
        call.submit(eng, "AVV-2026", [TEN[1]], author="t", author_role=f"comune:{A}")
    assert ei.value.code == "role"
    with pytest.raises(CallError) as ei:
        call.submit(eng, "AVV-2026", [P("Q2", A, [1], 0, False, False, None, 10, 8, 5)], author="t",
                    author_role=f"comune:{A}")
    assert ei.value.code == "cost"
    with pytest.raises(CallError):                           # only CMM decides
        call.decide(eng, "AVV-2026", author="t", author_role=f"comune:{A}")
    assert call.proposals_of(eng, "AVV-2026") == []


def test_csv_errors_name_the_row(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("proposal_id,istat_code,title,category,cost_eur,requested_eur\n"
                 "X1,15146,Parco,green_network_nbs,1000.00,500\nX2,015146,Piazza,green_network_nbs,10.001,5\n")
    with pytest.raises(CallError) as ei:
        call.read_proposals_csv(f)
    assert "row 3" in str(ei.value) and "cost_eur" in str(ei.value)
