"""Balance columns and allocation worked by hand, column by column (not against the engine's own sums).

Case 1-2: the logistics hub of test_balance_core on the 3×3 grid of 5 km comuni (balance_fixtures).
Case 3: a 1×3 strip of 5 km square comuni, where trips and vehicle-km per comune are small sums."""
from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

sys.path.insert(0, str(Path(__file__).parent))
from balance_fixtures import (X0, Y0, grid_adjacency, grid_hydraulic, grid_municipalities,  # noqa: E402
                              grid_services, square_lonlat)
from test_balance_core import hub  # noqa: E402

from sttm.equalization.balance import Territory, compute_balance, load_params, parse_proposal  # noqa: E402

# the money values of emissions and jobs set to 0: the net burden is only the lost ecosystem services
ES_ONLY = {"damage_costs.co2_eur_per_t": 0.0, "damage_costs.nox_eur_per_kg": 0.0,
           "damage_costs.pm10_eur_per_kg": 0.0, "benefits.eur_per_job_year": 0.0}


@pytest.fixture(scope="module")
def params():
    return load_params()


@pytest.fixture(scope="module")
def grid():
    return Territory.from_frames(grid_municipalities(), grid_adjacency(), grid_hydraulic(), grid_services())


def test_hub_allocation_by_lost_ecosystem_services_only(params, grid):
    p = params.with_overrides(ES_ONLY)
    r = compute_balance(hub(p), grid, p)
    m = r.matrix
    # Site 600 m × 250 m, x 509,700–510,300, split 50/50 by the 015005|015006 border: 7.5 ha each,
    # × 40,000 €/ha (agricultural) = 300,000 €/yr per side. local_share 0.5 stays; the other half goes
    # to the neighbours by border length (all 5 km): 015005 → 002, 004, 006, 008 (150,000/4 = 37,500 each);
    # 015006 → 003, 005, 009 (150,000/3 = 50,000 each).
    es = {"015001": 0, "015002": 37_500, "015003": 50_000, "015004": 37_500,
          "015005": 150_000 + 50_000,         # kept half + 015006's gift
          "015006": 150_000 + 37_500,         # kept half + 015005's gift
          "015007": 0, "015008": 37_500, "015009": 50_000}
    for code, v in es.items():
        assert m.at[code, "es_loss_eur_year"] == pytest.approx(v)
        # damage costs 0, runoff and heat not monetised (eur_per_m3 = eur_per_ha = 0), a logistics hub
        # has no residents (no m2_per_resident for logistics) → no service demand: burden = ES loss
        assert m.at[code, "burden_eur_year"] == pytest.approx(v)
        assert m.at[code, "benefit_eur_year"] == 0            # 0 €/job
        assert m.at[code, "net_burden_eur_year"] == pytest.approx(v)
        assert m.at[code, "service_demand_eur_year"] == 0
    # heat: the 200 m buffer of the rectangle = 150,000 + 2·200·(600 + 250) + the 4 rounded corners
    # (a 64-gon of radius 200 m: 32·200²·sin(2π/64) = 125,461.9 m²) = 615,461.9 m², split 50/50 by
    # x = 510,000 → 30.773 ha per side, × impervious fraction 120,000/150,000 = 0.8 → 24.618 ha;
    # the buffer (y 5,005,800–5,006,450, x 509,500–510,500) touches no other comune
    assert m.at["015005", "heat_exposed_ha"] == pytest.approx(24.618, abs=0.002)
    assert m.at["015006", "heat_exposed_ha"] == pytest.approx(24.618, abs=0.002)
    assert m["heat_exposed_ha"].drop(["015005", "015006"]).abs().max() == 0
    # affected (host 015005 excluded): 015006 by land take (75,000 m² ≥ 1) and burden; 002, 003, 004,
    # 008, 009 by burden ≥ 25,000 €/yr (37,500 or 50,000); 001 and 007 have no ES loss, no heat, no
    # land take and less than 2,000 veh·km/day (the far corners, < 10% of the trips each)
    assert r.affected_codes == ["015002", "015003", "015004", "015006", "015008", "015009"]
    assert m.at["015001", "vkm_day"] < 2000 and m.at["015007", "vkm_day"] < 2000
    # resources 1,800,000.00 € (see test_balance_core); metropolitan: 20% = 360,000.00 € to the fund;
    # 1,440,000.00 € by net burden, Σ = 187,500 + 2·50,000 + 3·37,500 = 400,000:
    # 015006: 144,000,000 × 187.5/400 = 67,500,000; 003, 009: × 50/400 = 18,000,000;
    # 002, 004, 008: × 37.5/400 = 13,500,000 (all exact, no remainder)
    alloc = [(a.recipient_kind, a.recipient, a.amount_cents) for a in r.allocation]
    assert alloc == [("fund", "CMM-FONDO", 36_000_000),
                     ("comune", "015002", 13_500_000), ("comune", "015003", 18_000_000),
                     ("comune", "015004", 13_500_000), ("comune", "015006", 67_500_000),
                     ("comune", "015008", 13_500_000), ("comune", "015009", 18_000_000)]
    # the criterion each line states, in Italian number format: 187,500/400,000 = 46.875% → "46,88%"
    basis = {a.recipient: a.basis for a in r.allocation}
    assert basis["015006"] == "onere netto 187.500 €/anno = 46,88% del totale"
    assert basis["015002"] == "onere netto 37.500 €/anno = 9,38% del totale"      # 37.5/400 = 9.375%
    assert basis["CMM-FONDO"].startswith("20% delle risorse residue")


def test_hub_job_benefit_worked_for_one_comune(params, grid):
    p = params.with_overrides({k: v for k, v in ES_ONLY.items() if not k.startswith("benefits")})
    r = compute_balance(hub(p), grid, p)
    m = r.matrix
    # jobs: 100,000 m² / 150 m²/job (logistics) = 666.667. Site centroid (510,000, 5,006,125); the
    # representative points of the squares are their centres. Distances (km) and exp(−d/12):
    #   015001 √(7.5² + 3.625²) = 8.3301 → 0.499486    015002, 015003 √(2.5² + 3.625²) = 4.4035 → 0.692839
    #   015004 √(7.5² + 1.375²) = 7.6250 → 0.529714    015005, 015006 √(2.5² + 1.375²) = 2.8532 → 0.788388
    #   015007 √(7.5² + 6.375²) = 9.8433 → 0.440311    015008, 015009 √(2.5² + 6.375²) = 6.8477 → 0.565164
    # equal residents, Σ = 0.499486 + 2·0.692839 + 0.529714 + 2·0.788388 + 0.440311 + 2·0.565164 = 5.562293
    # 015006: 666.667 × 0.788388/5.562293 = 94.492 jobs × 176 €/job = 16,630.6 €/yr
    assert m.at["015006", "jobs_filled"] == pytest.approx(94.492, abs=0.002)
    assert m.at["015006", "benefit_eur_year"] == pytest.approx(16_630.6, abs=0.5)
    # 015001: 666.667 × 0.499486/5.562293 = 59.866 jobs
    assert m.at["015001", "jobs_filled"] == pytest.approx(59.866, abs=0.002)
    assert m["jobs_filled"].sum() == pytest.approx(666.667, abs=0.001)
    # net burden of 015006 = 187,500 − 16,630.6 = 170,869.4 €/yr; the affected list does not move
    # (the rule reads the gross burden)
    assert m.at["015006", "net_burden_eur_year"] == pytest.approx(170_869.4, abs=0.5)
    assert r.affected_codes == ["015002", "015003", "015004", "015006", "015008", "015009"]
    # the allocation now follows the net burdens (015006: 53.5% instead of the 46.9% of case 1):
    # net: 002/003 37,500 − 14,615.05 = 22,884.95 / 50,000 − 14,615.05 = 35,384.95 (83.0400 jobs × 176);
    # 004 37,500 − 11,174.02 = 26,325.98 (63.4888 jobs); 008/009 37,500 − 11,921.80 = 25,578.20 /
    # 38,078.20 (67.7375 jobs). Σ = 170,869.42 + 22,884.95 + 35,384.95 + 26,325.98 + 25,578.20
    # + 38,078.20 = 319,121.70 → 015006: 144,000,000 × 170,869.42/319,121.70 = 77,102,86x cents
    # (±25 cents for the 0.01 € rounding of the weights above)
    comuni = {a.recipient: a.amount_cents for a in r.allocation if a.recipient_kind == "comune"}
    assert comuni["015006"] == pytest.approx(77_102_860, abs=25)
    assert sum(comuni.values()) == 144_000_000


STRIP_CODES = ["015001", "015002", "015003"]


@pytest.fixture(scope="module")
def strip():
    """Three 5 km squares in a row (x 0–5, 5–10, 10–15 km from X0); residents 10,000 / 20,000 / 10,000."""
    munis = gpd.GeoDataFrame([
        {"istat_code": c, "name": f"Striscia {k + 1}", "residents_anpr_2025": res,
         "residents_istat_2021": 10_000, "under12_istat_2021": 1_000, "zone": "Z1",
         "geometry": box(X0 + 5000 * k, Y0, X0 + 5000 * (k + 1), Y0 + 5000)}
        for k, (c, res) in enumerate(zip(STRIP_CODES, (10_000.0, 20_000.0, 10_000.0)))], crs=32632)
    return Territory.from_frames(munis)


def test_strip_trips_and_vehicle_km_per_comune(params, strip):
    # an office of 200 m × 200 m centred 1 km west of the 015001|015002 border, on the strip's axis,
    # declaring 1,000 car trips and no trucks
    p = parse_proposal({"act": {"kind": "PA", "istat_code": "015001", "title": "Uffici"},
                        "forecasts": [{"function": "office", "floor_area_m2": 10_000, "car_trips_per_day": 1000,
                                       "truck_trips_per_day": 0,
                                       "geometry": square_lonlat(X0 + 3900, Y0 + 2400, X0 + 4100, Y0 + 2600)}]},
                       params.functions)
    m = compute_balance(p, strip, params).matrix
    # destinations: the squares' centres at x = 2.5, 7.5, 12.5 km; site at x = 4 km, same y:
    # d = 1.5, 3.5, 8.5 km. Office L_car = 12 km:
    #   w1 = 10,000·e^(−1.5/12) = 8,824.97   w2 = 20,000·e^(−3.5/12) = 14,940.35   w3 = 10,000·e^(−8.5/12) = 4,924.64
    #   Σ = 28,689.96 → trips 307.598, 520.752, 171.650
    trips = {"015001": 307.598, "015002": 520.752, "015003": 171.650}
    for code, v in trips.items():
        assert m.at[code, "car_trips_day"] == pytest.approx(v, abs=0.001)
        assert m.at[code, "truck_trips_day"] == 0
    # veh·km: each straight line split by the squares it crosses, × circuity 1.3:
    #   in 015001: to 1 (1.5 km) 307.598·1.5 + to 2 (1 km of its 3.5) 520.752 + to 3 (1 km) 171.650
    #              = 1,153.799 × 1.3 = 1,499.94
    #   in 015002: to 2 (2.5 km) 520.752·2.5 + to 3 (5 km) 171.650·5 = 2,160.131 × 1.3 = 2,808.17
    #   in 015003: to 3 (2.5 km) 171.650·2.5 = 429.126 × 1.3 = 557.86
    vkm = {"015001": 1_499.94, "015002": 2_808.17, "015003": 557.86}
    for code, v in vkm.items():
        assert m.at[code, "vkm_day"] == pytest.approx(v, abs=0.01)
    # emissions in 015001: 1,499.94 veh·km × 0.35 g NOx × 250 days = 131.245 kg; × 0.035 g PM10 = 13.124 kg;
    # × 170 g CO2 × 250 / 10⁶ = 63.747 t
    assert m.at["015001", "nox_kg_year"] == pytest.approx(131.245, abs=0.001)
    assert m.at["015001", "pm10_kg_year"] == pytest.approx(13.124, abs=0.001)
    assert m.at["015001", "co2_t_year"] == pytest.approx(63.747, abs=0.001)
