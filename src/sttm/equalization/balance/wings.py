"""Results of the other wings used by the balance where they exist, with the fallback kept.

- Truck trips (STTM 3): a logistics/productive forecast that does not declare its truck trips gets
  them from ``sttm.production.freight.truck_trips`` (heavy-goods trip ends/day, spread over the
  comuni with ``route_shares``); fallback: ``trip_generation.<function>.truck_per_100m2``.
- Demand on services (STTM 2): the users a forecast's new residents bring to a service category
  go, in order of preference,

  0. ``sttm2_lum`` — for a supra-municipal category (``sttm2_scale = "sovracomunale"``, e.g.
     hospitals, reached by transit): to the category's services within ``lum_radius_m`` of a LUM
     (layer ``lum``), shared by the distance-decay law from the site;
  1. ``sttm2_cells`` — to the services STTM 2's 15-minute catchment reaches from the site: the
     ``n_<key>`` of the ``access_cells`` under the forecast (mean over the cells, rounded, at least
     one: the nearest) say how many services are reached; those are the n nearest services of the
     category (straight-line rank), shared by capacity (schools) or equally, and the users go to
     their comuni;
  2. ``sttm2_municipality`` — ``access_by_municipality.share_<key>`` of the adopting comune (share
     of its residents with the service within 15 minutes) stay in it; the rest goes to the other
     comuni by the distance-decay law;
  3. ``gravity`` — the distance-decay law over every comune's supply (the first-round model).

Each function returns the vector over the comuni and the method used, which the balance states.
"""
from __future__ import annotations

import numpy as np
import shapely

from .territory import Territory

METHOD_IT = {
    "sttm2_lum": "servizi sovracomunali raggiungibili dai LUM (STTM 2, layer lum) e decadimento con la distanza",
    "sttm2_cells": "bacini di accessibilità a 15 minuti STTM 2 (layer access_cells e servizi)",
    "sttm2_municipality": "quota servita entro 15 minuti nel Comune (STTM 2, access_by_municipality) e, per il resto, "
                          "legge di decadimento con la distanza",
    "gravity": "legge di decadimento con la distanza (layer STTM 2 assenti)",
}


def truck_trips(function: str, floor_area_m2: float, params, shares: np.ndarray, codes: np.ndarray
                ) -> tuple[float, np.ndarray, str] | None:
    """STTM 3 heavy trips/day and their spread over ``codes`` (``shares`` sum to 1), or None when
    the function has no STTM 3 category, STTM 3 is switched off or not installed."""
    fr = params.data.get("freight", {})
    cat = fr.get("sttm3_category", {}).get(function)
    if not fr.get("use_sttm3") or not cat or floor_area_m2 <= 0:
        return None
    try:
        from sttm.production.freight import truck_trips as sttm3_truck_trips
    except ImportError:
        return None
    keep = shares > 0
    route = {str(c): float(s) for c, s in zip(codes[keep], shares[keep])}
    tot = sum(route.values())
    if tot > 1.0:                                   # float noise: STTM 3 refuses a sum above 1
        route = {k: v / tot * (1 - 1e-12) for k, v in route.items()}
    est = sttm3_truck_trips(float(floor_area_m2), cat, route_shares=route)
    by = np.array([est.by_municipality.get(str(c), 0.0) for c in codes], dtype=float)
    return float(est.heavy_per_day), by, f"STTM 3 ({cat}: {est.reference}; {est.status})"


def _keys(cat: str, sd: dict) -> list[str]:
    return list(sd.get("sttm2_keys", [cat]))


def _site_reach(geom, cells, keys: list[str]) -> int | None:
    cols = [f"n_{k}" for k in keys if f"n_{k}" in cells.columns]
    if not cols:
        return None
    idx = cells.sindex.query(geom, predicate="intersects")
    if len(idx) == 0:
        d = shapely.distance(cells.geometry.to_numpy(), geom.centroid)
        idx = np.array([int(np.argmin(d))])
    n = cells.iloc[idx][cols].astype(float).sum(axis=1)
    n = n[np.isfinite(n)]
    return int(round(float(n.mean()))) if len(n) else None


def _to_comuni(codes, weights: np.ndarray, users: float, t: Territory) -> np.ndarray:
    """``users`` shared among services in proportion to ``weights``, summed by the services' comuni."""
    out = np.zeros(t.n)
    total = float(np.sum(weights))
    if total <= 0:
        return out
    for code, wi in zip(codes, weights):
        if code in t._idx:
            out[t.index_of(code)] += users * wi / total
    return out


def service_users(cat: str, sd: dict, users: float, geom, host_i: int, t: Territory, d_km: np.ndarray
                  ) -> tuple[np.ndarray, str] | None:
    """Users of category ``cat`` per comune, and the method used; None when the category has
    neither supply nor STTM 2 data."""
    from .externalities import _gravity          # the balance's distance-decay law (module imports this one)
    keys = _keys(cat, sd)
    pts = None
    if t.service_points is not None:
        pts = t.service_points[t.service_points["category"] == cat]
        subs = sd.get("sttm2_subcategories")
        if subs and "subcategory" in pts.columns and pts["subcategory"].isin(subs).any():
            pts = pts[pts["subcategory"].isin(subs)]
    if sd.get("sttm2_scale") == "sovracomunale" and t.lum is not None and pts is not None and len(pts):
        gp = pts.geometry.to_numpy()
        lum_tree = shapely.STRtree(t.lum.geometry.to_numpy())
        hit, _ = lum_tree.query(gp, predicate="dwithin", distance=float(sd.get("lum_radius_m", 500.0)))
        near = pts.iloc[np.unique(hit)]
        if len(near):
            d = shapely.distance(near.geometry.to_numpy(), geom.centroid) / 1000.0
            out = _to_comuni(near["istat_code"], np.exp(-d / float(sd["mean_distance_km"])), users, t)
            if out.sum() > 0:
                return out, "sttm2_lum"
    if t.access_cells is not None and pts is not None:
        reach = _site_reach(geom, t.access_cells, keys) if len(pts) else None
        if reach is not None:
            c = geom.centroid
            dist = shapely.distance(pts.geometry.to_numpy(), c)
            near = np.argsort(dist, kind="stable")[:max(reach, 1)]
            sel = pts.iloc[near]
            cap = sel["capacity"].astype(float) if "capacity" in sel.columns else None
            w = cap.fillna(0).to_numpy() if cat == "school" and cap is not None and cap.fillna(0).sum() > 0 \
                else np.ones(len(sel))
            out = _to_comuni(sel["istat_code"], w, users, t)
            if out.sum() > 0:
                return out, "sttm2_cells"
    supply = t.service_supply.get(cat)
    if t.access_by_municipality is not None:
        acc = t.access_by_municipality
        cols = [f"share_{k}" for k in keys if f"share_{k}" in acc.columns]
        host = str(t.codes[host_i])
        vals = acc.loc[host, cols].astype(float) if cols and host in acc.index else None
        if vals is not None and np.isfinite(vals).any():
            s_host = float(np.clip(np.nanmean(vals.to_numpy()), 0.0, 1.0))
            out = np.zeros(t.n)
            out[host_i] = users * s_host
            if supply is not None:
                rest = supply.copy()
                rest[host_i] = 0.0
                g = _gravity(rest, d_km, float(sd["mean_distance_km"]))
                if g.sum() > 0:
                    out += users * (1 - s_host) * g
                else:
                    out[host_i] += users * (1 - s_host)
            else:
                out[host_i] += users * (1 - s_host)
            return out, "sttm2_municipality"
    if supply is None or supply.sum() <= 0:
        return None
    return users * _gravity(supply, d_km, float(sd["mean_distance_km"])), "gravity"
