"""Hand-made territory for the balance tests: a 3×3 grid of 5 km square comuni in EPSG:32632.

    015007 015008 015009        codes by row (north row last)
    015004 015005 015006
    015001 015002 015003
Origin (500000, 5000000); comune 015005 is the centre square [505000,510000]×[5005000,5010000].
"""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point, box

X0, Y0, S = 500_000.0, 5_000_000.0, 5_000.0


def grid_codes() -> list[str]:
    return [f"0150{i:02d}" for i in range(1, 10)]


def grid_municipalities(residents: list[float] | None = None) -> gpd.GeoDataFrame:
    rows = []
    residents = residents or [10_000.0] * 9
    for k, code in enumerate(grid_codes()):
        r, c = divmod(k, 3)
        rows.append({"istat_code": code, "name": f"Comune {k + 1}", "residents_anpr_2025": residents[k],
                     "residents_istat_2021": 10_000, "under12_istat_2021": 1_000,
                     "zone": "Z1" if c < 2 else "Z2",
                     "geometry": box(X0 + c * S, Y0 + r * S, X0 + (c + 1) * S, Y0 + (r + 1) * S)})
    return gpd.GeoDataFrame(rows, crs=32632)


def grid_adjacency() -> pd.DataFrame:
    rows = []
    for k in range(9):
        r, c = divmod(k, 3)
        for dr, dc in ((0, 1), (1, 0)):
            rr, cc = r + dr, c + dc
            if rr < 3 and cc < 3:
                a, b = grid_codes()[k], grid_codes()[rr * 3 + cc]
                rows.append({"pair_id": f"{a}-{b}", "istat_a": a, "istat_b": b, "border_m": S, "cross_province": False})
    return pd.DataFrame(rows)


def grid_hydraulic() -> pd.DataFrame:
    return pd.DataFrame([{"istat_code": c, "class": "B", "a1": 30.0, "n": 0.3, "alpha": 0.3, "kappa": -0.05,
                          "epsilon": 0.8} for c in grid_codes()])


def grid_services() -> gpd.GeoDataFrame:
    # one school with 500 pupils in comune 1 and one with 1,500 in comune 9, one pharmacy in 5
    return gpd.GeoDataFrame([
        {"service_id": "s1", "category": "school", "capacity": 500, "istat_code": "015001", "geometry": Point(X0 + 100, Y0 + 100)},
        {"service_id": "s2", "category": "school", "capacity": 1500, "istat_code": "015009", "geometry": Point(X0 + 14000, Y0 + 14000)},
        {"service_id": "s3", "category": "pharmacy", "capacity": None, "istat_code": "015005", "geometry": Point(X0 + 7500, Y0 + 7500)},
    ], crs=32632)


def square_lonlat(x0: float, y0: float, x1: float, y1: float) -> dict:
    """A GeoJSON polygon in lon/lat for the UTM box [x0,x1]×[y0,y1] (what a comune would submit)."""
    from pyproj import Transformer
    tr = Transformer.from_crs(32632, 4326, always_xy=True)
    ring = [tr.transform(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))]
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}
