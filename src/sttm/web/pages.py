"""Portal pages (Italian): home, map, dashboard, comuni, Remix registries and forms, login, users.

Every write route checks the session, the CSRF token and the role on the server; the registry
functions check the role again against the stored record (a technician's request for another
comune's record is refused whatever the form says).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pyproj import Transformer
from shapely import wkt as shp_wkt
from shapely.geometry import Point

from sttm.remix import registry, stats
from sttm.remix.loaders import read_user_file
from sttm.remix.model import ValidationError, vocabularies

from . import auth

router = APIRouter(include_in_schema=True)
_to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
_to_wgs = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True)
MAX_UPLOAD = 20 * 1024 * 1024
N_FUNDING_ROWS = 4


# ----------------------------------------------------------------------------- infrastructure
def current_user(request: Request) -> auth.User | None:
    if not hasattr(request.state, "user"):
        request.state.user = auth.session_user(request.app.state.kb.engine, request.cookies.get(auth.SESSION_COOKIE))
    return request.state.user


def render(request: Request, template: str, ctx: dict | None = None, status: int = 200,
           headers: dict | None = None, templates: Any = None) -> HTMLResponse:
    user = current_user(request)
    base = {"request": request, "user": user, "vocab": vocabularies(), "wings": request.app.state.wings,
            "csrf": user.csrf_token if user else ""}
    return (templates or request.app.state.templates).TemplateResponse(request, template, {**base, **(ctx or {})},
                                                        status_code=status, headers=headers)


def render_page(request: Request, package: str, template: str, ctx: dict | None = None, status: int = 200) -> HTMLResponse:
    """For other wings: render ``<package>/templates/<template>`` inside the portal look.

    The template may ``{% extends "base.html" %}`` (header, navigation, skip links, footer, lang="it")
    and fill ``{% block title %}``, ``{% block content %}``, ``{% block scripts %}``; the context has
    ``user`` (or None) and ``csrf`` (the token every POST form must carry as ``csrf_token``).
    """
    return render(request, template, ctx, status=status, templates=_wing_templates(request, package))


_WING_TEMPLATES: dict[str, Any] = {}


def _wing_templates(request: Request, package: str):
    if package not in _WING_TEMPLATES:
        from fastapi.templating import Jinja2Templates
        from jinja2 import ChoiceLoader, PackageLoader

        base = request.app.state.templates
        t = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
        t.env.loader = ChoiceLoader([PackageLoader(package, "templates"), base.env.loader])
        t.env.filters.update(base.env.filters)
        _WING_TEMPLATES[package] = t
    return _WING_TEMPLATES[package]


def error_page(request: Request, status: int, message: str, headers: dict | None = None) -> HTMLResponse:
    titles = {400: "Richiesta non valida", 401: "Accesso richiesto", 403: "Accesso negato", 404: "Pagina non trovata",
              409: "Conflitto di modifica", 413: "File troppo grande", 422: "Dati non validi",
              429: "Troppi tentativi", 503: "Dati non ancora disponibili"}
    return render(request, "error.html", {"status": status, "title": titles.get(status, "Errore"), "message": message},
                  status=status, headers=headers)


async def require_writer(request: Request, roles: tuple[str, ...] = ("technician", "planner", "admin")) -> tuple[auth.User, Any]:
    """The logged-in user with one of ``roles`` and the parsed form, after the CSRF check."""
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "accedere con le proprie credenziali per modificare i dati")
    form = await request.form()
    if not auth.csrf_ok(user.csrf_token, form.get("csrf_token") or request.headers.get("x-csrf-token")):
        raise HTTPException(403, "token CSRF mancante o non valido: ricaricare la pagina")
    if user.role not in roles:
        raise HTTPException(403, f"il ruolo {user.role_label} non consente questa operazione")
    return user, form


def kb(request: Request):
    return request.app.state.kb


def layer_or_empty(request: Request, name: str) -> pd.DataFrame:
    k = kb(request)
    if not k.has_layer(name):
        return pd.DataFrame()
    return k.read_layer(name)


def comuni_names(request: Request) -> dict[str, str]:
    mun = layer_or_empty(request, "municipalities")
    if mun.empty:
        return {}
    return dict(sorted(zip(mun["istat_code"], mun["name"]), key=lambda kv: kv[1]))


# ----------------------------------------------------------------------------- public pages
@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def home(request: Request):
    cat = request.app.state.cache.catalog()
    counts = {n: cat[n]["feature_count"] for n in ("interventions", "opportunity_areas", "municipalities",
                                                  "stations", "services") if n in cat}
    return render(request, "home.html", {"counts": counts})


@router.get("/mappa", response_class=HTMLResponse, include_in_schema=False)
async def map_page(request: Request):
    cat = request.app.state.cache.catalog()
    mun = layer_or_empty(request, "municipalities")
    zones = sorted({z for z in mun.get("zone", pd.Series(dtype=object)).dropna()}) if not mun.empty else []
    layers = [{"name": n, "title": m.get("title") or n, "kind": m["kind"], "geometry_type": m.get("geometry_type"),
               "count": m["feature_count"], "licence": m.get("licence") or ""}
              for n, m in sorted(cat.items()) if m["kind"] == "features"]
    return render(request, "map.html", {"layers": layers, "comuni": comuni_names(request), "zones": zones,
                                        "basemap_url": request.app.state.basemap_url})


@router.get("/cruscotto", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(request: Request, stato: str | None = None, ambito: str | None = None, fonte: str | None = None,
                    comune: str | None = None, zona: str | None = None):
    ints = layer_or_empty(request, "interventions")
    fund = layer_or_empty(request, "intervention_funding")
    names = comuni_names(request)
    if ints.empty:
        summary = None
    else:
        sel = stats.filter_interventions(ints, stato, ambito, fonte, comune, zona)
        if fund.empty:
            fund = pd.DataFrame(columns=["intervention_id", "source", "amount"])
        summary = stats.funding_summary(sel, fund, names)
    chart = None
    if summary:
        top = list(summary["by_comune"].items())[:15]
        chart = {"source": summary["by_source"], "zone": {k: v["total_cost"] for k, v in summary["by_zone"].items()},
                 "comune": {v["name"]: v["total_cost"] for _, v in top}}
    mun = layer_or_empty(request, "municipalities")
    zones = sorted({z for z in mun["zone"].dropna()}) if not mun.empty and "zone" in mun else []
    return render(request, "dashboard.html", {"s": summary, "chart": json.dumps(chart), "comuni": names, "zones": zones,
                                              "f": {"stato": stato, "ambito": ambito, "fonte": fonte,
                                                    "comune": comune, "zona": zona}})


@router.get("/comuni", response_class=HTMLResponse, include_in_schema=False)
async def comuni(request: Request):
    mun = layer_or_empty(request, "municipalities")
    rows = [] if mun.empty else pd.DataFrame(mun.drop(columns="geometry")).sort_values("name").to_dict("records")
    return render(request, "comuni.html", {"rows": rows})


@router.get("/comuni/{istat_code}", response_class=HTMLResponse, include_in_schema=False)
async def comune_page(request: Request, istat_code: str):
    mun = layer_or_empty(request, "municipalities")
    if mun.empty or istat_code not in set(mun["istat_code"]):
        raise HTTPException(404, f"comune {istat_code!r} inesistente")
    m = mun.set_index("istat_code").loc[istat_code]
    ints = layer_or_empty(request, "interventions")
    mine = stats.filter_interventions(ints, comune=istat_code) if not ints.empty else ints
    opps = layer_or_empty(request, "opportunity_areas")
    opps_here = opps[opps["istat_code"] == istat_code] if not opps.empty else opps
    counts = {}
    for name in ("stations", "services"):
        lay = layer_or_empty(request, name)
        counts[name] = int((lay["istat_code"] == istat_code).sum()) if not lay.empty and "istat_code" in lay else None
    bounds = list(_to_wgs.transform(*m.geometry.bounds[:2])) + list(_to_wgs.transform(*m.geometry.bounds[2:]))
    cols = ["intervention_id", "title", "status", "total_cost", "n_comuni", "location_precision", "funding_sources"]
    return render(request, "comune.html", {
        "code": istat_code, "m": m, "bounds": json.dumps(bounds), "counts": counts,
        "ints": [] if mine.empty else pd.DataFrame(mine)[cols].to_dict("records"),
        "total": float(mine["total_cost"].fillna(0).sum()) if not mine.empty else 0.0,
        "opps": [] if opps_here.empty else pd.DataFrame(opps_here.drop(columns="geometry")).to_dict("records"),
    })


# ----------------------------------------------------------------------------- login
@router.get("/accedi", response_class=HTMLResponse, include_in_schema=False)
async def login_form(request: Request, next: str = "/remix/interventi"):
    import secrets

    token = request.cookies.get(auth.LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    resp = render(request, "login.html", {"login_csrf": token, "next": _safe_next(next)})
    resp.set_cookie(auth.LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                    secure=request.app.state.secure_cookies)
    return resp


def _safe_next(nxt: str | None) -> str:
    return nxt if nxt and nxt.startswith("/") and not nxt.startswith("//") else "/remix/interventi"


@router.post("/accedi", response_class=HTMLResponse, include_in_schema=False)
async def login_submit(request: Request):
    form = await request.form()
    if not auth.csrf_ok(request.cookies.get(auth.LOGIN_CSRF_COOKIE), form.get("csrf_token")):
        raise HTTPException(403, "token CSRF mancante o non valido: ricaricare la pagina di accesso")
    client = request.client.host if request.client else "?"
    try:
        token, _user = auth.login(kb(request).engine, str(form.get("username") or ""), str(form.get("password") or ""), client)
    except auth.Throttled as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
    except auth.AuthError as exc:
        return render(request, "login.html", {"error": str(exc), "login_csrf": form.get("csrf_token"),
                                              "next": _safe_next(str(form.get("next") or ""))}, status=401)
    resp = RedirectResponse(_safe_next(str(form.get("next") or "")), status_code=303)
    resp.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="lax", secure=request.app.state.secure_cookies,
                    max_age=auth.SESSION_HOURS * 3600)
    return resp


@router.post("/esci", include_in_schema=False)
async def logout(request: Request):
    user, _ = await require_writer(request, roles=auth.ROLES)
    auth.logout(kb(request).engine, request.cookies.get(auth.SESSION_COOKIE))
    resp = RedirectResponse("/", status_code=303)
    resp.delete_cookie(auth.SESSION_COOKIE)
    return resp


# ----------------------------------------------------------------------------- registries
def _form_to_intervention(form: Any, user: auth.User, old: dict | None) -> dict[str, Any]:
    codes = form.getlist("istat_codes") if hasattr(form, "getlist") else [form.get("istat_codes")]
    raw: dict[str, Any] = {k: (form.get(k) or None) for k in (
        "title", "description", "status", "start_date", "end_date", "total_cost", "cup", "programme",
        "implementing_body", "n_locations_total", "source")}
    raw["intervention_id"] = (old or {}).get("intervention_id") or (form.get("intervention_id") or "").strip()
    raw["istat_codes"] = [c for c in codes if c]
    raw["domains"] = form.getlist("domains")
    raw["funding"] = []
    for i in range(1, N_FUNDING_ROWS + 1):
        src, amount = form.get(f"funding_source_{i}"), form.get(f"funding_amount_{i}")
        if src or amount:
            raw["funding"].append({"source": src, "programme": form.get(f"funding_programme_{i}") or None,
                                   "amount": amount})
    raw["geometry_wkt"] = (old or {}).get("geometry_wkt")
    raw["location_precision"] = (old or {}).get("location_precision")
    point = _point_from_form(form)
    if point:
        raw["geometry_wkt"] = point
        raw["location_precision"] = "exact"
    elif raw["location_precision"] == "exact" and raw["geometry_wkt"] is None:
        raw["location_precision"] = "comune"
    return raw


def _expected_version(form: Any) -> int:
    """The record version the client read (optimistic locking)."""
    try:
        return int(form.get("row_version") or "x")
    except ValueError:
        raise HTTPException(400, "versione del record mancante (row_version)") from None


def _point_from_form(form: Any) -> str | None:
    """WKT (EPSG:32632) of the lon/lat fields, None when empty; ValidationError when wrong."""
    lon, lat = form.get("lon"), form.get("lat")
    if not (lon and lat):
        return None
    try:
        x, y = _to_utm.transform(float(lon), float(lat))
    except ValueError:
        raise ValidationError(["campi 'lon'/'lat': numeri in gradi decimali WGS84"]) from None
    if not (300_000 < x < 800_000 and 4_800_000 < y < 5_300_000):
        raise ValidationError(["campi 'lon'/'lat': punto lontano dalla Città metropolitana di Milano"])
    return Point(x, y).wkt


def _lonlat(geometry_wkt: str | None) -> tuple[str, str]:
    if not geometry_wkt:
        return "", ""
    g = shp_wkt.loads(geometry_wkt)
    if g.geom_type != "Point":
        return "", ""
    lon, lat = _to_wgs.transform(g.x, g.y)
    return f"{lon:.6f}", f"{lat:.6f}"


@router.get("/remix/interventi", response_class=HTMLResponse, include_in_schema=False)
async def interventions_list(request: Request, comune: str | None = None):
    user = current_user(request)
    if comune is None and user is not None and user.role == "technician":
        comune = user.istat_code
    if user is None:  # the public reads the published layer, not the working copy
        rows = _published_interventions(request, comune)[:500]
    else:
        with kb(request).engine.connect() as c:
            rows = registry.list_interventions(c, comune, limit=500)
    return render(request, "interventions.html", {"rows": rows, "comune": comune, "comuni": comuni_names(request),
                                                  "published_only": user is None})


def _published_interventions(request: Request, comune: str | None) -> list[dict]:
    ints = layer_or_empty(request, "interventions")
    if ints.empty:
        return []
    if comune:
        ints = stats.filter_interventions(ints, comune=comune)
    cols = ["intervention_id", "title", "istat_codes", "status", "total_cost", "updated_at"]
    return pd.DataFrame(ints)[cols].sort_values("intervention_id").to_dict("records")


def _published_intervention(request: Request, intervention_id: str) -> dict:
    ints = layer_or_empty(request, "interventions")
    row = ints[ints["intervention_id"] == intervention_id] if not ints.empty else ints
    if row.empty:
        raise registry.NotFound(intervention_id)
    rec = pd.DataFrame(row.drop(columns="geometry")).iloc[0].to_dict()
    rec = {k: (None if isinstance(v, float) and v != v else v) for k, v in rec.items()}
    rec["istat_codes"] = [c for c in (rec.get("istat_codes") or "").split(";") if c]
    rec["domains"] = [c for c in (rec.get("domains") or "").split(";") if c]
    fund = layer_or_empty(request, "intervention_funding")
    rec["funding"] = [] if fund.empty else fund[fund["intervention_id"] == intervention_id][
        ["source", "programme", "amount"]].to_dict("records")
    rec.setdefault("updated_by", "")
    return rec


@router.get("/remix/interventi/nuovo", response_class=HTMLResponse, include_in_schema=False)
async def intervention_new_form(request: Request):
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "accedere per inserire un intervento")
    if user.role not in auth.ROLES:
        raise HTTPException(403, "ruolo non autorizzato")
    return render(request, "intervention_form.html", {"rec": None, "comuni": _allowed_comuni(request, user),
                                                      "lon": "", "lat": "", "n_funding": N_FUNDING_ROWS})


def _allowed_comuni(request: Request, user: auth.User) -> dict[str, str]:
    names = comuni_names(request)
    if user.role == "technician":
        return {user.istat_code: names.get(user.istat_code, user.istat_code)}
    return names


@router.post("/remix/interventi/nuovo", include_in_schema=False)
async def intervention_create(request: Request):
    user, form = await require_writer(request)
    try:
        raw = _form_to_intervention(form, user, None)
        with registry.writing(kb(request).engine) as c:
            rec = registry.create_intervention(c, user, raw)
    except ValidationError as exc:
        return render(request, "intervention_form.html", {
            "rec": None, "errors": exc.errors, "comuni": _allowed_comuni(request, user), "form": form,
            "lon": form.get("lon") or "", "lat": form.get("lat") or "", "n_funding": N_FUNDING_ROWS}, status=422)
    return RedirectResponse(f"/remix/interventi/{rec['intervention_id']}?salvato=1", status_code=303)


@router.get("/remix/interventi/{intervention_id}", response_class=HTMLResponse, include_in_schema=False)
async def intervention_detail(request: Request, intervention_id: str, salvato: int = 0):
    user = current_user(request)
    if user is None:  # the public reads the published version
        rec, trail = _published_intervention(request, intervention_id), []
    else:
        with kb(request).engine.connect() as c:
            rec = registry.get_intervention(c, intervention_id)
            trail = registry.audit_trail(c, intervention_id, limit=20) if user.role in ("planner", "admin") else []
    return render(request, "intervention_detail.html", {
        "rec": rec, "names": comuni_names(request), "saved": bool(salvato), "trail": trail,
        "can_edit": registry.can_write(user, "intervention", rec)})


@router.get("/remix/interventi/{intervention_id}/modifica", response_class=HTMLResponse, include_in_schema=False)
async def intervention_edit_form(request: Request, intervention_id: str):
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "accedere per modificare un intervento")
    with kb(request).engine.connect() as c:
        rec = registry.get_intervention(c, intervention_id)
    if not registry.can_write(user, "intervention", rec):
        raise HTTPException(403, f"{user.username} ({user.role_label}) non può modificare l'intervento "
                                 f"{intervention_id}: appartiene a un altro comune")
    lon, lat = _lonlat(rec["geometry_wkt"])
    return render(request, "intervention_form.html", {"rec": rec, "comuni": _allowed_comuni(request, user),
                                                      "lon": lon, "lat": lat, "n_funding": N_FUNDING_ROWS})


@router.post("/remix/interventi/{intervention_id}/modifica", include_in_schema=False)
async def intervention_update(request: Request, intervention_id: str):
    user, form = await require_writer(request)
    expected = _expected_version(form)
    with kb(request).engine.connect() as c:
        old = registry.get_intervention(c, intervention_id)
    try:
        raw = _form_to_intervention(form, user, old)
        with registry.writing(kb(request).engine) as c:
            registry.update_intervention(c, user, intervention_id, raw, expected)
    except registry.Conflict as exc:  # show the current record; the user's text stays in the fields
        with kb(request).engine.connect() as c:
            current = registry.get_intervention(c, intervention_id)
        return render(request, "intervention_form.html", {
            "rec": current, "errors": [str(exc)], "conflict": True, "comuni": _allowed_comuni(request, user),
            "form": form, "lon": form.get("lon") or "", "lat": form.get("lat") or "", "n_funding": N_FUNDING_ROWS},
            status=409)
    except ValidationError as exc:
        return render(request, "intervention_form.html", {
            "rec": old, "errors": exc.errors, "comuni": _allowed_comuni(request, user), "form": form,
            "lon": form.get("lon") or "", "lat": form.get("lat") or "", "n_funding": N_FUNDING_ROWS}, status=422)
    return RedirectResponse(f"/remix/interventi/{intervention_id}?salvato=1", status_code=303)


@router.post("/remix/interventi/{intervention_id}/elimina", include_in_schema=False)
async def intervention_delete(request: Request, intervention_id: str):
    user, form = await require_writer(request)
    expected = _expected_version(form)
    with registry.writing(kb(request).engine) as c:
        registry.delete_intervention(c, user, intervention_id, expected)
    return RedirectResponse("/remix/interventi", status_code=303)


# opportunity areas ------------------------------------------------------------
def _form_to_opportunity(form: Any, old: dict | None) -> dict[str, Any]:
    raw = {k: (form.get(k) or None) for k in ("name", "kind", "istat_code", "area_m2", "ownership", "current_use",
                                                "condition", "constraints", "address", "source", "licence")}
    raw["area_id"] = (old or {}).get("area_id") or (form.get("area_id") or "").strip()
    raw["geometry_wkt"] = (old or {}).get("geometry_wkt")
    raw["geometry_wkt"] = _point_from_form(form) or raw["geometry_wkt"]
    return raw


@router.get("/remix/aree", response_class=HTMLResponse, include_in_schema=False)
async def opportunities_list(request: Request, comune: str | None = None):
    user = current_user(request)
    if comune is None and user is not None and user.role == "technician":
        comune = user.istat_code
    if user is None:  # the public reads the published layer
        opp = layer_or_empty(request, "opportunity_areas")
        if not opp.empty and comune:
            opp = opp[opp["istat_code"] == comune]
        rows = [] if opp.empty else pd.DataFrame(opp)[["area_id", "name", "kind", "istat_code", "updated_at"]] \
            .sort_values("area_id").head(500).to_dict("records")
    else:
        with kb(request).engine.connect() as c:
            rows = registry.list_opportunities(c, comune, limit=500)
    return render(request, "opportunities.html", {"rows": rows, "comune": comune, "comuni": comuni_names(request)})


@router.get("/remix/aree/nuova", response_class=HTMLResponse, include_in_schema=False)
async def opportunity_new_form(request: Request):
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "accedere per inserire un'area")
    return render(request, "opportunity_form.html", {"rec": None, "comuni": _allowed_comuni(request, user),
                                                     "lon": "", "lat": ""})


@router.post("/remix/aree/nuova", include_in_schema=False)
async def opportunity_create(request: Request):
    user, form = await require_writer(request)
    try:
        with registry.writing(kb(request).engine) as c:
            rec = registry.create_opportunity(c, user, _form_to_opportunity(form, None))
    except ValidationError as exc:
        return render(request, "opportunity_form.html", {"rec": None, "errors": exc.errors, "form": form,
                                                         "comuni": _allowed_comuni(request, user),
                                                         "lon": form.get("lon") or "", "lat": form.get("lat") or ""},
                      status=422)
    return RedirectResponse(f"/remix/aree/{rec['area_id']}/modifica?salvato=1", status_code=303)


@router.get("/remix/aree/{area_id}", response_class=HTMLResponse, include_in_schema=False)
async def opportunity_detail(request: Request, area_id: str):
    """An opportunity area: the published version for the public, the working copy for logged-in users."""
    user = current_user(request)
    if user is None:
        opp = layer_or_empty(request, "opportunity_areas")
        row = opp[opp["area_id"] == area_id] if not opp.empty else opp
        if row.empty:
            raise registry.NotFound(area_id)
        rec = {k: (None if isinstance(v, float) and v != v else v)
               for k, v in pd.DataFrame(row.drop(columns="geometry")).iloc[0].to_dict().items()}
    else:
        with kb(request).engine.connect() as c:
            rec = registry.get_opportunity(c, area_id)
    return render(request, "opportunity_detail.html", {"rec": rec, "names": comuni_names(request),
                                                       "can_edit": registry.can_write(user, "opportunity", rec)})


@router.get("/remix/aree/{area_id}/modifica", response_class=HTMLResponse, include_in_schema=False)
async def opportunity_edit_form(request: Request, area_id: str, salvato: int = 0):
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "accedere per modificare un'area")
    with kb(request).engine.connect() as c:
        rec = registry.get_opportunity(c, area_id)
    if not registry.can_write(user, "opportunity", rec):
        raise HTTPException(403, f"{user.username} ({user.role_label}) non può modificare l'area {area_id}")
    lon, lat = _lonlat(rec["geometry_wkt"])
    return render(request, "opportunity_form.html", {"rec": rec, "comuni": _allowed_comuni(request, user),
                                                     "lon": lon, "lat": lat, "saved": bool(salvato)})


@router.post("/remix/aree/{area_id}/modifica", include_in_schema=False)
async def opportunity_update(request: Request, area_id: str):
    user, form = await require_writer(request)
    expected = _expected_version(form)
    with kb(request).engine.connect() as c:
        old = registry.get_opportunity(c, area_id)
    try:
        with registry.writing(kb(request).engine) as c:
            registry.update_opportunity(c, user, area_id, _form_to_opportunity(form, old), expected)
    except ValidationError as exc:
        return render(request, "opportunity_form.html", {"rec": old, "errors": exc.errors, "form": form,
                                                         "comuni": _allowed_comuni(request, user),
                                                         "lon": form.get("lon") or "", "lat": form.get("lat") or ""},
                      status=422)
    return RedirectResponse(f"/remix/aree/{area_id}/modifica?salvato=1", status_code=303)


# bulk import, publication, audit ----------------------------------------------------
@router.get("/remix/importa", response_class=HTMLResponse, include_in_schema=False)
async def import_form(request: Request):
    if current_user(request) is None:
        raise HTTPException(401, "accedere per importare dati")
    return render(request, "import.html", {})


@router.post("/remix/importa", include_in_schema=False)
async def import_submit(request: Request):
    user, form = await require_writer(request)
    upload = form.get("file")
    kind = form.get("kind")
    if kind not in ("intervention", "opportunity"):
        raise HTTPException(400, "tipo di dati da importare non valido")
    if not isinstance(upload, UploadFile) and not hasattr(upload, "read"):
        raise HTTPException(400, "nessun file allegato")
    name = Path(upload.filename or "upload.csv").name
    data = await upload.read()
    if len(data) > MAX_UPLOAD:
        raise HTTPException(413, "file oltre 20 MB")
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_bytes(data)
        try:
            recs = read_user_file(p, kind)
            args = {"interventions": recs} if kind == "intervention" else {"opportunities": recs}
            counts = registry.upsert_many(kb(request).engine, user, **args)
        except ValidationError as exc:
            return render(request, "import.html", {"errors": exc.errors, "file": name}, status=422)
        except registry.Forbidden as exc:
            return render(request, "import.html", {"errors": [str(exc)], "file": name}, status=403)
        except Exception as exc:  # unreadable file (GDAL, CSV parser): report, write nothing
            return render(request, "import.html", {"errors": [f"{name}: file non leggibile ({exc})"], "file": name},
                          status=422)
    return render(request, "import.html", {"counts": counts, "file": name})


@router.post("/remix/pubblica", include_in_schema=False)
async def publish(request: Request):
    user, _ = await require_writer(request, roles=("planner", "admin"))
    try:
        res = registry.publish(kb(request), user, loaded_by=f"portale: {user.username}")
    except ValidationError as exc:
        raise HTTPException(422, str(exc)) from None
    request.app.state.cache.invalidate()
    versions = {k: getattr(v, "version", None) for k, v in res.items()}
    return render(request, "published.html", {"versions": versions})


@router.get("/remix/modifiche", response_class=HTMLResponse, include_in_schema=False)
async def audit_page(request: Request):
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "accedere per consultare il registro delle modifiche")
    if user.role not in ("planner", "admin"):
        raise HTTPException(403, "registro delle modifiche riservato a CMM")
    with kb(request).engine.connect() as c:
        rows = registry.audit_trail(c, limit=200)
    return render(request, "audit.html", {"rows": rows})


# ----------------------------------------------------------------------------- users (admin)
@router.get("/admin/utenti", response_class=HTMLResponse, include_in_schema=False)
async def users_page(request: Request):
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "accedere come amministratore")
    if user.role != "admin":
        raise HTTPException(403, "gestione utenti riservata agli amministratori")
    return render(request, "users.html", {"rows": auth.list_users(kb(request).engine), "comuni": comuni_names(request),
                                          "roles": auth.ROLE_LABELS})


@router.post("/admin/utenti", include_in_schema=False)
async def users_create(request: Request):
    user, form = await require_writer(request, roles=("admin",))
    try:
        auth.add_user(kb(request).engine, str(form.get("username") or ""), str(form.get("password") or ""),
                      str(form.get("role") or ""), form.get("istat_code") or None, form.get("full_name") or None)
    except ValueError as exc:
        return render(request, "users.html", {"rows": auth.list_users(kb(request).engine), "errors": [str(exc)],
                                              "comuni": comuni_names(request), "roles": auth.ROLE_LABELS}, status=422)
    with registry.writing(kb(request).engine) as c:
        registry.record_audit(c, user, "create", "user", str(form.get("username")), None,
                        {"role": form.get("role"), "istat_code": form.get("istat_code") or None})
    return RedirectResponse("/admin/utenti", status_code=303)


@router.post("/admin/utenti/{username}/stato", include_in_schema=False)
async def users_toggle(request: Request, username: str):
    user, form = await require_writer(request, roles=("admin",))
    active = form.get("active") == "1"
    try:
        auth.set_active(kb(request).engine, username, active)
    except KeyError:
        raise HTTPException(404, f"utente {username!r} inesistente") from None
    with registry.writing(kb(request).engine) as c:
        registry.record_audit(c, user, "activate" if active else "deactivate", "user", username, None, {"active": active})
    return RedirectResponse("/admin/utenti", status_code=303)


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    return Response(status_code=204)
