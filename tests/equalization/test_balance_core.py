"""Diffusion balance engine on a hand-made 3×3 grid of 5 km comuni (see balance_fixtures).

Every expected figure below is worked by hand in the comment next to it."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from balance_fixtures import (X0, Y0, grid_adjacency, grid_hydraulic, grid_municipalities,  # noqa: E402
                              grid_services, square_lonlat)

from sttm.equalization.balance import (ParamsError, ProposalError, Territory, compute_balance,  # noqa: E402
                                       largest_remainder, load_params, parse_proposal, to_cents)
from sttm.equalization.balance.externalities import design_rainfall_mm  # noqa: E402


@pytest.fixture(scope="module")
def params():
    return load_params()


@pytest.fixture(scope="module")
def territory():
    return Territory.from_frames(grid_municipalities(), grid_adjacency(), grid_hydraulic(), grid_services())


def hub(params, **over):
    """Logistics hub of 600 m × 250 m straddling the 015005|015006 border (x = 510,000) 50/50."""
    f = {"id": "F1", "function": "logistics", "floor_area_m2": 100_000, "land_take_free_soil_m2": 150_000,
         "new_impervious_m2": 120_000, "former_cover": "agricultural",
         "geometry": square_lonlat(509_700, 5_006_000, 510_300, 5_006_250)}
    f.update(over)
    return parse_proposal({"act": {"kind": "SUAP", "istat_code": "015005", "title": "Polo logistico"},
                           "forecasts": [f]}, params.functions)


def test_params_file_has_sources_and_flags_unconfirmed(params):
    assert params.version
    keys = [k for k, _ in params.to_confirm()]
    # the three LR 12/2005 rates are parameters the user must confirm
    for rid in ("lr12_art43_c2bis", "lr12_art43_c2sexies", "lr12_art44_c19"):
        assert f"resources[{rid}]" in keys
    for r in params["resources"]:
        assert r["legal_reference"].startswith("LR Lombardia 11/3/2005 n. 12, art. 4")
    with pytest.raises(ParamsError, match="outside"):
        params.with_overrides({"allocation.fund_share_metropolitan": 1.5})
    with pytest.raises(ParamsError, match="unknown key"):
        params.with_overrides({"allocation.nope": 1})


def test_trips_land_take_and_resources_hand_checked(params, territory):
    r = compute_balance(hub(params), territory, params)
    ind = r.indicators[0]
    # cars from the parameter file: 100,000 m²/100 × 1.2 = 1,200; trucks from STTM 3's freight model
    # (logistics_large): 18.41 trip ends/1,000 m² × 100 × 30% heavy = 552.3
    assert ind.car_trips_day == pytest.approx(1200) and ind.truck_trips_day == pytest.approx(552.3)
    assert ind.truck_source.startswith("STTM 3 (logistics_large")
    assert "Previsione F1: spostamenti di mezzi pesanti STTM 3 (logistics_large" in " ".join(r.assumptions)
    m = r.matrix
    # the site straddles the border exactly in half: 75,000 m² of land take in each comune
    assert m.at["015005", "land_take_free_soil_m2"] == pytest.approx(75_000, rel=1e-6)
    assert m.at["015006", "land_take_free_soil_m2"] == pytest.approx(75_000, rel=1e-6)
    assert m["land_take_free_soil_m2"].sum() == pytest.approx(150_000, rel=1e-9)
    # trips are conserved by the gravity split
    # (STTM 3 rounds each comune's heavy trips to the hundredth)
    assert m["car_trips_day"].sum() == pytest.approx(1200) and m["truck_trips_day"].sum() == pytest.approx(552.3, abs=0.05)
    # ecosystem services: 7.5 ha × 40,000 €/ha = 300,000 €/yr per side; half stays, half goes to the
    # neighbours by border length (all borders 5 km): 015006 has 3 neighbours (3, 5, 9), 015005 has 4
    # (2, 4, 6, 8). 015003 gets 150,000/3 = 50,000; 015002 gets 150,000/4 = 37,500;
    # 015005 keeps 150,000 + 50,000 from 015006 = 200,000; 015006: 150,000 + 37,500 = 187,500.
    assert m.at["015003", "es_loss_eur_year"] == pytest.approx(50_000)
    assert m.at["015002", "es_loss_eur_year"] == pytest.approx(37_500)
    assert m.at["015005", "es_loss_eur_year"] == pytest.approx(200_000)
    assert m.at["015006", "es_loss_eur_year"] == pytest.approx(187_500)
    assert m.at["015001", "es_loss_eur_year"] == 0
    # runoff: h(T=50, 1 h) = 30 · (0.8 + 0.3/−0.05 · (1 − ln(50/49)^−0.05)) = 30 · 2.09258 = 62.777 mm;
    # per side 60,000 m² · 0.7 · 0.062777 = 2,636.6 m³; 015005 keeps 70% (1,845.6) and receives
    # 30%/3 of 015006's (263.7) = 2,109.3 m³
    assert m.at["015005", "runoff_m3_event"] == pytest.approx(2109.3, abs=0.2)
    # resources: base = 100,000 m² × 60 €/m² = 6,000,000 €; 5% + 20% + 5% = 1,800,000.00 €
    assert r.total_resources_cents == 180_000_000
    assert [x.amount_cents for x in r.resources] == [30_000_000, 120_000_000, 30_000_000]
    # metropolitan: 20% to the fund = 360,000.00 €, the rest to the affected comuni, to the cent
    fund = [a for a in r.allocation if a.recipient_kind == "fund"]
    assert fund[0].amount_cents == 36_000_000
    assert sum(a.amount_cents for a in r.allocation) == r.total_resources_cents


def test_vehicle_km_are_the_straight_lines_times_circuity(params, territory):
    """On a convex territory every line stays inside, so Σ vkm = circuity · Σ_j trips_j · max(d_j, 1 km)."""
    r = compute_balance(hub(params), territory, params)
    c = r.proposal.forecasts[0].geometry.centroid
    d = np.hypot(territory.points[:, 0] - c.x, territory.points[:, 1] - c.y) / 1000
    trips = r.matrix["car_trips_day"].to_numpy() + r.matrix["truck_trips_day"].to_numpy()
    expected = 1.3 * (trips * np.maximum(d, 1.0)).sum()
    assert r.matrix["vkm_day"].sum() == pytest.approx(expected, rel=1e-9)
    # CO2: Σ (car vkm · 170 + truck vkm · 850) g · 300 days
    car = r.matrix["car_trips_day"].to_numpy() * 1.3 * np.maximum(d, 1.0)
    truck = r.matrix["truck_trips_day"].to_numpy() * 1.3 * np.maximum(d, 1.0)
    assert r.matrix["co2_t_year"].sum() == pytest.approx((car.sum() * 170 + truck.sum() * 850) * 300 / 1e6, rel=1e-9)


def test_design_rainfall_abbiategrasso():
    # ARPA LSPP of Abbiategrasso (a1 29.28, α 0.2982, κ −0.0473, ε 0.8126), T = 50 y, 1 h:
    # w = 0.8126 + (0.2982/−0.0473)(1 − 0.0202027^−0.0473) = 0.8126 + 1.27778 = 2.09038 → 61.21 mm
    row = pd.Series({"a1": 29.28, "n": 0.31, "alpha": 0.2982, "kappa": -0.0473, "epsilon": 0.8126})
    assert design_rainfall_mm(row, 50, 1.0) == pytest.approx(61.21, abs=0.02)


def test_relevance_is_explained_line_by_line(params, territory):
    r = compute_balance(hub(params), territory, params)
    assert r.relevance.level == "metropolitan"
    text = "\n".join(r.relevance.explain())
    assert "[T1] previsione F1 (logistics): Superficie lorda = 100.000 m² ≥ soglia metropolitana 20.000" in text
    assert "[T7]" in text and "Esito: rilevanza metropolitana" in text
    assert "015006" in r.affected_codes and "015005" not in r.affected_codes
    # small residential infill: 1,500 m² on urbanized land, no threshold reached
    small = parse_proposal({"act": {"kind": "PA", "istat_code": "015005", "title": "Completamento"},
                            "forecasts": [{"function": "residential", "floor_area_m2": 1500, "former_cover": "urbanized",
                                           "new_impervious_m2": 300,
                                           "geometry": square_lonlat(507_400, 5_007_400, 507_450, 5_007_450)}]},
                           params.functions)
    rs = compute_balance(small, territory, params)
    assert rs.relevance.level == "none" and rs.relevance.affected == []
    assert [a.recipient_kind for a in rs.allocation] == ["host_residual"]


def test_measures_come_first_and_service_demand(params, territory):
    p = hub(params)
    p2 = parse_proposal({"act": {"kind": "SUAP", "istat_code": "015005", "title": "x"},
                         "forecasts": [{"function": "residential", "floor_area_m2": 50_000, "residents": 1000,
                                        "land_take_free_soil_m2": 20_000, "former_cover": "agricultural",
                                        "geometry": square_lonlat(507_000, 5_007_000, 507_200, 5_007_200)}],
                         "measures": [{"kind": "compensation", "description": "bosco", "cost_eur": 1000.10},
                                      {"kind": "mitigation", "description": "barriera", "cost_eur": 500.05,
                                       "istat_code": "015006"}]}, params.functions)
    r = compute_balance(p2, territory, params)
    kinds = [(a.recipient_kind, a.amount_cents) for a in r.allocation]
    assert kinds[0] == ("measure", 50_005) and kinds[1] == ("measure", 100_010)   # mitigation first
    assert sum(a.amount_cents for a in r.allocation) == r.total_resources_cents
    # 1,000 residents × under-12 share 1,000/10,000 = 100 pupils, spread over the two schools
    assert r.matrix["service_demand_users"].sum() == pytest.approx(100 + 1000 + 0, rel=1e-9)  # schools + pharmacy
    # per comune: site centre (507,100, 5,007,100); schools weighted by capacity × e^(−d/3 km) over the
    # comuni's centres: 015001 d = √(4.6² + 4.6²) = 6.5054 → 500 × 0.114353 = 57.177; 015009
    # d = √(5.4² + 5.4²) = 7.6368 → 1,500 × 0.078427 = 117.641; Σ 174.818 → 32.707 and 67.293 pupils,
    # × 800 €/pupil = 26,165.2 and 53,834.8 €/yr; the one pharmacy (015005) takes all 1,000 users at 0 €
    m = r.matrix
    assert m.at["015001", "service_demand_users"] == pytest.approx(32.707, abs=0.001)
    assert m.at["015009", "service_demand_users"] == pytest.approx(67.293, abs=0.001)
    assert m.at["015005", "service_demand_users"] == pytest.approx(1000)
    assert m.at["015001", "service_demand_eur_year"] == pytest.approx(26_165.2, abs=0.1)
    assert m.at["015009", "service_demand_eur_year"] == pytest.approx(53_834.8, abs=0.1)
    assert m.at["015005", "service_demand_eur_year"] == 0
    del p


@pytest.mark.parametrize("total,weights,expected", [
    (100, {"a": 1, "b": 1, "c": 1}, {"a": 34, "b": 33, "c": 33}),       # 33.33 each, 1 cent to 'a' (tie → key)
    (1000, {"x": 2, "y": 1}, {"x": 667, "y": 333}),                     # 666.67 / 333.33
    (7, {"a": 0, "b": 5}, {"a": 0, "b": 7}),
    (0, {"a": 1}, {"a": 0}),
])
def test_largest_remainder_hand_cases(total, weights, expected):
    assert largest_remainder(total, weights) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**12), st.lists(st.floats(0, 1e9, allow_nan=False), min_size=1, max_size=40))
def test_largest_remainder_sums_exactly(total, ws):
    weights = {f"{i:03d}": w for i, w in enumerate(ws)}
    parts = largest_remainder(total, weights)
    W = sum(w for w in ws if w > 0)
    if W == 0:
        assert sum(parts.values()) == 0
        return
    assert sum(parts.values()) == total
    for k, w in weights.items():
        assert abs(parts[k] - total * w / W) < 1 + 1e-6 * total


def test_to_cents_half_up():
    assert to_cents(0.005) == 1 and to_cents(1.234) == 123 and to_cents(2.675) == 268


@pytest.mark.parametrize("mutate,field,msg", [
    (lambda d: d["act"].update(istat_code="099999"), "act.istat_code", "unknown comune"),
    (lambda d: d["forecasts"][0].update(floor_area_m2=-10), "forecasts[0].floor_area_m2", "must be ≥ 0"),
    (lambda d: d["forecasts"][0].pop("function"), "forecasts[0].function", "missing function"),
    (lambda d: d["forecasts"][0].update(function="casino"), "forecasts[0].function", "unknown function"),
    (lambda d: d["forecasts"][0].update(geometry=square_lonlat(400_000, 4_900_000, 400_500, 4_900_500)),
     "forecasts[0].geometry", "outside the Città metropolitana"),
    (lambda d: d["forecasts"][0].update(land_take_free_soil_m2=10**9), "forecasts[0].land_take_free_soil_m2", "exceeds"),
    (lambda d: d["act"].update(kind="XYZ"), "act.kind", "must be one of"),
])
def test_bad_input_names_the_field(params, territory, mutate, field, msg):
    d = {"act": {"kind": "SUAP", "istat_code": "015005", "title": "x"},
         "forecasts": [{"function": "logistics", "floor_area_m2": 1000, "land_take_free_soil_m2": 100,
                        "geometry": square_lonlat(507_000, 5_007_000, 507_200, 5_007_200)}]}
    mutate(d)
    with pytest.raises(ProposalError) as ei:
        compute_balance(parse_proposal(d, params.functions), territory, params)
    assert ei.value.field == field and msg in str(ei.value)


def test_geojson_feature_collection_layout_and_crs(params, territory):
    """A FeatureCollection (forecasts as features, act as a foreign member) in EPSG:32632."""
    fc = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:32632"}},
          "act": {"kind": "PGT_variant", "istat_code": "015005", "title": "Variante"},
          "features": [{"type": "Feature", "properties": {"id": "A", "function": "office", "floor_area_m2": 10_000},
                        "geometry": {"type": "Polygon", "coordinates": [[[506000, 5006000], [506100, 5006000],
                                                                         [506100, 5006100], [506000, 5006100],
                                                                         [506000, 5006000]]]}}]}
    p = parse_proposal(fc, params.functions)
    assert p.forecasts[0].geometry.area == pytest.approx(10_000)
    r = compute_balance(p, territory, params)
    # office: 10,000/100 × 8.0 = 800 cars + 10,000/100 × 0.1 = 10 trucks
    assert r.indicators[0].vehicle_trips_day == pytest.approx(810)
    assert r.matrix.at["015005", "new_impervious_m2"] == 0
