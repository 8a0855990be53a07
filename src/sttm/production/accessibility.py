"""Accessibility of areas/sites to the primary road network, rail and public transport.

All distances are Euclidean (m, EPSG:32632) from the area's boundary (0 when inside/touching):
a network-based measure needs a street graph, which is a user input not always available.
``workforce_pt`` is a documented proxy without GTFS timetables: the residents of the comuni that
have a station (rail or metro) reachable from a station within ``station_access_m`` of the area, a station being
reachable when it shares a line with the access station or lies within ``workforce_radius_m``.
The area takes the best of its access stations.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from . import params


@dataclass
class AccessInputs:
    """What accessibility can use; ``None`` = not available (the output column stays empty)."""
    roads: gpd.GeoDataFrame | None = None            # primary road lines
    junctions: gpd.GeoDataFrame | None = None        # motorway junction points
    stations: gpd.GeoDataFrame | None = None         # KB `stations` (mode rail/metro, lines, istat_code)
    pt_stops: gpd.GeoDataFrame | None = None         # extra bus/tram stops (user or KB)
    rail_terminals: gpd.GeoDataFrame | None = None   # intermodal terminals / freight yards
    services: gpd.GeoDataFrame | None = None         # KB `services`
    municipalities: gpd.GeoDataFrame | None = None   # KB `municipalities` (residents_anpr_2025)
    sensitive: gpd.GeoDataFrame | None = None        # homes, schools (polygons/points)
    not_used: list[str] = field(default_factory=list)


def nearest_distance(geoms: np.ndarray, targets: gpd.GeoDataFrame | None) -> np.ndarray:
    """Distance (m) from each geometry to the nearest target; NaN when no targets."""
    if targets is None or not len(targets):
        return np.full(len(geoms), np.nan)
    tree = STRtree(targets.geometry.to_numpy())
    idx, dist = tree.query_nearest(geoms, return_distance=True, all_matches=False)
    out = np.full(len(geoms), np.nan)
    out[idx[0]] = dist
    return out


def count_within(geoms: np.ndarray, targets: gpd.GeoDataFrame | None, radius: float) -> np.ndarray:
    if targets is None or not len(targets):
        return np.full(len(geoms), np.nan)
    tree = STRtree(targets.geometry.to_numpy())
    gi, _ = tree.query(geoms, predicate="dwithin", distance=radius)
    return np.bincount(gi, minlength=len(geoms)).astype(float)


def station_workforce(stations: gpd.GeoDataFrame, municipalities: gpd.GeoDataFrame) -> np.ndarray:
    """Residents reachable by PT from each station (proxy, see module docstring)."""
    radius = params.scalar("workforce_radius_m")
    res = municipalities.set_index("istat_code")["residents_anpr_2025"].astype(float)
    st = stations.reset_index(drop=True)
    codes = st["istat_code"].to_numpy() if "istat_code" in st else np.array([None] * len(st))
    lines = [set(t.strip().lower() for t in str(v).replace(";", ",").split(",") if t.strip())
             if isinstance(v, str) and v.strip() else set()
             for v in (st["lines"] if "lines" in st else [None] * len(st))]
    by_line: dict[str, set[int]] = {}
    for i, ls in enumerate(lines):
        for ln in ls:
            by_line.setdefault(ln, set()).add(i)
    g = st.geometry.to_numpy()
    tree = STRtree(g)
    a, b = tree.query(g, predicate="dwithin", distance=radius)
    near: dict[int, set[int]] = {}
    for i, j in zip(a, b):
        near.setdefault(int(i), set()).add(int(j))
    out = np.zeros(len(st))
    for i in range(len(st)):
        reach = set(near.get(i, {i}))
        for ln in lines[i]:
            reach |= by_line[ln]
        comuni = {codes[j] for j in reach if codes[j] is not None and codes[j] == codes[j]}
        out[i] = float(sum(res.get(c, 0.0) for c in comuni))
    return out


def workforce_pt(geoms: np.ndarray, stations: gpd.GeoDataFrame | None,
                 municipalities: gpd.GeoDataFrame | None) -> np.ndarray:
    if stations is None or municipalities is None or not len(stations):
        return np.full(len(geoms), np.nan)
    sw = station_workforce(stations, municipalities)
    tree = STRtree(stations.geometry.to_numpy())
    gi, si = tree.query(geoms, predicate="dwithin", distance=params.scalar("station_access_m"))
    out = np.zeros(len(geoms))
    np.maximum.at(out, gi, sw[si])
    return out


def compute(areas: gpd.GeoDataFrame, inp: AccessInputs) -> gpd.GeoDataFrame:
    """Add accessibility columns to ``areas`` (a copy)."""
    out = areas.copy()
    g = out.geometry.to_numpy()
    rail = None
    if inp.stations is not None and len(inp.stations):
        rail = inp.stations[inp.stations["mode"] == "rail"] if "mode" in inp.stations else inp.stations
    stops = [s for s in (inp.stations, inp.pt_stops) if s is not None and len(s)]
    stops = pd.concat([s[["geometry"]] for s in stops], ignore_index=True) if stops else None
    stops = gpd.GeoDataFrame(stops, geometry="geometry", crs=areas.crs) if stops is not None else None
    out["dist_primary_road_m"] = nearest_distance(g, inp.roads).round(1)
    out["dist_motorway_junction_m"] = nearest_distance(g, inp.junctions).round(1)
    out["dist_rail_station_m"] = nearest_distance(g, rail).round(1)
    out["dist_rail_terminal_m"] = nearest_distance(g, inp.rail_terminals).round(1)
    out["pt_stops_800m"] = count_within(g, stops, params.scalar("pt_stop_radius_m"))
    out["services_1km"] = count_within(g, inp.services, params.scalar("services_radius_m"))
    out["workforce_pt"] = workforce_pt(g, inp.stations, inp.municipalities)   # rail and metro
    out["dist_sensitive_m"] = nearest_distance(g, inp.sensitive).round(1)
    return out


def rail_terminals_from_areas(areas: gpd.GeoDataFrame, extra: gpd.GeoDataFrame | None = None):
    """Intermodal terminals of the taxonomy (+ user terminals) as freight-rail access targets."""
    parts = []
    if areas is not None and len(areas):
        parts.append(areas.loc[areas["category"] == "intermodal_terminal", ["geometry"]])
    if extra is not None and len(extra):
        parts.append(extra[["geometry"]])
    parts = [p for p in parts if len(p)]
    if not parts:
        return None
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs="EPSG:32632")
