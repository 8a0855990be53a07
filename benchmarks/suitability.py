"""Benchmark: exclusion overlay + suitability for all of CMM (STTM 3, issue #8).

Two runs, each timed with its peak memory:
  1. the 25 m grid over the whole CMM (≈ 2.5 M cells inside the 133 comuni);
  2. 100,000 candidate parcels (vector overlay with every constraint + all factors + score).
Goal: each ≤ 30 s.

Real inputs from the knowledge base (STTM_DB or var/sttm.gpkg, built by `sttm kb build`):
municipalities, stations, services (school buffers, hospitals), hazard (flood comuni).
The data folder has no road network, land cover, farmland or brownfield layers, so those are
SYNTHETIC here (seeded, realistic counts and sizes) and are printed as such.

    .venv/bin/python benchmarks/suitability.py [--res 25] [--parcels 100000] [--db PATH]
"""
from __future__ import annotations

import argparse
import os
import threading
import time

import geopandas as gpd
import numpy as np
import psutil
import shapely

from sttm.knowledge import open_kb
from sttm.production import accessibility, constraints, suitability

CRS = "EPSG:32632"


def synthetic(mun: gpd.GeoDataFrame, rng: np.random.Generator) -> dict:
    minx, miny, maxx, maxy = mun.total_bounds
    area = shapely.union_all(mun.geometry.to_numpy())

    def pts(n):
        p = gpd.points_from_xy(rng.uniform(minx, maxx, 3 * n), rng.uniform(miny, maxy, 3 * n))
        return p[shapely.contains_xy(area, shapely.get_x(p), shapely.get_y(p))][:n]

    def boxes(n, lo, hi):
        c = pts(n)
        w, h = rng.uniform(lo, hi, len(c)), rng.uniform(lo, hi, len(c))
        return shapely.box(shapely.get_x(c) - w / 2, shapely.get_y(c) - h / 2, shapely.get_x(c) + w / 2,
                           shapely.get_y(c) + h / 2)

    road_pts = pts(120)
    roads = [shapely.LineString([road_pts[i], road_pts[i + 1], road_pts[i + 2]]) for i in range(0, 117, 3)]
    g = lambda geoms: gpd.GeoDataFrame(geometry=np.asarray(geoms), crs=CRS)  # noqa: E731
    return {
        "roads": g(roads), "junctions": g(pts(70)),
        "farmland": g(boxes(400, 500, 2000)), "protected": g(boxes(40, 1500, 5000)),
        "residential": g(boxes(3000, 100, 400)), "brownfields": g(boxes(600, 80, 400)),
        "productive": g(boxes(2500, 100, 800)), "terminals": g(boxes(6, 300, 800)),
    }


def parcels(mun, n, rng):
    minx, miny, maxx, maxy = mun.total_bounds
    area = shapely.union_all(mun.geometry.to_numpy())
    x, y = rng.uniform(minx, maxx, 3 * n), rng.uniform(miny, maxy, 3 * n)
    keep = shapely.contains_xy(area, x, y)
    x, y = x[keep][:n], y[keep][:n]
    w, h = rng.uniform(40, 200, len(x)), rng.uniform(40, 200, len(x))
    return gpd.GeoDataFrame({"site_id": [f"p{i}" for i in range(len(x))]},
                            geometry=shapely.box(x - w / 2, y - h / 2, x + w / 2, y + h / 2), crs=CRS)


def measure(label, fn):
    """Time ``fn`` and sample the process RSS every 10 ms (psutil) for its peak; tracemalloc is not
    used because it slows down the many small allocations of shapely/numpy."""
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.01)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    stop.set()
    th.join()
    peak[0] = max(peak[0], proc.memory_info().rss)
    print(flush=True)
    print(f"{label}: {dt:6.2f} s   peak RSS {peak[0] / 2**20:7.1f} MiB (+{(peak[0] - base) / 2**20:.1f} MiB during "
          f"the step)   goal ≤ 30 s: {'OK' if dt <= 30 else 'MISSED'}", flush=True)
    return out, dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", type=float, default=25.0)
    ap.add_argument("--parcels", type=int, default=100_000)
    ap.add_argument("--db", default=None)
    a = ap.parse_args()
    kb = open_kb(a.db)
    mun, stations, services, hazard = (kb.read_layer(n) for n in ("municipalities", "stations", "services", "hazard"))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the machine is shared)")
    print(f"KB {kb}: {len(mun)} comuni, {len(stations)} stations, {len(services)} services (real)")
    rng = np.random.default_rng(8)
    syn = synthetic(mun, rng)
    print("SYNTHETIC (no real data in /work/shared/data): " +
          ", ".join(f"{k} {len(v)}" for k, v in syn.items()))
    sensitive = gpd.GeoDataFrame(geometry=np.r_[services.loc[services["category"] == "school"].geometry.to_numpy(),
                                                 syn["residential"].geometry.to_numpy()], crs=CRS)
    acc = accessibility.AccessInputs(roads=syn["roads"], junctions=syn["junctions"], stations=stations,
                                     services=services, municipalities=mun, sensitive=sensitive,
                                     rail_terminals=syn["terminals"])

    cs, _ = measure("constraints build (buffers + dissolve)", lambda: constraints.build(
        {"strategic_farmland": syn["farmland"], "protected_areas": syn["protected"]}, services=services,
        hazard=hazard, municipalities=mun, residential=syn["residential"]))
    print(f"  constraint layers: {', '.join(cs.layers['constraint_id'])}")

    g, dt_grid = measure(f"CMM grid {a.res:g} m: exclusion overlay + suitability", lambda: suitability.grid(
        mun, cs, acc, res=a.res, brownfields=syn["brownfields"], productive=syn["productive"]))
    inside = int((g.status > 0).sum())
    st = g.stats(a.res)
    print(f"  {g.status.shape[1]} x {g.status.shape[0]} cells, {inside:,} inside CMM; "
          f"eligible {st['eligible_ha'] / 100:,.1f} km², attention {st['attention_ha'] / 100:,.1f} km², "
          f"excluded {st['excluded_ha'] / 100:,.1f} km²; mean suitability "
          f"{np.nanmean(g.suitability):.1f}")

    p = parcels(mun, a.parcels, rng)
    out, dt_sites = measure(f"{len(p):,} candidate parcels: overlay + factors + score", lambda: suitability.assess_sites(
        p, cs, acc, brownfields=syn["brownfields"], productive=syn["productive"]))
    vc = out["suitability_class"].value_counts().to_dict()
    print(f"  classes: {vc}")


if __name__ == "__main__":
    main()
