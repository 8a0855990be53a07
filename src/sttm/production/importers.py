"""Import productive areas from the user's sources into one taxonomy.

Sources (each in its standard format):

- PGT productive zones: any vector file (GeoPackage, GeoJSON, zipped shapefile) with a zoning
  class field, mapped through ``data/source_classes.csv`` (source ``pgt``) or a user mapping.
- DUSAF land cover (Regione Lombardia): vector file with the class code field (``COD_TOT``);
  12111/1211 -> productive, 133/134 -> brownfields, 11x -> residential (sensitive use).
- OpenStreetMap extract (``.osm``/``.osm.pbf``) read with pyosmium: landuse=industrial (+
  ``industrial=*``), landuse=railway+railway=yard, building=warehouse/industrial, landuse=brownfield,
  landuse=residential; the primary road network and motorway junctions (see
  :func:`read_osm_network`).
- Firms CSV: ``firm_id``, ``ateco``, optional ``employees``, ``craft``, ``name``, and either
  ``lon``/``lat`` (WGS 84) or ``x``/``y`` with an explicit CRS.

Every function returns GeoDataFrames in EPSG:32632 and raises :class:`ProductionInputError`
naming file, field and rows on bad input.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from ..errors import InputError
from ..opendata import loaders
from . import params
from .errors import ProductionInputError

CRS = "EPSG:32632"
AREA_COLUMNS = ["area_id", "source", "source_id", "source_class", "category", "name", "geometry"]
SOURCE_PRIORITY = {"pgt": 0, "osm": 1, "dusaf": 2, "user": 3}


# ---------------------------------------------------------------------------------- reading
def read_vector(path: str | Path, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a user vector file and return it in EPSG:32632; refuse data without a CRS."""
    try:  # the project's reader: GeoJSON is WGS84 by definition, any other format must declare its CRS
        gdf = loaders.read_vector(Path(path), layer=layer)
    except InputError as exc:
        what = ("il layer non dichiara un sistema di riferimento (CRS): indicarlo nel file (es. .prj o "
                "GeoPackage) - nessuna ipotesi viene fatta") if "reference system" in exc.problem else \
            f"impossibile leggere il file: {exc.problem}"
        raise ProductionInputError(what, source=str(path)) from exc
    return to_analysis_crs(gdf, str(path))


def to_analysis_crs(gdf: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise ProductionInputError(
            "il layer non dichiara un sistema di riferimento (CRS): indicarlo nel file "
            "(es. .prj o GeoPackage) - nessuna ipotesi viene fatta", source=source)
    gdf = gdf.to_crs(CRS)
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.any():
        raise ProductionInputError("geometrie mancanti o vuote", source=source, field="geometry",
                                   rows=[int(i) for i in np.flatnonzero(empty.to_numpy())])
    invalid = ~gdf.geometry.is_valid
    if invalid.any():
        gdf = gdf.copy()
        gdf.loc[invalid, "geometry"] = shapely.make_valid(gdf.geometry[invalid].to_numpy())
    return gdf


def _polygons_only(gdf: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    geoms = gdf.geometry.to_numpy()
    kinds = shapely.get_type_id(geoms)
    collections = kinds == 7
    if collections.any():
        geoms = geoms.copy()
        for i in np.flatnonzero(collections):
            parts = [g for g in shapely.get_parts(geoms[i]) if g.geom_type in ("Polygon", "MultiPolygon")]
            geoms[i] = shapely.union_all(parts) if parts else None
        kinds = np.array([-1 if g is None else shapely.get_type_id(g) for g in geoms])
    bad = ~np.isin(kinds, [3, 6])
    if bad.any():
        raise ProductionInputError("le aree produttive devono essere poligoni", source=source,
                                   field="geometry", rows=[int(i) for i in np.flatnonzero(bad)])
    out = gdf.copy()
    out["geometry"] = geoms
    return out.set_geometry("geometry", crs=CRS)


# ---------------------------------------------------------------------------------- class maps
def class_map(source: str, user_map: str | Path | None = None) -> dict[str, tuple[str, bool]]:
    """source_class (lower case) -> (category, productive) for one source."""
    t = params.table("source_classes", user_map) if user_map else params.table("source_classes")
    t = t[t["source"].str.lower() == source]
    return {str(k).strip().lower(): (c, str(p).lower() == "true")
            for k, c, p in zip(t["source_class"], t["category"], t["productive"])}


def _check_categories(cats, source: str, rows) -> None:
    known = set(params.categories()) | {"brownfield"}
    bad = [r for r, c in zip(rows, cats) if c not in known]
    if bad:
        raise ProductionInputError("categoria non presente nella tassonomia "
                                   f"(ammesse: {sorted(known)})", source=source, field="category", rows=bad)


def _load(path_or_gdf, layer, label: str, class_field: str):
    """(source name, GeoDataFrame in EPSG:32632) from a path or a GeoDataFrame; check the class field."""
    if isinstance(path_or_gdf, gpd.GeoDataFrame):
        src = f"{label} (GeoDataFrame)"
        gdf = to_analysis_crs(path_or_gdf, src)
    else:
        src, gdf = str(path_or_gdf), read_vector(path_or_gdf, layer)
    if class_field not in gdf.columns:
        raise ProductionInputError(f"campo della classe assente (campi presenti: {list(gdf.columns)})",
                                   source=src, field=class_field)
    return src, gdf


# ---------------------------------------------------------------------------------- PGT
def import_pgt(path_or_gdf, class_field: str, *, id_field: str | None = None, name_field: str | None = None,
               layer: str | None = None, user_map: str | Path | None = None) -> gpd.GeoDataFrame:
    """PGT productive zones -> areas in the taxonomy. Unknown zoning classes are an error."""
    src, gdf = _load(path_or_gdf, layer, "pgt", class_field)
    cmap = class_map("pgt", user_map)
    raw = gdf[class_field].astype("string").fillna("").str.strip()
    keys = raw.str.lower()
    unknown = ~keys.isin(list(cmap))
    if unknown.any():
        vals = sorted(set(raw[unknown]))
        raise ProductionInputError(
            f"classi di zona PGT sconosciute {vals}: aggiungerle a una tabella di corrispondenza "
            "(--class-map, colonne source,source_class,category,productive)",
            source=src, field=class_field, rows=[int(i) for i in np.flatnonzero(unknown.to_numpy())])
    gdf = _polygons_only(gdf, src)
    out = gpd.GeoDataFrame({
        "source": "pgt",
        "source_id": _ids(gdf, id_field, src),
        "source_class": raw.to_numpy(),
        "category": [cmap[k][0] for k in keys],
        "name": gdf[name_field].astype(str).to_numpy() if name_field else None,
    }, geometry=gdf.geometry.to_numpy(), crs=CRS)
    return _finish(out, src)


def _ids(gdf, id_field, src):
    if id_field:
        if id_field not in gdf.columns:
            raise ProductionInputError("campo identificativo assente", source=src, field=id_field)
        ids = gdf[id_field].astype(str)
        dup = ids.duplicated(keep=False)
        if dup.any():
            raise ProductionInputError("identificativi duplicati", source=src, field=id_field,
                                       rows=[int(i) for i in np.flatnonzero(dup.to_numpy())])
        return ids.to_numpy()
    return np.array([str(i + 1) for i in range(len(gdf))])


def _finish(out: gpd.GeoDataFrame, src: str, warnings: list | None = None) -> gpd.GeoDataFrame:
    out["area_id"] = out["source"] + ":" + out["source_id"].astype(str)
    _check_categories(out["category"], src, list(range(len(out))))
    if warnings is None:
        check_duplicates(out, src)
    else:   # crowd-sourced data (OSM): drop the duplicate and say so, do not stop the import
        out, w = check_duplicates(out, src, drop=True)
        warnings.extend(w)
    return out[AREA_COLUMNS]


# ---------------------------------------------------------------------------------- DUSAF
@dataclass
class DusafLayers:
    productive: gpd.GeoDataFrame
    brownfields: gpd.GeoDataFrame
    residential: gpd.GeoDataFrame
    ignored_codes: dict = field(default_factory=dict)


def import_dusaf(path_or_gdf, *, code_field: str = "COD_TOT", layer: str | None = None,
                 user_map: str | Path | None = None) -> DusafLayers:
    """DUSAF land cover -> productive areas, brownfields and residential (sensitive) polygons."""
    src, gdf = _load(path_or_gdf, layer, "dusaf", code_field)
    codes = gdf[code_field].astype("string").fillna("").str.strip().str.replace(r"\.0$", "", regex=True)
    bad = ~codes.str.fullmatch(r"[1-5]\d{0,4}")
    if bad.any():
        raise ProductionInputError("codici DUSAF non validi (attesi codici numerici della legenda DUSAF, "
                                   "es. 12111)", source=src, field=code_field,
                                   rows=[int(i) for i in np.flatnonzero(bad.to_numpy())])
    gdf = _polygons_only(gdf, src)
    cmap = class_map("dusaf", user_map)
    cats = [cmap.get(c, (None, False)) for c in codes]
    is_prod = np.array([c[1] for c in cats])
    is_brown = np.array([c[0] == "brownfield" for c in cats])
    is_res = codes.str.startswith("11").to_numpy()
    ids = np.array([str(i + 1) for i in range(len(gdf))])

    def pick(mask):
        return gpd.GeoDataFrame({
            "source": "dusaf", "source_id": ids[mask], "source_class": codes.to_numpy()[mask],
            "category": [c[0] for c, m in zip(cats, mask) if m], "name": None,
        }, geometry=gdf.geometry.to_numpy()[mask], crs=CRS)

    prod = _finish(pick(is_prod), src)
    brown = pick(is_brown)
    res = gpd.GeoDataFrame({"source": "dusaf", "source_class": codes.to_numpy()[is_res]},
                           geometry=gdf.geometry.to_numpy()[is_res], crs=CRS)
    ignored = codes[~(is_prod | is_brown | is_res)].value_counts().to_dict()
    return DusafLayers(prod, brown[["source", "source_id", "source_class", "geometry"]], res, ignored)


# ---------------------------------------------------------------------------------- OSM
@dataclass
class OsmLayers:
    productive: gpd.GeoDataFrame
    brownfields: gpd.GeoDataFrame
    residential: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    junctions: gpd.GeoDataFrame
    warnings: list = field(default_factory=list)


PRIMARY_HIGHWAYS = ("motorway", "trunk", "primary", "motorway_link", "trunk_link")


def read_osm(path: str | Path) -> OsmLayers:
    """Read an ``.osm``/``.osm.pbf`` extract with pyosmium (areas assembled by libosmium)."""
    import osmium

    path = Path(path)
    if not path.exists():
        raise ProductionInputError("file OSM non trovato", source=str(path))
    wkb = osmium.geom.WKBFactory()
    areas, brown, resid, roads, junctions = [], [], [], [], []
    warnings: list[str] = []
    try:
        # only tagged objects of interest reach Python (areas are still assembled from all ways)
        fp = osmium.FileProcessor(str(path)).with_locations().with_areas() \
            .with_filter(osmium.filter.KeyFilter("landuse", "building", "highway"))
        for obj in fp:
            tags = obj.tags
            if isinstance(obj, osmium.osm.Node):
                if tags.get("highway") == "motorway_junction":
                    junctions.append({"osm_id": f"n{obj.id}", "name": tags.get("name"), "ref": tags.get("ref"),
                                      "geometry": shapely.Point(obj.location.lon, obj.location.lat)})
            elif isinstance(obj, osmium.osm.Way):
                hw = tags.get("highway")
                if hw in PRIMARY_HIGHWAYS:
                    try:
                        g = shapely.from_wkb(wkb.create_linestring(obj))
                    except Exception:  # incomplete way (missing nodes in an extract)
                        warnings.append(f"way {obj.id}: nodi mancanti, strada ignorata")
                        continue
                    roads.append({"osm_id": f"w{obj.id}", "highway": hw, "ref": tags.get("ref"),
                                  "geometry": g})
            elif isinstance(obj, osmium.osm.Area):
                klass = _osm_area_class(tags)
                if klass is None:
                    continue
                try:
                    g = shapely.from_wkb(wkb.create_multipolygon(obj))
                except Exception:
                    warnings.append(f"area {obj.orig_id()}: geometria non costruibile, ignorata")
                    continue
                oid = ("w" if obj.from_way() else "r") + str(obj.orig_id())
                rec = {"source_id": oid, "source_class": klass, "name": tags.get("name"), "geometry": g}
                if klass == "landuse=brownfield":
                    brown.append(rec)
                elif klass == "landuse=residential":
                    resid.append(rec)
                else:
                    areas.append(rec)
    except RuntimeError as exc:
        raise ProductionInputError(f"file OSM illeggibile: {exc}", source=str(path)) from exc

    def gdf(rows, cols):
        if not rows:
            return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs="EPSG:4326").to_crs(CRS)
        return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").to_crs(CRS)

    prod = gdf(areas, ["source_id", "source_class", "name"])
    prod = _osm_productive(prod, str(path), warnings)
    b = gdf(brown, ["source_id", "source_class", "name"])
    b["source"] = "osm"
    r = gdf(resid, ["source_id", "source_class", "name"])
    r["source"] = "osm"
    return OsmLayers(prod, b, r, gdf(roads, ["osm_id", "highway", "ref"]),
                     gdf(junctions, ["osm_id", "name", "ref"]), warnings)


def _osm_area_class(tags) -> str | None:
    landuse, building = tags.get("landuse"), tags.get("building")
    if landuse == "industrial":
        sub = tags.get("industrial")
        return f"industrial={sub}" if sub else "landuse=industrial"
    if landuse == "railway" and tags.get("railway") == "yard":
        return "railway=yard"
    if building in ("warehouse", "industrial", "manufacture"):
        return f"building={building}"
    if landuse in ("brownfield", "residential"):
        return f"landuse={landuse}"
    return None


def _osm_productive(prod: gpd.GeoDataFrame, src: str, warnings: list) -> gpd.GeoDataFrame:
    """Map OSM classes; buildings inside a landuse area refine it instead of being areas."""
    cmap = class_map("osm")
    prod = prod.copy()
    prod["source"] = "osm"
    known = prod["source_class"].str.lower().isin(list(cmap))
    # unknown industrial=* subtags fall back to the generic landuse=industrial class
    fallback = ~known & prod["source_class"].str.startswith("industrial=")
    cats = [cmap.get(c.lower(), cmap.get("landuse=industrial") if fb else (None, False))[0]
            for c, fb in zip(prod["source_class"], fallback)]
    prod["category"] = cats
    is_building = prod["source_class"].str.startswith("building=").to_numpy()
    last_mile = params.scalar("last_mile_max_m2")
    small_wh = (prod["source_class"] == "building=warehouse") & (prod.area < last_mile)
    prod.loc[small_wh, "category"] = "last_mile_hub"
    lu = prod[~is_building]
    bl = prod[is_building]
    if len(lu) and len(bl):
        tree = STRtree(lu.geometry.to_numpy())
        bi, li = tree.query(bl.geometry.to_numpy(), predicate="intersects")
        inter = shapely.area(shapely.intersection(bl.geometry.to_numpy()[bi], lu.geometry.to_numpy()[li]))
        inside = inter / bl.area.to_numpy()[bi] > 0.5
        bi, li, inter = bi[inside], li[inside], inter[inside]
        contained = np.zeros(len(bl), bool)
        contained[bi] = True
        generic = lu["source_class"].to_numpy() == "landuse=industrial"
        # refine generic landuse polygons with the footprint-dominant building category
        df = pd.DataFrame({"li": li, "cat": bl["category"].to_numpy()[bi], "a": inter})
        if len(df):
            dom = df.groupby(["li", "cat"])["a"].sum().reset_index().sort_values("a").groupby("li").last()
            lcats = lu["category"].to_numpy().copy()
            for i, row in dom.iterrows():
                if generic[i] and row["cat"] != "last_mile_hub":
                    lcats[i] = row["cat"]
            lu = lu.copy()
            lu["category"] = lcats
        prod = pd.concat([lu, bl[~contained]])
    prod = gpd.GeoDataFrame(prod, geometry="geometry", crs=CRS)
    prod = _polygons_only(prod.reset_index(drop=True), src)
    return _finish(prod, src, warnings)


def read_osm_network(path: str | Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Primary roads (motorway/trunk/primary) and motorway_junction nodes from an OSM extract."""
    o = read_osm(path)
    return o.roads, o.junctions


# ---------------------------------------------------------------------------------- firms
ATECO_RE = re.compile(r"^([A-Ua-u]|\d{2}(\.\d{1,2}){0,2})$")


def ateco_category(code: str) -> str | None:
    """ATECO 2007 code (e.g. ``52.10.1``, ``25``, ``C``) -> taxonomy category or None (non productive)."""
    amap = params.table("ateco_map")
    code = code.strip()
    for prefix, cat in sorted(zip(amap["ateco_prefix"], amap["category"]), key=lambda t: -len(t[0])):
        if prefix[0].isdigit() and (code == prefix or code.startswith(prefix + ".")
                                    or (len(prefix) == 5 and code.startswith(prefix))):
            return cat
    section = _ateco_section(code)
    for prefix, cat in zip(amap["ateco_prefix"], amap["category"]):
        if prefix.isalpha() and prefix.upper() == section:
            return cat
    return None


def _ateco_section(code: str) -> str | None:
    if code[:1].isalpha():
        return code[0].upper()
    div = int(code[:2])
    for sec, lo, hi in (("A", 1, 3), ("B", 5, 9), ("C", 10, 33), ("D", 35, 35), ("E", 36, 39), ("F", 41, 43),
                        ("G", 45, 47), ("H", 49, 53), ("I", 55, 56), ("J", 58, 63), ("K", 64, 66),
                        ("L", 68, 68), ("M", 69, 75), ("N", 77, 82), ("O", 84, 84), ("P", 85, 85),
                        ("Q", 86, 88), ("R", 90, 93), ("S", 94, 96), ("T", 97, 98), ("U", 99, 99)):
        if lo <= div <= hi:
            return sec
    return None


def import_firms(path_or_df, *, crs: str | None = None) -> gpd.GeoDataFrame:
    """Firms CSV -> points with ``firm_id``, ``ateco``, ``category``, ``employees``, ``craft``."""
    src = str(path_or_df) if not isinstance(path_or_df, pd.DataFrame) else "imprese (DataFrame)"
    if isinstance(path_or_df, pd.DataFrame):
        df = path_or_df.copy()
    else:
        try:
            df = pd.read_csv(path_or_df, dtype=str, keep_default_na=False, sep=None, engine="python")
        except Exception as exc:
            raise ProductionInputError(f"CSV illeggibile: {exc}", source=src) from exc
    df.columns = [c.strip().lower() for c in df.columns]
    for col in ("firm_id", "ateco"):
        if col not in df.columns:
            raise ProductionInputError(f"colonna obbligatoria assente (colonne: {list(df.columns)})",
                                       source=src, field=col)
    if {"lon", "lat"} <= set(df.columns):
        xcol, ycol, in_crs = "lon", "lat", crs or "EPSG:4326"
    elif {"x", "y"} <= set(df.columns):
        if not crs:
            raise ProductionInputError("coordinate x/y senza CRS: indicare il sistema di riferimento "
                                       "(--crs, es. EPSG:32632) oppure usare le colonne lon/lat WGS 84",
                                       source=src, field="x,y")
        xcol, ycol, in_crs = "x", "y", crs
    else:
        raise ProductionInputError("servono le colonne lon/lat (WGS 84) oppure x/y con --crs", source=src)
    rows = lambda m: [int(i) + 2 for i in np.flatnonzero(np.asarray(m))]  # CSV line numbers
    x = pd.to_numeric(df[xcol].astype(str).str.replace(",", "."), errors="coerce")
    y = pd.to_numeric(df[ycol].astype(str).str.replace(",", "."), errors="coerce")
    bad = x.isna() | y.isna()
    if bad.any():
        raise ProductionInputError("coordinate non numeriche o mancanti", source=src, field=f"{xcol},{ycol}",
                                   rows=rows(bad))
    dup = df["firm_id"].duplicated(keep=False)
    if dup.any():
        raise ProductionInputError("firm_id duplicati", source=src, field="firm_id", rows=rows(dup))
    codes = df["ateco"].astype(str).str.strip()
    bad = ~codes.str.match(ATECO_RE)
    if bad.any():
        raise ProductionInputError("codici ATECO non riconosciuti (attesi es. 52.10, 25.62.00, C)",
                                   source=src, field="ateco", rows=rows(bad))
    emp = pd.to_numeric(df["employees"], errors="coerce") if "employees" in df.columns else pd.Series(np.nan, index=df.index)
    if "employees" in df.columns:
        bad = emp.isna() & (df["employees"].astype(str).str.strip() != "") | (emp < 0)
        if bad.any():
            raise ProductionInputError("addetti non numerici o negativi", source=src, field="employees",
                                       rows=rows(bad))
    craft = (df["craft"].astype(str).str.strip().str.lower().isin(["1", "true", "si", "sì", "yes", "s"])
             if "craft" in df.columns else pd.Series(False, index=df.index))
    cats = [ateco_category(c) for c in codes]
    cats = ["crafts" if (k and c in ("manufacturing", "mixed_productive_services")) else c
            for c, k in zip(cats, craft)]
    out = gpd.GeoDataFrame({
        "firm_id": df["firm_id"].astype(str).to_numpy(), "name": df.get("name"), "ateco": codes.to_numpy(),
        "category": cats, "employees": emp.to_numpy(), "craft": craft.to_numpy(),
    }, geometry=gpd.points_from_xy(x, y), crs=in_crs).to_crs(CRS)
    return out


# ---------------------------------------------------------------------------------- checks & merge
def check_duplicates(areas: gpd.GeoDataFrame, src: str, *, drop: bool = False):
    """Overlapping duplicates inside one source: IoU above ``duplicate_overlap_ratio`` is an error
    (or, with ``drop=True``, the second of each pair is dropped: returns (areas, warnings))."""
    if len(areas) < 2:
        return (areas, []) if drop else None
    dup_ids = areas["area_id"].duplicated(keep=False) if "area_id" in areas else None
    if dup_ids is not None and dup_ids.any():
        raise ProductionInputError("identificativi duplicati", source=src, field="area_id",
                                   rows=[int(i) for i in np.flatnonzero(dup_ids.to_numpy())])
    g = areas.geometry.to_numpy()
    tree = STRtree(g)
    a, b = tree.query(g, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not len(a):
        return (areas, []) if drop else None
    inter = shapely.area(shapely.intersection(g[a], g[b]))
    union = shapely.area(g[a]) + shapely.area(g[b]) - inter
    iou = inter / np.where(union > 0, union, 1)
    hit = iou > params.scalar("duplicate_overlap_ratio")
    ids = areas["area_id"].to_numpy() if "area_id" in areas else np.arange(len(areas))
    pairs = [f"{ids[i]}~{ids[j]} (sovrapposizione {iou_:.0%})"
             for i, j, iou_ in zip(a[hit], b[hit], iou[hit])]
    if drop:
        gone = sorted(set(b[hit].tolist()))
        warn = [f"{src}: area duplicata scartata {p}" for p in pairs]
        return areas.drop(index=areas.index[gone]).reset_index(drop=True), warn
    if hit.any():
        raise ProductionInputError(f"aree duplicate sovrapposte: {', '.join(pairs[:10])}", source=src,
                                   field="geometry", rows=sorted({int(i) for i in np.r_[a[hit], b[hit]]}))


def merge_sources(sources: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Harmonise areas from several sources: PGT > OSM > DUSAF > user.

    A lower-priority area covered for more than ``cross_source_overlap_ratio`` by areas already
    taken is the same area seen by another source: it is dropped and its source is listed in
    ``sources`` of the area that covers it most.
    """
    frames = [s for s in sources if s is not None and len(s)]
    if not frames:
        return gpd.GeoDataFrame({c: [] for c in AREA_COLUMNS[:-1]} | {"sources": []},
                                geometry=[], crs=CRS)
    allg = pd.concat(frames, ignore_index=True)
    allg["prio"] = allg["source"].map(SOURCE_PRIORITY).fillna(9)
    allg = allg.sort_values(["prio", "area_id"], kind="stable").reset_index(drop=True)
    thr = params.scalar("cross_source_overlap_ratio")
    kept_idx: list[int] = []
    sources_of: dict[int, set] = {}
    for prio, grp in allg.groupby("prio", sort=True):
        if kept_idx:
            kg = allg.geometry.to_numpy()[kept_idx]
            tree = STRtree(kg)
            gi, ki = tree.query(grp.geometry.to_numpy(), predicate="intersects")
            inter = shapely.area(shapely.intersection(grp.geometry.to_numpy()[gi], kg[ki]))
            cover = np.bincount(gi, weights=inter, minlength=len(grp)) / grp.area.to_numpy()
            best = {}
            for g_, k_, a_ in zip(gi, ki, inter):
                if a_ > best.get(g_, (None, -1))[1]:
                    best[g_] = (k_, a_)
        else:
            cover, best = np.zeros(len(grp)), {}
        for j, idx in enumerate(grp.index):
            if cover[j] > thr:
                target = kept_idx[best[j][0]]
                sources_of[target].add(allg.at[idx, "source"])
            else:
                kept_idx.append(idx)
                sources_of[idx] = {allg.at[idx, "source"]}
    out = allg.loc[kept_idx].copy()
    out["sources"] = [",".join(sorted(sources_of[i])) for i in kept_idx]
    return gpd.GeoDataFrame(out.drop(columns="prio"), geometry="geometry", crs=CRS).reset_index(drop=True)


def attach_firms(areas: gpd.GeoDataFrame, firms: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """Count firms and employees per area; refine generic categories by dominant firm category."""
    areas = areas.copy()
    areas["n_firms"] = 0
    areas["employees"] = np.nan
    if firms is None or not len(firms) or not len(areas):
        return areas
    j = gpd.sjoin(firms[["category", "employees", "geometry"]], areas[["geometry"]], predicate="within")
    j = j.rename(columns={"index_right": "ai"})
    areas.loc[:, "n_firms"] = j.groupby("ai").size().reindex(areas.index).fillna(0).astype(int).to_numpy()
    has_emp = j["employees"].notna()
    emp = j[has_emp].groupby("ai")["employees"].sum()
    areas.loc[emp.index, "employees"] = emp.to_numpy()
    w = j.assign(w=j["employees"].fillna(1.0).clip(lower=1.0)).dropna(subset=["category"])
    if len(w):
        dom = w.groupby(["ai", "category"])["w"].sum().reset_index().sort_values(["w", "category"]).groupby("ai").last()
        generic = areas["category"] == "mixed_productive_services"
        for ai, row in dom.iterrows():
            if generic.at[ai]:
                areas.at[ai, "category"] = row["category"]
    return areas


def size_class(area_m2: np.ndarray) -> np.ndarray:
    t = params.table("size_classes")
    out = np.empty(len(area_m2), dtype=object)
    for _, r in t.iterrows():
        lo = float(r["min_m2"])
        hi = float(r["max_m2"]) if r["max_m2"] else np.inf
        out[(area_m2 >= lo) & (area_m2 < hi)] = r["size_class"]
    return out


def assign_municipality(gdf: gpd.GeoDataFrame, municipalities: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """istat_code/comune of largest overlap and number of comuni touched (overlap > 1 ha or 1%)."""
    gdf = gdf.copy()
    gdf["istat_code"], gdf["comune"], gdf["n_comuni"] = None, None, np.nan
    if municipalities is None or not len(gdf):
        return gdf
    m = municipalities.reset_index(drop=True)
    mg = m.geometry.to_numpy()
    tree = STRtree(mg)
    gi, mi = tree.query(gdf.geometry.to_numpy(), predicate="intersects")
    inter = shapely.area(shapely.intersection(gdf.geometry.to_numpy()[gi], mg[mi]))
    df = pd.DataFrame({"gi": gi, "mi": mi, "a": inter})
    df = df[df["a"] > 0]
    best = df.sort_values("a").groupby("gi").last()
    gdf["istat_code"] = pd.Series(m["istat_code"].to_numpy()[best["mi"]], index=best.index).reindex(range(len(gdf))).to_numpy()
    name_col = "name" if "name" in m.columns else "istat_code"
    gdf["comune"] = pd.Series(m[name_col].to_numpy()[best["mi"]], index=best.index).reindex(range(len(gdf))).to_numpy()
    area = gdf.area.to_numpy()
    sig = df[(df["a"] > 10000) | (df["a"] > 0.01 * area[df["gi"]])]
    gdf["n_comuni"] = sig.groupby("gi").size().reindex(range(len(gdf))).fillna(0).to_numpy()
    return gdf


def build_productive_areas(sources: list[gpd.GeoDataFrame], *, firms: gpd.GeoDataFrame | None = None,
                           municipalities: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """One productive-areas layer in the taxonomy, with size, comune and firms."""
    areas = merge_sources(sources)
    min_a = params.scalar("min_area_m2")
    areas = areas[areas.area >= min_a].reset_index(drop=True)
    areas = attach_firms(areas, firms)
    areas["area_m2"] = areas.area.round(1)
    areas["area_ha"] = (areas["area_m2"] / 1e4).round(2)
    areas["size_class"] = size_class(areas["area_m2"].to_numpy())
    areas["category_label"] = [params.category_label(c) for c in areas["category"]]
    areas = assign_municipality(areas, municipalities)
    cols = ["area_id", "name", "category", "category_label", "source", "source_class", "sources", "area_m2",
            "area_ha", "size_class", "istat_code", "comune", "n_comuni", "n_firms", "employees", "geometry"]
    return gpd.GeoDataFrame(areas[cols], geometry="geometry", crs=CRS)
