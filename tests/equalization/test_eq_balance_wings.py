"""The balance uses STTM 3's freight model and STTM 2's accessibility layers where they exist, keeps
its fallbacks, and says which source it used (hand-made grid territory, see balance_fixtures)."""
from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

sys.path.insert(0, str(Path(__file__).parent))
from balance_fixtures import grid_adjacency, grid_hydraulic, grid_municipalities, square_lonlat  # noqa: E402

from sttm.equalization.balance import Territory, compute_balance, load_params  # noqa: E402
from sttm.equalization.balance.model import parse_proposal  # noqa: E402

SITE = (509_500, 5_007_400, 509_700, 5_007_600)          # in 015005, 300 m west of the border with 015006
CX, CY = 509_600, 5_007_500


@pytest.fixture(scope="module")
def params():
    return load_params()


def pharmacies() -> gpd.GeoDataFrame:
    """A: 600 m east of the site in 015006; B: 900 m north in 015005; C: far, in 015001."""
    return gpd.GeoDataFrame([
        {"service_id": "A", "category": "pharmacy", "subcategory": None, "capacity": None, "istat_code": "015006",
         "geometry": Point(CX + 600, CY)},
        {"service_id": "B", "category": "pharmacy", "subcategory": None, "capacity": None, "istat_code": "015005",
         "geometry": Point(CX, CY + 900)},
        {"service_id": "C", "category": "pharmacy", "subcategory": None, "capacity": None, "istat_code": "015001",
         "geometry": Point(501_000, 5_001_000)},
    ], crs=32632)


def cells(n_pharmacy: float) -> gpd.GeoDataFrame:
    """STTM 2 access_cells: a 100 m cell under the site and one elsewhere (n_pharmacy 9, must be ignored)."""
    return gpd.GeoDataFrame({"cell_id": [1, 2], "n_pharmacy": [n_pharmacy, 9.0], "t_pharmacy": [8.0, 1.0],
                             "score_15": [0.5, 1.0]},
                            geometry=[box(CX - 50, CY - 50, CX + 50, CY + 50), box(501_000, 5_001_000, 501_100, 5_001_100)],
                            crs=32632)


def housing(params, **extra):
    f = {"id": "R1", "function": "residential", "floor_area_m2": 50_000, "residents": 1000,
         "former_cover": "urbanized", "geometry": square_lonlat(*SITE), **extra}
    return parse_proposal({"act": {"kind": "PA", "istat_code": "015005", "title": "Quartiere"}, "forecasts": [f]},
                          params.functions)


def territory(**kw) -> Territory:
    return Territory.from_frames(grid_municipalities(), grid_adjacency(), grid_hydraulic(), pharmacies(), **kw)


def users(r) -> pd.Series:
    return r.matrix["service_demand_users"]


def test_service_demand_goes_to_the_services_the_sttm2_catchment_reaches(params):
    r = compute_balance(housing(params), territory(access_cells=cells(2)), params)
    # two pharmacies within 15 minutes of the site: the nearest two, A (015006) and B (015005), 500 users each
    assert users(r)["015006"] == pytest.approx(500) and users(r)["015005"] == pytest.approx(500)
    assert users(r)["015001"] == 0 and users(r).sum() == pytest.approx(1000)
    assert r.indicators[0].service_methods == {"pharmacy": "sttm2_cells"}
    assert any("'pharmacy' ripartita con bacini di accessibilità a 15 minuti STTM 2" in a for a in r.assumptions)
    # none reached within 15 minutes: everybody goes to the nearest one (A, in 015006)
    r0 = compute_balance(housing(params), territory(access_cells=cells(0)), params)
    assert users(r0)["015006"] == pytest.approx(1000) and users(r0).sum() == pytest.approx(1000)


def test_share_served_in_the_comune_from_access_by_municipality(params):
    acc = pd.DataFrame({"istat_code": ["015005", "015006"], "share_pharmacy": [0.6, 0.9], "score_15": [0.5, 0.7]})
    t = territory(access_by_municipality=acc)
    r = compute_balance(housing(params), t, params)
    # 60% of the host's residents have a pharmacy within 15 minutes: 600 users stay in 015005; the other
    # 400 go to the other comuni's pharmacies (015006 and 015001, one each) by the 2 km decay law.
    # Site (509,600, 5,007,500); 015006's centre (512,500, 5,007,500): d = 2.9 km, e^(−2.9/2) = 0.234570;
    # 015001's centre (502,500, 5,002,500): d = √(7.1² + 5.0²) = 8.6839 km, e^(−8.6839/2) = 0.013011;
    # 400 × 0.234570/0.247581 = 378.98 and 400 × 0.013011/0.247581 = 21.02
    assert users(r)["015005"] == pytest.approx(600)
    assert users(r)["015006"] == pytest.approx(378.98, abs=0.01)
    assert users(r)["015001"] == pytest.approx(21.02, abs=0.01)
    assert r.indicators[0].service_methods == {"pharmacy": "sttm2_municipality"}


def test_without_sttm2_layers_the_distance_decay_fallback_is_kept_and_stated(params):
    t = territory()
    r = compute_balance(housing(params), t, params)
    # one pharmacy each in 015005 (centre 2.1 km west: e^(−1.05) = 0.349938), 015006 (2.9 km: 0.234570)
    # and 015001 (8.6839 km: 0.013011); Σ = 0.597519 → 585.65, 392.57, 21.78 users of the 1,000
    assert users(r)["015005"] == pytest.approx(585.65, abs=0.01)
    assert users(r)["015006"] == pytest.approx(392.57, abs=0.01)
    assert users(r)["015001"] == pytest.approx(21.78, abs=0.01)
    assert users(r).sum() == pytest.approx(1000)
    assert users(r)["015001"] > 0                      # unlike the STTM 2 catchment
    assert r.indicators[0].service_methods == {"pharmacy": "gravity"}
    assert any("decadimento con la distanza (layer STTM 2 assenti)" in a for a in r.assumptions)


def test_truck_trips_from_sttm3_declared_or_parameter_file(params):
    t = territory()
    plant = {"act": {"kind": "SUAP", "istat_code": "015005", "title": "Stabilimento"},
             "forecasts": [{"id": "P1", "function": "productive", "floor_area_m2": 20_000, "jobs": 100,
                            "former_cover": "urbanized", "geometry": square_lonlat(*SITE)}]}
    r = compute_balance(parse_proposal(plant, params.functions), t, params)
    # STTM 3 manufacturing: 51.13 trip ends/1,000 m² × 20 × 8% heavy = 81.808 heavy trips/day
    ind = r.indicators[0]
    assert ind.truck_trips_day == pytest.approx(81.808, abs=0.005)     # STTM 3 rounds to the hundredth
    assert ind.truck_source.startswith("STTM 3 (manufacturing: ITE Trip Generation Manual 11th ed., land use 140")
    assert r.matrix["truck_trips_day"].sum() == pytest.approx(81.808, abs=0.05)
    # declared by the comune: used as such
    plant["forecasts"][0]["truck_trips_per_day"] = 40
    rd = compute_balance(parse_proposal(plant, params.functions), t, params)
    assert rd.indicators[0].truck_trips_day == 40 and rd.indicators[0].truck_source == "dichiarati dal Comune"
    # STTM 3 switched off: the parameter file's rate, 20,000/100 × 1.0 = 200
    del plant["forecasts"][0]["truck_trips_per_day"]
    off = params.with_overrides({"freight.use_sttm3": False})
    ro = compute_balance(parse_proposal(plant, off.functions), t, off)
    assert ro.indicators[0].truck_trips_day == pytest.approx(200)
    assert ro.indicators[0].truck_source == "file parametri (trip_generation.productive.truck_per_100m2)"
    # a function STTM 3 has no category for (residential) keeps the parameter file
    assert compute_balance(housing(params), t, params).indicators[0].truck_source.startswith("file parametri")


def test_sttm2_layers_read_from_a_small_knowledge_base(params, tmp_path):
    from sttm.knowledge import LayerMeta, open_kb
    kb = open_kb(tmp_path / "kb.gpkg")
    meta = LayerMeta(title="t", description="d", source="test", licence="CC0", vintage="2026")
    mun = grid_municipalities()
    kb.write_layers([("municipalities", mun, meta, "istat_code"), ("adjacency", grid_adjacency(), meta, "pair_id"),
                     ("services", pharmacies(), meta, "service_id"), ("access_cells", cells(2), meta, "cell_id"),
                     ("lum", gpd.GeoDataFrame({"lum_id": ["L1"], "level": ["metropolitano"]},
                                              geometry=[Point(CX, CY)], crs=32632), meta, "lum_id")],
                    loaded_by="test")
    t = Territory.from_kb(kb)
    assert list(t.lum["lum_id"]) == ["L1"] and len(t.access_cells) == 2
    r = compute_balance(housing(params), t, params)
    assert r.indicators[0].service_methods == {"pharmacy": "sttm2_cells"}
    assert users(r)["015006"] == pytest.approx(500)
    kb.dispose()


def test_supra_municipal_users_go_to_services_reached_from_the_lum(params):
    """Hospitals (STTM 2 scale 'sovracomunale') are reached by transit: only those within 500 m of a LUM count."""
    hospitals = gpd.GeoDataFrame([
        {"service_id": "H1", "category": "hospital", "subcategory": None, "capacity": None, "istat_code": "015009",
         "geometry": Point(514_000, 5_014_000)},                       # 200 m from LUM L1
        {"service_id": "H2", "category": "hospital", "subcategory": None, "capacity": None, "istat_code": "015006",
         "geometry": Point(CX + 400, CY)},                             # nearest to the site, no LUM near it
        {"service_id": "H3", "category": "hospital", "subcategory": None, "capacity": None, "istat_code": "015007",
         "geometry": Point(501_000, 5_009_000)},                       # 400 m from LUM L2
    ], crs=32632)
    lum = gpd.GeoDataFrame({"lum_id": ["L1", "L2"], "level": ["metropolitano", "sovracomunale"]},
                           geometry=[Point(514_200, 5_014_000), Point(501_000, 5_009_400)], crs=32632)
    services = pd.concat([pharmacies(), hospitals], ignore_index=True)
    t = Territory.from_frames(grid_municipalities(), grid_adjacency(), grid_hydraulic(), services, lum=lum)
    r = compute_balance(housing(params), t, params)
    # 1,000 hospital users split between H1 and H3 by exp(−d/10 km) from the site centroid (509,600, 5,007,500):
    # H1 d = √(4.4² + 6.5²) = 7.8492 km → e^(−0.78492) = 0.456156; H3 d = √(8.6² + 1.5²) = 8.7298 km →
    # e^(−0.87298) = 0.417704; Σ = 0.873860 → H1 522.00, H3 478.00
    assert r.indicators[0].service_methods["hospital"] == "sttm2_lum"
    assert r.indicators[0].service_methods["pharmacy"] == "gravity"        # a local service: not through the LUM
    # the matrix sums every category: subtract the pharmacy users (all in the gravity pattern, computed apart)
    no_lum = compute_balance(housing(params), Territory.from_frames(
        grid_municipalities(), grid_adjacency(), grid_hydraulic(), pharmacies()), params)
    hosp = users(r) - users(no_lum)
    assert hosp["015009"] == pytest.approx(522.00, abs=0.01)
    assert hosp["015007"] == pytest.approx(478.00, abs=0.01)
    assert hosp.drop(["015009", "015007"]).abs().max() == pytest.approx(0, abs=1e-9)
    # without the LUM layer the nearest hospital (H2, in 015006) takes users again
    plain = compute_balance(housing(params), Territory.from_frames(
        grid_municipalities(), grid_adjacency(), grid_hydraulic(), services), params)
    assert plain.indicators[0].service_methods["hospital"] == "gravity"
    assert (users(plain) - users(no_lum))["015006"] > 0
