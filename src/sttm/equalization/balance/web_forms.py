"""Portal forms of the diffusion balance and its conference/agreement workflow (Italian).

Who may do what — checked on the server for every POST (session, CSRF, role: the portal's
``require_writer``), then again here against the record:

============================  ======================================  =====================
step                          route (POST)                            roles
============================  ======================================  =====================
submit a proposal file        /bilanci/proponi                        technician (own comune
                                                                      only), planner, admin
open the conference           /bilanci/{balance_id}/conferenza        planner, admin
record a comune's position    /conferenze/{conference_id}/posizione   technician (own comune),
                                                                      planner, admin
close the conference          /conferenze/{conference_id}/chiusura    planner, admin
draft the agreement           /conferenze/{conference_id}/accordo     planner, admin
sign                          /accordi/{agreement_id}/firma           technician (own comune);
                                                                      planner/admin for CMM
record the outcome            /accordi/{agreement_id}/esito           planner, admin
============================  ======================================  =====================

Every step is the engine's own function (append-only, audited); a refused step shows its
reason and records nothing.
"""
from __future__ import annotations

import json
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from . import conference as cf
from .model import ProposalError
from .params import LEVEL_IT, ParamsError, load_params
from .territory import TerritoryError

router = APIRouter(tags=["bilancio delle diffusività"])
PKG = "sttm.equalization"
CMM_ROLES = ("planner", "admin")
ALL_ROLES = ("technician", "planner", "admin")
MAX_UPLOAD = 5 * 1024 * 1024
STANCE_CHOICES = [(k, v) for k, v in cf.STANCE_IT.items()]


def _pages():
    from sttm.web import pages           # the portal's helpers (auth, CSRF, roles, base template)
    return pages


def _kb(request: Request):
    return request.app.state.kb


def _territory(request: Request):
    from .web import _territory as t
    return t(request)


def _names(request: Request) -> dict[str, str]:
    try:
        t = _territory(request)
    except TerritoryError:
        return {}
    return dict(zip(t.codes, t.names))


def _cmm(user) -> bool:
    return user.role in CMM_ROLES


def _own(user, istat: str) -> None:
    """A technician acts only for their own comune."""
    if not _cmm(user) and user.istat_code != istat:
        raise HTTPException(403, f"il tecnico del Comune {user.istat_code} non può agire per il Comune {istat}")


def _done(url: str, msg: str) -> RedirectResponse:
    return RedirectResponse(f"{url}?esito={quote(msg)}", status_code=303)


# ------------------------------------------------------------------------------ submission
@router.get("/bilanci/proponi", response_class=HTMLResponse, include_in_schema=False)
async def submit_form(request: Request):
    p = _pages()
    user = p.current_user(request)
    if user is None:
        raise HTTPException(401, "accedere per presentare una proposta")
    if user.role not in ALL_ROLES:
        raise HTTPException(403, "ruolo non autorizzato")
    return p.render_page(request, PKG, "balance_submit.html", {"title": "Presenta una proposta"})


@router.post("/bilanci/proponi", include_in_schema=False)
async def submit(request: Request):
    from .importer import import_proposal
    p = _pages()
    user, form = await p.require_writer(request, ALL_ROLES)
    upload = form.get("file")
    if upload is None or not getattr(upload, "filename", ""):
        return _submit_error(request, ["scegliere un file JSON o GeoJSON con la proposta"])
    raw = await upload.read(MAX_UPLOAD + 1)
    if len(raw) > MAX_UPLOAD:
        raise HTTPException(413, f"il file supera {MAX_UPLOAD // (1024 * 1024)} MB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _submit_error(request, [f"{upload.filename}: non è un JSON valido ({exc})"])
    istat = _declared_comune(data)
    if user.role == "technician" and istat != user.istat_code:
        raise HTTPException(403, f"il tecnico del Comune {user.istat_code} presenta solo proposte del proprio Comune "
                                 f"(il file indica {istat or 'nessun Comune'})")
    try:
        _, bid, _ = import_proposal(_kb(request), data, load_params(), user.username, _territory(request))
    except (ProposalError, TerritoryError, ParamsError) as exc:
        return _submit_error(request, [f"{upload.filename}: {exc}"])
    return _done(f"/bilanci/{bid}/procedura", "Proposta registrata e bilancio calcolato")


def _declared_comune(data) -> str | None:
    """The adopting comune a proposal file names (``act.istat_code``, or the FeatureCollection's ``act``)."""
    if not isinstance(data, dict):
        return None
    act = data.get("act")
    if isinstance(act, dict):
        return str(act.get("istat_code") or "") or None
    return None


def _submit_error(request: Request, errors: list[str]) -> HTMLResponse:
    return _pages().render_page(request, PKG, "balance_submit.html",
                                {"title": "Presenta una proposta", "errors": errors}, status=422)


# ------------------------------------------------------------------------------- workflow page
def _workflow(request: Request, balance_id: str) -> dict:
    from .store import conference_events, ensure_schema, list_balances
    kb = _kb(request)
    ensure_schema(kb)
    row = next((b for b in list_balances(kb) if b["balance_id"] == balance_id), None)
    if row is None:
        raise HTTPException(404, f"bilancio {balance_id!r} inesistente")
    conf = agr = None
    with kb.engine.connect() as conn:
        opened = conn.execute(conference_events.select().with_only_columns(conference_events.c.conference_id)
                              .where((conference_events.c.balance_id == balance_id)
                                     & (conference_events.c.kind == "opened"))).first()
    if opened:
        conf = cf.conference_state(kb, opened[0])
        try:
            agr = cf.agreement_state(kb, f"AT-{balance_id}")
        except cf.WorkflowError:
            agr = None
    return {"row": row, "conf": conf, "agr": agr}


@router.get("/bilanci/{balance_id}/procedura", response_class=HTMLResponse, include_in_schema=False)
async def workflow_page(request: Request, balance_id: str, esito: str | None = None):
    return _render_workflow(request, balance_id, message=esito)


def _render_workflow(request: Request, balance_id: str, message: str | None = None, error: str | None = None,
                     status: int = 200) -> HTMLResponse:
    p = _pages()
    ctx = _workflow(request, balance_id)
    user = p.current_user(request)
    conf, agr, cmm = ctx["conf"], ctx["agr"], bool(user and _cmm(user))
    pending, can = [], []
    if user and conf is not None and conf.status == "open":
        mine = conf.invited if cmm else [c for c in conf.invited if c == user.istat_code]
        pending = [c for c in mine if c not in conf.positions]
    if user and agr is not None and agr.status == "drafted":
        can = [s for s in agr.missing() if (s == cf.CMM if cmm else s == user.istat_code)]
    ctx.update(title=f"Conferenza e accordo — {balance_id}", balance_id=balance_id, names=_names(request),
               pending=pending, can=can, level_it=LEVEL_IT,
               message=message, error=error, stances=STANCE_CHOICES, is_cmm=cmm,
               stance_it=cf.STANCE_IT, outcome_it={"concluded": "concluso", "not_concluded": "non concluso",
                                                    "drafted": "in sottoscrizione"})
    return p.render_page(request, PKG, "balance_workflow.html", ctx, status=status)


async def _step(request: Request, balance_id: str, roles: tuple[str, ...], action, ok: str):
    """Runs a workflow step after the portal's checks; a refused step re-renders the page (409)."""
    user, form = await _pages().require_writer(request, roles)
    try:
        action(user, form)
    except cf.WorkflowError as exc:
        return _render_workflow(request, balance_id, error=str(exc), status=409)
    return _done(f"/bilanci/{balance_id}/procedura", ok)


def _balance_of(request: Request, record_id: str) -> str:
    """Balance id of a conference (CC-<balance>) or agreement (AT-<balance>) that exists."""
    try:
        st = cf.agreement_state(_kb(request), record_id) if record_id.startswith("AT-") \
            else cf.conference_state(_kb(request), record_id)
    except cf.WorkflowError as exc:
        raise HTTPException(404, str(exc)) from None
    return st.events[0]["balance_id"]


@router.post("/bilanci/{balance_id}/conferenza", include_in_schema=False)
async def open_conference(request: Request, balance_id: str):
    _workflow(request, balance_id)               # 404 for an unknown balance
    return await _step(request, balance_id, CMM_ROLES,
                       lambda u, f: cf.open_conference(_kb(request), balance_id, load_params(), u.username),
                       "Conferenza convocata")


@router.post("/conferenze/{conference_id}/posizione", include_in_schema=False)
async def position(request: Request, conference_id: str):
    bid = _balance_of(request, conference_id)

    def act(user, form):
        istat = str(form.get("istat_code") or "")
        _own(user, istat)
        cf.record_position(_kb(request), conference_id, istat, str(form.get("stance") or ""),
                           str(form.get("text") or "")[:4000], user.username)
    return await _step(request, bid, ALL_ROLES, act, "Posizione registrata")


@router.post("/conferenze/{conference_id}/chiusura", include_in_schema=False)
async def close(request: Request, conference_id: str):
    bid = _balance_of(request, conference_id)
    return await _step(request, bid, CMM_ROLES,
                       lambda u, f: cf.close_conference(_kb(request), conference_id, str(f.get("outcome") or ""),
                                                        u.username), "Conferenza chiusa")


@router.post("/conferenze/{conference_id}/accordo", include_in_schema=False)
async def draft(request: Request, conference_id: str):
    bid = _balance_of(request, conference_id)
    return await _step(request, bid, CMM_ROLES,
                       lambda u, f: cf.draft_agreement(_kb(request), conference_id, load_params(), u.username,
                                                       post_comuni_to_fund=f.get("post_comuni_to_fund") == "1"),
                       "Accordo redatto: in attesa delle firme")


@router.post("/accordi/{agreement_id}/firma", include_in_schema=False)
async def sign(request: Request, agreement_id: str):
    bid = _balance_of(request, agreement_id)

    def act(user, form):
        signatory = cf.CMM if _cmm(user) and form.get("signatory") == cf.CMM else str(form.get("signatory") or "")
        if signatory == cf.CMM:
            if not _cmm(user):
                raise HTTPException(403, "solo CMM firma per la Città metropolitana")
        else:
            _own(user, signatory)
        cf.sign_agreement(_kb(request), agreement_id, signatory, user.username)
    return await _step(request, bid, ALL_ROLES, act, "Firma registrata")


@router.post("/accordi/{agreement_id}/esito", include_in_schema=False)
async def outcome(request: Request, agreement_id: str):
    bid = _balance_of(request, agreement_id)
    return await _step(request, bid, CMM_ROLES,
                       lambda u, f: cf.record_outcome(_kb(request), agreement_id, u.username,
                                                      str(f.get("note") or "")[:2000]),
                       "Esito registrato (quote registrate nel Fondo perequativo se concluso)")
