"""Demand surface: municipal population counts spread over a regular grid (EPSG:32632).

Methods (recorded per cell in the `method` column):

- ``uniform`` (default): each comune's count is shared equally among the grid cells whose centre
  falls in the comune (a comune too small to hold a cell centre gets the cell under its
  representative point). Totals per comune are preserved exactly.
- ``dasymetric``: the count is shared in proportion to a user-supplied weight surface (built-up or
  residential polygons, or a census grid with a population column): cell weight = Σ over
  polygons of overlap area × (column value / polygon area), or overlap area alone when no column
  is given. Comuni the surface does not touch fall back to ``uniform`` (so marked).
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from sttm import ANALYSIS_CRS

# Fragile-group columns looked for in the municipalities layer (name in layer → name in grid).
FRAGILE_COLUMNS = {
    "under12_istat_2021": "under12",
    "over65": "over65",
    "elderly_65plus": "over65",
    "foreign_residents": "foreigners",
}
FRAGILE_LABELS_IT = {"under12": "minori di 12 anni", "over65": "anziani (65+)", "foreigners": "stranieri residenti"}


class DemandInputError(ValueError):
    pass


def _cell_centres(bounds, size: float):
    minx, miny, maxx, maxy = bounds
    x0 = np.floor(minx / size) * size
    y0 = np.floor(miny / size) * size
    xs = np.arange(x0 + size / 2, maxx + size / 2, size)
    ys = np.arange(y0 + size / 2, maxy + size / 2, size)
    gx, gy = np.meshgrid(xs, ys)
    return gx.ravel(), gy.ravel()


def demand_grid(municipalities: gpd.GeoDataFrame, cell_size: float = 100.0, *,
                population_column: str = "residents_anpr_2025", weights: gpd.GeoDataFrame | None = None,
                weight_column: str | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    """Return (grid GeoDataFrame, metadata) with columns `cell_id`, `istat_code`, `x`, `y`, `pop`,
    the fragile groups found (`under12`, …), `method`, and square cell polygons.

    Metadata lists the method, cell size, totals and the fragile groups that are missing.
    """
    for col in ("istat_code", population_column):
        if col not in municipalities.columns:
            raise DemandInputError(f"municipalities: column {col!r} missing")
    if municipalities.crs is None or municipalities.crs.to_epsg() != 32632:
        raise DemandInputError("municipalities: CRS must be EPSG:32632")
    bad = municipalities[pd.to_numeric(municipalities[population_column], errors="coerce").isna()]
    if len(bad):
        raise DemandInputError(f"municipalities: {population_column} is not a number for istat_code "
                               f"{bad['istat_code'].iloc[0]!r} (row {bad.index[0]})")
    if cell_size <= 0:
        raise DemandInputError("cell_size must be positive")

    fragile = {src: dst for src, dst in FRAGILE_COLUMNS.items() if src in municipalities.columns}
    mun = municipalities.reset_index(drop=True)
    cx, cy = _cell_centres(mun.total_bounds, cell_size)
    pts = shapely.points(cx, cy)
    tree = shapely.STRtree(mun.geometry.values)
    pi, mi = tree.query(pts, predicate="within")
    # a point on a shared border may match two comuni: keep the first
    _, first = np.unique(pi, return_index=True)
    pi, mi = pi[first], mi[first]
    cells = pd.DataFrame({"x": cx[pi], "y": cy[pi], "mun": mi})
    ix = np.floor(cells["x"] / cell_size).astype(np.int64)
    iy = np.floor(cells["y"] / cell_size).astype(np.int64)
    cells["cell_id"] = "E" + ix.astype(str) + "N" + iy.astype(str)
    # comuni without any cell centre: one cell at their representative point
    empty = np.setdiff1d(np.arange(len(mun)), mi)
    if len(empty):
        rp = mun.geometry.iloc[empty].representative_point()
        ex = (np.floor(rp.x.to_numpy() / cell_size) + 0.5) * cell_size
        ey = (np.floor(rp.y.to_numpy() / cell_size) + 0.5) * cell_size
        extra = pd.DataFrame({"x": ex, "y": ey, "mun": empty})
        extra["cell_id"] = ["E%dN%d_%s" % (int(a // cell_size), int(b // cell_size), mun["istat_code"].iloc[m])
                            for a, b, m in zip(ex, ey, empty)]
        cells = pd.concat([cells, extra], ignore_index=True)

    half = cell_size / 2
    geom = shapely.box(cells["x"] - half, cells["y"] - half, cells["x"] + half, cells["y"] + half)
    w = np.ones(len(cells))
    method = np.array(["uniform"] * len(cells), dtype=object)
    if weights is not None:
        w, used = _dasymetric_weights(geom, weights, weight_column)
        tot = np.bincount(cells["mun"], weights=w, minlength=len(mun))
        fallback = tot[cells["mun"]] <= 0
        w = np.where(fallback, 1.0, w)
        method = np.where(fallback, "uniform (fallback: no weight in comune)", f"dasymetric ({used})").astype(object)
    share = w / np.bincount(cells["mun"], weights=w, minlength=len(mun))[cells["mun"]]
    out = gpd.GeoDataFrame({"cell_id": cells["cell_id"].to_numpy(),
                            "istat_code": mun["istat_code"].to_numpy()[cells["mun"]],
                            "x": cells["x"].to_numpy(), "y": cells["y"].to_numpy()}, geometry=geom, crs=ANALYSIS_CRS)
    out["pop"] = mun[population_column].astype(float).to_numpy()[cells["mun"]] * share
    for src, dst in fragile.items():
        out[dst] = pd.to_numeric(mun[src], errors="coerce").fillna(0).astype(float).to_numpy()[cells["mun"]] * share
    out["method"] = method
    if out["cell_id"].duplicated().any():  # overlapping municipal polygons
        raise DemandInputError("municipalities: overlapping polygons give one cell to two comuni "
                               f"(cell {out.loc[out['cell_id'].duplicated(), 'cell_id'].iloc[0]})")
    present = sorted(set(fragile.values()))
    missing = [FRAGILE_LABELS_IT[k] for k in ("under12", "over65", "foreigners") if k not in present]
    meta = {
        "method": "dasymetric" if weights is not None else "uniform",
        "cell_size_m": cell_size,
        "population_column": population_column,
        "n_cells": int(len(out)),
        "total_pop": float(out["pop"].sum()),
        "fragile_present": present,
        "fragile_missing_it": missing,
    }
    return out, meta


def _dasymetric_weights(cell_geom, weights: gpd.GeoDataFrame, column: str | None):
    if weights.crs is None:
        raise DemandInputError("weights layer: no CRS")
    wg = weights.to_crs(ANALYSIS_CRS)
    if column is not None:
        if column not in wg.columns:
            raise DemandInputError(f"weights layer: column {column!r} missing")
        val = pd.to_numeric(wg[column], errors="coerce")
        if val.isna().any() or (val < 0).any():
            r = val.index[(val.isna() | (val < 0)).to_numpy()][0]
            raise DemandInputError(f"weights layer: column {column!r} not a non-negative number at row {r}")
        dens = val.to_numpy(float) / np.maximum(wg.geometry.area.to_numpy(), 1e-9)
        used = f"weights column {column}"
    else:
        dens = np.ones(len(wg))
        used = "area of weight polygons"
    tree = shapely.STRtree(wg.geometry.values)
    ci, wi = tree.query(cell_geom, predicate="intersects")
    inter = shapely.area(shapely.intersection(np.asarray(cell_geom)[ci], wg.geometry.values[wi]))
    w = np.bincount(ci, weights=inter * dens[wi], minlength=len(cell_geom))
    return w, used
