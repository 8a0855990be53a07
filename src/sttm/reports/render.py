"""Jinja2 rendering with one shared base template, and PDF output through WeasyPrint."""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

import jinja2


def it_number(value, decimals: int = 0) -> str:
    """Italian number format, rounded half-up (the convention of Italian public accounts) after
    dropping float noise below 1e-9: 1234567.85 → '1.234.567,9' (1 decimal); None → '—'.
    The one number formatter of sttm: reports, portal, CLI and engines' explanations use it."""
    if value is None:
        return "—"
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    if f != f or f in (float("inf"), float("-inf")):
        return "—"
    q = Decimal(repr(round(f, 9))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return f"{q:,}".replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def it_number_auto(value, max_decimals: int = 2) -> str:
    """Italian number with no decimals for whole values (320) and up to ``max_decimals`` otherwise."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return it_number(value)
    return it_number(f, 0 if f == round(f) else max_decimals)


def _it_pct(value, decimals: int = 1) -> str:
    return "—" if value is None else it_number(100 * float(value), decimals) + "%"


def _it_eur(value, decimals: int = 0) -> str:
    return "—" if value is None else "€ " + it_number(value, decimals)


@lru_cache(maxsize=None)
def _env(package: str) -> jinja2.Environment:
    loader = jinja2.ChoiceLoader([jinja2.PackageLoader(package, "templates"),
                                  jinja2.PackageLoader("sttm.reports", "templates")])
    env = jinja2.Environment(loader=loader, autoescape=jinja2.select_autoescape(["html", "j2", "xml"]),
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=it_number, numx=it_number_auto, pct=_it_pct, eur=_it_eur)
    env.globals["today"] = lambda: dt.date.today().strftime("%d/%m/%Y")
    return env


def render_html(package: str, template_name: str, context: dict) -> str:
    """Render ``<package>/templates/<template_name>``; templates may extend ``sttm_base.html.j2``."""
    return _env(package).get_template(template_name).render(**context)


def write_pdf(html: str, path: str | Path, base_url: str | None = None) -> Path:
    """HTML → PDF (A4, the base template's print CSS)."""
    import weasyprint
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weasyprint.HTML(string=html, base_url=base_url or str(Path.cwd())).write_pdf(path)
    return path
