"""Three worked cases on the real territory of CMM (knowledge base built from ../shared/data).

The sites are given in lon/lat as a comune would submit them; the expected figures are worked by
hand in the comments. The LR 12/2005 rates and the fund share are pinned here (they are
`to_confirm` parameters in the shipped file), so the hand figures do not depend on them."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import geopandas as gpd
import pytest
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).parent))

from sttm.equalization.balance import ProposalError, Territory, compute_balance, load_params, parse_proposal  # noqa: E402
from sttm.equalization.balance import conference as cf  # noqa: E402
from sttm.equalization.balance import store  # noqa: E402
from sttm.equalization.balance.importer import import_proposal  # noqa: E402

pytestmark = pytest.mark.realdata

PINNED = {"resources[lr12_art43_c2bis].rate": 0.05, "resources[lr12_art43_c2sexies].rate": 0.20,
          "resources[lr12_art44_c19].rate": 0.05, "allocation.fund_share_metropolitan": 0.20,
          "allocation.fund_share_supra": 0.0}

CASES = Path(__file__).parent / "balance_cases"
# 400 m × 400 m on farmland centred on the Liscate (015122) | Truccazzano (015224) border
HUB = json.loads((CASES / "logistics_hub_liscate.json").read_text())
# 150 m × 120 m retail park on already urbanized land in Abbiategrasso (015002)
RETAIL = json.loads((CASES / "retail_park_abbiategrasso.json").read_text())
# 40 m × 40 m residential infill in Magenta (015130), 24 residents
INFILL = json.loads((CASES / "residential_infill_magenta.json").read_text())


@pytest.fixture(scope="module")
def params():
    return load_params().with_overrides(PINNED)


@pytest.fixture(scope="module")
def kb_copy(real_kb_path, tmp_path_factory):
    from sttm.knowledge import open_kb
    dst = tmp_path_factory.mktemp("balance") / "kb.gpkg"
    shutil.copy(real_kb_path, dst)
    kb = open_kb(dst)
    yield kb
    kb.dispose()


@pytest.fixture(scope="module")
def territory(kb_copy):
    return Territory.from_kb(kb_copy)


def _check_allocation_exact(r, expected_total_cents):
    assert r.total_resources_cents == expected_total_cents
    assert sum(a.amount_cents for a in r.allocation) == expected_total_cents


def test_logistics_hub_at_boundary_is_metropolitan(params, territory):
    r = compute_balance(parse_proposal(HUB, params.functions), territory, params)
    ind = r.indicators[0]
    # 96,000 m²/100 × 1.2 = 1,152 cars; trucks from STTM 3 (logistics_large): 18.41 × 96 × 30% = 530.208
    assert (ind.car_trips_day, ind.truck_trips_day) == (pytest.approx(1152), pytest.approx(530.208, abs=0.005))
    # land take split between the two comuni, checked against a GeoPandas overlay of the same site
    site = gpd.GeoDataFrame(geometry=[r.proposal.forecasts[0].geometry], crs=32632)
    ov = gpd.overlay(territory.munis[["istat_code", "geometry"]], site, how="intersection")
    ov = ov.set_index("istat_code").area
    assert set(ov.index) == {"015122", "015224"}
    for code in ("015122", "015224"):
        assert r.matrix.at[code, "land_take_free_soil_m2"] == pytest.approx(160000 * ov[code] / ov.sum(), rel=1e-6)
    assert r.matrix["land_take_free_soil_m2"].sum() == pytest.approx(160000)
    # relevance: T1 96,000 ≥ 20,000; T6 530 ≥ 500; T7 160,000 ≥ 100,000 → metropolitan
    assert r.relevance.level == "metropolitan"
    decisive = {ln.threshold_id for ln in r.relevance.lines if ln.level == "metropolitan"}
    assert {"T1", "T6", "T7"} <= decisive
    assert "015224" in r.affected_codes and len(r.affected_codes) >= 5
    trucc = next(a for a in r.relevance.affected if a.istat_code == "015224")
    assert any("consumo di suolo" in x for x in trucc.reasons)
    # resources: 5,760,000.00 € × (5% + 20% + 5%) = 288,000 + 1,152,000 + 288,000 = 1,728,000.00 €
    assert [x.amount_cents for x in r.resources] == [28_800_000, 115_200_000, 28_800_000]
    _check_allocation_exact(r, 172_800_000)
    # 20% to the metropolitan fund = 345,600.00 €; 1,382,400.00 € to the affected comuni
    fund = [a.amount_cents for a in r.allocation if a.recipient_kind == "fund"]
    comuni = {a.recipient: a.amount_cents for a in r.allocation if a.recipient_kind == "comune"}
    assert fund == [34_560_000] and sum(comuni.values()) == 138_240_000
    w = {c: r.matrix.at[c, "net_burden_eur_year"] for c in r.affected_codes}
    W = sum(v for v in w.values() if v > 0)
    for c, cents in comuni.items():
        assert abs(cents - 138_240_000 * w[c] / W) < 1.0     # largest remainder: within one cent
    assert "015122" not in comuni                            # the adopting comune is not a recipient


def test_hub_hydraulic_hazard_and_external_comuni(params, territory, kb_copy):
    r = compute_balance(parse_proposal(HUB, params.functions), territory, params)
    # T9: the extra runoff that falls in comuni of RR 7/2017 class A or with ≥ 5% of their area in
    # ISPRA high flood hazard, recomputed here from the knowledge-base tables
    hyd = kb_copy.read_layer("hydraulic_criticality").set_index("istat_code")
    hz = kb_copy.read_layer("hazard").set_index("istat_code")
    ro = r.matrix["runoff_m3_event"]
    flagged = [c for c in ro.index if ro[c] > 0 and (hyd.at[c, "criticality_class"] == "A" or hz.at[c, "flood_area_high_pct"] >= 5)]
    t9 = next(ln for ln in r.relevance.lines if ln.threshold_id == "T9")
    assert t9.value == pytest.approx(ro[flagged].sum()) and t9.value > 0
    # by hand, from the two rows of hydraulic_criticality (ARPA LSPP), T = 50 y, D = 1 h, ln(50/49) = 0.0202027:
    #   Liscate (015122) class A, a1 29.72, α 0.2934, κ −0.0401, ε 0.8182: 0.0202027^−0.0401 = 1.169373,
    #     w = 0.8182 + 0.2934/0.0401 × 0.169373 = 2.057453 → h = 61.1475 mm
    #   Truccazzano (015224) class A, a1 29.56, α 0.2924, κ −0.0369, ε 0.8199: 0.0202027^−0.0369 = 1.154863,
    #     w = 0.8199 + 0.2924/0.0369 × 0.154863 = 2.047038 → h = 60.5108 mm
    assert [hyd.at[c, "criticality_class"] for c in ("015122", "015224")] == ["A", "A"]
    assert tuple(hyd.loc["015122", ["a1", "alpha", "kappa", "epsilon"]]) == (29.72, 0.2934, -0.0401, 0.8182)
    assert tuple(hyd.loc["015224", ["a1", "alpha", "kappa", "epsilon"]]) == (29.56, 0.2924, -0.0369, 0.8199)
    # the 130,000 m² sealed split by the site's area in each comune (GeoPandas overlay: 79,601.6 and
    # 80,381.3 of 159,982.9 m²) = 64,683.2 and 65,316.8 m²; × (1.0 − 0.3) × h:
    #   Liscate 64,683.2 × 0.7 × 0.0611475 = 2,768.65 m³; Truccazzano 65,316.8 × 0.7 × 0.0605108 = 2,766.66 m³
    site = gpd.GeoDataFrame(geometry=[r.proposal.forecasts[0].geometry], crs=32632)
    ov = gpd.overlay(territory.munis[["istat_code", "geometry"]], site, how="intersection").set_index("istat_code").area
    assert ov["015122"] == pytest.approx(79_601.6, abs=1) and ov["015224"] == pytest.approx(80_381.3, abs=1)
    # every comune bordering either (Melzo, Settala, Vignate, Cassano d'Adda, Pozzuolo M.) is class A too, so
    # the 30% spread to them stays flagged: T9 = 2,768.65 + 2,766.66 = 5,535.31 m³ (≥ 2,000 supra, < 10,000)
    assert t9.value == pytest.approx(5_535.31, abs=0.05) and t9.level == "supra"
    # Liscate keeps 70% of its own (1,938.06) and gets 30% of Truccazzano's by border length
    # (1,616 m of Truccazzano's 10,373 m of CMM borders: 2,766.66 × 0.3 × 0.15578 = 129.29) = 2,067.35 m³
    assert ro["015122"] == pytest.approx(2_067.35, abs=0.1)
    # comuni outside CMM within 3 km of the site (Lodi province lies just east of Truccazzano)
    nb = kb_copy.read_layer("neighbour_municipalities")
    site = r.proposal.forecasts[0].geometry
    near = set(nb.loc[nb.distance(site) <= 3000, "istat_code"])
    assert {e.istat_code for e in r.relevance.external} == near and near
    assert all(e.province for e in r.relevance.external)
    assert not near & set(a.recipient for a in r.allocation)   # outside the allocation


def test_retail_park_is_supra_municipal(params, territory):
    r = compute_balance(parse_proposal(RETAIL, params.functions), territory, params)
    ind = r.indicators[0]
    # 6,000/100 × 30 = 1,800 cars + 6,000/100 × 0.3 = 18 trucks = 1,818 (T5: 1,000 ≤ 1,818 < 5,000)
    assert ind.vehicle_trips_day == pytest.approx(1818)
    assert r.relevance.level == "supra"
    levels = {ln.threshold_id: ln.level for ln in r.relevance.lines}
    assert levels["T2"] == "supra" and levels["T5"] == "supra" and levels["T7"] == "none"
    assert 1 <= len(r.affected_codes) < 5
    # only art. 44 c.19 applies (no free soil taken): 1,234,567.89 € × 5% = 61,728.3945 → 61,728.39 €
    assert [(x.resource_id, x.amount_cents) for x in r.resources] == [("lr12_art44_c19", 6_172_839)]
    # supra-municipal: no fund share, everything to the affected comuni, to the cent
    _check_allocation_exact(r, 6_172_839)
    assert {a.recipient_kind for a in r.allocation} == {"comune"}


def test_residential_infill_has_no_relevance(params, territory):
    r = compute_balance(parse_proposal(INFILL, params.functions), territory, params)
    # 1,200/100 × 4.0 = 48 cars + 1,200/100 × 0.05 = 0.6 trucks
    assert r.indicators[0].vehicle_trips_day == pytest.approx(48.6)
    assert r.relevance.level == "none" and r.affected_codes == []
    assert r.resources == []                                   # residential on urbanized land: none applies
    _check_allocation_exact(r, 0)
    # robust: still no relevance with every estimated quantity halved or raised by half
    from sttm.equalization.balance.engine import sensitivity
    assert all("rilevanza sarebbe nessuna, con 0 Comuni" in line
               for line in sensitivity(r.proposal, territory, params))
    # no land take, and the 400 m² sealed stay in Magenta
    assert r.matrix["new_impervious_m2"].sum() == pytest.approx(400) and r.matrix.at["015130", "new_impervious_m2"] == pytest.approx(400)


def _counts(kb):
    store.ensure_schema(kb)
    with kb.engine.connect() as c:
        return [c.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (store.proposals, store.forecasts, store.results, store.matrix, store.allocation_lines)]


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d["act"].update(istat_code="015999"), "act.istat_code"),
    (lambda d: d["forecasts"][0].update(geometry={"type": "Polygon", "coordinates": [[[12.49, 41.89], [12.50, 41.89],
                                                                                      [12.50, 41.90], [12.49, 41.89]]]}),
     "forecasts[0].geometry"),
    (lambda d: d["forecasts"][0].update(new_impervious_m2=-1), "forecasts[0].new_impervious_m2"),
    (lambda d: d["forecasts"][0].pop("function"), "forecasts[0].function"),
])
def test_bad_input_records_nothing(params, kb_copy, territory, mutate, field):
    import copy
    d = copy.deepcopy(HUB)
    mutate(d)
    before = _counts(kb_copy)
    with pytest.raises(ProposalError) as ei:
        import_proposal(kb_copy, d, params, "tester", territory)
    assert ei.value.field == field
    assert _counts(kb_copy) == before


def test_conference_and_agreement_on_the_hub(params, kb_copy, territory):
    pid, bid, r = import_proposal(kb_copy, HUB, params, "comune.liscate", territory)
    assert pid.startswith("BD-015122-") and bid == f"{pid}-B1"
    # the infill can be recorded but no conference can be opened on it
    _, bid0, _ = import_proposal(kb_copy, INFILL, params, "comune.magenta", territory)
    with pytest.raises(cf.WorkflowError, match="relevance 'none'"):
        cf.open_conference(kb_copy, bid0, params, "cmm", on="2026-04-01")
    c = cf.open_conference(kb_copy, bid, params, "cmm.planner", on="2026-04-01")
    assert c.invited[0] == "015122" and set(c.invited[1:]) == set(r.affected_codes)
    assert c.positions_due == "2026-05-01"                  # 30 days
    with pytest.raises(cf.WorkflowError, match="not invited"):
        cf.record_position(kb_copy, c.conference_id, "015146" if "015146" not in c.invited else "015002",
                           "favourable", "", "x", on="2026-04-02")
    with pytest.raises(cf.WorkflowError, match="positions still due"):
        cf.close_conference(kb_copy, c.conference_id, "agreement", "cmm", on="2026-04-03")
    assert c.overdue(__import__("datetime").date(2026, 5, 2)) == c.invited
    for code in c.invited:
        cf.record_position(kb_copy, c.conference_id, code, "favourable_with_conditions", "fasce boscate", code, on="2026-04-20")
    cf.record_observation(kb_copy, c.conference_id, "CMM", "verificare il PULS", "cmm", on="2026-04-21")
    c = cf.close_conference(kb_copy, c.conference_id, "agreement", "cmm", on="2026-04-22")
    a = cf.draft_agreement(kb_copy, c.conference_id, params, "cmm", on="2026-04-25")
    assert a.signatories[-1] == "CMM" and a.signature_due == "2026-06-24"
    assert sum(x["amount_cents"] for x in a.allocation) == r.total_resources_cents
    with pytest.raises(cf.WorkflowError, match="signatures still due"):
        cf.record_outcome(kb_copy, a.agreement_id, "cmm", on="2026-05-01")
    for s in a.signatories[:-1]:
        cf.sign_agreement(kb_copy, a.agreement_id, s, s, on="2026-05-10")
    with pytest.raises(cf.WorkflowError, match="already signed"):
        cf.sign_agreement(kb_copy, a.agreement_id, a.signatories[0], "x", on="2026-05-11")
    late = cf.record_outcome(kb_copy, a.agreement_id, "cmm", note="CMM non ha firmato", on="2026-06-25")
    assert late.status == "not_concluded"
    assert cf.verify(kb_copy, a.agreement_id) == [] and cf.verify(kb_copy, c.conference_id) == []
    # append-only: the database refuses to change a recorded event
    with pytest.raises(Exception, match="append-only"):
        with kb_copy.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE conference_events SET actor = 'x'")
    # and tampering with a copy of the events is detected by the hash chain
    events = [dict(e) for e in cf.conference_state(kb_copy, c.conference_id).events]
    events[2]["payload_json"] = '{"forged": true}'
    assert store.verify_chain(events) == ["seq 3: content does not match its hash"]
