"""Worked examples of the two norm sheets, checked by hand."""
import pytest

from sttm.sustainability.flood import FloodSite, SiteInputError, evaluate_flood
from sttm.sustainability.heat import HeatSite, evaluate_heat
from sttm.sustainability.hydrology import LSPP

MILANO = LSPP(a1=29.87, n=0.3006, alpha=0.2958, kappa=-0.0358, epsilon=0.8179)  # class A comune
W_PER_HA = 867.5532  # rainfall-curve volume per impervious ha, Milano T=50, u_lim 10 l/s/ha (see test_core)


def car_park(**kw):
    args = dict(
        name="Parcheggio via Esempio", site_area_m2=10_000, surfaces_before={"asphalt": 10_000},
        surfaces_after={"asphalt": 4500, "permeable_paving": 2500, "desealing": 1200, "rain_garden": 1500,
                        "infiltration_trench": 300},
        soil_group="B", criticality_class="A", lspp=MILANO, trees_after={"second": 40})
    args.update(kw)
    return FloodSite(**args)


def test_car_park_desealed_with_rain_garden_and_trees_class_a():
    r = evaluate_flood(car_park())
    s1, s2, s3, inv = r["step1"], r["step2"], r["step3"], r["step3"]["invariance"]
    assert s1["imperviousness_before"] == 1.0 and s1["ulim_l_s_ha"] == 10 and s1["priority_site"]
    # design storm: h(1 h, 50 y) = a1·wT = 29.87 · 2.05660 = 61.43 mm
    assert s3["design_storm_mm"] == pytest.approx(61.4305, abs=1e-3)
    # runoff before, CN 98: S = 5.18367, Q = (61.4305 − 1.03673)² / (61.4305 + 0.8·5.18367) = 55.620 mm
    assert s3["runoff_cn_before_m3"] == pytest.approx(556.20, abs=0.05)
    assert s3["runoff_phi_before_m3"] == pytest.approx(614.305, abs=0.01)   # 1.0 · 61.4305 mm · 1 ha
    # φ after = (4500·1 + 2500·0.7 + 1200·0.3 + 1500·0.3 + 300·0.3) / 10000 = 0.715
    assert s3["phi_after"] == pytest.approx(0.715)
    assert inv["impervious_equivalent_ha"] == pytest.approx(0.715)
    assert inv["rainfall_curve_volume_m3"] == pytest.approx(W_PER_HA * 0.715, abs=0.01)   # 620.30 m³
    assert inv["min_volume_m3"] == pytest.approx(800 * 0.715)                             # 572 m³
    assert inv["required_m3"] == pytest.approx(620.30, abs=0.01)
    assert inv["min_volume_status"] == "unverified"
    # storage: paving 2500·0.060 + rain garden 1500·0.300 + trench 300·0.450 = 150 + 450 + 135
    assert s3["storage_provided_m3"] == pytest.approx(735.0)
    assert r["verdict"]["invariance_met"] and s3["deficit_m3"] == 0
    # RIE after = (1200/0.1 + 1500/0.1 + 40·20) / (2700 + 4500·0.9 + 2500·0.6 + 300·0.6) = 27800/8430
    assert s3["rie_before"] == 0.0
    assert s3["rie_after"] == pytest.approx(27800 / 8430)
    # recharge: 950 mm · 0.6 · Σ A(1−φ) over infiltrating surfaces
    assert s3["recharge_after_m3_yr"] == pytest.approx(0.95 * 0.6 * (2500 * 0.3 + 1200 * 0.7 + 1500 * 0.7 + 300 * 0.7))
    assert s2["desealed_m2"] == pytest.approx(5500)
    assert s2["cost_eur"] == pytest.approx(2500 * 70 + 1200 * 45 + 1500 * 120 + 300 * 150)
    assert {i["code"] for i in r["indicators"]} >= {"F1", "F3", "F4", "F7"}
    ind = {i["code"]: i for i in r["indicators"]}
    # F1 sealed share: 100% before; after only the 4500 m² of asphalt are sealed → 45%
    assert (ind["F1"]["baseline"], ind["F1"]["expected"]) == pytest.approx((100.0, 45.0))
    assert ind["F2"]["baseline"] == 0 and ind["F2"]["expected"] == pytest.approx(5500)   # (1 − 0.45) · 10 000
    assert ind["F3"]["baseline"] is None and ind["F3"]["expected"] == pytest.approx(735.0)
    assert ind["F4"]["baseline"] is None and ind["F4"]["expected"] == pytest.approx(620.30, abs=0.01)
    # F5 SCS-CN runoff after, P = 61.4305 mm: asphalt CN 98 → 55.620 mm · 4500 = 250.29 m³; paving CN 78
    # (S 71.641, Ia 14.328) → 47.102²/118.744 = 18.684 mm · 2500 = 46.71; desealing and rain garden CN 61
    # (S 162.393) → 28.952²/191.345 = 4.381 mm · 2700 = 11.83; trench CN 65 (S 136.769) → 34.077²/170.846
    # = 6.797 mm · 300 = 2.04 → 310.9 m³ gross, all held by the 735 m³ of storage → net 0
    assert ind["F5"]["baseline"] == pytest.approx(556.20, abs=0.05)
    assert s3["runoff_cn_after_m3"] == pytest.approx(310.87, abs=0.05)
    assert ind["F5"]["expected"] == 0.0
    # F6 recharge: 0 before (asphalt does not infiltrate); after 0.95 m · 0.6 · (2500·0.3 + 2700·0.7 + 300·0.7)
    assert ind["F6"]["baseline"] == 0.0 and ind["F6"]["expected"] == pytest.approx(1624.5)
    assert ind["F7"]["baseline"] == 0.0 and ind["F7"]["expected"] == pytest.approx(27800 / 8430)  # 3.298
    # F8 cost 175 000 + 54 000 + 180 000 + 45 000 = 454 000 €; upkeep 2500·1.5 + 1200·1.5 + 1500·4 + 300·3
    # = 12 450 €/yr, written in the measurement text
    assert ind["F8"]["expected"] == pytest.approx(454_000) and "12450" in ind["F8"]["method_it"]


def test_car_park_with_too_little_storage_gets_the_missing_area():
    r = evaluate_flood(car_park(surfaces_after={"asphalt": 8000, "desealing": 1500, "rain_garden": 500}))
    s3 = r["step3"]
    phi = (8000 + 1500 * 0.3 + 500 * 0.3) / 10_000
    required = max(W_PER_HA * phi, 800 * phi)
    assert s3["invariance"]["required_m3"] == pytest.approx(required, abs=0.01)
    assert s3["deficit_m3"] == pytest.approx(required - 150, abs=0.01)
    assert s3["extra_area_nbs"] == "rain_garden"
    assert s3["extra_area_needed_m2"] == pytest.approx((required - 150) / 0.3, abs=0.1)
    assert not r["verdict"]["invariance_met"]


def test_user_override_of_the_minimum_volume_changes_the_requirement():
    from sttm.sustainability.params import load_params
    p = load_params(overrides={"invariance.min_volume_m3_ha.A": 1000})
    r = evaluate_flood(car_park(), params=p)
    assert r["step3"]["invariance"]["required_m3"] == pytest.approx(715.0)
    assert r["step3"]["invariance"]["min_volume_status"] == "user_override"


@pytest.mark.parametrize("kw, msg", [
    ({"surfaces_after": {"asphalt": 5000}}, "surfaces_after: surfaces add up to 5000.0"),
    ({"surfaces_after": {"asphalt": 9000, "moon_dust": 1000}}, "surfaces_after row 2: field 'type'"),
    ({"criticality_class": "D"}, "criticality_class"),
    ({"soil_group": "E"}, "soil_group"),
    ({"lspp": None}, "lspp"),
])
def test_flood_bad_input(kw, msg):
    with pytest.raises(SiteInputError, match=msg):
        evaluate_flood(car_park(**kw))


def test_school_yard_greening_against_heat():
    site = HeatSite(name="Cortile scuola primaria", site_area_m2=5000,
                    surfaces_before={"asphalt": 4000, "lawn": 1000},
                    surfaces_after={"asphalt": 1500, "desealing": 2000, "lawn": 1000, "cool_pavement": 500},
                    canopy_before_m2=0, canopy_after_m2=1000, t_ref_c=29.0, uhi_max_c=4.0,
                    target_reduction_c=1.0, sensitive_use="scuola", exposed_children=320)
    r = evaluate_heat(site)
    s1, s3 = r["step1"], r["step3"]
    # before: CC = 0.6·0 + 0.2·(4000·.08 + 1000·.23)/5000 + 0.2·(4000·.1 + 1000·.95)/5000 = 0.076
    assert s1["cc_before"] == pytest.approx(0.076)
    assert s1["t_air_before"] == pytest.approx(29 + (1 - 0.076) * 4)           # 32.696 °C
    # after: shade 0.2, albedo 0.207, ETI 0.61 → CC = 0.12 + 0.0414 + 0.122 = 0.2834
    assert s3["cc_after"] == pytest.approx(0.2834)
    assert s3["t_air_after"] == pytest.approx(29 + (1 - 0.2834) * 4)           # 31.866 °C
    assert s3["reduction_c"] == pytest.approx(0.8296)
    assert not r["verdict"]["target_met"]
    # missing 0.1704 °C → canopy = 0.1704 / (4 · 0.6) · 5000 = 355 m²
    assert s3["extra_canopy_needed_m2"] == pytest.approx(355.0)
    assert s3["extra_canopy_feasible"]
    assert s1["exposed_sensitive"] == 320
    assert {i["code"] for i in r["indicators"]} >= {"H1", "H3", "H4"}
    ind = {i["code"]: i for i in r["indicators"]}
    # H1 canopy: no shaded surface before → 0%; 1000 m² of new canopy on 5000 m² unshaded → 20%
    assert (ind["H1"]["baseline"], ind["H1"]["expected"]) == pytest.approx((0.0, 20.0))
    assert (ind["H2"]["baseline"], ind["H2"]["expected"]) == pytest.approx((0.076, 0.2834))
    # H3: green 0.1 ha before, 0.3 ha after (lawn 1000 + desealing 2000), no park → HM = CC
    assert (ind["H3"]["baseline"], ind["H3"]["expected"]) == pytest.approx((0.076, 0.2834))
    assert (ind["H4"]["baseline"], ind["H4"]["expected"]) == pytest.approx((32.696, 31.8664))
    assert ind["H5"]["baseline"] is None and ind["H5"]["expected"] is None     # measured after works only
    assert (ind["H6"]["baseline"], ind["H6"]["expected"]) == pytest.approx((1000.0, 3000.0))  # cool pavement: not green
    assert ind["H7"]["baseline"] == 320 and ind["H7"]["expected"] is None
    # adding exactly that canopy reaches the target
    site.canopy_after_m2 = 1355.0
    assert evaluate_heat(site)["verdict"]["target_met"]


def _forest_lot(**kw):
    # 3 ha car park: 2.5 ha become urban forest (shade 1, albedo 0.16, Kc 1.0), 0.5 ha stay asphalt
    args = dict(name="Bosco urbano", site_area_m2=30_000, surfaces_before={"asphalt": 30_000},
                surfaces_after={"urban_forest": 25_000, "asphalt": 5000}, t_ref_c=29.0, uhi_max_c=4.0)
    args.update(kw)
    return HeatSite(**args)


def test_heat_green_area_over_2ha_inside_the_lot():
    r = evaluate_heat(_forest_lot())
    s1, s3 = r["step1"], r["step3"]
    # before: CC = 0.2·0.08 + 0.2·0.1 = 0.036, no green → HM = CC, T = 29 + 0.964·4 = 32.856
    assert s1["hm_before"] == pytest.approx(0.036) and s1["t_air_before"] == pytest.approx(32.856)
    assert s1["hm_basis_before"] == "capacità di raffrescamento del lotto"
    # after: shade 25000/30000 = 0.833333, albedo (25000·0.16 + 5000·0.08)/30000 = 0.146667,
    # ETI (25000·1.0 + 5000·0.1)/30000 = 0.85 → CC = 0.5 + 0.029333 + 0.17 = 0.699333;
    # green area 2.5 ha ≥ 2 ha, but no park cools more (CC_park of the lot's own green ≤ CC) → HM = CC
    assert s3["cc_after"] == pytest.approx(0.699333, abs=1e-6)
    assert s3["hm_after"] == pytest.approx(0.699333, abs=1e-6)
    assert s3["hm_basis_after"] == "area verde > 2 ha nel lotto" and s3["green_m2_after"] == 25_000
    assert s3["t_air_after"] == pytest.approx(29 + (1 - 0.699333) * 4, abs=1e-5)    # 30.2027 °C
    assert s3["reduction_c"] == pytest.approx(32.856 - 30.202667, abs=1e-5)        # 2.6533 °C


def test_heat_nearby_park_over_2ha_cools_the_lot_where_it_cools_more():
    # InVEST UCM eq. 4: HM = CC if CC ≥ CC_park or GA < 2 ha; CC_park otherwise
    yard = dict(name="Cortile", site_area_m2=5000, surfaces_before={"asphalt": 4000, "lawn": 1000},
                surfaces_after={"asphalt": 1500, "desealing": 2000, "lawn": 1000, "cool_pavement": 500},
                canopy_after_m2=1000, t_ref_c=29.0, uhi_max_c=4.0)
    r = evaluate_heat(HeatSite(**yard, nearby_green_over_2ha=True, nearby_park_cc=0.25))
    s1, s3 = r["step1"], r["step3"]
    # before: CC 0.076 < CC_park 0.25 → HM = 0.25, T = 29 + 0.75·4 = 32.0
    assert s1["cc_before"] == pytest.approx(0.076) and s1["hm_before"] == pytest.approx(0.25)
    assert s1["hm_basis_before"].startswith("raffrescamento da parco")
    assert s1["t_air_before"] == pytest.approx(32.0)
    # after: CC 0.2834 ≥ 0.25 → HM = CC, T = 29 + 0.7166·4 = 31.8664; the park already gave 0.696 °C
    assert s3["hm_after"] == pytest.approx(0.2834) and s3["t_air_after"] == pytest.approx(31.8664)
    assert s3["reduction_c"] == pytest.approx(0.1336)
    # a park CC without a park > 2 ha (GA < 2 ha), or a park of unknown CC: HM stays CC
    assert evaluate_heat(HeatSite(**yard, nearby_park_cc=0.25))["step1"]["hm_before"] == pytest.approx(0.076)
    assert evaluate_heat(HeatSite(**yard, nearby_green_over_2ha=True))["step1"]["hm_before"] == pytest.approx(0.076)
    # the 2.5 ha forest lot beside a park cooling more (0.75 > CC 0.699333): GA ≥ 2 ha and CC < CC_park
    # → HM = 0.75 before and after, T = 29 + 0.25·4 = 30.0 both times, no reduction credited to the lot
    f = evaluate_heat(_forest_lot(nearby_green_over_2ha=True, nearby_park_cc=0.75))
    assert f["step1"]["hm_before"] == pytest.approx(0.75) and f["step3"]["hm_after"] == pytest.approx(0.75)
    assert f["step3"]["t_air_after"] == pytest.approx(30.0) and f["step3"]["reduction_c"] == pytest.approx(0.0)


def test_heat_canopy_larger_than_site_is_refused():
    site = HeatSite(name="x", site_area_m2=100, surfaces_before={"asphalt": 100}, surfaces_after={"asphalt": 100},
                    canopy_after_m2=150)
    with pytest.raises(SiteInputError, match="canopy area 150"):
        evaluate_heat(site)


def test_hazard_classes_follow_the_thresholds():
    from sttm.sustainability.flood import hazard_class
    from sttm.sustainability.params import load_params
    p = load_params()
    assert hazard_class({"flood_area_high_km2": 5.0, "flood_area_medium_km2": 5.0}, 100.0, p)["class"] == "alta"
    assert hazard_class({"flood_area_high_km2": 0.0, "flood_area_medium_km2": 10.0}, 100.0, p)["class"] == "media"
    assert hazard_class({"flood_area_high_km2": 0.0, "flood_area_medium_km2": 9.0}, 100.0, p)["class"] == "bassa"
    assert hazard_class(None, 100.0, p)["class"] == "non disponibile"
    assert hazard_class({"flood_area_high_km2": 1.0}, None, p)["class"] == "non disponibile"


def test_unknown_tree_size_is_refused():
    with pytest.raises(SiteInputError, match="size class 'giant'"):
        evaluate_flood(car_park(trees_after={"giant": 3}))
