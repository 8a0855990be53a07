"""User files in and out of the knowledge base.

In: GeoPackage, GeoJSON, zipped Shapefile, CSV with coordinate columns. Out: GeoPackage, GeoJSON
(RFC 7946, WGS84), CSV (WKT geometry), GeoParquet. Unreadable, truncated or CRS-less files are
refused with the file named; nothing is written until the whole file has validated.
"""
from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from ..errors import InputError
from ..opendata.loaders import read_vector
from .store import KnowledgeBase, LayerMeta, WriteResult

LON_NAMES = ("lon", "lng", "longitude", "longitudine", "x")
LAT_NAMES = ("lat", "latitude", "latitudine", "y")
EXPORT_FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".csv": "CSV", ".parquet": "Parquet"}


def read_user_file(path: str | Path, *, layer: str | None = None, x: str | None = None, y: str | None = None,
                   crs: str | None = None) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read a user's file as a (Geo)DataFrame in EPSG:32632, without guessing a missing CRS
    (except GeoJSON, which is WGS84 by definition, and CSV columns named lon/lat)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "file not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv_points(path, x=x, y=y, crs=crs)
    if suffix not in (".gpkg", ".geojson", ".json", ".zip", ".shp"):
        raise InputError(str(path), f"unsupported format '{suffix}': use .gpkg, .geojson, .zip (shapefile) or .csv")
    if suffix in (".zip", ".gpkg") and layer is None:
        try:
            layers = pyogrio.list_layers(path)
        except Exception as exc:
            raise InputError(str(path), f"cannot be read: the file is corrupt or truncated ({exc})") from exc
        feature_layers = [l for l, g in layers if g is not None and not str(l).startswith(("kb_", "gpkg_"))]
        if len(feature_layers) > 1:
            raise InputError(str(path), f"holds several layers ({', '.join(feature_layers)}): say which one")
    gdf = read_vector(path, layer=layer, default_crs=None if suffix != ".geojson" and suffix != ".json" else "EPSG:4326")
    if crs and gdf.crs is None:
        gdf = gdf.set_crs(crs)
    gdf.columns = [c if c == gdf.geometry.name else _snake(c) for c in gdf.columns]
    return gdf


def _snake(name: str) -> str:
    import re
    s = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()
    return s if s and s[0].isalpha() else f"f_{s}"


def _read_csv_points(path: Path, *, x: str | None, y: str | None, crs: str | None):
    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise InputError(str(path), f"cannot be read as CSV ({exc})") from exc
    cols = {c.lower(): c for c in df.columns}
    x = x or next((cols[n] for n in LON_NAMES if n in cols), None)
    y = y or next((cols[n] for n in LAT_NAMES if n in cols), None)
    if x is None or y is None:
        raise InputError(str(path), "no coordinate columns: name them with --x/--y (or lon/lat)")
    for c in (x, y):
        if c not in df.columns:
            raise InputError(str(path), "coordinate column not found", field=c)
        vals = pd.to_numeric(df[c], errors="coerce")
        bad = vals.isna()
        if bad.any():
            pos = int(bad.to_numpy().argmax())
            raise InputError(str(path), f"not a number: {df[c].iloc[pos]!r}", field=c, row=pos + 2)
        df[c] = vals
    if crs is None:
        if x.lower() in LON_NAMES[:4] and y.lower() in LAT_NAMES[:3]:
            crs = "EPSG:4326"
        else:
            raise InputError(str(path), f"the coordinates in '{x}'/'{y}' have no declared CRS: pass --crs "
                                        "(e.g. EPSG:32632 or EPSG:4326)")
    gdf = gpd.GeoDataFrame(df.drop(columns=[x, y]), geometry=gpd.points_from_xy(df[x], df[y]), crs=crs)
    gdf.columns = [c if c == "geometry" else _snake(c) for c in gdf.columns]
    return gdf.to_crs(32632)


def import_file(kb: KnowledgeBase, path: str | Path, layer_name: str, *, key: str, title: str | None = None,
                licence: str = "", vintage: str = "", description: str = "", source_layer: str | None = None,
                x: str | None = None, y: str | None = None, crs: str | None = None,
                loaded_by: str | None = None) -> WriteResult:
    data = read_user_file(path, layer=source_layer, x=x, y=y, crs=crs)
    meta = LayerMeta(title=title or layer_name, description=description, source=f"user import: {Path(path).name}",
                     licence=licence, vintage=vintage)
    return kb.write_layer(layer_name, data, meta, key=key, loaded_by=loaded_by, source_label=str(path))


def export_layer(kb: KnowledgeBase, name: str, path: str | Path, *, version: int | None = None,
                 crs: str | None = None) -> Path:
    path = Path(path)
    fmt = EXPORT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(str(path), f"unsupported export format '{path.suffix}' (use {', '.join(EXPORT_FORMATS)})")
    data = kb.read_layer(name, version=version)
    entry = kb.catalog_entry(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, gpd.GeoDataFrame):
        target = crs or ("EPSG:4326" if fmt == "GeoJSON" else None)
        if target:
            data = data.to_crs(target)
        for c, typ in json.loads(entry["schema_json"]):
            if typ == "json":
                data[c] = data[c].map(lambda v: None if v is None else json.dumps(v, ensure_ascii=False))
        if fmt == "Parquet":
            data.to_parquet(path)
        elif fmt == "CSV":
            out = pd.DataFrame(data.drop(columns=data.geometry.name))
            out["wkt"] = data.geometry.to_wkt()
            out.to_csv(path, index=False)
        else:
            if path.exists():
                path.unlink()
            pyogrio.write_dataframe(data, path, layer=name, driver=fmt)
    else:
        if fmt == "Parquet":
            data.to_parquet(path)
        elif fmt == "CSV":
            data.to_csv(path, index=False)
        else:
            raise InputError(str(path), f"layer '{name}' is a table without geometry: export it as .csv or .parquet")
    return path
