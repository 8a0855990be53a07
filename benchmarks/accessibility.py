"""Accessibility benchmark (STTM 2).

A. The whole CMM on the 100 m demand grid, every service category, straight-line mode (the mode
   used while no street network is supplied): demand grid + nearest time + counts within 15' +
   2SFCA, from the knowledge base (STTM_DB or var/sttm.gpkg; run `sttm kb build` first).
   Goal: ≤ 20 s on this machine.
C. (printed after A) The whole CMM again in NETWORK mode, on a synthetic street grid of ≥ 300,000
   nodes laid over the CMM extent (105 m spacing, jittered): same cells, services and outputs.
B. A synthetic street network of ≥ 300,000 nodes (jittered grid with 10% of the streets removed):
   for three POI categories, distance to the nearest POI (search radius 5 km) and number of POIs
   within 1,125 m (15 minutes at 4.5 km/h), from every node. Run with sttm (SciPy sparse Dijkstra),
   Pandana (contraction hierarchies) and NetworkX on the same network and queries, each in its own
   process so that peak memory (max RSS) is its own; results are cross-checked for equality.

D. Public transport over the CMM 100 m grid: a synthetic GTFS feed (default 2,000 stops,
   100 routes, both directions every 15' from 06:00 to 10:00 ≈ 60,800 connections; no real feed is in
   the data mirror), window 07:30–08:30 sampled every 10': walk → CSA → walk for every category,
   min(walk-only, PT). Prints feed reading, preparation and PT time, the walk-only run for reference,
   and the peak memory of the PT step (tracemalloc) and of the process (max RSS).

Usage: .venv/bin/python benchmarks/accessibility.py [--skip-cmm] [--skip-network] [--skip-pt] [--nodes 312000]
       [--engines sttm,pandana,networkx] [--pt-routes 100] [--pt-stops-per-route 20]
       .venv/bin/python benchmarks/accessibility.py --only-pt   (section D alone)
Note: Pandana's contraction-hierarchy preprocessing dominates its time (≈ 14 min for 312k nodes on
the shared 2-core machine, 2026-11-27); the query times are reported apart.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RADIUS = 1125.0     # 15 min at 4.5 km/h
NEAREST_MAX = 2500.0  # nearest POI searched up to 2.5 km (33 min on foot); farther = not reached
CATS = {"pharmacy": 1000, "school": 400, "hospital": 60}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_network(n_nodes: int, seed: int = 42):
    from sttm.services.network import Network, grid_network

    side_x = int(np.ceil(np.sqrt(n_nodes * 1.2)))
    side_y = int(np.ceil(n_nodes / side_x))
    g = grid_network(side_x, side_y, spacing=40.0, jitter=8.0, seed=seed)
    rng = np.random.default_rng(seed)
    keep = rng.random(g.n_edges) > 0.10
    net = Network.from_edges(g.x, g.y, g.u[keep], g.v[keep])
    main = net.main_component()
    pois = {}
    for i, (cat, n) in enumerate(CATS.items()):
        pois[cat] = np.sort(np.random.default_rng(seed + i).choice(main, n, replace=False))
    return net, main, pois


def worker(engine: str, n_nodes: int, out: str) -> None:
    t0 = time.perf_counter()
    net, main, pois = build_network(n_nodes)
    t_build = time.perf_counter() - t0
    res: dict = {"engine": engine, "nodes": int(net.n_nodes), "edges": int(net.n_edges), "main": int(len(main)),
                 "t_build_network_s": t_build}
    arrays = {}
    if engine == "sttm":
        from sttm.services.engine import NetworkCost

        t0 = time.perf_counter()
        cost = NetworkCost(net)
        net.csr()
        net.main_component()
        res["t_prepare_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for cat, nodes in pois.items():
            d = cost.node_distances(net.x[nodes], net.y[nodes], max_m=NEAREST_MAX)
            arrays[f"near_{cat}"] = np.where(d <= NEAREST_MAX, d, np.inf)[main]
        res["t_nearest_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for cat, nodes in pois.items():
            p = cost.within(net.x[main], net.y[main], net.x[nodes], net.y[nodes], RADIUS)
            arrays[f"count_{cat}"] = np.bincount(p.i, minlength=len(main))
        res["t_count_s"] = time.perf_counter() - t0
    elif engine == "pandana":
        import pandana as pdna
        import pandas as pd

        t0 = time.perf_counter()
        nodes_df = pd.DataFrame({"x": net.x, "y": net.y})
        edges_df = pd.DataFrame({"from": net.u, "to": net.v, "w": net.length})
        pn = pdna.Network(nodes_df["x"], nodes_df["y"], edges_df["from"], edges_df["to"], edges_df[["w"]], twoway=True)
        res["t_prepare_s"] = time.perf_counter() - t0  # contraction hierarchies built here
        t0 = time.perf_counter()
        for cat, nodes in pois.items():
            pn.set_pois(cat, NEAREST_MAX, 1, pd.Series(net.x[nodes]), pd.Series(net.y[nodes]))
            r = pn.nearest_pois(NEAREST_MAX, cat, num_pois=1)
            d = r[1].to_numpy(float)
            arrays[f"near_{cat}"] = np.where(d < NEAREST_MAX, d, np.inf)[main]
        res["t_nearest_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        pn.precompute(RADIUS)  # range cache used by aggregate(): counted as query time
        for cat, nodes in pois.items():
            ids = pn.get_node_ids(pd.Series(net.x[nodes]), pd.Series(net.y[nodes]))
            pn.set(ids, variable=pd.Series(np.ones(len(nodes)), index=ids.index), name=cat)
            c = pn.aggregate(RADIUS, type="sum", decay="flat", name=cat)
            arrays[f"count_{cat}"] = np.rint(c.to_numpy(float)).astype(np.int64)[main]
        res["t_count_s"] = time.perf_counter() - t0
    elif engine == "networkx":
        import networkx as nx

        t0 = time.perf_counter()
        g = net.to_networkx()
        res["t_prepare_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for cat, nodes in pois.items():
            dd = nx.multi_source_dijkstra_path_length(g, set(nodes.tolist()), cutoff=NEAREST_MAX, weight="length")
            d = np.full(net.n_nodes, np.inf)
            d[np.fromiter(dd.keys(), int)] = np.fromiter(dd.values(), float)
            arrays[f"near_{cat}"] = d[main]
        res["t_nearest_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for cat, nodes in pois.items():
            cnt = np.zeros(net.n_nodes, dtype=np.int64)
            for s in nodes.tolist():
                reach = nx.single_source_dijkstra_path_length(g, s, cutoff=RADIUS, weight="length")
                cnt[np.fromiter(reach.keys(), int)] += 1
            arrays[f"count_{cat}"] = cnt[main]
        res["t_count_s"] = time.perf_counter() - t0
    res["t_queries_s"] = res["t_nearest_s"] + res["t_count_s"]
    res["peak_rss_mb"] = peak_rss_mb()
    np.savez(out, **arrays)
    print(json.dumps(res))


def bench_network(n_nodes: int, engines=("sttm", "pandana", "networkx")) -> None:
    print(f"\n== B. synthetic network ≥ {n_nodes:,} nodes; POIs {CATS}; nearest (≤ {NEAREST_MAX:.0f} m) and "
          f"count within {RADIUS:.0f} m from every node ==")
    results, arrays = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine in engines:
            out = os.path.join(tmp, f"{engine}.npz")
            p = subprocess.run([sys.executable, __file__, "--worker", engine, "--nodes", str(n_nodes), "--out", out],
                               capture_output=True, text=True)
            if p.returncode != 0:
                print(f"{engine}: FAILED\n{p.stderr[-2000:]}")
                continue
            results[engine] = json.loads(p.stdout.strip().splitlines()[-1])
            arrays[engine] = dict(np.load(out))
    if "sttm" not in results:
        return
    r0 = results["sttm"]
    print(f"network: {r0['nodes']:,} nodes, {r0['edges']:,} edges, main component {r0['main']:,} nodes")
    print(f"{'engine':<10}{'prepare s':>11}{'nearest s':>11}{'count s':>10}{'queries s':>11}{'total s':>9}{'peak RSS MB':>13}")
    for e, r in results.items():
        tot = r["t_prepare_s"] + r["t_queries_s"]
        print(f"{e:<10}{r['t_prepare_s']:>11.2f}{r['t_nearest_s']:>11.2f}{r['t_count_s']:>10.2f}{r['t_queries_s']:>11.2f}"
              f"{tot:>9.2f}{r['peak_rss_mb']:>13.0f}")
    for e in ("pandana", "networkx"):
        if e not in results:
            continue
        r = results[e]
        if e == "pandana":
            met = r["t_queries_s"] >= r0["t_queries_s"]
            print(f"goal (sttm at least as fast as Pandana on the same queries): {'met' if met else 'NOT met'}")
        print(f"ratio {e}/sttm: queries {r['t_queries_s'] / r0['t_queries_s']:.2f}×, with preparation "
              f"{(r['t_prepare_s'] + r['t_queries_s']) / (r0['t_prepare_s'] + r0['t_queries_s']):.2f}×, "
              f"peak memory {r['peak_rss_mb'] / r0['peak_rss_mb']:.2f}×")
        for k in arrays["sttm"]:
            a, b = arrays["sttm"][k], arrays[e][k]
            fin = np.isfinite(a) & np.isfinite(b)
            same_reach = np.array_equal(np.isfinite(a), np.isfinite(b))
            if k.startswith("near"):
                diff = float(np.max(np.abs(a[fin] - b[fin]))) if fin.any() else 0.0
                # Pandana keeps distances in float32
                print(f"  {k:<16} vs {e}: max |Δ| = {diff:.4f} m, same reached set: {same_reach}")
            else:
                print(f"  {k:<16} vs {e}: identical counts: {np.array_equal(a, b)} "
                      f"(differ on {int((a != b).sum())} nodes of {len(a):,})")


def cmm_inputs(section: str):
    """(municipalities, services) of the knowledge base, or None (said so) when it is not built."""
    from sttm.config import default_db
    from sttm.knowledge import open_kb

    db = default_db()
    if not (db.startswith("postgresql") or Path(db).exists()):
        print(f"\n== {section}: knowledge base {db} not found — run `sttm kb build` first; skipped ==")
        return None
    kb = open_kb(db)
    return kb.read_layer("municipalities"), kb.read_layer("services")


def bench_cmm() -> None:
    from sttm.services.pipeline import compute_access

    inputs = cmm_inputs("A. CMM")
    if inputs is None:
        return
    mun, svc = inputs
    t0 = time.perf_counter()
    run = compute_access(mun, svc, cell_size=100.0)
    dt = time.perf_counter() - t0
    n_cat = len(run.categories)
    print(f"\n== A. CMM, 100 m grid, straight line × {run.meta['detour_factor']} ==")
    print(f"cells {run.meta['n_cells']:,}; services {len(svc):,}; categories {n_cat}; residents {run.meta['total_pop']:,.0f}")
    print(f"demand grid + nearest + counts within 15' + 2SFCA for all categories + aggregates: {dt:.2f} s "
          f"(goal ≤ 20 s: {'met' if dt <= 20 else 'NOT met'}); peak RSS {peak_rss_mb():.0f} MB")

    from sttm.services.network import grid_network

    minx, miny, maxx, maxy = mun.total_bounds
    sp = 105.0
    net = grid_network(int((maxx - minx) / sp) + 2, int((maxy - miny) / sp) + 2, spacing=sp, x0=minx - sp / 2,
                       y0=miny - sp / 2, jitter=10.0, seed=1)
    t0 = time.perf_counter()
    run = compute_access(mun, svc, cell_size=100.0, network=net)
    dt = time.perf_counter() - t0
    print(f"\n== C. CMM, 100 m grid, NETWORK mode on a synthetic grid of {net.n_nodes:,} nodes / {net.n_edges:,} edges ==")
    print(f"same outputs as A, every cell routed on the network ({1 - run.meta['approximate_share_of_cells']:.0%}): "
          f"{dt:.2f} s (goal ≤ 20 s: {'met' if dt <= 20 else 'NOT met'}); peak RSS {peak_rss_mb():.0f} MB")


def bench_pt(n_routes: int = 100, stops_per_route: int = 20) -> None:
    import tracemalloc

    from sttm.services.gtfs import read_gtfs
    from sttm.services.gtfs_synthetic import write_synthetic_feed
    from sttm.services.pipeline import compute_access
    from sttm.services.transit import TransitModel

    inputs = cmm_inputs("D. public transport")
    if inputs is None:
        return
    mun, svc = inputs
    with tempfile.TemporaryDirectory() as tmp:
        feed_path = Path(tmp) / "synthetic_cmm.zip"
        info = write_synthetic_feed(feed_path, mun.total_bounds, n_routes=n_routes, stops_per_route=stops_per_route)
        t0 = time.perf_counter()
        feed = read_gtfs(feed_path)
        t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = TransitModel(feed)
    t_prep = time.perf_counter() - t0
    compute_access(mun, svc, cell_size=100.0)  # warm-up (imports, first allocations)
    t0 = time.perf_counter()
    walk = compute_access(mun, svc, cell_size=100.0)
    t_walk = time.perf_counter() - t0
    pt_step = []
    cell_minutes = model.cell_minutes

    def timed(*a, **k):  # the PT step alone (access pairs, CSA passes, egress, per-cell minima)
        t = time.perf_counter()
        out = cell_minutes(*a, **k)
        pt_step.append(time.perf_counter() - t)
        return out

    model.cell_minutes = timed
    t0 = time.perf_counter()
    run = compute_access(mun, svc, cell_size=100.0, transit=model)
    t_pt = time.perf_counter() - t0
    tracemalloc.start()  # a second run for memory: tracemalloc slows NumPy allocation-heavy code several times
    compute_access(mun, svc, cell_size=100.0, transit=model)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tr = run.meta["transit"]
    print("\n== D. CMM, 100 m grid, walk + public transport (synthetic GTFS) ==")
    print(f"feed: {info['stops']:,} stops, {info['routes']} routes, {info['trips']:,} trips, {info['connections']:,} connections "
          f"({tr['n_connections']:,} in the window + {model.p['limits']['max_ride_min']}'); {len(model.taus)} departures "
          f"{tr['departures'][0]}–{tr['departures'][-1]}; {tr['n_origin_stops']:,} access stops; "
          f"{run.meta['n_cells']:,} cells; {len(run.categories)} categories")
    print(f"read + validate feed {t_read:.2f} s; prepare (connections, footpaths) {t_prep:.2f} s")
    print(f"walk-only run {t_walk:.2f} s; walk + PT run {t_pt:.2f} s, of which the PT step {pt_step[0]:.2f} s "
          f"({len(model.taus)} CSA scans × {-(-tr['n_origin_stops'] // int(model.p['limits']['max_columns']))} column block(s))")
    print(f"peak memory: walk + PT run (tracemalloc, separate run) {peak / 2**20:.0f} MB; process max RSS {peak_rss_mb():.0f} MB")
    for k, v in tr["pt_better_share"].items():
        t_w = np.nanmedian(walk.cells[f"t_{k}"])
        t_p = np.nanmedian(run.cells[f"t_{k}"])
        print(f"  {k:22s} cells faster with PT {v:6.1%}; median minutes walk {t_w:5.1f} → walk+PT {t_p:5.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--out")
    ap.add_argument("--nodes", type=int, default=312_000)
    ap.add_argument("--skip-cmm", action="store_true")
    ap.add_argument("--skip-network", action="store_true")
    ap.add_argument("--engines", default="sttm,pandana,networkx", help="comma-separated subset (sttm first)")
    ap.add_argument("--skip-pt", action="store_true")
    ap.add_argument("--only-pt", action="store_true")
    ap.add_argument("--pt-routes", type=int, default=100)
    ap.add_argument("--pt-stops-per-route", type=int, default=20)
    a = ap.parse_args()
    if a.worker:
        worker(a.worker, a.nodes, a.out)
        return
    if a.only_pt:
        bench_pt(a.pt_routes, a.pt_stops_per_route)
        return
    if not a.skip_cmm:
        bench_cmm()
    if not a.skip_pt:
        bench_pt(a.pt_routes, a.pt_stops_per_route)
    if not a.skip_network:
        bench_network(a.nodes, tuple(a.engines.split(",")))


if __name__ == "__main__":
    main()
