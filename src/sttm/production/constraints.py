"""Exclusion and attention layers ("inversione pianificatoria", STTM 3 §3.3.3).

``data/constraints.csv`` lists the layers, their kind (exclusion / attention), where they come
from (``user`` file, ``user:residential`` = residential polygons from DUSAF/OSM/PGT,
``kb:services:<category>``, ``kb:hazard``) and the buffer in metres. :func:`build` turns
what is available into dissolved constraint polygons and reports what was missing;
:func:`classify_land` gives the excluded / attention / eligible map per comune;
:func:`overlay_sites` gives, for each site, the share covered by each constraint.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from . import params

CRS = "EPSG:32632"
STATUS_LABEL = {"excluded": "esclusa", "attention": "attenzione", "eligible": "idonea"}


@dataclass
class ConstraintSet:
    layers: gpd.GeoDataFrame          # constraint_id, kind, label_it, reference, buffer_m, geometry
    missing: list[str] = field(default_factory=list)   # constraint ids not available (with label)
    notes: list[str] = field(default_factory=list)


def flood_share_by_comune(hazard: pd.DataFrame | None, municipalities: gpd.GeoDataFrame | None) -> pd.Series:
    """Share of each comune's area in high flood hazard (ISPRA PIR): istat_code -> ratio."""
    if hazard is None or municipalities is None or "flood_area_high_km2" not in hazard:
        return pd.Series(dtype=float)
    area = municipalities.set_index("istat_code")["area_km2"].astype(float) if "area_km2" in municipalities \
        else (municipalities.set_index("istat_code").area / 1e6)
    h = hazard.set_index("istat_code")["flood_area_high_km2"].astype(float)
    return (h / area.reindex(h.index)).dropna()


def build(available: dict[str, gpd.GeoDataFrame | None], *, services: gpd.GeoDataFrame | None = None,
          hazard: pd.DataFrame | None = None, municipalities: gpd.GeoDataFrame | None = None,
          residential: gpd.GeoDataFrame | None = None, table: pd.DataFrame | None = None) -> ConstraintSet:
    """Assemble the constraint polygons from user layers (``available[constraint_id]``) and the KB."""
    table = params.table("constraints") if table is None else table
    rows, missing, notes = [], [], []
    for _, c in table.iterrows():
        cid, src, buf = c["constraint_id"], c["source"], float(c["buffer_m"] or 0)
        geoms = None
        if cid in available and available[cid] is not None:
            geoms = available[cid].geometry.to_numpy()
        elif src == "user:residential":
            geoms = None if residential is None or not len(residential) else residential.geometry.to_numpy()
        elif src.startswith("kb:services:"):
            cat = src.split(":", 2)[2]
            if services is not None and len(services):
                geoms = services.loc[services["category"] == cat].geometry.to_numpy()
                if not len(geoms):
                    geoms = None
        elif src == "kb:hazard":
            share = flood_share_by_comune(hazard, municipalities)
            if len(share):
                thr = params.scalar("flood_comune_share")
                codes = share[share >= thr].index
                geoms = municipalities.loc[municipalities["istat_code"].isin(codes)].geometry.to_numpy()
                notes.append(f"{cid}: {len(codes)} comuni con quota >= {thr:.0%} di superficie a pericolosità "
                             "idraulica elevata (ISPRA PIR 2020; indicatore comunale)")
        if geoms is None:
            missing.append(f"{cid} ({c['label_it']})")
            continue
        if not len(geoms):
            notes.append(f"{cid}: nessun elemento")
            continue
        g = shapely.buffer(geoms, buf) if buf > 0 else geoms
        # residential attention ring goes beyond the exclusion ring; both are kept as-is (overlap ok)
        rows.append({"constraint_id": cid, "kind": c["kind"], "label_it": c["label_it"],
                     "reference": c["reference"], "buffer_m": buf, "status": c["status"],
                     "geometry": shapely.union_all(shapely.make_valid(g))})
    layers = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS) if rows else gpd.GeoDataFrame(
        {"constraint_id": [], "kind": [], "label_it": [], "reference": [], "buffer_m": [], "status": []},
        geometry=[], crs=CRS)
    return ConstraintSet(layers, missing, notes)


def classify_land(study: gpd.GeoDataFrame, cs: ConstraintSet) -> gpd.GeoDataFrame:
    """Excluded / attention / eligible land, per comune of ``study`` (e.g. municipalities)."""
    excl = [g for g in cs.layers.loc[cs.layers["kind"] == "exclusion"].geometry]
    att = [g for g in cs.layers.loc[cs.layers["kind"] == "attention"].geometry]
    excl_u = shapely.union_all(excl) if excl else shapely.Polygon()
    att_u = shapely.difference(shapely.union_all(att), excl_u) if att else shapely.Polygon()
    rows = []
    key = "istat_code" if "istat_code" in study else None
    for i, r in study.reset_index(drop=True).iterrows():
        g = r.geometry
        e = shapely.intersection(g, excl_u)
        a = shapely.intersection(g, att_u)
        ok = shapely.difference(g, shapely.union(excl_u, att_u))
        for status, geom in (("excluded", e), ("attention", a), ("eligible", ok)):
            geom = _polys(geom)
            if geom is None or geom.is_empty:
                continue
            code = r[key] if key else str(i)
            rows.append({"land_id": f"{code}:{status}", "istat_code": code if key else None,
                         "status": status, "status_label": STATUS_LABEL[status],
                         "area_m2": round(geom.area, 1), "geometry": geom})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def _polys(g):
    if g is None or g.is_empty:
        return None
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else None


def tiled_parts(cover, tile: float = 1000.0) -> np.ndarray:
    """Disjoint pieces of ``cover`` no larger than ``tile`` m: intersecting a small site with a
    small piece is cheap, intersecting it with a dissolved county-sized polygon is not."""
    parts = shapely.get_parts(cover)
    b = shapely.bounds(parts)
    big = ((b[:, 2] - b[:, 0]) > tile) | ((b[:, 3] - b[:, 1]) > tile)
    if not big.any():
        return parts
    bp, bb = parts[big], b[big]
    xs = np.arange(bb[:, 0].min(), bb[:, 2].max() + tile, tile)
    ys = np.arange(bb[:, 1].min(), bb[:, 3].max() + tile, tile)
    X, Y = np.meshgrid(xs, ys)
    X, Y = X.ravel(), Y.ravel()
    boxes = shapely.box(X, Y, X + tile, Y + tile)
    pi, bi = STRtree(boxes).query(bp, predicate="intersects")
    # clip_by_rect takes a scalar rectangle: one call per (part, tile) pair, each O(vertices)
    cut = np.array([shapely.clip_by_rect(g, x, y, x + tile, y + tile) for g, x, y in zip(bp[pi], X[bi], Y[bi])],
                   dtype=object)
    cut = cut[~shapely.is_empty(cut)]
    return np.concatenate([parts[~big], cut])


def _share(g: np.ndarray, area: np.ndarray, cover) -> np.ndarray:
    """Share of each geometry in ``g`` covered by ``cover`` (parts indexed in an STRtree)."""
    out = np.zeros(len(g))
    if cover is None or cover.is_empty:
        return out
    parts = tiled_parts(cover)
    tree = STRtree(parts)
    gi, pi = tree.query(g, predicate="intersects")
    if not len(gi):
        return out
    # sites wholly inside a piece need no overlay (prepared predicate, cheap); the others do
    shapely.prepare(parts)
    inside = shapely.contains_properly(parts[pi], g[gi])
    inter = np.where(inside, area[gi], 0.0)
    edge = ~inside
    inter[edge] = shapely.area(shapely.intersection(g[gi[edge]], parts[pi[edge]]))
    np.add.at(out, gi, inter)
    return np.where(area > 0, out / np.where(area > 0, area, 1), 0.0).clip(0, 1)


def overlay_sites(sites: gpd.GeoDataFrame, cs: ConstraintSet) -> gpd.GeoDataFrame:
    """Per site: ``excluded_share``, ``attention_share``, ``excluded_by``/``attention_by`` (labels + share)."""
    out = sites.copy()
    n = len(out)
    g = out.geometry.to_numpy()
    area = shapely.area(g)
    by = {"exclusion": [[] for _ in range(n)], "attention": [[] for _ in range(n)]}
    layer_shares = {"exclusion": [], "attention": []}
    for kind, label, geom in zip(cs.layers["kind"], cs.layers["label_it"], cs.layers.geometry):
        share = _share(g, area, geom)
        layer_shares[kind].append(share)
        lists = by[kind]
        for i in np.flatnonzero(share > 0):
            lists[i].append(f"{label} ({share[i]:.0%})")
    shares = {}
    for kind, lst in layer_shares.items():
        if not lst:
            shares[kind] = np.zeros(n)
            continue
        m = np.vstack(lst)
        # one layer touched: its share is the union share; several (they may overlap): intersect the union
        shares[kind] = m.max(axis=0)
        multi = np.flatnonzero((m > 0).sum(axis=0) > 1)
        if len(multi):
            lay = cs.layers.loc[cs.layers["kind"] == kind]
            u = shapely.union_all(lay.geometry.to_numpy())
            shares[kind][multi] = _share(g[multi], area[multi], u)
    out["excluded_share"] = shares["exclusion"].round(4)
    out["attention_share"] = shares["attention"].round(4)
    out["excluded_by"] = ["; ".join(x) for x in by["exclusion"]]
    out["attention_by"] = ["; ".join(x) for x in by["attention"]]
    out["n_attention"] = np.array([len(x) for x in by["attention"]], dtype=int)
    return out
