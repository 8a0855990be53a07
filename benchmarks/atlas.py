"""Atlas benchmark (STTM 2): time to render every sheet of both atlases — all 133 comuni and every
LUM — as HTML (one file per sheet, inline SVG maps) and as one PDF per atlas (WeasyPrint).
Goal: ≤ 2 minutes for all of them.

Needs a knowledge base where `sttm access run` and `sttm lum build` have run (STTM_DB or
var/sttm.gpkg). Usage: .venv/bin/python benchmarks/atlas.py [--out /tmp/atlas_bench] [--no-pdf]
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path


def main() -> None:
    from sttm.config import default_db
    from sttm.knowledge import open_kb
    from sttm.services import atlas

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--no-pdf", action="store_true")
    a = ap.parse_args()
    kb = open_kb(default_db())
    out = a.out or Path(tempfile.mkdtemp(prefix="sttm_atlas_"))
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    data = atlas.load_atlas_data(kb)
    t_load = time.perf_counter() - t0
    print(f"knowledge base: {default_db()}; data loaded in {t_load:.2f} s")
    total_sheets = 0
    for kind in ("comuni", "lum"):
        ids = atlas.sheet_order(data, kind)
        t0 = time.perf_counter()
        ctxs = []
        (out / kind).mkdir(parents=True, exist_ok=True)
        for sid in ids:
            ctx = atlas.comune_context(data, sid) if kind == "comuni" else atlas.lum_context(data, sid)
            (out / kind / f"{ctx['slug']}.html").write_text(atlas.render_sheet(ctx), encoding="utf-8")
            ctxs.append(ctx)
        t_html = time.perf_counter() - t0
        line = f"{kind:<7} {len(ids):>4} sheets: HTML {t_html:6.2f} s ({1000 * t_html / len(ids):.0f} ms/sheet)"
        if not a.no_pdf:
            from sttm.reports import render_html, write_pdf

            t0 = time.perf_counter()
            book = render_html("sttm.services", "atlas_book.html.j2", {"title": kind, "sheets": ctxs, "kind": kind})
            write_pdf(book, out / kind / f"atlante_{kind}.pdf")
            t_pdf = time.perf_counter() - t0
            line += f"; PDF {t_pdf:6.2f} s ({(out / kind / f'atlante_{kind}.pdf').stat().st_size / 1e6:.1f} MB)"
        print(line)
        total_sheets += len(ids)
    dt = time.perf_counter() - t_all
    print(f"all {total_sheets} sheets{'' if a.no_pdf else ' (HTML + PDF)'}: {dt:.1f} s "
          f"(goal ≤ 120 s: {'met' if dt <= 120 else 'NOT met'}); peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; output {out}")


if __name__ == "__main__":
    main()
