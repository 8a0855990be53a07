"""OGC API – Features benchmark: items with bbox on a 100,000-feature layer, 20 concurrent clients.

Serves the same data with the sttm portal (uvicorn, one worker, layer cached in memory with an
STRtree) and with pygeoapi (uvicorn + pygeoapi's Starlette app, one worker, OGR provider on a
GeoPackage with its R-tree spatial index, in EPSG:4326 so that pygeoapi needs no reprojection),
checks that both return the same features for sample queries, then prints latency p50/p95 and
throughput of each and their ratio. Goals: sttm p95 ≤ 50 ms and throughput ≥ 3× pygeoapi.

pygeoapi is NOT a project dependency: it lives in its own venv (default /work/pygeoapi-venv,
built from /usr/bin/python3 with --system-site-packages for Debian's python3-gdal), created by
this script with ``--install-pygeoapi``.

    .venv/bin/python benchmarks/ogcapi.py --install-pygeoapi      # first time
    .venv/bin/python benchmarks/ogcapi.py [--features 100000 --requests 2000 --concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
from shapely.geometry import Point

BBOX_32632 = (480_000, 5_000_000, 545_000, 5_065_000)  # roughly the CMM extent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_layer(n: int, seed: int = 7) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(BBOX_32632[0], BBOX_32632[2], n)
    y = rng.uniform(BBOX_32632[1], BBOX_32632[3], n)
    return gpd.GeoDataFrame({"fid_key": [f"b{i:06d}" for i in range(n)],
                             "category": rng.choice(["school", "pharmacy", "hospital", "sport"], n),
                             "value": rng.integers(0, 1000, n)},
                            geometry=[Point(a, b) for a, b in zip(x, y)], crs="EPSG:32632")


def build_data(workdir: Path, n: int, rebuild: bool) -> tuple[Path, Path]:
    from sttm.knowledge import LayerMeta, open_kb

    kb_path, pg_path = workdir / "bench_kb.gpkg", workdir / "bench_pygeoapi.gpkg"
    marker = workdir / f"built_{n}"
    if rebuild or not marker.exists():
        for p in workdir.glob("bench_*"):
            p.unlink()
        t = time.perf_counter()
        gdf = make_layer(n)
        kb = open_kb(str(kb_path))
        kb.write_layer("bench", gdf, LayerMeta(title="Benchmark", licence="CC0"), key="fid_key", loaded_by="benchmark")
        kb.dispose()
        gdf.to_crs("EPSG:4326").to_file(pg_path, layer="bench", driver="GPKG")  # pyogrio writes the R-tree
        marker.touch()
        print(f"data: {n} features written to the KB and to pygeoapi's GeoPackage in {time.perf_counter() - t:.1f} s")
    return kb_path, pg_path


def query_boxes(count: int, side_m: float, seed: int = 11) -> list[tuple[float, float, float, float]]:
    """Random lon/lat boxes of about side_m metres inside the data extent."""
    from pyproj import Transformer

    tr = Transformer.from_crs(32632, 4326, always_xy=True)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        x = rng.uniform(BBOX_32632[0], BBOX_32632[2] - side_m)
        y = rng.uniform(BBOX_32632[1], BBOX_32632[3] - side_m)
        (x0, x1), (y0, y1) = tr.transform([x, x + side_m], [y, y + side_m])
        out.append((round(x0, 6), round(y0, 6), round(x1, 6), round(y1, 6)))
    return out


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            if httpx.get(url, timeout=120).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout} s")


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str) -> int:
    """One keep-alive HTTP/1.1 GET on an open connection; returns the status (body read and dropped).
    A minimal client: httpx costs more CPU per request than the server under test."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/geo+json\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readline()).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def load(base: str, path_of, boxes, n_requests: int, concurrency: int) -> tuple[list[float], float, int]:
    from urllib.parse import urlsplit

    u = urlsplit(base)
    lat: list[float] = []
    errors = 0
    queue = list(range(n_requests))

    async def worker():
        nonlocal errors
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        try:
            while queue:
                i = queue.pop()
                t = time.perf_counter()
                status = await _get(reader, writer, u.netloc, path_of(boxes[i % len(boxes)]))
                lat.append((time.perf_counter() - t) * 1000)
                errors += status != 200
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lat, time.perf_counter() - t0, errors


def summarise(name: str, lat: list[float], wall: float, errors: int) -> dict:
    q = statistics.quantiles(lat, n=100)
    return {"server": name, "requests": len(lat), "errors": errors, "p50_ms": q[49], "p95_ms": q[94],
            "mean_ms": statistics.fmean(lat), "throughput_rps": len(lat) / wall}


def pygeoapi_config(workdir: Path, gpkg: Path, port: int) -> tuple[Path, Path]:
    cfg = {
        "server": {"bind": {"host": "127.0.0.1", "port": port}, "url": f"http://127.0.0.1:{port}",
                   "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8", "languages": ["en-US"],
                   "limits": {"default_items": 10, "max_items": 10000}, "pretty_print": False,
                   "map": {"url": "https://example.org/{z}/{x}/{y}.png", "attribution": "none"}},
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {"title": "bench", "description": "bench", "keywords": ["bench"],
                               "keywords_type": "theme", "terms_of_service": "https://example.org", "url": "https://example.org"},
            "license": {"name": "CC0", "url": "https://example.org"},
            "provider": {"name": "bench", "url": "https://example.org"},
            "contact": {"name": "bench", "position": "bench", "address": "x", "city": "x", "stateorprovince": "x",
                        "postalcode": "x", "country": "x", "phone": "x", "fax": "x", "email": "x@example.org",
                        "url": "https://example.org", "hours": "x", "instructions": "x", "role": "pointOfContact"}},
        "resources": {"bench": {
            "type": "collection", "title": "bench", "description": "bench", "keywords": ["bench"], "links": [],
            "extents": {"spatial": {"bbox": [8.7, 45.1, 9.6, 45.8],
                                    "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
            "providers": [{"type": "feature", "name": "OGR", "id_field": "fid_key", "layer": "bench",
                           "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
                           "storage_crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                           "data": {"source_type": "GPKG", "source": str(gpkg), "source_capabilities": {"paging": True},
                                    "gdal_ogr_options": {"EMPTY_AS_NULL": "NO", "GDAL_CACHEMAX": 64, "CPL_DEBUG": "NO"}}}],
        }},
    }
    import yaml

    cfg_path, oas_path = workdir / "pygeoapi-config.yml", workdir / "pygeoapi-openapi.yml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return cfg_path, oas_path


def install_pygeoapi(venv: Path) -> None:
    if not (venv / "bin" / "python").exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "pygeoapi", "uvicorn", "starlette"], check=True)


def run_server(cmd: list[str], env: dict, ready_url: str) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(ready_url, proc)
    except Exception:
        proc.terminate()
        raise
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--box-m", type=float, default=1500.0, help="side of the query boxes in metres")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sttm-bench-ogcapi")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--pygeoapi-venv", type=Path, default=Path("/work/pygeoapi-venv"))
    ap.add_argument("--install-pygeoapi", action="store_true", help="create the pygeoapi venv and install pygeoapi")
    ap.add_argument("--no-pygeoapi", action="store_true")
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.install_pygeoapi:
        install_pygeoapi(args.pygeoapi_venv)
    kb_path, pg_path = build_data(args.workdir, args.features, args.rebuild)
    boxes = query_boxes(500, args.box_m)
    results = []

    # --- sttm
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = run_server([sys.executable, "-m", "uvicorn", "sttm.web.app:create_app", "--factory", "--host", "127.0.0.1",
                       "--port", str(port), "--log-level", "warning", "--no-access-log"],
                      {"STTM_DB": str(kb_path)}, f"{base}/ogcapi/collections/bench/items?limit=1&bbox=9,45.4,9.01,45.41")
    sttm_path = lambda b: f"/ogcapi/collections/bench/items?limit={args.limit}&bbox={','.join(map(str, b))}"  # noqa: E731
    try:
        full = lambda p: p.replace(f"limit={args.limit}", "limit=10000")  # noqa: E731 - whole result for comparison
        sample_sttm = [httpx.get(base + full(sttm_path(b)), timeout=60).json() for b in boxes[:20]]
        lat, wall, err = asyncio.run(load(base, sttm_path, boxes, args.requests, args.concurrency))
        results.append(summarise("sttm", lat, wall, err))
        print(f"sttm: {results[-1]}")
    finally:
        stop(proc)

    # --- pygeoapi
    if not args.no_pygeoapi:
        py = args.pygeoapi_venv / "bin" / "python"
        if not py.exists():
            print(f"pygeoapi venv missing at {args.pygeoapi_venv}: rerun with --install-pygeoapi (or --no-pygeoapi)")
            return 2
        pport = free_port()
        cfg, oas = pygeoapi_config(args.workdir, pg_path, pport)
        env = {"PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(oas)}
        subprocess.run([str(args.pygeoapi_venv / "bin" / "pygeoapi"), "openapi", "generate", str(cfg),
                        "--output-file", str(oas)], check=True, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
        pbase = f"http://127.0.0.1:{pport}"
        proc = run_server([str(py), "-m", "uvicorn", "pygeoapi.starlette_app:APP", "--host", "127.0.0.1",
                           "--port", str(pport), "--log-level", "warning", "--no-access-log"], env,
                          f"{pbase}/collections/bench/items?limit=1&f=json")
        pg_path = lambda b: f"/collections/bench/items?f=json&limit={args.limit}&bbox={','.join(map(str, b))}"  # noqa: E731
        try:
            sample_pg = [httpx.get(pbase + full(pg_path(b)), timeout=60).json() for b in boxes[:20]]
            same = 0
            for a, b, bx in zip(sample_sttm, sample_pg, boxes):
                ids_a = {f["id"] for f in a["features"]}
                ids_b = {str(f["id"]) for f in b["features"]}
                same += ids_a == ids_b
                if ids_a != ids_b:
                    print(f"WARNING: bbox {bx}: sttm {len(ids_a)} features, pygeoapi {len(ids_b)}, "
                          f"{len(ids_a ^ ids_b)} differ")
            print(f"same features from both servers on {same}/{len(sample_pg)} sample bbox queries")
            lat, wall, err = asyncio.run(load(pbase, pg_path, boxes, args.requests, args.concurrency))
            results.append(summarise("pygeoapi", lat, wall, err))
        finally:
            stop(proc)

    print(f"\nitems with bbox: {args.features} features, boxes of {args.box_m:.0f} m, limit {args.limit}, "
          f"{args.concurrency} concurrent clients, {args.requests} requests per server, loopback")
    print(f"{'server':<10}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}{'req/s':>10}{'errors':>8}")
    for r in results:
        print(f"{r['server']:<10}{r['p50_ms']:>10.1f}{r['p95_ms']:>10.1f}{r['mean_ms']:>10.1f}"
              f"{r['throughput_rps']:>10.1f}{r['errors']:>8}")
    s = results[0]
    print(f"goal p95 <= 50 ms: {'met' if s['p95_ms'] <= 50 else 'NOT met'} ({s['p95_ms']:.1f} ms)")
    if len(results) == 2:
        ratio = s["throughput_rps"] / results[1]["throughput_rps"]
        print(f"throughput ratio sttm/pygeoapi: {ratio:.2f}x (goal >= 3x: {'met' if ratio >= 3 else 'NOT met'})")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
