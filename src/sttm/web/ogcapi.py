"""OGC API – Features (Part 1 Core, GeoJSON, OpenAPI 3.0; Part 2 CRS by reference) over every
layer of the knowledge base.

Layers are read through ``kb.read_layer`` and kept in memory per *current version*: the features'
properties and GeoJSON geometries are serialised once per CRS, and an STRtree per CRS answers
``bbox`` queries, so an items request is an index look-up plus a string join. The catalog's
``current_version`` is re-checked at most every ``refresh_s`` seconds; a new version replaces
the cached entry.

Supported CRSs: OGC CRS84 (default, lon/lat) and EPSG:32632 (the storage CRS).
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pyproj import CRS as ProjCRS
from pyproj import Transformer

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG32632 = "http://www.opengis.net/def/crs/EPSG/0/32632"
SUPPORTED_CRS = (CRS84, EPSG32632)
CRS_ALIASES = {CRS84: CRS84, "OGC:CRS84": CRS84, "[OGC:CRS84]": CRS84, "CRS84": CRS84,
               EPSG32632: EPSG32632, "EPSG:32632": EPSG32632, "[EPSG:32632]": EPSG32632}
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
STANDARD_PARAMS = {"limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "f"}
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 10
GEOJSON = "application/geo+json"

_to_crs84 = Transformer.from_crs(ProjCRS.from_epsg(32632), ProjCRS.from_user_input("OGC:CRS84"), always_xy=True)


def _jsonable(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, (pd.Timestamp, datetime)):
        return v.isoformat()
    if v is pd.NA or v is pd.NaT:
        return None
    return v


@dataclass
class LayerEntry:
    name: str
    version: int
    meta: dict
    ids: list[str]
    id_index: dict[str, int]
    props_json: list[str]          # '"properties":{…}' fragments
    columns: list[str]
    column_values: dict[str, np.ndarray]  # string form of each value, for property filters
    geoms: dict[str, np.ndarray] = field(default_factory=dict)  # crs uri -> shapely geometries
    trees: dict[str, shapely.STRtree] = field(default_factory=dict)
    features: dict[str, list[str]] = field(default_factory=dict)  # crs uri -> serialised features
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def spatial(self) -> bool:
        return EPSG32632 in self.geoms

    def geoms_in(self, crs: str) -> np.ndarray:
        with self.lock:
            if crs not in self.geoms:
                self.geoms[crs] = shapely.transform(self.geoms[EPSG32632], _transform_xy, interleaved=False)
            return self.geoms[crs]

    def tree(self, crs: str) -> shapely.STRtree:
        g = self.geoms_in(crs)
        with self.lock:
            if crs not in self.trees:
                self.trees[crs] = shapely.STRtree(g)
            return self.trees[crs]

    def feature_strings(self, crs: str) -> list[str]:
        if crs in self.features:
            return self.features[crs]
        if self.spatial:
            g = self.geoms_in(crs)
            digits = 7 if crs == CRS84 else 2  # ~1 cm either way
            geo = shapely.to_geojson(shapely.transform(g, lambda c: np.round(c, digits)))
        else:
            geo = ["null"] * len(self.ids)
        feats = [
            '{"type":"Feature","id":' + json.dumps(i) + ',"geometry":' + gj + ',' + pj + "}"
            for i, gj, pj in zip(self.ids, geo, self.props_json)
        ]
        with self.lock:
            self.features[crs] = feats
        return feats


def _transform_xy(x, y):
    return _to_crs84.transform(x, y)


def build_entry(name: str, version: int, meta: dict, data: pd.DataFrame) -> LayerEntry:
    key = meta.get("key_field")
    is_geo = hasattr(data, "geometry") and getattr(data, "_geometry_column_name", None) in data.columns
    cols = [c for c in data.columns if not (is_geo and c == data.geometry.name)]
    if key and key in data.columns:
        ids = [str(_jsonable(v)) for v in data[key]]
    else:
        ids = [str(i + 1) for i in range(len(data))]
    records = data[cols].to_dict("records")
    props_json = ['"properties":' + json.dumps({k: _jsonable(v) for k, v in r.items()}, ensure_ascii=False,
                                               default=str, separators=(",", ":")) for r in records]
    colvals = {c: np.array(["" if _jsonable(v) is None else _str_value(v) for v in data[c]], dtype=object) for c in cols}
    entry = LayerEntry(name=name, version=version, meta=meta, ids=ids, id_index={i: n for n, i in enumerate(ids)},
                       props_json=props_json, columns=cols, column_values=colvals)
    if is_geo:
        entry.geoms[EPSG32632] = np.asarray(data.geometry.values, dtype=object)
    return entry


def _str_value(v: Any) -> str:
    v = _jsonable(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class LayerCache:
    """Current versions of the KB layers, in memory."""

    def __init__(self, kb: Any, refresh_s: float = 1.0, hidden: set[str] | None = None):
        self.kb = kb
        self.refresh_s = refresh_s
        self.hidden = hidden or set()
        self._catalog: dict[str, dict] = {}
        self._checked = 0.0
        self._entries: dict[str, LayerEntry] = {}
        self._lock = threading.Lock()

    def catalog(self) -> dict[str, dict]:
        now = time.monotonic()
        if now - self._checked > self.refresh_s:
            with self._lock:
                if now - self._checked > self.refresh_s:
                    self._catalog = {r["name"]: r for r in self.kb.layers() if r["name"] not in self.hidden}
                    self._checked = time.monotonic()
        return self._catalog

    def invalidate(self) -> None:
        self._checked = 0.0

    def get(self, name: str) -> LayerEntry | None:
        meta = self.catalog().get(name)
        if meta is None:
            return None
        entry = self._entries.get(name)
        if entry is None or entry.version != meta["current_version"]:
            with self._lock:
                entry = self._entries.get(name)
                if entry is None or entry.version != meta["current_version"]:
                    data = self.kb.read_layer(name)
                    entry = build_entry(name, meta["current_version"], meta, data)
                    self._entries[name] = entry
        return entry


# ----------------------------------------------------------------------------- helpers
def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _crs(value: str | None, param: str) -> str:
    if value is None or value == "":
        return CRS84
    uri = CRS_ALIASES.get(value.strip())
    if uri is None:
        raise HTTPException(400, f"parametro {param}: CRS non supportato {value!r} (supportati: {', '.join(SUPPORTED_CRS)})")
    return uri


def _check_f(f: str | None) -> None:
    if f not in (None, "", "json", "geojson", "application/json", "application/geo+json"):
        raise HTTPException(400, f"formato f={f!r} non supportato: json")


def _bbox(value: str | None, bbox_crs: str) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        nums = [float(x) for x in value.split(",")]
    except ValueError:
        raise HTTPException(400, "bbox: quattro o sei numeri separati da virgole") from None
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4 or not all(math.isfinite(n) for n in nums):
        raise HTTPException(400, "bbox: quattro o sei numeri separati da virgole")
    minx, miny, maxx, maxy = nums
    if miny > maxy:
        raise HTTPException(400, "bbox: il limite sud supera il limite nord")
    if bbox_crs == CRS84 and not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise HTTPException(400, "bbox: coordinate fuori dai limiti di CRS84")
    return minx, miny, maxx, maxy


def _extent(meta: dict) -> dict:
    if meta.get("min_x") is None:
        return {}
    xs, ys = _to_crs84.transform([meta["min_x"], meta["max_x"], meta["min_x"], meta["max_x"]],
                                 [meta["min_y"], meta["min_y"], meta["max_y"], meta["max_y"]])
    return {"spatial": {"bbox": [[round(min(xs), 6), round(min(ys), 6), round(max(xs), 6), round(max(ys), 6)]],
                        "crs": CRS84}}


def collection_doc(base: str, meta: dict) -> dict:
    name = meta["name"]
    href = f"{base}/ogcapi/collections/{name}"
    doc = {
        "id": name, "title": meta.get("title") or name, "description": meta.get("description") or "",
        "itemType": "feature",
        "links": [
            {"href": href, "rel": "self", "type": "application/json", "title": "Questa collezione"},
            {"href": f"{href}/items", "rel": "items", "type": GEOJSON, "title": "Elementi (GeoJSON)"},
        ],
        "crs": list(SUPPORTED_CRS), "storageCrs": EPSG32632,
        "license": meta.get("licence") or "", "attribution": meta.get("source") or "",
        "sttm:version": meta.get("current_version"), "sttm:vintage": meta.get("vintage") or "",
        "sttm:featureCount": meta.get("feature_count"),
    }
    ext = _extent(meta)
    if ext:
        doc["extent"] = ext
    return doc


def make_router(cache: LayerCache) -> APIRouter:
    router = APIRouter(prefix="/ogcapi", tags=["OGC API – Features"])

    @router.get("", summary="Landing page")
    @router.get("/", summary="Landing page", include_in_schema=False)
    async def landing(request: Request, f: str | None = Query(None)) -> JSONResponse:
        _check_f(f)
        b = _base(request)
        return JSONResponse({
            "title": "STTM – Città metropolitana di Milano: OGC API – Features",
            "description": "Strati pubblicati del sistema delle conoscenze (PTM art. 13) e del portale Remix.",
            "links": [
                {"href": f"{b}/ogcapi", "rel": "self", "type": "application/json", "title": "Questo documento"},
                {"href": f"{b}/api", "rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0",
                 "title": "Definizione OpenAPI 3.0"},
                {"href": f"{b}/api.html", "rel": "service-doc", "type": "text/html", "title": "Documentazione dell'API"},
                {"href": f"{b}/ogcapi/conformance", "rel": "conformance", "type": "application/json",
                 "title": "Classi di conformità"},
                {"href": f"{b}/ogcapi/collections", "rel": "data", "type": "application/json", "title": "Collezioni"},
            ],
        })

    @router.get("/conformance", summary="Conformance classes")
    async def conformance(f: str | None = Query(None)) -> JSONResponse:
        _check_f(f)
        return JSONResponse({"conformsTo": CONFORMANCE})

    @router.get("/collections", summary="Feature collections")
    async def collections(request: Request, f: str | None = Query(None)) -> JSONResponse:
        _check_f(f)
        b = _base(request)
        cols = [collection_doc(b, m) for _, m in sorted(cache.catalog().items())]
        return JSONResponse({
            "links": [{"href": f"{b}/ogcapi/collections", "rel": "self", "type": "application/json"}],
            "collections": cols, "crs": list(SUPPORTED_CRS),
        })

    @router.get("/collections/{collectionId}", summary="Feature collection")
    async def collection(request: Request, collectionId: str, f: str | None = Query(None)) -> JSONResponse:
        _check_f(f)
        meta = cache.catalog().get(collectionId)
        if meta is None:
            raise HTTPException(404, f"collezione {collectionId!r} inesistente")
        return JSONResponse(collection_doc(_base(request), meta))

    @router.get("/collections/{collectionId}/queryables", summary="Queryable properties")
    async def queryables(request: Request, collectionId: str) -> JSONResponse:
        entry = cache.get(collectionId)
        if entry is None:
            raise HTTPException(404, f"collezione {collectionId!r} inesistente")
        schema = json.loads(entry.meta.get("schema_json") or "[]")
        jtype = {"integer": "integer", "real": "number", "boolean": "boolean"}
        props = {c: {"title": c, "type": jtype.get(t, "string")} for c, t in schema}
        return JSONResponse({"$schema": "https://json-schema.org/draft/2019-09/schema", "type": "object",
                             "$id": f"{_base(request)}/ogcapi/collections/{collectionId}/queryables",
                             "title": entry.meta.get("title"), "properties": props},
                            media_type="application/schema+json")

    @router.get("/collections/{collectionId}/items", summary="Features",
                response_class=Response,
                responses={200: {"content": {GEOJSON: {}}, "description": "GeoJSON FeatureCollection"}})
    async def items(
        request: Request,
        collectionId: str,
        limit: int = Query(DEFAULT_LIMIT, ge=1, le=2**31 - 1,
                           description=f"numero massimo di elementi (oltre {MAX_LIMIT} vale {MAX_LIMIT})"),
        offset: int = Query(0, ge=0, le=10_000_000),
        bbox: str | None = Query(None, description="minx,miny,maxx,maxy (bbox-crs, default CRS84)"),
        bbox_crs: str | None = Query(None, alias="bbox-crs"),
        crs: str | None = Query(None),
        datetime_: str | None = Query(None, alias="datetime"),
        f: str | None = Query(None),
    ) -> Response:
        _check_f(f)
        limit = min(limit, MAX_LIMIT)  # OGC API Part 1: a larger limit is not an error, the maximum applies
        entry = cache.get(collectionId)
        if entry is None:
            raise HTTPException(404, f"collezione {collectionId!r} inesistente")
        out_crs = _crs(crs, "crs")
        b_crs = _crs(bbox_crs, "bbox-crs")
        box = _bbox(bbox, b_crs)
        filters = {}
        for k, v in request.query_params.multi_items():
            if k in STANDARD_PARAMS:
                continue
            if k not in entry.column_values:
                raise HTTPException(400, f"parametro sconosciuto {k!r}")
            filters[k] = v
        if box is not None:
            if entry.spatial:
                idx = entry.tree(b_crs).query(shapely.box(*box), predicate="intersects")
                idx.sort()
            else:
                idx = np.empty(0, dtype=np.int64)
        else:
            idx = np.arange(len(entry.ids))
        for k, v in filters.items():
            vals = entry.column_values[k]
            idx = idx[vals[idx] == v] if len(idx) else idx
        matched = int(len(idx))
        page = idx[offset: offset + limit]
        feats = entry.feature_strings(out_crs)
        body_feats = ",".join(feats[i] for i in page)
        b = _base(request)
        self_url = str(request.url)
        links = [
            {"href": self_url, "rel": "self", "type": GEOJSON, "title": "Questa pagina"},
            {"href": f"{b}/ogcapi/collections/{collectionId}", "rel": "collection", "type": "application/json"},
        ]
        params = dict(request.query_params)
        if offset + limit < matched:
            links.append({"href": _with(request, params, offset=offset + limit, limit=limit), "rel": "next",
                          "type": GEOJSON, "title": "Pagina successiva"})
        if offset > 0:
            links.append({"href": _with(request, params, offset=max(0, offset - limit), limit=limit), "rel": "prev",
                          "type": GEOJSON, "title": "Pagina precedente"})
        head = {"type": "FeatureCollection", "numberMatched": matched, "numberReturned": int(len(page)),
                "timeStamp": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "links": links}
        body = json.dumps(head, ensure_ascii=False)[:-1] + ',"features":[' + body_feats + "]}"
        return Response(body, media_type=GEOJSON, headers={"Content-Crs": f"<{out_crs}>"})

    @router.get("/collections/{collectionId}/items/{featureId}", summary="Feature",
                response_class=Response,
                responses={200: {"content": {GEOJSON: {}}, "description": "GeoJSON Feature"}})
    async def item(request: Request, collectionId: str, featureId: str, crs: str | None = Query(None),
                   f: str | None = Query(None)) -> Response:
        _check_f(f)
        entry = cache.get(collectionId)
        if entry is None:
            raise HTTPException(404, f"collezione {collectionId!r} inesistente")
        out_crs = _crs(crs, "crs")
        i = entry.id_index.get(featureId)
        if i is None:
            raise HTTPException(404, f"elemento {featureId!r} inesistente in {collectionId}")
        b = _base(request)
        feat = entry.feature_strings(out_crs)[i]
        links = [{"href": str(request.url), "rel": "self", "type": GEOJSON},
                 {"href": f"{b}/ogcapi/collections/{collectionId}", "rel": "collection", "type": "application/json"}]
        body = feat[:-1] + ',"links":' + json.dumps(links) + "}"
        return Response(body, media_type=GEOJSON, headers={"Content-Crs": f"<{out_crs}>"})

    return router


def _with(request: Request, params: dict, **changes: Any) -> str:
    from urllib.parse import urlencode

    q = {**params, **{k: str(v) for k, v in changes.items()}}
    return str(request.url.replace(query=urlencode(q)))
