"""Validation and canonical encoding of a layer before it is written.

Everything that can be wrong with a table is found here, before any transaction starts, and
reported with the layer (or file), the field and the row: missing CRS, empty or invalid geometry,
missing or duplicate keys, mixed or unsupported column types.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import ANALYSIS_EPSG
from .errors import LayerValidationError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
RESERVED_PREFIXES = ("kb_", "gpkg_", "rtree_", "sqlite_", "spatial_ref_sys", "geometry_columns")
RESERVED_COLUMNS = {"fid", "geom"}
COLUMN_TYPES = ("text", "integer", "real", "boolean", "datetime", "date", "json")


@dataclass
class PreparedLayer:
    """A validated layer, ready for either backend."""
    name: str
    key: str
    kind: str                      # "features" | "attributes"
    schema: list[tuple[str, str]]  # (column, type) in order, geometry excluded
    records: list[dict]            # column -> python value (None for null)
    geoms: np.ndarray | None       # shapely geometries in EPSG:32632
    keys: list[str]                # the stable key of each row, as text
    fhashes: list[str]
    props_json: list[str]
    wkb: list[bytes | None]
    geometry_type: str | None
    bounds: tuple[float, float, float, float] | None

    @property
    def content_hash(self) -> str:
        h = hashlib.sha256()
        h.update(json.dumps(self.schema).encode())
        for k, fh in sorted(zip(self.keys, self.fhashes)):
            h.update(k.encode())
            h.update(fh.encode())
        return h.hexdigest()


def check_name(name: str, what: str = "layer") -> None:
    if not NAME_RE.match(name or "") or name.startswith(RESERVED_PREFIXES):
        raise LayerValidationError(name, f"invalid {what} name: use lower-case letters, digits and '_', "
                                         f"starting with a letter, not starting with {RESERVED_PREFIXES}")


def _column_type(series: pd.Series, source: str, col: str, row_labels) -> str:
    kind = series.dtype.kind
    if kind == "b":
        return "boolean"
    if kind in "iu":
        return "integer"
    if kind == "f":
        return "real"
    if kind == "M":
        return "datetime"
    if isinstance(series.dtype, pd.BooleanDtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(series.dtype):
        return "real"
    # object / string: every non-null value must be of one kind
    seen: str | None = None
    for pos, v in enumerate(series.to_numpy(dtype=object)):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            continue
        if isinstance(v, (bool, np.bool_)):
            t = "boolean"
        elif isinstance(v, (int, np.integer)):
            t = "integer"
        elif isinstance(v, (float, np.floating)):
            t = "real"
        elif isinstance(v, str):
            t = "text"
        elif isinstance(v, (dt.datetime, pd.Timestamp)):
            t = "datetime"
        elif isinstance(v, dt.date):
            t = "date"
        elif isinstance(v, (list, tuple, dict)):
            t = "json"
        else:
            raise LayerValidationError(source, f"unsupported value type {type(v).__name__}", field=col,
                                       row=row_labels[pos])
        if seen is None:
            seen = t
        elif t != seen and {t, seen} != {"integer", "real"}:
            raise LayerValidationError(source, f"wrong column type: {t} value {v!r} in a {seen} column",
                                       field=col, row=row_labels[pos])
        elif {t, seen} == {"integer", "real"}:
            seen = "real"
    return seen or "text"


def _py(v, typ: str):
    """A cell as a plain, JSON-able python value (None for null)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (float, np.floating)) and math.isnan(v):
        return None
    if typ == "integer":
        return int(v)
    if typ == "real":
        return float(v)
    if typ == "boolean":
        return bool(v)
    if typ == "datetime":
        return pd.Timestamp(v).isoformat()
    if typ == "date":
        return v.isoformat() if hasattr(v, "isoformat") else str(v)
    if typ == "json":
        return json.loads(json.dumps(v, default=str))
    return str(v)


def prepare(name: str, data: pd.DataFrame, key: str, *, source: str | None = None) -> PreparedLayer:
    """Validate ``data`` and encode it canonically. ``source`` names the file in error messages."""
    src = source or name
    check_name(name)
    if not isinstance(data, pd.DataFrame):
        raise LayerValidationError(src, f"expected a (Geo)DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise LayerValidationError(src, "the layer has no rows")
    # a GeoDataFrame may have no active geometry column: then it is an attribute table
    is_geo = isinstance(data, gpd.GeoDataFrame) and getattr(data, "_geometry_column_name", None) in data.columns
    geom_col = data.geometry.name if is_geo else None
    row_labels = [i + 1 for i in range(len(data))]  # 1-based row numbers, as a user counts them

    if key not in data.columns:
        raise LayerValidationError(src, f"key field '{key}' is missing (columns: {', '.join(map(str, data.columns))})",
                                   field=key)
    keys_raw = data[key]
    null_keys = keys_raw.isna().to_numpy()
    if null_keys.any():
        raise LayerValidationError(src, "empty key", field=key, row=row_labels[int(np.argmax(null_keys))])
    keys = [str(_py(k, "integer") if isinstance(k, (np.integer, int)) and not isinstance(k, bool) else k)
            for k in keys_raw]
    dup = pd.Series(keys).duplicated().to_numpy()
    if dup.any():
        pos = int(np.argmax(dup))
        raise LayerValidationError(src, f"duplicate key {keys[pos]!r}", field=key, row=row_labels[pos])

    geoms = None
    geometry_type = None
    bounds = None
    if is_geo:
        if data.crs is None:
            raise LayerValidationError(src, "the layer has no CRS: declare it (e.g. EPSG:4326) before loading",
                                       field=geom_col)
        gs = data.geometry
        if data.crs.to_epsg() != ANALYSIS_EPSG:
            gs = gs.to_crs(ANALYSIS_EPSG)
        geoms = gs.to_numpy()
        missing = shapely.is_missing(geoms)
        if missing.any():
            pos = int(np.argmax(missing))
            raise LayerValidationError(src, "missing geometry", field=geom_col, row=row_labels[pos])
        empty = shapely.is_empty(geoms)
        if empty.any():
            pos = int(np.argmax(empty))
            raise LayerValidationError(src, "empty geometry", field=geom_col, row=row_labels[pos])
        finite = np.isfinite(shapely.bounds(geoms)).all(axis=1)
        if not finite.all():
            pos = int(np.argmax(~finite))
            raise LayerValidationError(src, "geometry with non-finite coordinates", field=geom_col,
                                       row=row_labels[pos])
        valid = shapely.is_valid(geoms)
        if not valid.all():
            pos = int(np.argmax(~valid))
            raise LayerValidationError(src, f"invalid geometry ({shapely.is_valid_reason(geoms[pos])})",
                                       field=geom_col, row=row_labels[pos])
        types = set(shapely.get_type_id(geoms).tolist())
        names = {0: "POINT", 1: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT", 5: "MULTILINESTRING",
                 6: "MULTIPOLYGON"}
        geometry_type = names.get(types.pop(), "GEOMETRY") if len(types) == 1 else "GEOMETRY"
        bounds = tuple(float(b) for b in shapely.total_bounds(geoms))

    schema: list[tuple[str, str]] = []
    for col in data.columns:
        if col == geom_col:
            continue
        if not isinstance(col, str):
            raise LayerValidationError(src, f"column name {col!r} is not text", field=str(col))
        check_name(col, "column")
        if col in RESERVED_COLUMNS:
            raise LayerValidationError(src, f"column name '{col}' is reserved", field=col)
        series = data[col]
        if isinstance(series, gpd.GeoSeries):
            raise LayerValidationError(src, "a second geometry column is not supported", field=col)
        schema.append((col, _column_type(series, src, col, row_labels)))

    cols = [c for c, _ in schema]
    typs = dict(schema)
    arrays = {c: data[c].to_numpy(dtype=object) for c in cols}
    records = [{c: _py(arrays[c][i], typs[c]) for c in cols} for i in range(len(data))]
    props_json = [json.dumps(r, sort_keys=True, ensure_ascii=False, separators=(",", ":")) for r in records]
    wkb: list[bytes | None]
    if geoms is not None:
        wkb = list(shapely.to_wkb(geoms, byte_order=1, output_dimension=2))
    else:
        wkb = [None] * len(records)
    fhashes = []
    for pj, w in zip(props_json, wkb):
        h = hashlib.sha256(pj.encode())
        if w is not None:
            h.update(w)
        fhashes.append(h.hexdigest())
    return PreparedLayer(name=name, key=key, kind="features" if is_geo else "attributes", schema=schema,
                         records=records, geoms=geoms, keys=keys, fhashes=fhashes, props_json=props_json,
                         wkb=wkb, geometry_type=geometry_type, bounds=bounds)
