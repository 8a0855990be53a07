"""Portal pages of STTM 1: evaluated norm sheets and the NBS catalogue (read-only)."""
from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse

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
    return HTMLResponse(render_html("sttm.sustainability", "nbs_index.html.j2",
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
    return HTMLResponse(render_sheet(json.loads(row.iloc[0]["result_json"])))
