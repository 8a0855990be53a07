"""Portal pages of STTM 3 (read-only): productive poles, candidate sites, evaluated proposals,
with their Italian reports. The layers are the ones written by ``sttm production …``."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse

from sttm.web.frame import portal_document

from .errors import ProductionInputError

router = APIRouter(prefix="/sttm3", tags=["STTM 3 – produzione e logistica"])
TITLE = "STTM 3 – Produzione e logistica"
HOME = "/sttm3"

_TABLES = {"poli": ("productive_poles", ["pole_id", "n_members", "name", "category_label", "comune", "area_ha", "verdict_label",
                                         "failed_rules"]),
           "siti": ("production_sites", ["site_id", "name", "comune", "suitability", "suitability_label", "reason"]),
           "proposte": ("production_proposals", ["proposal_id", "name", "category", "total", "grade", "verdict",
                                                 "heavy_trucks_day"])}


def _records(kb, name, cols):
    if not kb.has_layer(name):
        return []
    df = kb.read_layer(name)
    df = df[[c for c in cols if c in df.columns]]
    return df.astype(object).where(df.notna(), None).to_dict("records")


@router.get("", response_class=HTMLResponse)
async def index(request: Request):
    from sttm.reports import render_html
    kb = request.app.state.kb
    ctx = {k: _records(kb, name, cols) for k, (name, cols) in _TABLES.items()}
    return portal_document(request, render_html("sttm.production", "web_index.html.j2", {"title": TITLE, **ctx}))


@router.get("/{what}.json")
async def table_json(request: Request, what: str):
    if what not in _TABLES:
        raise HTTPException(404, f"tabella {what!r} sconosciuta (poli, siti, proposte)")
    name, cols = _TABLES[what]
    return JSONResponse(_records(request.app.state.kb, name, cols))


def _report(request: Request, fn, ref: str) -> HTMLResponse:
    try:
        return portal_document(request, fn(request.app.state.kb, ref))
    except ProductionInputError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/poli/{pole_id:path}", response_class=HTMLResponse)
async def pole_page(request: Request, pole_id: str):
    from .reports import pole_report
    return _report(request, pole_report, pole_id)


@router.get("/siti/{site_id:path}", response_class=HTMLResponse)
async def site_page(request: Request, site_id: str):
    from .reports import site_report
    return _report(request, site_report, site_id)
