"""LUM levels and contents, location scenarios against brute-force optima, vulnerability ranking."""
from itertools import combinations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from sttm.services.demand import demand_grid
from sttm.services.lum import LumInputError, build_lum, catchment_contents, lum_catchments, lum_table
from sttm.services.network import grid_network
from sttm.services.scenario import ScenarioInputError, run_scenario
from sttm.services.vulnerability import rank_proposals, site_indicators, weight_table

X0, Y0 = 500_000, 5_030_000


def territory():
    mun = gpd.GeoDataFrame({
        "istat_code": ["015146", "015209", "015182"], "name": ["Milano", "Sesto San Giovanni", "Rho"],
        "residents_anpr_2025": [10000, 4000, 2000], "under12_istat_2021": [1000, 500, 300],
        "role": ["central_city", "attractor_pole", None],
        "geometry": [box(X0, Y0, X0 + 2000, Y0 + 2000), box(X0 + 2000, Y0, X0 + 4000, Y0 + 2000),
                     box(X0 + 4000, Y0, X0 + 6000, Y0 + 2000)]}, crs="EPSG:32632")
    st = gpd.GeoDataFrame({
        "station_id": ["S1", "M1", "S2", "M2", "S3"],
        "name": ["Milano Centrale", "Centrale M2", "Sesto FS", "Sesto M1", "Rho"],
        "mode": ["rail", "metro", "rail", "metro", "rail"],
        "istat_code": ["015146", "015146", "015209", "015209", "015182"], "in_cmm": [True] * 5,
        "geometry": [Point(X0 + 1000, Y0 + 1000), Point(X0 + 1100, Y0 + 1000), Point(X0 + 3000, Y0 + 1000),
                     Point(X0 + 3250, Y0 + 1000), Point(X0 + 5000, Y0 + 1000)]}, crs="EPSG:32632")
    return mun, st


def test_lum_levels_follow_the_written_rule():
    mun, st = territory()
    lum = build_lum(st, mun).set_index("name")
    assert "Milano Centrale / Centrale M2" not in lum.index  # comune of Milano: not a LUM
    assert lum.loc["Sesto FS / Sesto M1", "level"] == "metropolitano"  # rail–metro interchange (rule 1)
    assert lum.loc["Sesto FS / Sesto M1", "level_rule"].startswith("regola 1")
    assert lum.loc["Sesto FS / Sesto M1", "n_stations"] == 2
    assert lum.loc["Rho", "level"] == "sovracomunale"  # rail, comune without a role (rule 3)
    mun.loc[2, "role"] = "attractor_pole"
    assert build_lum(st, mun).set_index("name").loc["Rho", "level_rule"].startswith("regola 2")
    ov = pd.DataFrame({"station_id": ["S3"], "level": ["metropolitano"]})
    mun.loc[2, "role"] = None
    assert build_lum(st, mun, overrides=ov).set_index("name").loc["Rho", "level"] == "metropolitano"
    with pytest.raises(LumInputError, match="row 0"):
        build_lum(st, mun, overrides=pd.DataFrame({"station_id": ["S3"], "level": ["big"]}))


def test_lum_perimeters_and_contents():
    mun, st = territory()
    lum = build_lum(st, mun)
    grid, _ = demand_grid(mun, 100)
    services = pd.DataFrame({"x": [X0 + 5050, X0 + 5400, X0 + 3100], "y": [Y0 + 1000] * 3,
                             "category_key": ["pharmacy", "pharmacy", "school_primaria"]})
    # one polygon (200 m × 200 m) and one area registered as a point with its declared surface
    opp = gpd.GeoDataFrame({"area_m2": [None, 5000.0]}, geometry=[box(X0 + 5100, Y0 + 900, X0 + 5300, Y0 + 1100),
                           Point(X0 + 5000, Y0 + 1400)], crs="EPSG:32632")
    net = grid_network(121, 41, spacing=50, x0=X0, y0=Y0)
    cat = lum_catchments(lum, network=net, walk_m=400)
    assert set(cat["kind"]) == {"r200", "r500", "walk15"}
    r200 = cat[cat.catchment_id == "lum_s3_r200"].geometry.iloc[0]
    assert r200.area == pytest.approx(np.pi * 200 ** 2, rel=0.01)
    walk = cat[cat.catchment_id == "lum_s3_walk15"].geometry.iloc[0]
    # on a grid the 400 m walk catchment is a diamond of half-diagonal 400 m (+ 25 m buffer)
    assert walk.contains(Point(X0 + 5390, Y0 + 1000)) and not walk.contains(Point(X0 + 5300, Y0 + 1300))
    con = catchment_contents(cat, grid, services, opp, ["pharmacy", "school_primaria"]).set_index("catchment_id")
    # Rho cells: 2000/400 = 5 inhabitants each; centres within 200 m of (5000,1000): 12 cells
    assert con.loc["lum_s3_r200", "pop"] == pytest.approx(12 * 5)
    assert con.loc["lum_s3_r200", "svc_pharmacy"] == 1 and con.loc["lum_s3_r500", "svc_pharmacy"] == 2
    assert con.loc["lum_s3_r200", "opp_n"] == 1 and con.loc["lum_s3_r500", "opp_n"] == 2
    assert con.loc["lum_s3_r500", "opp_m2"] == pytest.approx(200 * 200 + 5000)
    table = lum_table(lum, cat, con.reset_index()).set_index("lum_id")
    assert table.loc["lum_s3", "svc_pharmacy_r500"] == 2 and "pop_walk15" in table.columns


def brute_force(dist_existing, D, w, k, radius, method):
    best, best_val = None, None
    for combo in combinations(range(D.shape[1]), k):
        d = np.minimum(dist_existing, D[:, list(combo)].min(axis=1))
        val = w[d <= radius].sum() if method == "mclp" else -(w * d).sum()
        if best_val is None or val > best_val + 1e-9:
            best, best_val = set(combo), val
    return best, best_val


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_mclp_known_optimum(solver):
    # demand on a line at x = 0..9 km; candidates at 1, 4.5, 8 km and 2 km; radius 1.2 km
    xs = np.arange(10) * 1000.0
    w = np.array([5, 5, 5, 1, 1, 1, 1, 9, 9, 9], float)
    cand = np.array([1000.0, 4500.0, 8000.0, 2000.0])
    D = np.abs(xs[:, None] - cand[None, :])
    none = np.full(10, np.inf)
    res = run_scenario(none, D, w, k=2, radius_m=1200, method="mclp", solver=solver)
    # optimum by hand: sites at 1 km (covers x=0,1,2: 15) and 8 km (x=7,8,9: 27) -> 42
    assert set(res.chosen) == {0, 2}
    assert res.covered_before == 0 and res.covered_after == 42
    # an existing facility at x = 8 km already covers 27: the best addition becomes 4.5 km? no: 1 km (15 > 2)
    ex = np.abs(xs - 8000.0)
    res = run_scenario(ex, D, w, k=1, radius_m=1200, method="mclp", solver=solver)
    assert res.chosen == [0] and res.covered_before == 27 and res.covered_after == 42


@pytest.mark.parametrize("method", ["mclp", "pmedian"])
def test_scenarios_equal_brute_force_on_random_cases(method):
    rng = np.random.default_rng(3)
    for _ in range(3):
        dem = rng.uniform(0, 5000, (40, 2))
        cand = rng.uniform(0, 5000, (7, 2))
        ex = rng.uniform(0, 5000, (2, 2))
        D = np.hypot(*(dem[:, None, :] - cand[None, :, :]).transpose(2, 0, 1))
        dex = np.hypot(*(dem[:, None, :] - ex[None, :, :]).transpose(2, 0, 1)).min(axis=1)
        w = rng.integers(1, 100, 40).astype(float)
        res = run_scenario(dex, D, w, k=3, radius_m=900, method=method)
        _, best_val = brute_force(dex, D, w, 3, 900, method)
        d = np.minimum(dex, D[:, res.chosen].min(axis=1))
        got = w[d <= 900].sum() if method == "mclp" else -(w * d).sum()
        assert got == pytest.approx(best_val, rel=1e-6)


def test_scenario_bad_input():
    with pytest.raises(ScenarioInputError, match="k=5"):
        run_scenario(np.zeros(2), np.zeros((2, 3)), np.ones(2), k=5, radius_m=1)
    with pytest.raises(ScenarioInputError, match="solver"):
        run_scenario(np.full(2, np.inf), np.zeros((2, 3)), np.ones(2), k=1, radius_m=1, solver="gurobi")


def test_vulnerability_ranking():
    t = weight_table()
    assert t["weight"].sum() == pytest.approx(1.0)
    ind = pd.DataFrame({"site_id": ["a", "b", "c"], "flood_pop_high_share": [0.0, 0.5, 0.0],
                        "density": [1000.0, 1000.0, 3000.0], "fragile_share": [0.1, 0.1, 0.1],
                        "access_gap": [0.2, 0.2, 0.2]})
    res, skipped = rank_proposals(ind)
    assert "soil_sealing" in skipped and "landslide_pop_share" in skipped
    r = res.set_index("site_id")
    # weights present: flood .25, density .15, fragile .15, gap .20 (sum .75)
    assert r.loc["c", "priority"] == pytest.approx((0.25 * 1 + 0.15 * 1) / 0.75)
    assert r.loc["a", "priority"] == pytest.approx(0.25 / 0.75)
    assert r.loc["b", "priority"] == pytest.approx(0.0)
    assert list(res["site_id"]) == ["c", "a", "b"] and r.loc["b", "env_index"] == 1.0


def test_site_indicators_from_grid_and_hazard():
    mun, _ = territory()
    grid, _ = demand_grid(mun, 100)
    sites = gpd.GeoDataFrame({"site_id": ["x"], "istat_code": ["015182"]}, geometry=[Point(X0 + 5000, Y0 + 1000)],
                             crs="EPSG:32632")
    # ISPRA landslide columns as in the real `hazard` layer, plus p1/p2 and a percentage sibling
    # (like flood_pop_high_pct) that must NOT enter the share: only persons in P3 + P4 areas count
    hazard = pd.DataFrame({"istat_code": ["015182"], "flood_pop_high": [200], "pop": [2000],
                           "landslide_pop_p4": [10], "landslide_pop_p3": [30], "landslide_pop_p2": [500],
                           "landslide_pop_p1": [700], "landslide_pop_p4_pct": [0.5]})
    ind = site_indicators(sites, grid, hazard, mun, acc_score=pd.Series(np.full(len(grid), 0.75)))
    assert ind.loc[0, "flood_pop_high_share"] == pytest.approx(0.1)
    assert ind.loc[0, "landslide_pop_share"] == pytest.approx(0.02)  # (P3 30 + P4 10) / 2000 residents
    n_cells = ((grid.x - (X0 + 5000)) ** 2 + (grid.y - (Y0 + 1000)) ** 2 < 500 ** 2).sum()
    # by hand: centres at odd multiples of 50 m from the site, u²+v² < 100 (u, v odd) → 20 per quadrant
    assert n_cells == 80
    assert ind.loc[0, "density"] == pytest.approx(n_cells * 5 / (np.pi * 0.25))
    assert ind.loc[0, "fragile_share"] == pytest.approx(300 / 2000)
    assert ind.loc[0, "access_gap"] == pytest.approx(0.25)


def test_compute_access_network_with_straight_line_fallback():
    from sttm.services.engine import NetworkCost
    from sttm.services.pipeline import compute_access

    mun, _ = territory()
    services = gpd.GeoDataFrame({"service_id": ["p1", "p2"], "category": ["pharmacy", "pharmacy"],
                                 "subcategory": [None, None], "capacity": [None, None],
                                 "geometry": [Point(X0 + 1000, Y0 + 1000), Point(X0 + 5000, Y0 + 1000)]}, crs="EPSG:32632")
    # a street grid over the first 2.5 km only (Milano and part of Sesto)
    net = grid_network(51, 41, spacing=50, x0=X0, y0=Y0)
    run = compute_access(mun, services, cell_size=100, network=net, max_snap_m=250)
    c = run.cells
    near = c.geometry.centroid.x <= X0 + 2500 + 250  # within max_snap_m of the last street
    assert (c.loc[near, "time_method"] == "network_walk").all() and not c.loc[near, "approximate"].any()
    assert (c.loc[~near, "time_method"] == "straight_line_x1.30").all() and c.loc[~near, "approximate"].all()
    # network cells: the same times as the engine run directly on those cells
    sub = c[near]
    cx, cy = sub.geometry.centroid.x.to_numpy(), sub.geometry.centroid.y.to_numpy()
    d = NetworkCost(net).nearest(cx, cy, np.array([X0 + 1000, X0 + 5000.0]), np.array([Y0 + 1000, Y0 + 1000.0]))
    assert sub["t_pharmacy"].to_numpy() == pytest.approx(d / (4.5 * 1000 / 60))
    assert run.meta["approximate_share_of_cells"] == pytest.approx((~near).mean())
    assert set(run.by_municipality["istat_code"]) == {"015146", "015209", "015182"}
