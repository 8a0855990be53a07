"""LUM — Luoghi Urbani per la Mobilità (PTM NdA art. 26, 35): places around metropolitan and
supra-municipal rail/metro stops, with their level, perimeters and contents.

Stations closer than `cluster_m` (default 300 m) form one LUM (e.g. an FS station and the metro
stop beside it). The level follows the rule table `params/lum_levels.csv` (first matching rule);
a user CSV `station_id,level` overrides it. Perimeters: circles of 200 m and 500 m around the
LUM's stations and, where a walking network is supplied, the 15-minute walk catchment.
"""
from __future__ import annotations

import re
from importlib import resources

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from sttm import ANALYSIS_CRS

MILANO_ISTAT = "015146"


class LumInputError(ValueError):
    pass


def level_rules() -> pd.DataFrame:
    with resources.files("sttm.services").joinpath("params/lum_levels.csv").open(encoding="utf-8") as f:
        return pd.read_csv(f)


def _rule_text(order: int) -> str:
    r = level_rules().set_index("rule_order")
    return f"regola {order}: {r.loc[order, 'description_it']}"


def build_lum(stations: gpd.GeoDataFrame, municipalities: pd.DataFrame, *, cluster_m: float = 300.0,
              overrides: pd.DataFrame | None = None, central_istat: str = MILANO_ISTAT) -> gpd.GeoDataFrame:
    """One row per LUM: `lum_id`, `name`, `level` (metropolitano / sovracomunale), `level_rule`,
    `station_ids`, `modes`, `n_stations`, `istat_code`, `municipality`, `role`; geometry = the
    stations (MultiPoint, EPSG:32632)."""
    for col in ("station_id", "name", "mode", "istat_code"):
        if col not in stations.columns:
            raise LumInputError(f"stations: column {col!r} missing")
    st = stations.to_crs(ANALYSIS_CRS) if stations.crs is not None and stations.crs.to_epsg() != 32632 else stations
    if "in_cmm" in st.columns:
        st = st[st["in_cmm"].fillna(False).astype(bool)]
    st = st[st["istat_code"].notna()].reset_index(drop=True)
    if st.empty:
        return gpd.GeoDataFrame(columns=["lum_id", "name", "level", "level_rule", "station_ids", "modes",
                                         "n_stations", "istat_code", "municipality", "role", "geometry"],
                                geometry="geometry", crs=ANALYSIS_CRS)
    xy = np.column_stack([st.geometry.x, st.geometry.y])
    pairs = cKDTree(xy).query_pairs(cluster_m, output_type="ndarray")
    if "interchange_with" in st.columns:  # declared interchanges join stops even farther apart
        by_name = {str(n).strip().upper(): i for i, n in enumerate(st["name"])}
        extra = [(i, by_name[t.strip().upper()]) for i, v in enumerate(st["interchange_with"]) if isinstance(v, str)
                 for t in v.split(";") if t.strip().upper() in by_name]
        if extra:
            pairs = np.vstack([pairs.reshape(-1, 2), np.array(extra, dtype=pairs.dtype)])
    adj = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])) if len(pairs) else
                            (np.array([]), (np.array([], int), np.array([], int))), shape=(len(st), len(st)))
    _, label = csgraph.connected_components(adj, directed=False)
    mun = municipalities.set_index("istat_code")
    role = mun["role"] if "role" in mun.columns else pd.Series(dtype=object)
    ov = {}
    if overrides is not None:
        if not {"station_id", "level"} <= set(overrides.columns):
            raise LumInputError("LUM overrides: columns station_id, level required")
        badlvl = overrides[~overrides["level"].isin(["metropolitano", "sovracomunale", "excluded"])]
        if len(badlvl):
            raise LumInputError(f"LUM overrides: row {badlvl.index[0]}: level {badlvl['level'].iloc[0]!r} "
                                "not in metropolitano/sovracomunale/excluded")
        ov = dict(zip(overrides["station_id"].astype(str), overrides["level"]))
    rows = []
    for lab in np.unique(label):
        g = st[label == lab]
        # the comune of the LUM: that of its rail station if any, else of its first stop
        lead = g[g["mode"] == "rail"].iloc[0] if (g["mode"] == "rail").any() else g.iloc[0]
        ist = str(lead["istat_code"])
        modes = sorted(set(g["mode"]))
        r = role.get(ist) if ist in role.index else None
        ids = sorted(g["station_id"].astype(str))
        if any(i in ov for i in ids):
            level = next(ov[i] for i in ids if i in ov)
            rule = "livello indicato dall'utente (file di eccezioni)"
        elif (g["istat_code"].astype(str) == central_istat).all():
            level, rule = "excluded", _rule_text(0)
        elif {"rail", "metro"} <= set(modes):
            level, rule = "metropolitano", _rule_text(1)
        elif "rail" in modes and r in ("central_city", "attractor_pole"):
            level, rule = "metropolitano", _rule_text(2)
        else:
            level, rule = "sovracomunale", _rule_text(3)
        if level == "excluded":
            continue
        names = list(dict.fromkeys(g["name"].astype(str)))
        rows.append({
            "lum_id": "lum_" + re.sub(r"[^a-z0-9]+", "_", str(lead["station_id"]).lower()).strip("_"),
            "name": " / ".join(names), "level": level, "level_rule": rule,
            "station_ids": ";".join(ids), "modes": ";".join(modes), "n_stations": len(g),
            "istat_code": ist, "municipality": mun["name"].get(ist) if "name" in mun.columns else None,
            "role": r, "geometry": shapely.multipoints(np.column_stack([g.geometry.x, g.geometry.y])),
        })
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=ANALYSIS_CRS)
    return out.sort_values(["level", "municipality", "name"], ascending=[True, True, True]).reset_index(drop=True)


def lum_catchments(lum: gpd.GeoDataFrame, radii=(200, 500), *, network=None, walk_m: float | None = None) -> gpd.GeoDataFrame:
    """Perimeters per LUM: `r200`, `r500` (union of circles around its stations) and, with a
    network, `walk15`: the concave hull of the network nodes within `walk_m` metres of any of its
    stations (station-to-node legs included), buffered by 25 m."""
    rows = []
    for rec in lum.itertuples():
        for r in radii:
            rows.append({"catchment_id": f"{rec.lum_id}_r{int(r)}", "lum_id": rec.lum_id, "kind": f"r{int(r)}",
                         "geometry": shapely.buffer(rec.geometry, r, quad_segs=16)})
    if network is not None and walk_m:
        from .engine import NetworkCost

        cost = NetworkCost(network)
        for rec in lum.itertuples():
            pts = shapely.get_coordinates(rec.geometry)
            d = cost.node_distances(pts[:, 0], pts[:, 1], max_m=walk_m)
            reach = np.flatnonzero(d <= walk_m)
            if len(reach) < 3:
                continue
            hull = shapely.concave_hull(shapely.multipoints(np.column_stack([network.x[reach], network.y[reach]])), ratio=0.3)
            rows.append({"catchment_id": f"{rec.lum_id}_walk15", "lum_id": rec.lum_id, "kind": "walk15",
                         "geometry": shapely.buffer(hull, 25)})
    return gpd.GeoDataFrame(rows, columns=["catchment_id", "lum_id", "kind", "geometry"], geometry="geometry", crs=ANALYSIS_CRS)


def catchment_contents(catchments: gpd.GeoDataFrame, grid: gpd.GeoDataFrame, services: pd.DataFrame,
                       opportunity_areas: gpd.GeoDataFrame | None, category_keys: list[str]) -> pd.DataFrame:
    """Population (cells whose centre is inside), fragile groups, services by category and
    opportunity areas (count and m² of overlap) inside each catchment."""
    geoms = catchments.geometry.values
    out = pd.DataFrame({"catchment_id": catchments["catchment_id"].to_numpy()})
    tree = shapely.STRtree(geoms)
    ci, gi = tree.query(shapely.points(grid["x"].to_numpy(), grid["y"].to_numpy()), predicate="within")
    for col in [c for c in ("pop", "under12", "over65", "foreigners") if c in grid.columns]:
        out[col] = np.bincount(gi, weights=grid[col].to_numpy(float)[ci], minlength=len(geoms))
    si, sg = tree.query(shapely.points(services["x"].to_numpy(), services["y"].to_numpy()), predicate="within")
    keys = services["category_key"].to_numpy()
    for k in category_keys:
        m = keys[si] == k
        out[f"svc_{k}"] = np.bincount(sg[m], minlength=len(geoms)).astype(np.int64)
    if opportunity_areas is not None:
        oi, og = tree.query(opportunity_areas.geometry.values, predicate="intersects")
        out["opp_n"] = np.bincount(og, minlength=len(geoms)).astype(np.int64)
        inter = shapely.area(shapely.intersection(opportunity_areas.geometry.values[oi], geoms[og]))
        if "area_m2" in opportunity_areas.columns:  # areas registered as points carry their surface
            declared = pd.to_numeric(opportunity_areas["area_m2"], errors="coerce").fillna(0).to_numpy(float)[oi]
            is_pt = shapely.get_type_id(opportunity_areas.geometry.values[oi]) == 0
            inter = np.where(is_pt, declared, inter)
        out["opp_m2"] = np.bincount(og, weights=inter, minlength=len(geoms))
    return out


def lum_table(lum: gpd.GeoDataFrame, catchments: gpd.GeoDataFrame, contents: pd.DataFrame) -> gpd.GeoDataFrame:
    """Widen the catchment contents onto the LUM rows: columns suffixed `_r200`, `_r500`, `_walk15`."""
    c = catchments[["catchment_id", "lum_id", "kind"]].merge(contents, on="catchment_id")
    wide = c.drop(columns="catchment_id").pivot(index="lum_id", columns="kind")
    wide.columns = [f"{a}_{b}" for a, b in wide.columns]
    return lum.merge(wide.reset_index(), on="lum_id", how="left")
