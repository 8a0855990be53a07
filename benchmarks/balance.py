"""Benchmark of the diffusion balance (sttm.equalization.balance) on the real territory.

  .venv/bin/python benchmarks/balance.py [--db var/sttm.gpkg]

Figures printed:
  1. one proposal (the Liscate logistics hub) over all 133 comuni — goal ≤ 1 s (median of 5 runs);
  2. a sweep of one proposal per comune (a 300 m × 300 m logistics site at each comune's
     representative point) — goal ≤ 30 s in total;
  3. peak Python memory of the sweep (tracemalloc) and the process RSS (psutil);
  4. recording one balance in the knowledge base (one transaction), on a temporary copy.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import psutil
import shapely

from sttm.equalization.balance import Territory, compute_balance, load_params, parse_proposal
from sttm.equalization.balance.model import Forecast, Proposal
from sttm.equalization.balance.store import save_balance
from sttm.knowledge import open_kb

HUB = Path(__file__).resolve().parents[1] / "tests" / "equalization" / "balance_cases" / "logistics_hub_liscate.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=None, help="knowledge base (.gpkg or postgresql://); default STTM_DB / var/sttm.gpkg")
    args = ap.parse_args()
    from sttm.config import default_db
    db = args.db or str(default_db())
    kb = open_kb(db)
    t0 = time.perf_counter()
    territory = Territory.from_kb(kb)
    t_load = time.perf_counter() - t0
    params = load_params()
    print(f"territory: {territory.n} comuni read from {db} in {t_load:.3f} s")

    hub = parse_proposal(json.loads(HUB.read_text()), params.functions)
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        r = compute_balance(hub, territory, params)
        runs.append(time.perf_counter() - t0)
    one = statistics.median(runs)
    print(f"1. one proposal over all comuni: median {one * 1000:.1f} ms (min {min(runs) * 1000:.1f}, max {max(runs) * 1000:.1f}) "
          f"— goal ≤ 1000 ms: {'OK' if one <= 1 else 'MISSED'}; relevance {r.relevance.level}, "
          f"{len(r.affected_codes)} affected comuni")

    proposals = []
    for code, pt in zip(territory.codes, territory.points):
        x, y = pt
        geom = shapely.box(x - 150, y - 150, x + 150, y + 150)
        proposals.append(Proposal("SUAP", str(code), "sweep", None, None, [Forecast(
            "S1", "logistics", geom, floor_area_m2=54_000, land_take_free_soil_m2=90_000, new_impervious_m2=72_000)]))
    tracemalloc.start()
    rss0 = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    levels: dict[str, int] = {}
    for p in proposals:
        res = compute_balance(p, territory, params)
        assert sum(a.amount_cents for a in res.allocation) == res.total_resources_cents
        levels[res.relevance.level] = levels.get(res.relevance.level, 0) + 1
    sweep = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss1 = psutil.Process().memory_info().rss
    print(f"2. sweep, one proposal per comune ({len(proposals)}): {sweep:.2f} s total, "
          f"{sweep / len(proposals) * 1000:.1f} ms each — goal ≤ 30 s: {'OK' if sweep <= 30 else 'MISSED'}; levels {levels}")
    print(f"3. peak traced Python memory during the sweep: {peak / 2**20:.1f} MiB; "
          f"process RSS {rss1 / 2**20:.0f} MiB (+{(rss1 - rss0) / 2**20:.1f} MiB)")

    if kb.backend == "gpkg":
        with tempfile.TemporaryDirectory() as d:
            kb.dispose()
            copy = Path(d) / "kb.gpkg"
            shutil.copy(db, copy)
            kb2 = open_kb(copy)
            save_balance(kb2, r, "bench", "bench")            # creates the tables
            t0 = time.perf_counter()
            save_balance(kb2, r, "bench", "bench")
            print(f"4. recording one balance (proposal, forecasts, matrix, resources, allocation; one transaction): "
                  f"{(time.perf_counter() - t0) * 1000:.1f} ms")
            kb2.dispose()


if __name__ == "__main__":
    main()
