"""Portal pages of the diffusion balance (read-only): list, the Bilancio document (HTML/PDF),
the JSON of a balance and the state of its conference/agreement.

Include with ``router.include_router(sttm.equalization.balance.web.router)`` in
``sttm.equalization.web`` (the portal loads ``sttm.<wing>.web.router``).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .conference import WorkflowError, agreement_state, conference_state, deadlines
from .params import load_params
from .report import ReportError, load_balance, render_balance_html, write_balance_report
from .store import list_balances
from .territory import Territory

router = APIRouter(tags=["bilancio delle diffusività"])
TITLE = "Bilancio delle diffusività"
HOME = "/bilanci"


def _kb(request: Request):
    return request.app.state.kb


def _territory(request: Request) -> Territory:
    st = request.app.state
    if getattr(st, "balance_territory", None) is None:
        st.balance_territory = Territory.from_kb(st.kb)
    return st.balance_territory


def _stored(request: Request, balance_id: str):
    try:
        return load_balance(_kb(request), balance_id)
    except ReportError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/bilanci", response_class=HTMLResponse, include_in_schema=False)
def balances_page(request: Request):
    from sttm.reports import render_html
    rows = list_balances(_kb(request))
    return HTMLResponse(render_html("sttm.equalization", "balance_list.html.j2",
                                    {"title": "Bilanci delle diffusività territoriali", "rows": rows,
                                     "deadlines": deadlines(_kb(request))}))


@router.get("/bilanci/{balance_id}", response_class=HTMLResponse, include_in_schema=False)
def balance_page(request: Request, balance_id: str):
    _stored(request, balance_id)
    return HTMLResponse(render_balance_html(_kb(request), balance_id, _territory(request), load_params()))


@router.get("/bilanci/{balance_id}/pdf", include_in_schema=False)
def balance_pdf(request: Request, balance_id: str):
    _stored(request, balance_id)
    with tempfile.TemporaryDirectory() as d:
        paths = write_balance_report(_kb(request), balance_id, d, _territory(request), load_params())
        data = Path(paths["pdf"]).read_bytes()
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{balance_id}.pdf"'})


@router.get("/api/bilanci", summary="Elenco dei bilanci registrati")
def balances_json(request: Request):
    return list_balances(_kb(request))


@router.get("/api/bilanci/{balance_id}", summary="Un bilancio: matrice, motivazione, risorse, allocazione")
def balance_json(request: Request, balance_id: str):
    sb = _stored(request, balance_id)
    b = dict(sb.balance)
    for k in ("affected_json", "explanation_json", "assumptions_json", "indicators_json"):
        b[k.removesuffix("_json")] = json.loads(b.pop(k))
    return JSONResponse({"balance": b, "proposal": {k: v for k, v in sb.proposal.items() if k != "payload_json"},
                         "matrix": {c: {k: float(v) for k, v in row.items() if v} for c, row in sb.matrix.iterrows()},
                         "resources": sb.resources, "allocation": sb.allocation})


@router.get("/api/conferenze/{record_id}", summary="Stato di una conferenza (CC-…) o di un accordo (AT-…)")
def record_json(request: Request, record_id: str):
    try:
        st = agreement_state(_kb(request), record_id) if record_id.startswith("AT-") \
            else conference_state(_kb(request), record_id)
    except WorkflowError as exc:
        raise HTTPException(404, str(exc)) from None
    d = {k: v for k, v in st.__dict__.items() if k != "events"}
    d["events"] = [{k: e[k] for k in ("seq", "kind", "istat_code", "actor", "event_date", "due_on", "hash")}
                   for e in st.events]
    return d
