"""Demand grid: totals preserved, uniform and dasymetric spreading, clear errors."""
import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from sttm.services.demand import DemandInputError, demand_grid

X0, Y0 = 500_000, 5_030_000


def two_comuni():
    return gpd.GeoDataFrame({
        "istat_code": ["015001", "015002", "015003"],
        "residents_anpr_2025": [1000, 400, 7],
        "under12_istat_2021": [100, 60, 1],
        # A: 1 km x 1 km (100 cells); B: 1 km x 0.5 km (50 cells); C: 30 m square with no cell centre
        "geometry": [box(X0, Y0, X0 + 1000, Y0 + 1000), box(X0 + 1000, Y0, X0 + 2000, Y0 + 500),
                     box(X0 + 1010, Y0 + 610, X0 + 1040, Y0 + 640)],
    }, crs="EPSG:32632")


def test_uniform_grid_preserves_totals():
    grid, meta = demand_grid(two_comuni(), 100)
    per = grid.groupby("istat_code")["pop"].agg(["sum", "count"])
    assert per.loc["015001", "count"] == 100 and per.loc["015002", "count"] == 50
    assert per.loc["015003", "count"] == 1  # tiny comune: one cell at its representative point
    assert per["sum"].to_dict() == pytest.approx({"015001": 1000, "015002": 400, "015003": 7})
    assert grid.loc[grid.istat_code == "015001", "pop"].iloc[0] == pytest.approx(10.0)
    assert grid.loc[grid.istat_code == "015002", "under12"].sum() == pytest.approx(60)
    assert grid["cell_id"].is_unique
    assert np.allclose(grid.geometry.area, 10_000)
    assert meta["method"] == "uniform" and meta["fragile_present"] == ["under12"]
    assert "anziani (65+)" in meta["fragile_missing_it"] and "stranieri residenti" in meta["fragile_missing_it"]


def test_dasymetric_on_built_up_area():
    # built-up: the western half of A only; B has no built-up area -> falls back to uniform
    built = gpd.GeoDataFrame({"geometry": [box(X0, Y0, X0 + 500, Y0 + 1000)]}, crs="EPSG:32632")
    grid, meta = demand_grid(two_comuni(), 100, weights=built)
    a = grid[grid.istat_code == "015001"]
    assert a.loc[a.x < X0 + 500, "pop"].sum() == pytest.approx(1000)
    assert a.loc[a.x > X0 + 500, "pop"].sum() == pytest.approx(0)
    b = grid[grid.istat_code == "015002"]
    assert b["pop"].sum() == pytest.approx(400) and b["method"].str.startswith("uniform").all()
    assert meta["method"] == "dasymetric"


def test_census_grid_column_weights():
    # a census grid of two 500x1000 polygons with 30 and 10 inhabitants: A's 1000 split 750/250
    census = gpd.GeoDataFrame({"inh": [30, 10]}, geometry=[box(X0, Y0, X0 + 500, Y0 + 1000),
                              box(X0 + 500, Y0, X0 + 1000, Y0 + 1000)], crs="EPSG:32632")
    grid, _ = demand_grid(two_comuni(), 100, weights=census, weight_column="inh")
    a = grid[grid.istat_code == "015001"]
    assert a.loc[a.x < X0 + 500, "pop"].sum() == pytest.approx(750)
    assert a.loc[a.x > X0 + 500, "pop"].sum() == pytest.approx(250)


def test_bad_input_named():
    m = two_comuni()
    m["residents_anpr_2025"] = m["residents_anpr_2025"].astype(object)
    m.loc[1, "residents_anpr_2025"] = "n/a"
    with pytest.raises(DemandInputError, match="015002"):
        demand_grid(m, 100)
    with pytest.raises(DemandInputError, match="EPSG:32632"):
        demand_grid(two_comuni().to_crs(4326), 100)
    with pytest.raises(DemandInputError, match="istat_code"):
        demand_grid(two_comuni().drop(columns="istat_code"), 100)
