"""Italian report of a norm sheet (HTML and PDF), on the shared base template of sttm.reports."""
from __future__ import annotations

from pathlib import Path

__all__ = ["render_sheet", "write_sheet_pdf"]

TITLES = {"flood": "Scheda norma STTM 1 — Adattamento agli eventi meteorici estremi (alluvioni e siccità)",
          "heat": "Scheda norma STTM 1 — Adattamento e mitigazione dell'isola di calore"}


def render_sheet(result: dict, notes: list[str] | None = None) -> str:
    from sttm.reports import render_html

    ok = result["verdict"].get("invariance_met", result["verdict"].get("target_met"))
    return render_html("sttm.sustainability", "nbs_sheet.html.j2",
                       {"r": result, "title": TITLES[result["sheet"]], "ok": ok, "notes": notes or []})


def write_sheet_pdf(result: dict, path: str | Path, notes: list[str] | None = None) -> Path:
    from sttm.reports import write_pdf

    return write_pdf(render_sheet(result, notes), path)
