"""Hand-worked cases of the fund ledger: postings, rules, balances, verification, tampering."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from sttm.equalization.fund import (Ledger, LedgerRefused, Line, Posting, contribution, disbursement, engine_for,
                                    quota_allocation, quota_transfer, verify)

ADHERENT = {"015146", "015010"}


@pytest.fixture
def led(tmp_path):
    """A ledger on a GeoPackage knowledge base."""
    eng = engine_for(str(tmp_path / "kb.gpkg"))
    yield Ledger(eng, rights=lambda istat, adv: istat in ADHERENT)
    eng.dispose()


@pytest.fixture
def led_any(kb_url):
    """The same test on both stores: a GeoPackage knowledge base and a PostGIS database."""
    eng = engine_for(kb_url)
    yield Ledger(eng, rights=lambda istat, adv: istat in ADHERENT)
    eng.dispose()


def test_contribution_then_disbursement_balances(led_any):
    led = led_any
    led.post(contribution(250_000_00, source="contributi_aggiuntivi", comune="015146", cause_type="agreement",
                          cause_ref="AT-2026-01", author="m.rossi", author_role="cmm"))
    led.post(contribution(40_000_00, source="region", comune=None, cause_type="funding_decree",
                          cause_ref="DGR 1/2026", author="m.rossi", author_role="cmm"))
    led.post(disbursement(100_000_00, category="green_network_nbs", beneficiary="015010", cause_type="call_decision",
                          cause_ref="AVV-2026/P1", author="m.rossi"))
    assert led.balance("financial", "fund") == 190_000_00          # 250k + 40k - 100k
    assert led.balance("financial", "use:green_network_nbs") == 100_000_00
    assert led.balance("financial", "source:region") == -40_000_00
    by_comune = {r["comune"]: r for r in led.balances_by("comune", section="financial")}
    assert by_comune["015146"]["debit"] == 250_000_00 and by_comune["015146"]["credit"] == 0
    assert by_comune["015010"]["credit"] == 100_000_00
    by_cause = {(r["cause_type"], r["cause_ref"]): r["net"] for r in led.balances_by("cause", section="financial")}
    assert by_cause[("call_decision", "AVV-2026/P1")] == -100_000_00
    rep = led.verify()
    assert rep.ok and rep.n_postings == 3 and rep.n_lines == 6


@pytest.mark.parametrize("make,code", [
    (lambda: disbursement(1, category="public_services", beneficiary="015146", cause_type="call_decision",
                          cause_ref="x", author="a", author_role="comune:015146"), "only_cmm"),
    (lambda: disbursement(1, category="stadium_for_private_club", beneficiary="015146", cause_type="call_decision",
                          cause_ref="x", author="a"), "category"),
    (lambda: disbursement(10**9, category="public_services", beneficiary="015146", cause_type="call_decision",
                          cause_ref="x", author="a"), "insufficient"),
    (lambda: quota_allocation(5, comune="015146", cause_ref="x", author="a", author_role="comune:015146"), "only_cmm"),
    (lambda: quota_transfer(1, from_comune="015146", to_comune="015999", cause_ref="x", author="a",
                            author_role="cmm"), "not_adherent"),
    (lambda: quota_transfer(1, from_comune="015010", to_comune="015146", cause_ref="x", author="a",
                            author_role="comune:015146"), "not_owner"),
    (lambda: quota_transfer(101, from_comune="015146", to_comune="015010", cause_ref="x", author="a",
                            author_role="comune:015146"), "insufficient"),
    (lambda: Posting("contribution", "agreement", "x", "a", "cmm",
                     (Line("financial", "fund", 10), Line("financial", "source:x", -9))), "unbalanced"),
    (lambda: Posting("contribution", "agreement", "x", "a", "cmm",
                     (Line("financial", "fund", 10.0), Line("financial", "source:x", -10))), "amount_type"),
    (lambda: Posting("contribution", "agreement", "x", "a", "cmm",
                     (Line("financial", "fund", 10), Line("soil_quota", "source:x", -10))), "unbalanced"),
    (lambda: Posting("contribution", "no_such_cause", "x", "a", "cmm",
                     (Line("financial", "fund", 10), Line("financial", "source:x", -10))), "cause_type"),
    (lambda: Posting("contribution", "agreement", "x", "a", "cmm",
                     (Line("lunar_rights", "fund", 10), Line("lunar_rights", "source:x", -10))), "section"),
])
def test_refusals_change_nothing(led, make, code):
    led.post(quota_allocation(100, comune="015146", cause_ref="LR31-2026", author="a"))
    led.post(contribution(500, source="developer", comune="015146", cause_type="agreement", cause_ref="AT", author="a",
                          author_role="cmm"))
    before = (led.head(), led.balances())
    with pytest.raises(LedgerRefused) as ei:
        led.post(make())
    assert ei.value.code == code
    assert (led.head(), led.balances()) == before
    assert led.verify().ok


def test_float_amount_refused_by_builder():
    with pytest.raises(LedgerRefused) as ei:
        contribution(10.5, source="x", comune=None, cause_type="agreement", cause_ref="r", author="a", author_role="cmm")
    assert ei.value.code == "amount_type"


def test_batch_is_atomic(led):
    led.post(quota_allocation(100, comune="015146", cause_ref="LR31", author="a"))
    ok = quota_transfer(60, from_comune="015146", to_comune="015010", cause_ref="S1", author="a", author_role="cmm")
    with pytest.raises(LedgerRefused) as ei:
        led.post_many([ok, ok])                   # second would overdraw: 100 - 60 - 60 < 0
    assert "posting 2 of 2" in str(ei.value)
    assert led.balance("soil_quota", "comune:015146") == 100 and led.head()[0] == 1


def test_quota_exchange_preserves_total(led):
    led.post(quota_allocation(12_000, comune="015146", cause_ref="LR31", author="a"))
    led.post(quota_allocation(3_000, comune="015010", cause_ref="LR31", author="a"))
    led.post(quota_transfer(4_500, from_comune="015146", to_comune="015010", cause_ref="SCAMBIO-1", author="sindaco",
                            author_role="comune:015146"))
    assert led.balance("soil_quota", "comune:015146") == 7_500
    assert led.balance("soil_quota", "comune:015010") == 7_500
    assert sum(r["balance"] for r in led.balances("soil_quota") if r["account"].startswith("comune:")) == 15_000


def test_assets_registry(led):
    led.register_asset(asset_id="IMM-1", section="real_estate", comune="015146", description="Ex cascina Rossi",
                       value=850_000_00, condition="da ristrutturare", availability="disponibile", author="a",
                       author_role="comune:015146", cause_ref="DCC 5/2026")
    assert led.balance("real_estate", "fund") == 850_000_00
    [a] = led.assets()
    assert a["asset_id"] == "IMM-1" and a["availability"] == "disponibile"
    with pytest.raises(LedgerRefused):
        led.register_asset(asset_id="IMM-1", section="real_estate", comune="015146", description="dup", value=1,
                           condition="x", availability="x", author="a", author_role="cmm", cause_ref="r")
    assert led.head()[0] == 1                   # the duplicate's posting was rolled back too


@pytest.mark.parametrize("tamper,expect", [
    ("UPDATE fund_lines SET amount = amount + 1 WHERE seq = 2 AND line_no = 1", "hash mismatch"),
    ("UPDATE fund_postings SET author = 'mallory' WHERE seq = 2", "hash mismatch"),
    ("DELETE FROM fund_lines WHERE seq = 3 AND line_no = 2", "incomplete posting"),
    ("DELETE FROM fund_postings WHERE seq = 4", "belong to no posting"),
    ("UPDATE fund_balances SET balance = balance + 5 WHERE account = 'fund'", "cached balance"),
])
def test_verify_detects_tampering(led_any, tamper, expect):
    led = led_any
    for i in range(5):
        led.post(contribution(1000 + i, source="developer", comune="015146", cause_type="agreement",
                              cause_ref=f"AT-{i}", author="a", author_role="cmm"))
    assert led.verify().ok
    try:
        with led.engine.begin() as conn:
            conn.execute(text(tamper))
    except IntegrityError:               # PostgreSQL enforces the lines → posting foreign key: prevented
        assert led.engine.dialect.name == "postgresql" and "DELETE FROM fund_postings" in tamper
        return
    rep = verify(led.engine)
    assert not rep.ok
    assert any(expect in e for e in rep.errors), rep.errors


def test_truncating_the_tail_is_detected(led):
    for i in range(3):
        led.post(contribution(10, source="developer", comune=None, cause_type="agreement", cause_ref="r", author="a",
                              author_role="cmm"))
    with led.engine.begin() as conn:
        conn.execute(text("DELETE FROM fund_lines WHERE seq = 3"))
        conn.execute(text("DELETE FROM fund_postings WHERE seq = 3"))
    rep = verify(led.engine)
    assert not rep.ok and any("chain head" in e for e in rep.errors)


def test_reversal_corrects_without_rewriting(led_any):
    led = led_any
    led.post(contribution(5_000, source="developer", comune="015146", cause_type="agreement", cause_ref="AT-typo",
                          author="a", author_role="cmm"))
    with pytest.raises(LedgerRefused):
        led.reverse(1, reason="importo errato", author="x", author_role="comune:015146")
    r = led.reverse(1, reason="importo errato", author="dirigente")
    assert r.seq == 2 and led.balance("financial", "fund") == 0
    assert led.balance("financial", "source:developer") == 0
    with pytest.raises(LedgerRefused) as ei:
        led.reverse(1, reason="di nuovo", author="dirigente")
    assert "already" in str(ei.value)
    with pytest.raises(LedgerRefused):                     # a reversal is not itself reversible
        led.reverse(2, reason="x", author="dirigente")
    forged = Posting("reversal", "correction", "seq:1", "a", "cmm",
                     (Line("financial", "fund", -1), Line("financial", "source:developer", 1)))
    with pytest.raises(LedgerRefused):
        led.post(forged)
    assert led.verify().ok and led.head()[0] == 2


def test_reversal_cannot_overdraw(led):
    led.post(contribution(5_000, source="developer", comune=None, cause_type="agreement", cause_ref="AT", author="a",
                          author_role="cmm"))
    led.post(disbursement(4_000, category="public_services", beneficiary="015146", cause_type="call_decision",
                          cause_ref="AVV/1", author="a"))
    with pytest.raises(LedgerRefused) as ei:
        led.reverse(1, reason="errore", author="dirigente")
    assert ei.value.code == "insufficient"


def test_asset_assignment(led):
    led.register_asset(asset_id="IMM-2", section="real_estate", comune="015146", description="Ex macello",
                       value=300_000_00, condition="degradato", availability="disponibile", author="a",
                       author_role="cmm", cause_ref="DCC 9/2026")
    led.assign_asset("IMM-2", category="urban_regeneration", beneficiary="015146", cause_ref="AVV-2026/IMM-2",
                     author="dirigente")
    assert led.balance("real_estate", "fund") == 0
    assert led.balance("real_estate", "use:urban_regeneration") == 300_000_00
    [a] = led.assets()
    assert a["version"] == 2 and a["availability"] == "assegnato a intervento"
    with pytest.raises(LedgerRefused):
        led.assign_asset("IMM-2", category="urban_regeneration", beneficiary="015146", cause_ref="again",
                         author="dirigente")
    assert led.verify().ok


def test_postings_last(led):
    for i in range(5):
        led.post(contribution(10 + i, source="developer", comune="015146" if i % 2 else "015010",
                              cause_type="agreement", cause_ref=f"AT-{i}", author="a", author_role="cmm"))
    assert [p["seq"] for p in led.postings(last=2)] == [4, 5]
    assert [p["seq"] for p in led.postings(comune="015146", last=1)] == [4]
    assert [len(p["lines"]) for p in led.postings()] == [2] * 5


@pytest.mark.parametrize("tamper", [None, "UPDATE fund_lines SET amount = amount + 1 WHERE seq = 2500 AND line_no = 1",
                                    "DELETE FROM fund_lines WHERE seq = 1800"])
def test_parallel_verify_agrees_with_single(tmp_path, tamper):
    from sttm.equalization.fund.stress import make_batch
    led = Ledger(engine_for(str(tmp_path / "kb.gpkg")), rights=lambda i, a: True)
    for i in range(3):
        led.post_many(make_batch(i, 1000))
    if tamper:
        with led.engine.begin() as conn:
            conn.execute(text(tamper))
    single, parallel = verify(led.engine, workers=1), verify(led.engine, workers=3)
    assert parallel.workers == 3 and single.workers == 1
    assert (single.ok, single.n_postings, single.n_lines) == (parallel.ok, parallel.n_postings, parallel.n_lines)
    assert single.ok == (tamper is None)
    assert set(single.errors) == set(parallel.errors)
