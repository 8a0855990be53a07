"""Catalogo dei dati: the public face of the knowledge base ("sistema delle conoscenze", PTM art. 13).

Every layer of the catalog (``kb.layers()``) with its metadata, its version history
(``kb.history``), downloads in GeoPackage / GeoJSON / CSV (``sttm.knowledge.io.export_layer``, any
stored version) and the link to its OGC API – Features collection. Licences are shown next to the
downloads: a non-commercial licence (CC BY-NC) and a licence not yet verified are flagged.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import unicodedata
import weakref
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from .ogcapi import _extent

router = APIRouter(include_in_schema=False)

FORMATS = {"gpkg": ("GeoPackage", ".gpkg", "application/geopackage+sqlite3"),
           "geojson": ("GeoJSON", ".geojson", "application/geo+json"),
           "csv": ("CSV", ".csv", "text/csv; charset=utf-8")}
_NC = re.compile(r"\bBY-NC\b|\bNC\b|non[- ]?commercial|non commerciale", re.I)
_UNVERIFIED = re.compile(r"not (checked|stated|verified)|confirm before|states none|non verificat|da verificare|non dichiara", re.I)
_KIND_IT = {"features": "strato geografico", "attributes": "tabella"}
_lock = threading.Lock()


def licence_flags(licence: str | None) -> dict:
    """``non_commercial`` (CC BY-NC or similar) and ``unverified`` (the source states none or it was not checked)."""
    text = licence or ""
    return {"non_commercial": bool(_NC.search(text)), "unverified": bool(_UNVERIFIED.search(text)) or not text.strip()}


def _ascii(text: str) -> str:
    """An HTTP header value (ASCII): dashes kept as '-', accents dropped."""
    text = re.sub("[\u2012-\u2015]", "-", text)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def formats_for(entry: dict) -> list[str]:
    """Tables without geometry export as CSV only."""
    return ["gpkg", "geojson", "csv"] if entry.get("geometry_type") else ["csv"]


def _entry_view(entry: dict) -> dict:
    e = dict(entry)
    e.update(licence_flags(e.get("licence")))
    e["kind_it"] = _KIND_IT.get(e.get("kind"), e.get("kind") or "—")
    e["formats"] = formats_for(e)
    ext = _extent(e)
    e["bbox_wgs84"] = ext["spatial"]["bbox"][0] if ext else None
    e["bbox"] = None if e.get("min_x") is None else [e["min_x"], e["min_y"], e["max_x"], e["max_y"]]
    try:
        extra = json.loads(e.get("extra_json") or "{}")
    except ValueError:
        extra = {}
    notes = extra.get("notes_it") if isinstance(extra, dict) else None
    e["notes_it"] = [str(n) for n in notes] if isinstance(notes, list) else []
    return e


def _kb(request: Request):
    return request.app.state.kb


def _entry_or_404(request: Request, name: str) -> dict:
    kb = _kb(request)
    if not kb.has_layer(name):
        raise HTTPException(404, f"lo strato {name!r} non è nel catalogo del sistema delle conoscenze")
    return kb.catalog_entry(name)


@router.get("/catalogo", response_class=HTMLResponse)
async def catalog_index(request: Request):
    from .pages import render

    layers = [_entry_view(e) for e in _kb(request).layers()]
    return render(request, "catalog.html", {"layers": layers, "formats": FORMATS})


@router.get("/catalogo/{name}", response_class=HTMLResponse)
async def catalog_layer(request: Request, name: str):
    from .pages import render

    entry = _entry_view(_entry_or_404(request, name))
    hist = _kb(request).history(name)
    history = hist.sort_values("version", ascending=False).astype(object).where(hist.notna(), None).to_dict("records")
    return render(request, "catalog_layer.html", {"e": entry, "history": history, "formats": FORMATS})


@router.get("/catalogo/{name}/scarica/{fmt}")
def catalog_download(request: Request, name: str, fmt: str, versione: int | None = None):
    """The layer (current version, or ``versione``) exported by ``export_layer``; files are cached per version."""
    from sttm.knowledge.io import export_layer

    entry = _entry_or_404(request, name)
    if fmt not in FORMATS:
        raise HTTPException(404, f"formato {fmt!r} non disponibile: gpkg, geojson, csv")
    if fmt not in formats_for(entry):
        raise HTTPException(404, f"lo strato {name!r} è una tabella senza geometria: scaricarlo in CSV")
    kb = _kb(request)
    version = entry["current_version"] if versione is None else versione
    if version not in set(kb.history(name)["version"]):
        raise HTTPException(404, f"lo strato {name!r} non ha la versione {version}")
    label, suffix, media = FORMATS[fmt]
    out_dir = getattr(request.app.state, "catalog_exports", None)
    if out_dir is None:
        out_dir = request.app.state.catalog_exports = Path(tempfile.mkdtemp(prefix="sttm-catalogo-"))
        weakref.finalize(request.app, shutil.rmtree, str(out_dir), True)
    target = out_dir / f"{name}-v{version}{suffix}"
    with _lock:
        if not target.exists():
            tmp = out_dir / f".{name}-v{version}.tmp{suffix}"
            export_layer(kb, name, tmp, version=version)
            tmp.replace(target)
    headers = {"X-Licence": _ascii(entry.get("licence") or "non dichiarata")}
    return FileResponse(target, media_type=media, filename=target.name, headers=headers)
