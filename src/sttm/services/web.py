"""Portal pages of STTM 2: the two atlases served sheet by sheet (HTML, and PDF on request),
built from the knowledge base on `request.app.state.kb` (the same contexts as `sttm atlas`)."""
from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sttm.web.frame import portal_document

from . import atlas

TITLE = "Servizi e LUM (STTM 2)"
HOME = "/servizi"
router = APIRouter(prefix="/servizi", tags=["STTM 2 — servizi"])
_lock = threading.Lock()
_LAYERS = ("municipalities", "services", "stations", "demand_grid", "access_cells", "access_by_municipality",
           "lum", "lum_catchments", "access_by_lum", "opportunity_areas", "hazard")


def _data(request: Request) -> atlas.AtlasData:
    """Atlas data, reloaded only when one of its layers has a new version."""
    kb = request.app.state.kb
    stamp = tuple((n, kb.catalog_entry(n)["current_version"]) if kb.has_layer(n) else (n, None) for n in _LAYERS)
    with _lock:
        cache = getattr(request.app.state, "services_atlas", None)
        if cache is None or cache[0] != stamp:
            try:
                cache = (stamp, atlas.load_atlas_data(kb))
            except atlas.AtlasInputError as exc:
                raise HTTPException(503, f"Atlante non disponibile: {exc}") from exc
            request.app.state.services_atlas = cache
    return cache[1]


def _kind(kind: str) -> str:
    if kind not in ("comuni", "lum"):
        raise HTTPException(404, "atlante sconosciuto: usare 'comuni' o 'lum'")
    return kind


def _context(d: atlas.AtlasData, kind: str, slug: str) -> dict:
    ids = atlas.sheet_order(d, kind)
    if kind == "comuni":
        code = slug.split("-")[0]
        if code not in ids:
            raise HTTPException(404, f"comune {slug!r} non trovato")
        return atlas.comune_context(d, code)
    match = [i for i in ids if i == slug or atlas._slug(i) == slug]
    if not match:
        raise HTTPException(404, f"LUM {slug!r} non trovato")
    return atlas.lum_context(d, match[0])


@router.get("", response_class=HTMLResponse)
def home():
    return RedirectResponse(url="/servizi/atlante/comuni/", status_code=307)


@router.get("/atlante/{kind}/", response_class=HTMLResponse)
def atlas_index(kind: str, request: Request):
    from sttm.reports import render_html

    kind = _kind(kind)
    d = _data(request)
    ctxs = []
    for sid in atlas.sheet_order(d, kind):
        # the index needs titles, slugs and scores only: no maps
        if kind == "comuni":
            r = d.mun[d.mun["istat_code"] == sid].iloc[0]
            a = d.acc[d.acc["istat_code"] == sid]
            ctxs.append({"title": r["name"], "slug": atlas._slug(f"{sid}-{r['name']}"),
                         "role_it": atlas.ROLE_IT.get(r.get("role"), "—"),
                         "score": float(a["score_15"].iloc[0]) if len(a) else float("nan")})
        else:
            r = d.lum[d.lum["lum_id"] == sid].iloc[0]
            a = d.acc_lum[d.acc_lum["lum_id"] == sid] if d.acc_lum is not None else []
            ctxs.append({"title": f"LUM {r['name']}", "slug": atlas._slug(sid), "row": r,
                         "level_it": atlas.LEVEL_IT.get(r["level"], r["level"]),
                         "score": float(a["score_15"].iloc[0]) if len(a) else float("nan")})
    title = "Atlante metropolitano dei servizi" if kind == "comuni" else "Atlante dei LUM"
    return portal_document(request, render_html("sttm.services", "atlas_index.html.j2",
                                    {"title": title, "sheets": ctxs, "kind": kind, "notes": d.notes, "pdf_links": True}))


@router.get("/atlante/{kind}/{slug}.html", response_class=HTMLResponse)
def atlas_sheet(kind: str, slug: str, request: Request):
    ctx = _context(_data(request), _kind(kind), slug)
    return portal_document(request, atlas.render_sheet(ctx))


@router.get("/atlante/{kind}/{slug}.pdf")
def atlas_sheet_pdf(kind: str, slug: str, request: Request):
    from sttm.reports import write_pdf

    ctx = _context(_data(request), _kind(kind), slug)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_pdf(atlas.render_sheet(ctx), Path(tmp) / "scheda.pdf")
        body = path.read_bytes()
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{ctx["slug"]}.pdf"'})
