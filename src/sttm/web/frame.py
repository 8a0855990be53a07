"""Wing documents inside the portal.

The wings render their sheets as standalone Italian documents (``sttm.reports`` base template:
``<header class="testata"><h1>…</h1></header><main>…</main>``), the same HTML that becomes their PDF.
On the portal those pages must share its header, navigation, skip links and footer:
``portal_document(request, html)`` takes such a document and serves its heading and body inside
the portal's ``base.html`` (class ``sttm-doc`` scopes the document styles, tables scroll on phones).
A page that is not a ``sttm.reports`` document is returned unchanged.
"""
from __future__ import annotations

import html as htmlmod
import re

from fastapi import Request
from fastapi.responses import HTMLResponse

_TITLE = re.compile(r"<title>(.*?)</title>", re.S)
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)
_H1 = re.compile(r'<header class="testata">.*?<h1>(.*?)</h1>\s*</header>', re.S)
_MAIN = re.compile(r"<main>(.*)</main>", re.S)
_TABLE = re.compile(r"<table\b[^>]*>.*?</table>", re.S)
_CAPTION = re.compile(r"<caption[^>]*>(.*?)</caption>", re.S)


def _base_style() -> str:
    """The reports base template's own CSS (print-first rules the portal replaces with its own)."""
    from jinja2 import Environment, PackageLoader

    src = Environment(loader=PackageLoader("sttm.reports", "templates")).loader.get_source(
        Environment(), "sttm_base.html.j2")[0]
    m = re.search(r"<style>(.*?)\{% block style %\}", src, re.S)
    return m.group(1).strip() if m else ""


_BASE_CSS: str | None = None


def _extra_style(style: str) -> str:
    """The document's own CSS (its ``{% block style %}``), without the base rules and print rules."""
    global _BASE_CSS
    if _BASE_CSS is None:
        _BASE_CSS = _base_style()
    s = style.strip()
    if _BASE_CSS and s.startswith(_BASE_CSS):
        s = s[len(_BASE_CSS):]
    elif _BASE_CSS:  # the base changed shape: keep nothing global rather than restyle the portal
        return ""
    # scope every remaining rule to the document body
    return re.sub(r"(^|})\s*([^{}@]+)\{", lambda m: m.group(1) + " " + ", ".join(
        f".sttm-doc-body {sel.strip()}" for sel in m.group(2).split(",")) + " {", s)


def _responsive_tables(body: str) -> str:
    def wrap(m: re.Match) -> str:
        cap = _CAPTION.search(m.group(0))
        label = re.sub(r"<[^>]+>", "", cap.group(1)).strip() if cap else "Tabella"
        return (f'<div class="table-responsive" tabindex="0" role="region" aria-label="{htmlmod.escape(label)}">'
                f"{m.group(0)}</div>")
    return _TABLE.sub(wrap, body)


def portal_document(request: Request, document: str, status: int = 200) -> HTMLResponse:
    """Serve a ``sttm.reports`` document inside the portal layout."""
    from .pages import render

    h1, main = _H1.search(document), _MAIN.search(document)
    # a wing router mounted on its own (wing tests, a bare FastAPI app) serves the plain document
    if h1 is None or main is None or getattr(request.app.state, "templates", None) is None:
        return HTMLResponse(document, status_code=status)
    title = _TITLE.search(document)
    title_text = htmlmod.unescape(re.sub(r"\s*—\s*Città metropolitana di Milano\s*$", "",
                                         title.group(1).strip())) if title else ""
    style = _STYLE.search(document)
    heading_text = re.sub(r"<[^>]+>", "", h1.group(1)).strip()
    first_h2 = re.search(r"<h2[^>]*>(.*?)</h2>", main.group(1), re.S)
    # a sheet that opens with its own title (atlas sheets: "Rho  ISTAT 015182 · …") keeps one visible heading
    repeated = bool(first_h2 and heading_text
                    and re.sub(r"<[^>]+>", " ", first_h2.group(1)).split()[:len(heading_text.split())] == heading_text.split())
    ctx = {"heading_hidden": repeated, "doc_title": title_text or re.sub(r"<[^>]+>", "", h1.group(1)).strip(),
           "doc_heading": h1.group(1), "doc_body": _responsive_tables(main.group(1)),
           "doc_style": _extra_style(style.group(1)) if style else ""}
    return render(request, "document.html", ctx, status=status)
