"""STTM 2 runs on the knowledge base: read the territory layers, compute, write the results back
as layers. One function per CLI command; the same calls serve the web layer and the tests.

Layers written: `demand_grid`, `access_cells`, `access_by_municipality`, `access_by_zone` (table),
`access_by_lum` (table), `lum`, `lum_catchments`, `scenario_<category>_<method>_k<k>`,
`vulnerability_<name>` (table).
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from sttm import ANALYSIS_CRS

from .demand import demand_grid
from .engine import CategorySpec, NetworkCost, StraightLine, accessibility, aggregate
from .lum import build_lum, catchment_contents, lum_catchments, lum_table

SOURCE = "sttm services (STTM 2)"
LICENCE = "derivato dagli strati del sistema delle conoscenze (vedere le loro licenze)"
MISSING_IT = {
    "elderly": "anziani (65+) per comune: dato non disponibile nel sistema delle conoscenze",
    "foreigners": "stranieri residenti per comune: dato non disponibile",
    "network": "rete stradale/pedonale (estratto OSM): non fornita — tempi in linea d'aria × fattore di deviazione, APPROSSIMATI",
    "land_cover": "copertura del suolo (DUSAF): non disponibile — impermeabilizzazione non calcolata",
    "gtfs": "orari del trasporto pubblico (GTFS): non forniti — il trasporto pubblico non è modellato",
    "opportunity_areas": "layer `opportunity_areas` assente nel sistema delle conoscenze: aree di opportunità non conteggiate",
}


class ServicesRunError(RuntimeError):
    pass


def params() -> dict:
    with resources.files("sttm.services").joinpath("params/accessibility.toml").open("rb") as f:
        return tomllib.load(f)


def _slug(v) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(v).lower()).strip("_")


def category_key(category, subcategory) -> str:
    """`school` is split by level (subcategory); every other category is taken whole."""
    return f"school_{_slug(subcategory)}" if category == "school" and pd.notna(subcategory) else _slug(category)


def service_points(services: gpd.GeoDataFrame) -> pd.DataFrame:
    for col in ("service_id", "category", "geometry"):
        if col not in services.columns:
            raise ServicesRunError(f"layer services: column {col!r} missing")
    s = services[services.geometry.notna() & ~services.geometry.is_empty]
    sub = s["subcategory"] if "subcategory" in s.columns else pd.Series(None, index=s.index)
    pts = s.geometry.representative_point() if not (s.geom_type == "Point").all() else s.geometry
    return pd.DataFrame({
        "service_id": s["service_id"].to_numpy(), "category": s["category"].to_numpy(),
        "subcategory": sub.to_numpy(),
        "category_key": [category_key(c, sc) for c, sc in zip(s["category"], sub)],
        "name": s["name"].to_numpy() if "name" in s.columns else None,
        "capacity": pd.to_numeric(s["capacity"], errors="coerce").to_numpy(float) if "capacity" in s.columns else np.nan,
        "istat_code": s["istat_code"].to_numpy() if "istat_code" in s.columns else None,
        "x": pts.x.to_numpy(), "y": pts.y.to_numpy()})


def category_specs(keys, p: dict | None = None) -> list[CategorySpec]:
    p = p or params()
    cats = p["categories"]
    order = [k for k in cats if k != "default"]
    keys = sorted(set(keys), key=lambda k: (order.index(k) if k in order else len(order), k))
    out = []
    for k in keys:
        c = {**cats["default"], **cats.get(k, {})}
        label = c["label"] if k in cats else k.replace("_", " ").capitalize()
        out.append(CategorySpec(key=k, label=label, demand=c["demand"], supply=c["supply"], per=float(c["per"]),
                                catchment_min=float(c["catchment_min"]), note=c.get("note", ""),
                                coverage=tuple(c["coverage"]) if c.get("coverage") else None,
                                scale=c.get("scale", "locale")))
    return out


@dataclass
class AccessRun:
    cells: gpd.GeoDataFrame
    by_municipality: gpd.GeoDataFrame
    by_zone: pd.DataFrame
    categories: list[CategorySpec]
    meta: dict = field(default_factory=dict)


def _cost_model(network_path: str | Path | None, mode: str, p: dict):
    if network_path is None:
        return StraightLine(p["straight_line"]["detour_factor"]), None
    from .network import read_osm

    net = read_osm(network_path, mode=mode)
    return NetworkCost(net), net


def compute_access(municipalities: gpd.GeoDataFrame, services: gpd.GeoDataFrame, *, cell_size: float = 100.0,
                   mode: str = "walk", network=None, max_snap_m: float = 250.0,
                   weights: gpd.GeoDataFrame | None = None, weight_column: str | None = None,
                   transit=None, progress=None) -> AccessRun:
    """Demand grid + accessibility for every category in `services`. With a `network`, cells more
    than `max_snap_m` from it fall back to straight-line × detour (marked per cell). With `transit`
    (a :class:`~sttm.services.transit.TransitModel`, walking mode only) `t_<k>` becomes
    min(walk-only, public transport) over the departure window and `tw_<k>` keeps the walk-only time."""
    p = params()
    if mode not in p["modes"]:
        raise ServicesRunError(f"modo {mode!r} sconosciuto: usare {' | '.join(p['modes'])}")
    if transit is not None and mode != "walk":
        raise ServicesRunError("il trasporto pubblico (--gtfs) si combina solo con il modo walk (accesso a piedi alle fermate)")
    speed = p["modes"][mode]["speed_kmh"]
    thr = float(p["travel"]["threshold_min"])
    grid, gmeta = demand_grid(municipalities, cell_size, weights=weights, weight_column=weight_column)
    svc = service_points(services)
    cats = category_specs(svc["category_key"].unique(), p)
    sl = StraightLine(p["straight_line"]["detour_factor"])
    if network is None:
        acc = accessibility(grid, svc, sl, speed, cats, thr, progress=progress)
    else:
        _, snap = network.snap(grid["x"].to_numpy(), grid["y"].to_numpy())
        near = snap <= max_snap_m
        parts = []
        if near.any():
            parts.append(accessibility(grid[near], svc, NetworkCost(network), speed, cats, thr, progress=progress))
        if (~near).any():
            parts.append(accessibility(grid[~near], svc, sl, speed, cats, thr, progress=progress))
        acc = pd.concat(parts).loc[grid.index]
    transit_meta = None
    if transit is not None:
        acc, transit_meta = _add_transit(acc, grid, svc, cats, thr, transit, progress)
    cells = pd.concat([grid[["cell_id", "istat_code", "pop"] + [c for c in ("under12", "over65", "foreigners")
                                                                if c in grid]], acc], axis=1)
    cells = gpd.GeoDataFrame(cells, geometry=grid.geometry, crs=ANALYSIS_CRS)
    mun = municipalities.reset_index(drop=True)
    zone_of = dict(zip(mun["istat_code"], mun["zone"])) if "zone" in mun.columns else {}
    grid["zone"] = grid["istat_code"].map(zone_of)
    bym = aggregate(grid, acc, "istat_code", cats, thr)
    bym = mun[["istat_code", "name", "geometry"] + [c for c in ("zone", "role") if c in mun.columns]].merge(
        bym, on="istat_code", how="left")
    bym = gpd.GeoDataFrame(bym, geometry="geometry", crs=ANALYSIS_CRS)
    byz = aggregate(grid, acc, "zone", cats, thr) if grid["zone"].notna().any() else pd.DataFrame()
    approx_share = float(acc["approximate"].mean())
    notes = list(dict.fromkeys(acc.attrs.get("notes_it", []) + sum((p_.attrs.get("notes_it", []) for p_ in
                                                                     (parts if network is not None else [])), [])
                               + (transit_meta["notes_it"] if transit_meta else [])))
    meta = {**gmeta, "mode": mode, "speed_kmh": speed, "threshold_min": thr,
            "time_method": sorted(acc["time_method"].unique().tolist()),
            "approximate_share_of_cells": approx_share,
            "detour_factor": p["straight_line"]["detour_factor"],
            "categories": [asdict(c) for c in cats],
            "transit": transit_meta, "transit_it": transit_text(transit),
            "missing_it": ([MISSING_IT["gtfs"]] if transit is None else []) + ([MISSING_IT["network"]] if network is None else [])
            + [f"{g}: dato non disponibile" for g in gmeta["fragile_missing_it"]],
            "notes_it": notes,
            "zones_unassigned": int(mun["zone"].isna().sum()) if "zone" in mun.columns else None}
    return AccessRun(cells=cells, by_municipality=bym, by_zone=byz, categories=cats, meta=meta)


STAT_IT = {"median": "mediana", "mean": "media"}


def transit_text(transit) -> str:
    """The sentence every output carries about public transport."""
    if transit is None:
        return "trasporto pubblico: non modellato (nessun feed GTFS fornito)"
    return f"trasporto pubblico: incluso ({transit.describe_it()})"


def _add_transit(acc: pd.DataFrame, grid: pd.DataFrame, svc: pd.DataFrame, cats, thr: float, transit, progress):
    """t_<k> := min(walk-only, PT) (statistic over the departure window); tw_<k> := walk-only minutes;
    score_15 recomputed on the new times (a category counts as reached when t_<k> ≤ threshold)."""
    keys = [c.key for c in cats if (svc["category_key"] == c.key).any()]
    services = {k: (svc.loc[svc["category_key"] == k, "x"].to_numpy(float),
                    svc.loc[svc["category_key"] == k, "y"].to_numpy(float)) for k in keys}
    walk = {k: acc[f"t_{k}"].to_numpy(float) for k in keys}
    res = transit.cell_minutes(grid["x"].to_numpy(float), grid["y"].to_numpy(float), services, walk)
    acc = acc.copy()
    hits = []
    for c in cats:
        if c.key not in res.minutes:
            continue
        acc[f"tw_{c.key}"] = acc[f"t_{c.key}"]
        acc[f"t_{c.key}"] = res.minutes[c.key]
        t = res.minutes[c.key]
        hits.append(np.where(np.isnan(t), np.nan, (t <= thr).astype(float)))
        if progress:
            progress(c.key)
    if hits:
        h = np.vstack(hits)
        n_ev = np.isfinite(h).sum(axis=0)  # categories evaluated in each cell
        acc["score_15"] = np.where(n_ev > 0, np.nansum(h, axis=0) / np.maximum(n_ev, 1), np.nan)
    acc["time_method"] = acc["time_method"].astype(str) + "+" + res.meta["time_method"].split("+")[0]
    meta = {**res.meta, "pt_better_share": res.pt_better_share}
    meta["notes_it"] = meta["notes_it"] + [
        f"n_ e r_ (servizi entro 15 minuti, 2SFCA) restano a piedi; t_ e score_15 includono il trasporto pubblico "
        f"({STAT_IT.get(meta['statistic'], meta['statistic'])} sulle partenze {', '.join(meta['departures'])})"]
    return acc, meta


def _meta(title: str, description: str, extra: dict | None = None):
    from sttm.knowledge import LayerMeta

    return LayerMeta(title=title, description=description, source=SOURCE, licence=LICENCE,
                     vintage=pd.Timestamp.now("UTC").strftime("%Y-%m-%d"), extra=extra or {})


def write_layers(kb, items: list[tuple], loaded_by: str) -> list:
    """Write several result layers all or nothing: (name, data, meta, key) tuples, in ONE transaction."""
    return kb.write_layers(items, loaded_by=loaded_by)


def load_transit(gtfs_path, *, date=None, window: str | None = None, network=None):
    """Read and validate a GTFS feed and prepare it for `date` (YYYY-MM-DD or date; default the busiest
    weekday) and `window` ('HH:MM-HH:MM'; default params/transit.toml). Walk legs use `network` if given."""
    import datetime as dt

    from .gtfs import read_gtfs
    from .transit import TransitModel, parse_window, transit_params

    tp = transit_params()
    if isinstance(date, str) and date:
        try:
            date = dt.date.fromisoformat(date)
        except ValueError:
            raise ServicesRunError(f"--gtfs-date {date!r}: usare AAAA-MM-GG") from None
    try:
        win = parse_window(window or tp["departure"]["window"])
    except ValueError as exc:
        raise ServicesRunError(str(exc)) from None
    feed = read_gtfs(gtfs_path)
    if date:
        lo, hi = feed.date_range()
        if not lo <= date <= hi:
            raise ServicesRunError(f"--gtfs-date {date}: fuori dal periodo del feed ({lo} – {hi})")
    walk_cost = NetworkCost(network) if network is not None else None
    try:
        return TransitModel(feed, date=date or None, window=win, walk_cost=walk_cost, p=tp)
    except ValueError as exc:
        raise ServicesRunError(str(exc)) from None


def run_access(kb, *, cell_size: float = 100.0, network_path=None, mode: str = "walk",
               weights_path=None, weight_column=None, gtfs_path=None, gtfs_date=None, gtfs_window=None,
               progress=None, loaded_by="sttm access run") -> AccessRun:
    p = params()
    mun = kb.read_layer("municipalities")
    services = kb.read_layer("services")
    _, net = _cost_model(network_path, mode, p)
    weights = gpd.read_file(weights_path) if weights_path else None
    if gtfs_path is not None and mode != "walk":
        raise ServicesRunError("il trasporto pubblico (--gtfs) si combina solo con il modo walk (accesso a piedi alle fermate)")
    transit = load_transit(gtfs_path, date=gtfs_date, window=gtfs_window, network=net) if gtfs_path else None
    run = compute_access(mun, services, cell_size=cell_size, mode=mode, network=net, weights=weights,
                         weight_column=weight_column, transit=transit, progress=progress)
    sl_txt = "APPROSSIMATI (linea d'aria × %.2f)" % p["straight_line"]["detour_factor"]
    share = run.meta["approximate_share_of_cells"]
    approx = sl_txt if net is None else (f"su rete {mode} ({network_path})" + (
        f" per il {1 - share:.0%} delle celle; altrove (oltre 250 m dalla rete) {sl_txt}" if share > 0 else ""))
    approx += "; " + run.meta["transit_it"]
    extra = {k: v for k, v in run.meta.items() if k != "categories"}
    grid_cols = ["cell_id", "istat_code", "pop"] + [c for c in ("under12", "over65", "foreigners") if c in run.cells]
    dg = run.cells[grid_cols + ["geometry"]].copy()
    dg["method"] = run.meta["method"]
    items = [
        ("demand_grid", dg, _meta(
            f"Domanda: popolazione su griglia {int(cell_size)} m",
            f"Residenti ANPR 2025 e gruppi fragili distribuiti su celle di {int(cell_size)} m, metodo "
            f"{run.meta['method']}. Mancano: {', '.join(run.meta['fragile_missing_it']) or 'nessuno'}.", extra), "cell_id"),
        ("access_cells", run.cells.drop(columns=[c for c in grid_cols if c != "cell_id"]), _meta(
            "Accessibilità ai servizi per cella (15 minuti)",
            f"t_<cat> minuti al servizio più vicino, n_<cat> servizi entro 15 minuti, r_<cat> rapporto offerta/domanda "
            f"2SFCA, score_15 quota di categorie raggiunte. Tempi {approx}.", extra), "cell_id"),
        ("access_by_municipality", run.by_municipality, _meta(
            "Accessibilità ai servizi per comune", f"Medie pesate sulla popolazione delle celle. Tempi {approx}.", extra),
         "istat_code"),
    ]
    if len(run.by_zone):
        items.append(("access_by_zone", run.by_zone, _meta(
            "Accessibilità ai servizi per zona omogenea",
            f"Solo le zone con appartenenza nota ({run.meta['zones_unassigned']} comuni senza zona). Tempi {approx}.",
            extra), "zone"))
    if kb.has_layer("lum") and kb.has_layer("lum_catchments"):
        byl = access_by_lum(kb.read_layer("lum_catchments"), run)
        if len(byl):
            items.append(("access_by_lum", byl, _meta("Accessibilità ai servizi per LUM (raggio 500 m)",
                          f"Celle con centro entro 500 m dalle fermate del LUM. Tempi {approx}.", extra), "lum_id"))
    write_layers(kb, items, loaded_by)
    return run


def access_by_lum(catchments: gpd.GeoDataFrame, run: AccessRun, kind: str = "r500") -> pd.DataFrame:
    return lum_access_summary(catchments, run.cells, run.categories, kind)


def lum_access_summary(catchments: gpd.GeoDataFrame, cells: gpd.GeoDataFrame, categories: list[CategorySpec],
                       kind: str = "r500") -> pd.DataFrame:
    """Accessibility of the residents around each LUM (cells whose centre is inside its `kind` perimeter)."""
    c = catchments[catchments["kind"] == kind]
    if c.empty:
        return pd.DataFrame()
    cx = shapely.centroid(cells.geometry.values)
    ci, li = shapely.STRtree(c.geometry.values).query(cx, predicate="within")
    acc_cols = [col for col in cells.columns if re.match(r"^(t|n|r)_", col)] + ["score_15"]
    sub_cells = pd.DataFrame({"lum_id": c["lum_id"].to_numpy()[li], "pop": cells["pop"].to_numpy()[ci]})
    if "under12" in cells:
        sub_cells["under12"] = cells["under12"].to_numpy()[ci]
    sub_acc = cells[acc_cols].iloc[ci].reset_index(drop=True)
    return aggregate(sub_cells, sub_acc, "lum_id", categories)


def lum_transit_catchments(lum: gpd.GeoDataFrame, grid: gpd.GeoDataFrame, transit, threshold_min: float,
                           walk_speed_kmh: float) -> gpd.GeoDataFrame:
    """`pt15` perimeter per LUM: the union of the grid cells from which one of its stations is reached
    within `threshold_min` by walking or walk + public transport (statistic over the departure window)."""
    cx, cy = grid["x"].to_numpy(float), grid["y"].to_numpy(float)
    m_per_min = walk_speed_kmh * 1000 / 60
    targets, walk = {}, {}
    for rec in lum.itertuples():
        pts = shapely.get_coordinates(rec.geometry)
        targets[rec.lum_id] = (pts[:, 0], pts[:, 1])
        walk[rec.lum_id] = transit.walk_cost.nearest(cx, cy, pts[:, 0], pts[:, 1]) / m_per_min
    res = transit.cell_minutes(cx, cy, targets, walk)
    rows = []
    for lum_id, t in res.minutes.items():
        inside = np.flatnonzero(t <= threshold_min)
        if len(inside):
            rows.append({"catchment_id": f"{lum_id}_pt15", "lum_id": lum_id, "kind": "pt15",
                         "geometry": shapely.coverage_union_all(grid.geometry.values[inside])})
    return gpd.GeoDataFrame(rows, columns=["catchment_id", "lum_id", "kind", "geometry"], geometry="geometry",
                            crs=ANALYSIS_CRS)


def run_lum(kb, *, network_path=None, cluster_m: float = 300.0, overrides_path=None, gtfs_path=None, gtfs_date=None,
            gtfs_window=None, loaded_by="sttm lum build"):
    """Build the LUM, their perimeters and contents; write `lum` and `lum_catchments`. With a GTFS feed,
    a `pt15` perimeter (walk or walk + public transport within 15 minutes) is added."""
    p = params()
    stations = kb.read_layer("stations")
    mun = kb.read_layer("municipalities")
    overrides = pd.read_csv(overrides_path, dtype=str) if overrides_path else None
    lum = build_lum(stations, mun, cluster_m=cluster_m, overrides=overrides)
    net = None
    walk_m = None
    if network_path:
        from .network import read_osm

        net = read_osm(network_path, mode="walk")
        walk_m = p["travel"]["threshold_min"] * p["modes"]["walk"]["speed_kmh"] * 1000 / 60
    cat = lum_catchments(lum, network=net, walk_m=walk_m)
    if kb.has_layer("demand_grid"):
        grid = kb.read_layer("demand_grid")
        c = shapely.get_coordinates(shapely.centroid(grid.geometry.values))
        grid["x"], grid["y"] = c[:, 0], c[:, 1]
    else:
        grid, _ = demand_grid(mun, 100.0)
    transit = None
    if gtfs_path is not None:
        transit = load_transit(gtfs_path, date=gtfs_date, window=gtfs_window, network=net)
        cat = pd.concat([cat, lum_transit_catchments(lum, grid, transit, float(p["travel"]["threshold_min"]),
                                                     p["modes"]["walk"]["speed_kmh"])], ignore_index=True)
    svc = service_points(kb.read_layer("services"))
    opp = kb.read_layer("opportunity_areas") if kb.has_layer("opportunity_areas") else None
    if opp is not None and (opp.crs is None or opp.crs.to_epsg() != 32632):
        opp = opp.to_crs(ANALYSIS_CRS)
    keys = [s.key for s in category_specs(svc["category_key"].unique(), p)]
    con = catchment_contents(cat, grid, svc, opp, keys)
    table = lum_table(lum, cat, con)
    notes = [] if opp is not None else [MISSING_IT["opportunity_areas"]]
    if net is None:
        notes.append("bacino pedonale di 15 minuti non calcolato: nessuna rete pedonale fornita (solo raggi 200/500 m)")
    else:
        n_walk = int((cat["kind"] == "walk15").sum())
        if n_walk < len(lum):
            notes.append(f"bacino pedonale di 15 minuti calcolato per {n_walk} LUM su {len(lum)}: per gli altri la rete "
                         "fornita non raggiunge le fermate")
    if transit is not None:
        n_pt = int((cat["kind"] == "pt15").sum())
        notes.append(f"bacino di 15 minuti a piedi + trasporto pubblico (pt15) per {n_pt} LUM su {len(lum)}; "
                     + transit_text(transit))
    else:
        notes.append(transit_text(None) + ": nessun bacino pt15")
    extra = {"notes_it": notes, "cluster_m": cluster_m, "network": str(network_path) if network_path else None,
             "transit_it": transit_text(transit)}
    items = [
        ("lum", table, _meta(
            "LUM — Luoghi Urbani per la Mobilità",
            "Fermate ferroviarie e metropolitane fuori dal Comune di Milano raggruppate entro "
            f"{int(cluster_m)} m; livello secondo la regola in params/lum_levels.csv. " + " ".join(notes), extra), "lum_id"),
        ("lum_catchments", cat.merge(con, on="catchment_id"), _meta(
            "Perimetri dei LUM (200 m, 500 m, 15 minuti a piedi, 15 minuti con il trasporto pubblico)", " ".join(notes),
            extra), "catchment_id"),
    ]
    if kb.has_layer("access_cells") and kb.has_layer("demand_grid"):
        cells = grid[[c for c in grid.columns if c not in ("x", "y", "method")]].merge(
            pd.DataFrame(kb.read_layer("access_cells").drop(columns="geometry")), on="cell_id")
        cells = gpd.GeoDataFrame(cells, geometry="geometry", crs=ANALYSIS_CRS)
        byl = lum_access_summary(cat, cells, category_specs(svc["category_key"].unique(), p))
        if len(byl):
            items.append(("access_by_lum", byl, _meta(
                "Accessibilità ai servizi per LUM (raggio 500 m)",
                "Celle con centro entro 500 m dalle fermate del LUM; da `sttm access run` più recente.", extra), "lum_id"))
    write_layers(kb, items, loaded_by)
    return table, cat, notes


def scenario_inputs(kb, category: str, candidates: str = "auto", prefer_lum: bool = True):
    """Candidate sites: centroids of `opportunity_areas` (those inside a LUM 500 m perimeter first),
    or, when that layer is absent or `candidates='lum'`, the LUM stations themselves."""
    notes = []
    lum = kb.read_layer("lum") if kb.has_layer("lum") else None
    cat500 = None
    if kb.has_layer("lum_catchments"):
        lc = kb.read_layer("lum_catchments")
        cat500 = lc[lc["kind"] == "r500"]
    if candidates in ("auto", "opportunity") and kb.has_layer("opportunity_areas"):
        opp = kb.read_layer("opportunity_areas")
        if opp.crs is None or opp.crs.to_epsg() != 32632:
            opp = opp.to_crs(ANALYSIS_CRS)
        key = next((c for c in ("area_id", "opportunity_id", "id") if c in opp.columns), None)
        cand = gpd.GeoDataFrame({"site_id": opp[key].astype(str) if key else opp.index.astype(str),
                                 "label": opp["name"] if "name" in opp.columns else None},
                                geometry=opp.geometry.representative_point(), crs=ANALYSIS_CRS)
        src = "opportunity_areas"
    else:
        if candidates == "opportunity":
            raise ServicesRunError(MISSING_IT["opportunity_areas"])
        if lum is None:
            raise ServicesRunError("nessun candidato: mancano sia `opportunity_areas` sia `lum` (eseguire `sttm lum build`)")
        notes.append(MISSING_IT["opportunity_areas"] + " — candidati: le fermate dei LUM")
        cand = gpd.GeoDataFrame({"site_id": lum["lum_id"], "label": lum["name"]},
                                geometry=lum.geometry.centroid, crs=ANALYSIS_CRS)
        src = "lum"
    in_lum = np.zeros(len(cand), dtype=bool)
    if cat500 is not None and len(cat500):
        ci, _ = shapely.STRtree(cat500.geometry.values).query(cand.geometry.values, predicate="within")
        in_lum[np.unique(ci)] = True
    cand["in_lum"] = in_lum
    mun = kb.read_layer("municipalities")
    mi, ki = shapely.STRtree(mun.geometry.values).query(cand.geometry.values, predicate="within")
    cand["istat_code"] = None
    cand.loc[cand.index[mi], "istat_code"] = mun["istat_code"].to_numpy()[ki]
    return cand, src, notes


def run_location_scenario(kb, category: str, k: int, *, method: str = "mclp", radius_min: float | None = None,
                          candidates: str = "auto", prefer_lum: bool = True, solver: str = "highs",
                          demand_cell_m: float = 500.0, loaded_by="sttm scenario run"):
    """MCLP or p-median for `category` (a category key, e.g. `pharmacy`, `school_primaria`)."""
    from .scenario import run_scenario

    p = params()
    speed = p["modes"]["walk"]["speed_kmh"] * 1000 / 60
    radius_m = (radius_min or p["travel"]["threshold_min"]) * speed
    detour = p["straight_line"]["detour_factor"]
    svc = service_points(kb.read_layer("services"))
    keys = set(svc["category_key"])
    if category not in keys:
        raise ServicesRunError(f"categoria {category!r} assente nel layer services (presenti: {', '.join(sorted(keys))})")
    cand, src, notes = scenario_inputs(kb, category, candidates, prefer_lum)
    if prefer_lum and cand["in_lum"].sum() >= k:
        pool = cand[cand["in_lum"]].reset_index(drop=True)
        notes.append(f"candidati limitati ai {len(pool)} interni a un LUM (raggio 500 m)")
    else:
        pool = cand.reset_index(drop=True)
        if prefer_lum:
            notes.append("meno candidati nei LUM che siti richiesti: usati tutti i candidati")
    spec = category_specs([category], p)[0]
    grid = kb.read_layer("demand_grid") if kb.has_layer("demand_grid") else demand_grid(kb.read_layer("municipalities"), 100.0)[0]
    c = shapely.get_coordinates(shapely.centroid(grid.geometry.values))
    dem_col = spec.demand if spec.demand in grid.columns else "pop"
    # coarser demand points for the MIP: population-weighted centroids of `demand_cell_m` blocks
    bx = np.floor(c[:, 0] / demand_cell_m).astype(np.int64)
    by = np.floor(c[:, 1] / demand_cell_m).astype(np.int64)
    w = grid[dem_col].to_numpy(float)
    blocks = pd.DataFrame({"bx": bx, "by": by, "w": w, "wx": w * c[:, 0], "wy": w * c[:, 1]}).groupby(["bx", "by"]).sum()
    blocks = blocks[blocks["w"] > 0]
    dx, dy = (blocks["wx"] / blocks["w"]).to_numpy(), (blocks["wy"] / blocks["w"]).to_numpy()
    sl = StraightLine(detour)
    ex = svc[svc["category_key"] == category]
    d_ex = sl.nearest(dx, dy, ex["x"].to_numpy(), ex["y"].to_numpy())
    px, py = pool.geometry.x.to_numpy(), pool.geometry.y.to_numpy()
    D = np.hypot(dx[:, None] - px[None, :], dy[:, None] - py[None, :]) * detour
    res = run_scenario(d_ex, D, blocks["w"].to_numpy(), k, radius_m, method=method, solver=solver)
    chosen = pool.iloc[res.chosen].copy()
    chosen["scenario_rank"] = range(1, len(chosen) + 1)
    newly = []
    for j in res.chosen:
        m = (D[:, j] <= radius_m) & (d_ex > radius_m)
        newly.append(float(blocks["w"].to_numpy()[m].sum()))
    chosen["demand_newly_within_radius"] = newly
    summary = {"category": category, "method": method, "solver": solver, "k": k, "radius_m": radius_m,
               "candidates_source": src, "n_candidates": len(pool), "demand_column": dem_col,
               "covered_before": res.covered_before, "covered_after": res.covered_after,
               "total_demand": res.total_demand, "mean_dist_before_m": res.mean_dist_before,
               "mean_dist_after_m": res.mean_dist_after, "notes_it": notes + res.notes +
               [f"distanze in linea d'aria × {detour:.2f} (APPROSSIMATE)"]}
    for kk, v in summary.items():
        if kk != "notes_it":
            chosen[kk] = v
    name = f"scenario_{_slug(category)}_{method}_k{k}"
    kb.write_layer(name, chosen, _meta(
        f"Scenario localizzativo {spec.label}: {method.upper()} k={k}",
        f"Copertura entro {radius_m:.0f} m: prima {res.covered_before:,.0f}, dopo {res.covered_after:,.0f} "
        f"su {res.total_demand:,.0f}. " + " ".join(summary["notes_it"]), {"summary": summary}),
        key="site_id", loaded_by=loaded_by)
    return name, chosen, summary


def run_vulnerability(kb, sites_layer: str, *, loaded_by="sttm scenario rank"):
    """Rank the sites of a layer (e.g. a scenario layer or `opportunity_areas`) by the vulnerability
    indicators; writes `vulnerability_<sites_layer>`."""
    from .vulnerability import rank_proposals, site_indicators

    sites = kb.read_layer(sites_layer)
    if "site_id" not in sites.columns:
        key = kb.catalog_entry(sites_layer).get("key_field")
        sites = sites.rename(columns={key: "site_id"})
    sites = sites.to_crs(ANALYSIS_CRS)
    mun = kb.read_layer("municipalities")
    if "istat_code" not in sites.columns or sites["istat_code"].isna().any():
        mi, ki = shapely.STRtree(mun.geometry.values).query(shapely.centroid(sites.geometry.values), predicate="within")
        sites["istat_code"] = None
        sites.loc[sites.index[mi], "istat_code"] = mun["istat_code"].to_numpy()[ki]
    grid = kb.read_layer("demand_grid")
    c = shapely.get_coordinates(shapely.centroid(grid.geometry.values))
    grid["x"], grid["y"] = c[:, 0], c[:, 1]
    score = None
    if kb.has_layer("access_cells"):
        ac = kb.read_layer("access_cells")[["cell_id", "score_15"]]
        score = grid[["cell_id"]].merge(ac, on="cell_id", how="left")["score_15"]
    hazard = kb.read_layer("hazard") if kb.has_layer("hazard") else None
    if hazard is not None and "pop" not in hazard.columns and "pop_ispra_2020" in hazard.columns:
        hazard = hazard.rename(columns={"pop_ispra_2020": "pop"})
    ind = site_indicators(sites, grid, hazard, mun, acc_score=score)
    ranked, skipped = rank_proposals(ind)
    name = f"vulnerability_{_slug(sites_layer)}"[:60]
    kb.write_layer(name, pd.DataFrame(ranked), _meta(
        f"Indicatori di vulnerabilità — {sites_layer}",
        "Indicatori normalizzati (min–max) e pesati secondo params/vulnerability_weights.csv. Non calcolati: "
        + (", ".join(skipped) or "nessuno"), {"skipped": skipped}), key="site_id", loaded_by=loaded_by)
    return name, ranked, skipped
