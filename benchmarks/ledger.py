"""Benchmark of the fund ledger (sttm.equalization.fund).

  .venv/bin/python benchmarks/ledger.py [--single 2000] [--batches 100] [--chain 1000000] [--no-pg]

Figures printed:
  1. durable postings per second on the embedded store (a GeoPackage opened by the knowledge base:
     WAL, synchronous=FULL) and on PostgreSQL (fsync on, synchronous_commit on), one posting per
     transaction and in batches of 100 postings per transaction — goal ≥ 5,000/s batched embedded;
  2. the time `verify` takes on a chain of 1,000,000 postings (2,000,000 lines) on the embedded
     store — goal ≤ 10 s (wall and CPU time are both printed: on a shared machine the wall time
     grows with the load average, the CPU time does not).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from sttm.equalization.fund import Ledger, verify
from sttm.equalization.fund.stress import make_batch


def rate(engine, *, single: int, batches: int, size: int = 100) -> tuple[float, float]:
    led = Ledger(engine, rights=lambda istat, adv: True)
    led.post_many(make_batch(0, 10))                 # warm-up, schema
    t0 = time.perf_counter()
    for i in range(single):
        led.post(make_batch(i, 1)[0])
    single_rate = single / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for i in range(batches):
        led.post_many(make_batch(i, size))
    batch_rate = batches * size / (time.perf_counter() - t0)
    rep = verify(engine)
    assert rep.ok, rep.errors
    return single_rate, batch_rate


def build_chain(engine, n: int, chunk: int = 5000) -> float:
    from rich.progress import Progress
    led = Ledger(engine, rights=lambda istat, adv: True)
    t0 = time.perf_counter()
    with Progress() as pr:
        task = pr.add_task(f"catena di {n:,} registrazioni", total=n)
        done = 0
        while done < n:
            k = min(chunk, n - done)
            led.post_many(make_batch(done // chunk, k))
            done += k
            pr.update(task, completed=done)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--single", type=int, default=2000, help="postings, one per transaction")
    ap.add_argument("--batches", type=int, default=100, help="transactions of 100 postings")
    ap.add_argument("--chain", type=int, default=1_000_000, help="postings in the chain to verify")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-rates", action="store_true", help="only the verification figure")
    ap.add_argument("--chain-file", help="keep the chain in this .gpkg (reused when it exists)")
    a = ap.parse_args()
    from sttm.knowledge import open_kb
    with tempfile.TemporaryDirectory(prefix="sttm-ledger-bench-") as tmp:
        if not a.no_rates:
            kb = open_kb(str(Path(tmp) / "bench.gpkg"))
            s, b = rate(kb.engine, single=a.single, batches=a.batches)
            print(f"embedded (GeoPackage, WAL, synchronous=FULL): {s:,.0f} postings/s single, {b:,.0f} postings/s "
                  f"in batches of 100 (goal ≥ 5,000/s batched: {'OK' if b >= 5000 else 'MISSED'})")
            kb.engine.dispose()
        if not a.no_pg and not a.no_rates:
            from sqlalchemy import create_engine
            from sttm.knowledge.pgcluster import PgCluster, PostgresUnavailable
            try:
                with PgCluster() as pg:
                    eng = create_engine(pg.new_database("ledger_bench"))
                    s, b = rate(eng, single=a.single, batches=a.batches)
                    print(f"PostgreSQL (fsync on, synchronous_commit on): {s:,.0f} postings/s single, {b:,.0f} "
                          "postings/s in batches of 100")
                    eng.dispose()
            except PostgresUnavailable as exc:
                print(f"PostgreSQL: not available ({exc})")
        chain_path = Path(a.chain_file) if a.chain_file else Path(tmp) / "chain.gpkg"
        reuse = chain_path.exists()
        kb2 = open_kb(str(chain_path))
        if not reuse:
            built = build_chain(kb2.engine, a.chain)
            print(f"chain of {a.chain:,} postings written in {built:.1f} s ({a.chain / built:,.0f} postings/s, "
                  "batches of 5,000)")
        cpu0 = time.process_time()
        rep = verify(kb2.engine, workers=2)
        cpu = time.process_time() - cpu0
        assert rep.ok, rep.errors
        print(f"verify of {rep.n_postings:,} postings / {rep.n_lines:,} lines: {rep.seconds:.2f} s wall with "
              f"{rep.workers} process(es), {cpu:.2f} s CPU in the main one "
              f"(goal ≤ 10 s: {'OK' if rep.seconds <= 10 else 'MISSED'}; load average now "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        one = verify(kb2.engine, workers=1)
        print(f"verify with one process (the default): {one.seconds:.2f} s wall "
              f"(goal ≤ 10 s: {'OK' if one.seconds <= 10 else 'MISSED'})")
        kb2.engine.dispose()


if __name__ == "__main__":
    main()
