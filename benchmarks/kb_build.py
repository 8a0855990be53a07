"""Benchmark: full knowledge-base build from the open data, on both stores, and an unchanged re-load.

Goals (issue #2): full build <= 30 s on the 2-core machine, unchanged re-load <= 2 s.
Each measurement runs in a fresh process so its peak memory (max RSS) is its own.
Run: .venv/bin/python benchmarks/kb_build.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

STEP = r"""
import json, resource, sys, time
from sttm.knowledge import open_kb
from sttm.territory import build_territory
t = time.perf_counter()
kb = open_kb(sys.argv[1])
rep = build_territory(kb, force=sys.argv[2] == "force")
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "loaded": len(rep.loaded), "unchanged": len(rep.unchanged),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def step(db: str, mode: str = "") -> dict:
    out = subprocess.run([sys.executable, "-c", STEP, db, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from sttm.knowledge.pgcluster import PgCluster
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        gpkg = str(Path(tmp) / "bench.gpkg")
        rows.append(("GeoPackage", "full build", step(gpkg)))
        rows.append(("GeoPackage", "unchanged re-load (inputs unchanged: skipped)", step(gpkg)))
        rows.append(("GeoPackage", "forced re-load (recomputed, content identical)", step(gpkg, "force")))
        with PgCluster() as pg:
            url = pg.new_database("bench")
            rows.append(("PostGIS", "full build", step(url)))
            rows.append(("PostGIS", "unchanged re-load (inputs unchanged: skipped)", step(url)))
            rows.append(("PostGIS", "forced re-load (recomputed, content identical)", step(url, "force")))
    print(f"{'store':<11} {'step':<48} {'seconds':>8} {'peak MB':>8} {'written':>8}")
    for store, what, r in rows:
        print(f"{store:<11} {what:<48} {r['seconds']:>8.2f} {r['peak_mb']:>8.0f} {r['loaded']:>8}")
    full = max(r["seconds"] for s, w, r in rows if w == "full build")
    reload_ = max(r["seconds"] for s, w, r in rows if w.startswith("unchanged"))
    print(f"goal full build <= 30 s: {'met' if full <= 30 else 'NOT met'} ({full:.2f} s); "
          f"goal unchanged re-load <= 2 s: {'met' if reload_ <= 2 else 'NOT met'} ({reload_:.2f} s)")


if __name__ == "__main__":
    main()
