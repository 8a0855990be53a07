"""The sttm portal: FastAPI application factory.

``create_app(kb_url)`` opens the knowledge base, mounts the vendored static assets (no CDN),
the portal pages (Italian, Bootstrap Italia), the OGC API – Features at ``/ogcapi`` (OpenAPI 3.0
definition at ``/api``) and the routers of the other wings (``sttm.<wing>.web.router``).
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from sttm.remix import registry
from sttm.reports.render import it_number

from . import auth
from .ogcapi import LayerCache, make_router
from .openapi30 import downgrade_to_30

HERE = Path(__file__).resolve().parent
WINGS = ("services", "sustainability", "production", "equalization", "procedures")
log = logging.getLogger("sttm.web")

templates = Jinja2Templates(directory=str(HERE / "templates"))


def _eur(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "—"
    return f"{it_number(f, 0)} €"


templates.env.filters["eur"] = _eur
templates.env.filters["num"] = it_number


def wants_json(request: Request) -> bool:
    return (request.url.path.startswith(("/ogcapi", "/api"))
            or "application/json" in request.headers.get("accept", "")
            and "text/html" not in request.headers.get("accept", ""))


def create_app(kb_url: str | None = None, *, refresh_s: float = 1.0, basemap_url: str | None = None,
               secure_cookies: bool | None = None) -> FastAPI:
    """Build the portal on the knowledge base at ``kb_url`` (default: STTM_DB or var/sttm.gpkg)."""
    from sttm.knowledge import open_kb

    kb = open_kb(kb_url)
    registry.ensure_schema(kb.engine)
    auth.ensure_schema(kb.engine)
    app = FastAPI(
        title="STTM – Città metropolitana di Milano",
        description="Portale Remix della rigenerazione urbana e OGC API – Features del sistema delle conoscenze.",
        version="0.1.0", openapi_url="/api", docs_url=None, redoc_url=None,
    )
    app.state.kb = kb
    app.state.cache = LayerCache(kb, refresh_s=refresh_s)
    app.state.basemap_url = basemap_url or os.environ.get("STTM_BASEMAP_URL") or ""
    app.state.secure_cookies = bool(secure_cookies) if secure_cookies is not None else \
        os.environ.get("STTM_SECURE_COOKIES", "") == "1"
    app.state.templates = templates

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(make_router(app.state.cache))

    from . import pages

    app.include_router(pages.router)
    from . import catalog

    app.include_router(catalog.router)
    app.state.wings = []
    for wing in WINGS:
        try:
            mod = importlib.import_module(f"sttm.{wing}.web")
        except ModuleNotFoundError as exc:
            if exc.name in (f"sttm.{wing}.web", f"sttm.{wing}"):
                continue
            log.warning("sttm.%s.web not loaded: %s", wing, exc)
            continue
        except Exception as exc:  # a broken wing must not take the portal down
            log.warning("sttm.%s.web not loaded: %s", wing, exc)
            continue
        router = getattr(mod, "router", None)
        if router is not None:
            app.include_router(router)
            home = getattr(mod, "HOME", f"/{wing}")
            app.state.wings.append({"wing": wing, "title": getattr(mod, "TITLE", wing.capitalize()), "href": home,
                                    "prefix": getattr(router, "prefix", "") or home})

    def custom_openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = downgrade_to_30(schema)
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if wants_json(request):
            return JSONResponse({"code": str(exc.status_code), "description": exc.detail}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        return pages.error_page(request, exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        detail = "; ".join(f"{'/'.join(str(x) for x in e.get('loc', []))}: {e.get('msg')}" for e in exc.errors())
        if wants_json(request):
            return JSONResponse({"code": "400", "description": detail}, status_code=400)
        return pages.error_page(request, 400, detail)

    @app.exception_handler(registry.Forbidden)
    async def forbidden(request: Request, exc: registry.Forbidden):
        return pages.error_page(request, 403, str(exc))

    @app.exception_handler(registry.Conflict)
    async def conflict(request: Request, exc: registry.Conflict):
        return pages.error_page(request, 409, str(exc))

    @app.exception_handler(registry.NotFound)
    async def not_found(request: Request, exc: registry.NotFound):
        return pages.error_page(request, 404, f"record {exc.args[0]!r} inesistente")

    @app.get("/api.html", response_class=HTMLResponse, include_in_schema=False)
    async def api_doc(request: Request):
        return pages.render(request, "api.html", {"collections": sorted(app.state.cache.catalog().values(),
                                                                        key=lambda m: m["name"])})

    return app
