"""The two asset sections no other test posts to: volumetric rights (m² SL) and company shares / credit
titles (cents). One asset is registered in each, one of them is assigned; balances worked by hand."""
from __future__ import annotations

import pytest

from sttm.equalization.fund import Ledger, LedgerRefused, engine_for


@pytest.fixture
def led(tmp_path):
    eng = engine_for(str(tmp_path / "kb.gpkg"))
    yield Ledger(eng, rights=lambda istat, adv: istat == "015146")
    eng.dispose()


def test_volumetric_rights_and_shares_credit_sections(led):
    # 2,400 m² of SL conferred by Rho's local equalization (section unit m², see sections.csv)
    led.register_asset(asset_id="DIR-1", section="volumetric_rights", comune="015182",
                       description="Diritti edificatori da perequazione AT-3", value=2_400, condition="trascritti",
                       availability="disponibile", author="a", author_role="cmm", cause_ref="DCC 12/2026")
    # 150,000.00 € nominal of shares in a public transport company (unit: cents)
    led.register_asset(asset_id="QS-1", section="shares_credit", comune=None,
                       description="Quote societarie ATM", value=150_000_00, condition="nominale",
                       availability="disponibile", author="a", author_role="cmm", cause_ref="DCM 4/2026")
    # each conferral: fund +value, source:conferral −value in its own section
    assert led.balance("volumetric_rights", "fund") == 2_400
    assert led.balance("volumetric_rights", "source:conferral") == -2_400
    assert led.balance("shares_credit", "fund") == 150_000_00
    assert led.balance("shares_credit", "source:conferral") == -150_000_00
    # the 2,400 m² go to a regeneration intervention: fund 2,400 − 2,400 = 0, use:urban_regeneration 2,400
    led.assign_asset("DIR-1", category="urban_regeneration", beneficiary="015146", cause_ref="AVV-2026/DIR-1",
                     author="dirigente")
    assert led.balance("volumetric_rights", "fund") == 0
    assert led.balance("volumetric_rights", "use:urban_regeneration") == 2_400
    # each section sums to zero; the other sections are untouched (shares stay in the fund)
    for sec in ("volumetric_rights", "shares_credit"):
        assert sum(r["balance"] for r in led.balances(sec)) == 0
    assert led.balance("shares_credit", "fund") == 150_000_00
    assert led.balances("financial") == [] and led.balances("real_estate") == []
    by_sec = {r["section"]: (r["debit"], r["credit"]) for r in led.balances_by("section")}
    # volumetric: debits 2,400 (conferral) + 2,400 (assignment) = credits; shares: 15,000,000 each side
    assert by_sec["volumetric_rights"] == (4_800, 4_800)
    assert by_sec["shares_credit"] == (150_000_00, 150_000_00)
    assets = {a["asset_id"]: (a["section"], a["version"], a["availability"]) for a in led.assets()}
    assert assets == {"DIR-1": ("volumetric_rights", 2, "assegnato a intervento"),
                      "QS-1": ("shares_credit", 1, "disponibile")}
    rep = led.verify()
    assert rep.ok and rep.n_postings == 3 and rep.n_lines == 6
    # an asset in the soil-quota register is refused (assets belong to the three asset sections)
    with pytest.raises(LedgerRefused) as ei:
        led.register_asset(asset_id="X", section="soil_quota", comune="015146", description="x", value=1,
                           condition="x", availability="disponibile", author="a", author_role="cmm", cause_ref="r")
    assert ei.value.code == "section"
