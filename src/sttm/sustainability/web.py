"""Portal pages of STTM 1: evaluated norm sheets and the NBS catalogue (read-only)."""
from __future__ import annotations

import json

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse

from sttm.web.frame import portal_document

router = APIRouter(prefix="/sttm1", tags=["STTM 1 – NBS"])
TITLE = "STTM 1 – NBS"
HOME = "/sttm1"


def _sheets(request: Request):
    kb = request.app.state.kb
    if not kb.has_layer("nbs_sheets"):
        return None
    return kb.read_layer("nbs_sheets")


@router.get("", response_class=HTMLResponse)
async def index(request: Request):
    from sttm.reports import render_html

    from .catalogue import load_catalogue

    df = _sheets(request)
    sheets = [] if df is None else df.drop(columns=["result_json"]).sort_values("computed_at", ascending=False) \
        .to_dict("records")
    return portal_document(request, render_html("sttm.sustainability", "nbs_index.html.j2",
                                    {"sheets": sheets, "catalogue": list(load_catalogue().values())}))


@router.get("/catalogo.json")
async def catalogue_json():
    from .catalogue import load_catalogue

    return JSONResponse(load_catalogue().table.to_dict("records"))


@router.get("/schede/{sheet_id:path}", response_class=HTMLResponse)
async def sheet_page(request: Request, sheet_id: str):
    from .report import render_sheet

    df = _sheets(request)
    row = None if df is None else df[df["sheet_id"] == sheet_id]
    if row is None or row.empty:
        raise HTTPException(404, f"scheda {sheet_id!r} non trovata")
    return portal_document(request, render_sheet(json.loads(row.iloc[0]["result_json"])))


def _form(request: Request, sheet: str, site: str, error: str | None = None, status: int = 200) -> HTMLResponse:
    from sttm.reports import render_html

    from .catalogue import load_catalogue

    return portal_document(request, render_html("sttm.sustainability", "nbs_form.html.j2",
                                                 {"sheet": sheet, "site": site, "error": error,
                                                  "types": sorted(load_catalogue())}), status=status)


@router.get("/valuta", response_class=HTMLResponse)
async def evaluate_form(request: Request, scheda: str = "flood"):
    from .siteio import EXAMPLES

    sheet = scheda if scheda in EXAMPLES else "flood"
    return _form(request, sheet, EXAMPLES[sheet])


@router.post("/valuta", response_class=HTMLResponse)
async def evaluate_submit(request: Request, sheet: str = Form(...), site: str = Form(...)):
    """Evaluate a sheet from a TOML description (nothing is saved); errors re-show the form."""
    import tomllib

    from .catalogue import CatalogueError
    from .flood import evaluate_flood
    from .heat import evaluate_heat
    from .hydrology import HydrologyError
    from .kb import ContextError, site_context
    from .report import render_sheet
    from .siteio import flood_site, heat_site
    from .surfaces import SiteInputError

    if sheet not in ("flood", "heat"):
        return _form(request, "flood", site, "scheda sconosciuta", 400)
    try:
        d = tomllib.loads(site)
        ctx = site_context(request.app.state.kb, d["istat_code"]) if d.get("istat_code") else {}
        if sheet == "flood":
            s, notes = flood_site(d, ctx, "descrizione")
            result = evaluate_flood(s)
        else:
            s, notes = heat_site(d, ctx, "descrizione")
            result = evaluate_heat(s)
    except (tomllib.TOMLDecodeError, SiteInputError, HydrologyError, CatalogueError, ContextError) as exc:
        return _form(request, sheet, site, str(exc), 400)
    return portal_document(request, render_sheet(result, notes))
