"""Agreement → fund, end to end on both backends: a concluded Accordo territoriale posts the fund
share of its balance (and, when it says so, the comuni's allocations) to the fund ledger in the
same transaction as the outcome; idempotent; refused as a whole when the ledger refuses."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).parent))
from balance_fixtures import grid_adjacency, grid_hydraulic, grid_municipalities, grid_services  # noqa: E402
from test_balance_store import HUB  # noqa: E402

from sttm.equalization.balance import Territory, load_params  # noqa: E402
from sttm.equalization.balance import conference as cf  # noqa: E402
from sttm.equalization.balance import store  # noqa: E402
from sttm.equalization.balance.fund_bridge import post_concluded  # noqa: E402
from sttm.equalization.balance.importer import import_proposal  # noqa: E402
from sttm.equalization.fund import Ledger  # noqa: E402
from sttm.equalization.fund import schema as fs  # noqa: E402
from sttm.procedures import adhesion as ad  # noqa: E402

TOTAL, MEASURE = 180_000_000, 1_234_567          # the HUB's resources and its mitigation measure (cents)
FUND = round((TOTAL - MEASURE) * 0.2)            # 20 % of what is left after the measures (balance.toml)


def _adhere_b(engine, istat: str) -> None:
    """Case b adhesion (adhesion act with the financial and real-estate commitments): unlocks fund_financing."""
    aid = ad.open_adhesion(engine, istat, "b", author="u")
    ad.record_step(engine, aid, "compatibility_request", act_ref="prot. 1", author="t", author_role=f"comune:{istat}")
    ad.record_step(engine, aid, "adhesion_act", act_ref=f"DCC {istat}", author="t", author_role=f"comune:{istat}",
                   commitments={"fin_contribution": "10% contributi aggiuntivi", "real_estate_availability": "ex scuola"})


def _signed_agreement(kb, post_comuni: bool):
    params = load_params()
    t = Territory.from_frames(grid_municipalities(), grid_adjacency(), grid_hydraulic(), grid_services())
    _, bid, r = import_proposal(kb, HUB, params, "tester", t)
    st = cf.open_conference(kb, bid, params, "cmm", on="2026-01-10")
    for code in st.invited:
        cf.record_position(kb, st.conference_id, code, "favourable", "", code, on="2026-01-15")
    cf.close_conference(kb, st.conference_id, "agreement", "cmm", on="2026-01-16")
    a = cf.draft_agreement(kb, st.conference_id, params, "cmm", on="2026-01-20", post_comuni_to_fund=post_comuni)
    for s in a.signatories:
        cf.sign_agreement(kb, a.agreement_id, s, s, on="2026-02-01")
    return a, r


def _n_postings(kb) -> int:
    with kb.engine.connect() as c:
        return c.execute(select(func.count()).select_from(fs.postings)).scalar_one()


@pytest.fixture
def kb(kb_url):
    from sttm.knowledge import open_kb
    k = open_kb(kb_url)
    yield k
    k.dispose()


def test_concluded_agreement_posts_fund_and_comuni_in_one_transaction(kb):
    a, r = _signed_agreement(kb, post_comuni=True)
    comuni = {}
    for line in a.allocation:
        if line["recipient_kind"] in ("comune", "host_residual"):
            comuni[line["recipient"]] = comuni.get(line["recipient"], 0) + line["amount_cents"]
    assert len(comuni) >= 2 and sum(comuni.values()) == TOTAL - MEASURE - FUND
    led = Ledger(kb.engine)
    # one affected comune has not adhered: the ledger refuses, and the outcome is not recorded either
    adherent = sorted(comuni)[:-1]
    for code in adherent:
        _adhere_b(kb.engine, code)
    with pytest.raises(cf.WorkflowError, match=rf"not_adherent.*{sorted(comuni)[-1]}"):
        cf.record_outcome(kb, a.agreement_id, "cmm", on="2026-02-02", ledger=led)
    assert cf.agreement_state(kb, a.agreement_id).status == "drafted"
    assert _n_postings(kb) == 0
    _adhere_b(kb.engine, sorted(comuni)[-1])
    st = cf.record_outcome(kb, a.agreement_id, "cmm", on="2026-02-02", ledger=led)
    assert st.status == "concluded"
    # hand check of the balances: the fund holds its share, each comune its allocation, all from the source
    assert led.balance("financial", "fund") == FUND
    for code, cents in comuni.items():
        assert led.balance("financial", f"comune:{code}") == cents
    assert led.balance("financial", "source:contributi_aggiuntivi") == -(TOTAL - MEASURE)
    rows = led.postings()
    assert len(rows) == 1 + sum(1 for x in a.allocation if x["recipient_kind"] in ("comune", "host_residual")
                                and x["amount_cents"] > 0)
    assert {(p["cause_type"], p["cause_ref"], p["author_role"]) for p in rows} == {("agreement", a.agreement_id, "cmm")}
    by_cause = led.balances_by("cause")
    assert [(b["cause_ref"], b["net"]) for b in by_cause] == [(a.agreement_id, TOTAL - MEASURE)]
    rep = led.verify()
    assert rep.ok, rep.errors
    assert cf.verify(kb, a.agreement_id) == []
    # idempotent: a second outcome is refused and posts nothing; the backfill call posts nothing
    n = _n_postings(kb)
    with pytest.raises(cf.WorkflowError, match="already has an outcome"):
        cf.record_outcome(kb, a.agreement_id, "cmm", on="2026-02-03", ledger=led)
    assert post_concluded(kb, a.agreement_id, "cmm", ledger=led) == []
    assert _n_postings(kb) == n and led.verify().ok


def test_fund_share_only_unless_the_agreement_says_so(kb):
    a, _ = _signed_agreement(kb, post_comuni=False)
    led = Ledger(kb.engine)
    # nobody adhered: the fund share alone needs no adhesion right
    assert cf.record_outcome(kb, a.agreement_id, "cmm", on="2026-02-02", ledger=led).status == "concluded"
    assert led.balance("financial", "fund") == FUND
    assert [b for b in led.balances("financial") if b["account"].startswith("comune:")] == []
    (p,) = led.postings()
    assert p["lines"][0]["comune"] == "015005"         # the adopting comune collects the contributions
    assert led.verify().ok


def test_backfill_of_an_agreement_concluded_without_postings(kb):
    """An agreement concluded before the link existed (outcome event only) is posted once by post_concluded."""
    a, _ = _signed_agreement(kb, post_comuni=False)
    first = a.events[0]
    with kb.transaction() as conn:                     # the outcome as the old code recorded it
        store.append_event(conn, store.agreement_events, "agreement_id", {
            "agreement_id": a.agreement_id, "proposal_id": first["proposal_id"], "balance_id": first["balance_id"],
            "kind": "outcome", "istat_code": None, "actor": "cmm", "due_on": None, "event_date": "2026-02-02",
            "payload_json": '{"outcome": "concluded", "missing": [], "note": ""}'})
    led = Ledger(kb.engine)
    assert _n_postings(kb) == 0
    assert len(post_concluded(kb, a.agreement_id, "cmm", ledger=led)) == 1
    assert post_concluded(kb, a.agreement_id, "cmm", ledger=led) == []
    assert led.balance("financial", "fund") == FUND and led.verify().ok
