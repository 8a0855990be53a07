"""Portal pages of the fund: a comune's technician sees the accounts of their own comune,
CMM planners and administrators see everything.

Include with ``app.include_router(sttm.equalization.web_fund.router)`` (the portal gives the
engine as ``app.state.kb.engine`` and the user through ``sttm.web.pages.current_user``).
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

TITLE = "Fondo perequativo"
HOME = "/fondo"
CMM_ROLES = ("planner", "admin")

router = APIRouter(tags=["fondo perequativo"])


def fund_user(request: Request):
    """The logged-in portal user (role, istat_code), or None."""
    from sttm.web.pages import current_user
    return current_user(request)


def _ledger(request: Request):
    from sttm.equalization.fund import Ledger
    return Ledger(request.app.state.kb.engine)


def _allowed(user, istat: str | None) -> None:
    if user is None:
        raise HTTPException(401, "accedere con le proprie credenziali per vedere i conti del Fondo")
    if user.role in CMM_ROLES:
        return
    if istat is None or user.istat_code != istat:
        raise HTTPException(403, "un Comune vede soltanto i propri conti del Fondo")


@router.get("/fondo", response_class=HTMLResponse)
def fund_home(request: Request, user=Depends(fund_user)):
    if user is not None and user.role not in CMM_ROLES and user.istat_code:
        return RedirectResponse(f"/fondo/comune/{user.istat_code}", status_code=303)
    _allowed(user, None)
    from sttm.equalization.fund.statements import statement_html
    return HTMLResponse(statement_html(_ledger(request), None, check=False))


@router.get("/fondo/comune/{istat}", response_class=HTMLResponse)
def fund_comune(istat: str, request: Request, user=Depends(fund_user)):
    _allowed(user, istat)
    from sttm.equalization.fund.statements import statement_html
    return HTMLResponse(statement_html(_ledger(request), istat, check=False))


@router.get("/api/fondo/saldi")
def fund_balances_api(request: Request, comune: str | None = None, user=Depends(fund_user)):
    """Balances as JSON: CMM any comune (or all), a comune always and only its own."""
    if user is not None and user.role not in CMM_ROLES:
        comune = user.istat_code                   # a comune's request is always about itself
    _allowed(user, comune)
    led = _ledger(request)
    return JSONResponse({"comune": comune, "head": list(led.head()),
                         "by_comune": led.balances_by("comune", comune=comune)})
