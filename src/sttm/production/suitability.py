"""Suitability of eligible land and candidate sites (STTM 3 §3.3.3, weights in ``data/suitability_weights.csv``).

Each criterion maps a measured value linearly from ``worst`` (score 0) to ``best`` (score 1),
clipped to [0, 1]; ``best < worst`` means "smaller is better" (distances). The suitability is
``100 * sum(w_i * s_i) / sum(w_i)`` over the criteria whose data are available (the missing
ones are listed), minus ``attention_penalty_points`` per attention layer touched (at most
``attention_penalty_max``). A site whose excluded share exceeds ``site_excluded_share_max`` is
``esclusa`` and gets no score. Regeneration level: 1 on brownfields / opportunity areas, 0.6 in
existing productive areas, 0 on free land (``params.toml``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from . import accessibility, constraints, params

CLASS_LABEL = {"high": "alta", "medium": "media", "low": "bassa", "excluded": "esclusa"}


def weights(path=None) -> pd.DataFrame:
    w = params.table("suitability_weights", path)
    for c in ("weight", "worst", "best"):
        w[c] = w[c].astype(float)
    return w


def criterion_score(x: np.ndarray, worst: float, best: float) -> np.ndarray:
    """Linear 0..1 score, NaN where x is NaN."""
    x = np.asarray(x, dtype=float)
    return np.clip((x - worst) / (best - worst), 0.0, 1.0)


def _cover_share(g: np.ndarray, layer: gpd.GeoDataFrame | None) -> np.ndarray:
    if layer is None or not len(layer):
        return np.zeros(len(g))
    parts = layer.geometry.to_numpy()
    tree = STRtree(parts)
    gi, pi = tree.query(g, predicate="intersects")
    out = np.zeros(len(g))
    if len(gi):
        np.add.at(out, gi, shapely.area(shapely.intersection(g[gi], parts[pi])))
    a = shapely.area(g)
    return np.where(a > 0, out / np.where(a > 0, a, 1), 0).clip(0, 1)


def regen_level(sites: gpd.GeoDataFrame, brownfields: gpd.GeoDataFrame | None,
                productive: gpd.GeoDataFrame | None) -> np.ndarray:
    g = sites.geometry.to_numpy()
    lvl = np.full(len(g), params.scalar("regen_level_free"))
    prod = _cover_share(g, productive) > 0.5
    lvl[prod] = params.scalar("regen_level_productive")
    brown = _cover_share(g, brownfields) > 0.5
    if "brownfield" in sites:
        brown |= sites["brownfield"].fillna(False).astype(bool).to_numpy()
    lvl[brown] = params.scalar("regen_level_brownfield")
    return lvl


def score(sites: gpd.GeoDataFrame, w: pd.DataFrame | None = None) -> gpd.GeoDataFrame:
    """Score sites that already carry the factor columns and the constraint overlay columns."""
    w = weights() if w is None else w
    out = sites.copy()
    n = len(out)
    num = np.zeros(n)
    den = np.zeros(n)
    missing = [[] for _ in range(n)]
    for _, c in w.iterrows():
        x = out[c["field"]].astype(float).to_numpy() if c["field"] in out else np.full(n, np.nan)
        s = criterion_score(x, c["worst"], c["best"])
        out[f"s_{c['criterion']}"] = np.round(s, 4)
        ok = ~np.isnan(s)
        num[ok] += c["weight"] * s[ok]
        den[ok] += c["weight"]
        for i in np.flatnonzero(~ok):
            missing[i].append(c["label_it"])
    base = np.where(den > 0, 100 * num / np.where(den > 0, den, 1), np.nan)
    n_att = out["n_attention"].to_numpy() if "n_attention" in out else np.zeros(n)
    pen = np.minimum(n_att * params.scalar("attention_penalty_points"), params.scalar("attention_penalty_max"))
    suit = np.clip(base - pen, 0, 100)
    excl = (out["excluded_share"].to_numpy() if "excluded_share" in out else np.zeros(n)) \
        > params.scalar("site_excluded_share_max")
    suit[excl] = np.nan
    hi, med = params.scalar("high_suitability"), params.scalar("medium_suitability")
    cls = np.where(excl, "excluded", np.where(suit >= hi, "high", np.where(suit >= med, "medium", "low")))
    out["score_base"] = np.round(base, 2)
    out["attention_penalty"] = pen
    out["suitability"] = np.round(suit, 2)
    out["suitability_class"] = cls
    out["suitability_label"] = [CLASS_LABEL[c] for c in cls]
    out["missing_criteria"] = ["; ".join(m) for m in missing]
    out["verdict"] = np.where(excl, "respinta", "ammissibile")
    reasons = []
    eb = out["excluded_by"].to_numpy() if "excluded_by" in out else [""] * n
    ab = out["attention_by"].to_numpy() if "attention_by" in out else [""] * n
    for i in range(n):
        if excl[i]:
            reasons.append(f"Sito escluso: ricade in {eb[i]} (quota massima ammessa "
                           f"{params.scalar('site_excluded_share_max'):.0%})")
        else:
            t = f"Idoneità {CLASS_LABEL[cls[i]]}: {suit[i]:.1f}/100"
            if pen[i]:
                t += f" (penalità {pen[i]:.0f} punti per aree di attenzione: {ab[i]})"
            if missing[i]:
                t += f"; criteri non valutati per mancanza di dati: {', '.join(missing[i])}"
            reasons.append(t)
    out["reason"] = reasons
    return out


def assess_sites(sites: gpd.GeoDataFrame, cs: constraints.ConstraintSet, access: accessibility.AccessInputs,
                 *, brownfields: gpd.GeoDataFrame | None = None, productive: gpd.GeoDataFrame | None = None,
                 w: pd.DataFrame | None = None) -> gpd.GeoDataFrame:
    """Full pipeline for candidate sites: accessibility -> regeneration -> constraints -> score."""
    s = accessibility.compute(sites, access)
    s["regen_level"] = regen_level(s, brownfields, productive)
    s = constraints.overlay_sites(s, cs)
    return score(s, w)


# ------------------------------------------------------------------------------------ raster
@dataclass
class Grid:
    status: np.ndarray        # uint8: 0 outside, 1 eligible, 2 attention, 3 excluded
    suitability: np.ndarray   # float32, NaN outside/excluded
    transform: object
    crs: str = "EPSG:32632"
    missing: list = field(default_factory=list)

    def stats(self, res: float) -> dict:
        cell = res * res / 1e4
        return {k: float((self.status == v).sum() * cell) for k, v in
                (("eligible_ha", 1), ("attention_ha", 2), ("excluded_ha", 3))}

    def write(self, path: str) -> None:
        import rasterio
        with rasterio.open(path, "w", driver="GTiff", height=self.status.shape[0], width=self.status.shape[1],
                           count=2, dtype="float32", crs=self.crs, transform=self.transform, nodata=np.nan,
                           compress="deflate") as dst:
            dst.write(self.status.astype("float32"), 1)
            dst.write(self.suitability, 2)
            dst.set_band_description(1, "stato: 1 idonea, 2 attenzione, 3 esclusa")
            dst.set_band_description(2, "idoneita 0-100")


def grid(study, cs: constraints.ConstraintSet, access: accessibility.AccessInputs, *, res: float = 25.0,
         brownfields=None, productive=None, w: pd.DataFrame | None = None) -> Grid:
    """Exclusion overlay + suitability on a regular grid covering ``study`` (polygons)."""
    from rasterio import features
    from rasterio.transform import from_origin
    from scipy import ndimage

    w = weights() if w is None else w
    geom = shapely.union_all(study.geometry.to_numpy()) if hasattr(study, "geometry") else study
    minx, miny, maxx, maxy = geom.bounds
    width, height = int(np.ceil((maxx - minx) / res)), int(np.ceil((maxy - miny) / res))
    tr = from_origin(minx, maxy, res, res)
    shape = (height, width)

    def burn(geoms, value=1, dtype="uint8", all_touched=False):
        geoms = [g for g in geoms if g is not None and not g.is_empty]
        if not geoms:
            return np.zeros(shape, dtype)
        return features.rasterize(((g, value) for g in geoms), out_shape=shape, transform=tr, fill=0,
                                  dtype=dtype, all_touched=all_touched)

    inside = burn([geom]).astype(bool)
    excl = burn(cs.layers.loc[cs.layers["kind"] == "exclusion"].geometry).astype(bool)
    n_att = np.zeros(shape, np.uint8)
    for g in cs.layers.loc[cs.layers["kind"] == "attention"].geometry:
        n_att += burn([g])
    status = np.zeros(shape, np.uint8)
    status[inside] = 1
    status[inside & (n_att > 0)] = 2
    status[inside & excl] = 3

    def dist_to(layer):
        if layer is None or not len(layer):
            return None
        m = burn(layer.geometry, all_touched=True).astype(bool)
        if not m.any():
            return None
        return ndimage.distance_transform_edt(~m).astype(np.float32) * res

    regen = np.full(shape, params.scalar("regen_level_free"), np.float32)
    if productive is not None and len(productive):
        regen[burn(productive.geometry).astype(bool)] = params.scalar("regen_level_productive")
    if brownfields is not None and len(brownfields):
        regen[burn(brownfields.geometry).astype(bool)] = params.scalar("regen_level_brownfield")
    factors = {
        "regen_level": regen,
        "dist_motorway_junction_m": dist_to(access.junctions),
        "dist_primary_road_m": dist_to(access.roads),
        "dist_rail_terminal_m": dist_to(access.rail_terminals),
        "dist_sensitive_m": dist_to(access.sensitive),
        "workforce_pt": _workforce_grid(access.stations, access.municipalities, shape, tr, res),
    }
    num = np.zeros(shape, np.float32)
    den = 0.0
    missing = []
    for _, c in w.iterrows():
        x = factors.get(c["field"])
        if x is None:
            missing.append(c["label_it"])
            continue
        num += np.float32(c["weight"]) * np.clip((x - c["worst"]) / (c["best"] - c["worst"]), 0, 1).astype(np.float32)
        den += c["weight"]
    suit = (100 * num / den) if den else np.full(shape, np.nan, np.float32)
    pen = np.minimum(n_att.astype(np.float32) * params.scalar("attention_penalty_points"),
                     params.scalar("attention_penalty_max"))
    suit = np.clip(suit - pen, 0, 100).astype(np.float32)
    suit[(status == 0) | (status == 3)] = np.nan
    return Grid(status, suit, tr, missing=missing)


def _workforce_grid(rail, municipalities, shape, tr, res):
    if rail is None or municipalities is None or not len(rail):
        return None
    sw = accessibility.station_workforce(rail.reset_index(drop=True), municipalities)
    out = np.zeros(shape, np.float32)
    r = int(np.ceil(params.scalar("station_access_m") / res))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disk = (xx * xx + yy * yy) * res * res <= params.scalar("station_access_m") ** 2
    inv = ~tr
    for pt, val in zip(rail.geometry, sw):
        col, row = inv * (pt.x, pt.y)
        row, col = int(row), int(col)
        r0, r1, c0, c1 = row - r, row + r + 1, col - r, col + r + 1
        rr0, cc0 = max(r0, 0), max(c0, 0)
        rr1, cc1 = min(r1, shape[0]), min(c1, shape[1])
        if rr0 >= rr1 or cc0 >= cc1:
            continue
        d = disk[rr0 - r0:rr1 - r0, cc0 - c0:cc1 - c0]
        win = out[rr0:rr1, cc0:cc1]
        win[d] = np.maximum(win[d], val)
    return out
