"""Worked cases of STTM 3 (issue #8): poles, a rejected and a well-placed logistics proposal."""
import math

import pytest

from sttm.production import accessibility, constraints, evaluation, freight, importers, poles, suitability


def _pipeline(scene, user_layers=None):
    areas = importers.build_productive_areas([importers.import_pgt(scene["pgt"], "zona", id_field="cod",
                                                                   name_field="nome")],
                                             municipalities=scene["municipalities"])
    sensitive = importers_sensitive(scene)
    acc = accessibility.AccessInputs(
        roads=scene["roads"], junctions=scene["junctions"], stations=scene["stations"],
        services=scene["services"], municipalities=scene["municipalities"], sensitive=sensitive,
        rail_terminals=accessibility.rail_terminals_from_areas(areas))
    cs = constraints.build(user_layers or {"strategic_farmland": scene["farmland"]}, services=scene["services"],
                           hazard=scene["hazard"], municipalities=scene["municipalities"],
                           residential=scene["residential"])
    return areas, acc, cs


def importers_sensitive(scene):
    import geopandas as gpd
    import pandas as pd
    schools = scene["services"][scene["services"]["category"] == "school"][["geometry"]]
    return gpd.GeoDataFrame(pd.concat([schools, scene["residential"][["geometry"]]]), geometry="geometry",
                            crs="EPSG:32632")


def _areas_with_indicators(scene):
    areas, acc, cs = _pipeline(scene)
    a = accessibility.compute(areas, acc)
    share = constraints.flood_share_by_comune(scene["hazard"], scene["municipalities"])
    a["flood_high_share"] = a["istat_code"].map(share)
    a = constraints.overlay_sites(a, cs)
    return poles.recognise(a).set_index("area_id")


def test_taxonomy_size_comune(scene):
    areas, _, _ = _pipeline(scene)
    a = areas.set_index("area_id")
    assert a.loc["pgt:P1", "category"] == "manufacturing"
    assert a.loc["pgt:P2", "category"] == "crafts"
    assert a.loc["pgt:T1", "category"] == "intermodal_terminal"
    assert a.loc["pgt:P1", "area_m2"] == pytest.approx(600 * 500)
    assert a.loc["pgt:P1", "size_class"] == "large"          # 30 ha in [10, 50) ha
    assert a.loc["pgt:P2", "size_class"] == "medium"         # 8 ha
    assert a.loc["pgt:T1", "istat_code"] == "015002"
    assert a.loc["pgt:P1", "comune"] == "Alfa"


def test_accessibility_by_hand(scene):
    a = _areas_with_indicators(scene)
    p1 = a.loc["pgt:P1"]
    assert p1["dist_primary_road_m"] == pytest.approx(300)            # motorway at y=1800, top edge y=1500
    assert p1["dist_motorway_junction_m"] == pytest.approx(500)       # (2000,1800)-(1600,1500): 3-4-5
    assert p1["dist_rail_station_m"] == pytest.approx(700)
    assert p1["pt_stops_800m"] == 1
    assert p1["services_1km"] == 1                                    # school 800 m away
    assert p1["workforce_pt"] == 700000                               # line S5 serves Alfa + Beta
    assert p1["flood_high_share"] == pytest.approx(0.02)


def test_pole_that_qualifies(scene):
    p1 = _areas_with_indicators(scene).loc["pgt:P1"]
    assert p1["verdict"] == "polo", p1["reason"]
    assert p1["failed_rules"] == ""
    assert "POLE_SIZE" in p1["reason"] and "30,0 ha" in p1["reason"]


def test_pole_too_small(scene):
    p2 = _areas_with_indicators(scene).loc["pgt:P2"]
    assert p2["verdict"] == "non_polo"
    assert p2["failed_rules"] == "POLE_SIZE"                          # only the size rule fails
    assert "8,0 ha" in p2["reason"] and "20,0 ha" in p2["reason"] and "NON soddisfatto" in p2["reason"]


def test_pole_flood_comune(scene):
    t1 = _areas_with_indicators(scene).loc["pgt:T1"]
    assert t1["verdict"] == "non_polo"
    # 15 ha; nearest station S4 at hypot(1650, 1000)=1929 m > 1500 and no stop within 800 m;
    # no service within 1 km; Beta has 20% of its area in high flood hazard (> 10%)
    assert t1["dist_rail_station_m"] == pytest.approx(math.hypot(1650, 1000), abs=0.1)
    assert set(t1["failed_rules"].split(",")) == {"POLE_SIZE", "POLE_FLOOD", "POLE_RAIL", "POLE_PT",
                                                  "POLE_SERVICES"}


def test_pole_not_evaluable_without_data(scene):
    ev = poles.evaluate_area({"area_m2": 300000.0, "dist_primary_road_m": 100.0})
    assert ev["verdict"] == "non_valutabile"
    assert any("dato non disponibile" in r for r in ev["reasons"])


def _sites(scene):
    areas, acc, cs = _pipeline(scene)
    return suitability.assess_sites(scene["sites"], cs, acc, brownfields=scene["brownfields"],
                                    productive=areas).set_index("site_id")


def test_logistics_on_farmland_in_exclusion_is_rejected(scene):
    farm = _sites(scene).loc["farm"]
    assert farm["verdict"] == "respinta"
    assert farm["suitability_class"] == "excluded"
    assert math.isnan(farm["suitability"])
    assert farm["excluded_share"] == pytest.approx(1.0)
    assert "Ambiti agricoli strategici (100%)" in farm["reason"]


def test_logistics_on_brownfield_high_suitability_by_hand(scene):
    b = _sites(scene).loc["brown"]
    # regeneration 1 (brownfield), junction 2400 m -> (2400-8000)/(1000-8000)=0.8, primary road 200 m -> 1,
    # rail terminal 1500 m -> 1, workforce 700000/1000000=0.7, sensitive uses 1200 m -> 1
    assert b["dist_motorway_junction_m"] == pytest.approx(2400)
    assert b["dist_rail_terminal_m"] == pytest.approx(1500)
    assert b["dist_sensitive_m"] == pytest.approx(1200)
    base = 100 * (0.30 * 1 + 0.15 * 0.8 + 0.10 * 1 + 0.15 * 1 + 0.15 * 0.7 + 0.15 * 1)
    assert b["score_base"] == pytest.approx(base)                     # 92.5
    assert b["attention_penalty"] == 10                               # Beta: flood-hazard comune (attention)
    assert b["suitability"] == pytest.approx(base - 10)               # 82.5
    assert b["suitability_class"] == "high" and b["verdict"] == "ammissibile"
    assert "pericolosità idraulica" in b["reason"]


GOOD_PROPOSAL = dict(id="PR1", name="Polo logistico Beta", category="logistics_large", gfa_m2=40000,
                     site_area_m2=90000, renewable_share=80, hydraulic_invariance=True,
                     rainwater_reuse_share=25, permeable_share=30, green_share=20, landscape_level=2,
                     goods_mobility_level=3, workers_mobility_level=2, technology_level=3,
                     circularity_level=1, jobs_per_ha=60)


def test_proposal_grade_by_hand():
    ev = evaluation.evaluate(GOOD_PROPOSAL)
    hand = (0.15 * (80 - 60) / 40 + 0.10 * 1 + 0.05 * 25 / 50 + 0.10 * (30 - 20) / 20 + 0.10 * (20 - 10) / 20
            + 0.10 * 2 / 3 + 0.10 * 3 / 3 + 0.05 * 2 / 3 + 0.10 * 1 + 0.05 * 1 / 3 + 0.10 * (60 - 20) / 80)
    assert ev.total == pytest.approx(100 * hand, abs=0.01)            # 66.67
    assert ev.compliant and ev.grade == "B"


def test_proposal_below_minimum_standard_is_non_compliant():
    p = dict(GOOD_PROPOSAL, hydraulic_invariance=False, permeable_share=12)
    ev = evaluation.evaluate(p)
    assert not ev.compliant and ev.grade == "NC"
    assert len(ev.non_compliance) == 2
    assert any("HYDR_INV" in t for t in ev.non_compliance) and any("PERMEABLE" in t for t in ev.non_compliance)


def test_freight_truck_trips_by_hand():
    est = freight.truck_trips(40000, "logistics_large", route_shares={"015002": 0.7, "015001": 0.3})
    veh = 18.41 * 40                                                  # trips per 1000 m2 x 40
    assert est.vehicle_trips_per_day == pytest.approx(veh, abs=0.01)
    assert est.heavy_per_day == pytest.approx(veh * 0.30, abs=0.01)
    assert est.heavy_per_year == pytest.approx(round(veh * 0.30, 2) * 300, abs=1)
    assert est.by_municipality["015002"] == pytest.approx(veh * 0.30 * 0.7, abs=0.01)


def test_criteria_profile_by_category():
    hub = dict(GOOD_PROPOSAL, category="last_mile_hub", zero_emission_fleet_share=50)
    ev = evaluation.evaluate(hub)
    ids = [r.criterion_id for r in ev.rows]
    assert "LASTMILE_EV" in ids and "GOODS_MOB" in ids
    crafts = evaluation.evaluate(dict(GOOD_PROPOSAL, category="crafts"))
    assert "LASTMILE_EV" not in [r.criterion_id for r in crafts.rows]
    assert "GOODS_MOB" not in [r.criterion_id for r in crafts.rows]
    # hub: the logistics total plus LASTMILE_EV 0.5 x 0.10, over weights summing to 1.10
    base = evaluation.evaluate(GOOD_PROPOSAL).total / 100
    assert ev.total == pytest.approx(100 * (base * 1.0 + 0.10 * 0.5) / 1.10, abs=0.01)


def test_two_areas_split_by_a_road_form_one_pole(scene):
    """12 ha + 12 ha separated by a 20 m road: each alone fails POLE_SIZE, the agglomeration (24 ha) passes."""
    import geopandas as gpd
    from production_scene import B
    pgt = gpd.GeoDataFrame({"zona": ["produttivo", "logistica"], "cod": ["W", "E"]},
                           geometry=[B(1000, 1000, 1400, 1300), B(1420, 1000, 1820, 1300)], crs="EPSG:32632")
    areas = importers.build_productive_areas([importers.import_pgt(pgt, "zona", id_field="cod")],
                                             municipalities=scene["municipalities"])
    lone = poles.recognise(accessibility.compute(areas, _pipeline(scene)[1]).assign(flood_high_share=0.02,
                                                                                     excluded_share=0.0))
    fr = dict(zip(lone["area_id"], lone["failed_rules"]))
    # W: only size; E: size, and the school is hypot(120, 1000) = 1007 m away (> 1 km)
    assert fr == {"pgt:W": "POLE_SIZE", "pgt:E": "POLE_SIZE,POLE_SERVICES"}
    cl = poles.cluster(areas)
    assert len(cl) == 1 and cl.iloc[0]["pole_id"] == "pgt:E" and cl.iloc[0]["members"] == "pgt:E,pgt:W"
    assert cl.iloc[0]["area_m2"] == pytest.approx(2 * 400 * 300)
    acc = _pipeline(scene)[1]
    pole = poles.recognise(accessibility.compute(cl, acc).assign(flood_high_share=0.02, excluded_share=0.0))
    assert pole.iloc[0]["verdict"] == "polo", pole.iloc[0]["reason"]
    assert len(poles.cluster(areas, gap_m=10)) == 2          # a narrower gap keeps them apart
