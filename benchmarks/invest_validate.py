"""Validate the sttm raster engine against InVEST 3.20.2 on the same synthetic inputs.

Runs InVEST's Urban Cooling Model (HM index, T_air) and Urban Flood Risk Mitigation (Q, runoff
retention index and volume) in their own venv (built by benchmarks/invest_env.sh, default
/work/invest-venv) and the sttm engine in this process, then asserts agreement within
rtol 1e-4 on every valid pixel (and identical nodata masks).

    .venv/bin/python benchmarks/invest_validate.py [--size 240] [--build] [--keep DIR]

InVEST is not an sttm dependency: ``--build`` runs invest_env.sh first (~6 min).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
INVEST_VENV = Path(os.environ.get("INVEST_VENV", "/work/invest-venv"))
RTOL = 1e-4
ATOL = 1e-9

# synthetic biophysical table: 6 classes (impervious, residential, park, forest, water, crops)
TABLE = [
    # lucode, kc, green_area, shade, albedo, building_intensity, cn_a, cn_b, cn_c, cn_d
    (1, 0.10, 0, 0.00, 0.08, 0.9, 98, 98, 98, 98),
    (2, 0.35, 0, 0.15, 0.17, 0.5, 77, 85, 90, 92),
    (3, 0.90, 1, 0.30, 0.20, 0.0, 39, 61, 74, 80),
    (4, 1.00, 1, 1.00, 0.15, 0.0, 30, 55, 70, 77),
    (5, 1.05, 0, 0.00, 0.06, 0.0, 98, 98, 98, 98),
    (6, 0.80, 1, 0.00, 0.22, 0.0, 67, 78, 85, 89),
]
PARAMS = {"t_ref": 29.0, "uhi_max": 4.0, "green_area_cooling_distance": 100.0,
          "t_air_average_radius": 150.0, "rainfall_depth": 60.0}


def make_inputs(workdir: Path, rows: int, cols: int, cell: float = 10.0, seed: int = 7,
                with_nodata: bool = True, varying_et0: bool = False) -> dict:
    """Write a synthetic LULC, soil group, ET0, AOI and biophysical table in EPSG:32632."""
    import geopandas as gpd
    import rasterio
    from rasterio.transform import from_origin
    from scipy.ndimage import zoom
    from shapely.geometry import box

    rng = np.random.default_rng(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    # smooth random field → patchy land cover (parks > 2 ha, forest, water, built-up)
    coarse = rng.random((max(2, rows // 20), max(2, cols // 20)))
    field = zoom(coarse, (rows / coarse.shape[0], cols / coarse.shape[1]), order=1)[:rows, :cols]
    noise = rng.random((rows, cols)) * 0.08
    f = field + noise
    lulc = np.select([f < 0.25, f < 0.5, f < 0.62, f < 0.75, f < 0.8], [1, 2, 3, 4, 5], 6).astype(np.int16)
    nodata = -1
    if with_nodata:
        lulc[: rows // 10, : cols // 12] = nodata       # a nodata corner
        lulc[rows // 2, cols // 3: cols // 3 + 5] = nodata
    soil = rng.integers(1, 5, size=(rows, cols)).astype(np.int16)
    x0, y0 = 510_000.0, 5_040_000.0
    tr = from_origin(x0, y0, cell, cell)
    prof = dict(driver="GTiff", height=rows, width=cols, count=1, crs="EPSG:32632", transform=tr,
                tiled=True, blockxsize=256, blockysize=256)
    paths = {"lulc": workdir / "lulc.tif", "soil": workdir / "soil.tif", "et0": workdir / "et0.tif",
             "aoi": workdir / "aoi.gpkg", "table": workdir / "biophysical.csv"}
    with rasterio.open(paths["lulc"], "w", dtype="int16", nodata=nodata, **prof) as ds:
        ds.write(lulc, 1)
    with rasterio.open(paths["soil"], "w", dtype="int16", nodata=0, **prof) as ds:
        ds.write(soil, 1)
    et0 = np.full((rows, cols), 5.0, np.float32)
    if varying_et0:
        et0 = (4.0 + field).astype(np.float32)
    with rasterio.open(paths["et0"], "w", dtype="float32", nodata=-9999.0, **prof) as ds:
        ds.write(et0, 1)
    gpd.GeoDataFrame({"id": [1]}, geometry=[box(x0, y0 - rows * cell, x0 + cols * cell, y0)],
                     crs="EPSG:32632").to_file(paths["aoi"], driver="GPKG")
    with open(paths["table"], "w") as fh:
        fh.write("lucode,kc,green_area,shade,albedo,building_intensity,cn_a,cn_b,cn_c,cn_d\n")
        for r in TABLE:
            fh.write(",".join(str(v) for v in r) + "\n")
    return {k: str(v) for k, v in paths.items()}


INVEST_RUNNER = r"""
import importlib, json, sys, time, resource, logging
logging.disable(logging.CRITICAL)
model, args = sys.argv[1], json.loads(sys.argv[2])
mod = importlib.import_module(f"natcap.invest.{model}.{model}")
t0 = time.perf_counter()
mod.execute(args)
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def invest_python() -> Path:
    py = INVEST_VENV / "bin" / "python"
    if not py.exists():
        raise SystemExit(f"InVEST venv not found at {INVEST_VENV}: run benchmarks/invest_env.sh "
                         "(or pass --build)")
    return py


def run_invest(model: str, args: dict) -> dict:
    proc = subprocess.run([str(invest_python()), "-c", INVEST_RUNNER, model, json.dumps(args)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"InVEST {model} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def invest_args(inputs: dict, workspace: Path, model: str) -> dict:
    if model == "urban_cooling_model":
        return {"workspace_dir": str(workspace), "results_suffix": "", "n_workers": -1,
                "lulc_raster_path": inputs["lulc"], "ref_eto_raster_path": inputs["et0"],
                "aoi_vector_path": inputs["aoi"], "biophysical_table_path": inputs["table"],
                "green_area_cooling_distance": PARAMS["green_area_cooling_distance"],
                "t_air_average_radius": PARAMS["t_air_average_radius"], "t_ref": PARAMS["t_ref"],
                "uhi_max": PARAMS["uhi_max"], "do_energy_valuation": False,
                "do_productivity_valuation": False, "cc_method": "factors",
                "cc_weight_shade": 0.6, "cc_weight_albedo": 0.2, "cc_weight_eti": 0.2}
    return {"workspace_dir": str(workspace), "results_suffix": "", "n_workers": -1,
            "aoi_watersheds_path": inputs["aoi"], "rainfall_depth": PARAMS["rainfall_depth"],
            "lulc_path": inputs["lulc"], "soils_hydrological_group_raster_path": inputs["soil"],
            "curve_number_table_path": inputs["table"]}


def run_sttm(inputs: dict, model: str) -> dict:
    from sttm.sustainability.raster import (curve_number_runoff, load_landcover_table, read_raster,
                                            urban_cooling)
    table = load_landcover_table(inputs["table"])
    lulc = read_raster(inputs["lulc"])
    if model == "urban_cooling_model":
        return urban_cooling(lulc, table, PARAMS["t_ref"], PARAMS["uhi_max"],
                             PARAMS["green_area_cooling_distance"], PARAMS["t_air_average_radius"],
                             et0=read_raster(inputs["et0"]))
    return curve_number_runoff(lulc, read_raster(inputs["soil"]), table, PARAMS["rainfall_depth"])


def read_invest(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as ds:
        a = ds.read(1).astype(np.float64)
        nd = ds.nodata
    if nd is not None:
        a[np.isclose(a, nd)] = np.nan
    return a


COMPARE = {
    "urban_cooling_model": [("hm", "hm.tif"), ("t_air", "T_air.tif"), ("cc", "cc.tif"),
                            ("cc_park", "intermediate/cc_park.tif"),
                            ("green_area_sum", "intermediate/green_area_sum.tif")],
    "urban_flood_risk_mitigation": [("q_mm", "Q_mm.tif"), ("retention_index", "Runoff_retention_index.tif"),
                                    ("retention_m3", "Runoff_retention_m3.tif"),
                                    ("runoff_m3", "intermediate_files/Q_m3.tif")],
}


def compare(model: str, ours: dict, workspace: Path) -> list[dict]:
    rows = []
    for key, rel in COMPARE[model]:
        theirs = read_invest(workspace / rel)
        mine = np.asarray(ours[key], dtype=np.float64)
        same_mask = bool(np.array_equal(np.isnan(mine), np.isnan(theirs)))
        both = ~np.isnan(mine) & ~np.isnan(theirs)
        diff = np.abs(mine[both] - theirs[both])
        rel_err = diff / np.maximum(np.abs(theirs[both]), 1e-30)
        ok = same_mask and bool(np.allclose(mine[both], theirs[both], rtol=RTOL, atol=ATOL))
        rows.append({"model": model, "output": key, "pixels": int(both.sum()), "same_nodata": same_mask,
                     "max_abs_diff": float(diff.max()) if diff.size else 0.0,
                     "max_rel_diff": float(rel_err[theirs[both] != 0].max()) if diff.size else 0.0,
                     "ok": ok})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=240, help="raster rows = cols (default 240)")
    ap.add_argument("--build", action="store_true", help="build the InVEST venv first")
    ap.add_argument("--keep", help="keep inputs/workspaces in this folder")
    ap.add_argument("--varying-et0", action="store_true", help="use a spatially varying ET0 raster")
    a = ap.parse_args(argv)
    if a.build:
        subprocess.run(["bash", str(HERE / "invest_env.sh")], check=True)
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="sttm_invest_val_"))
    try:
        inputs = make_inputs(work / "inputs", a.size, a.size, varying_et0=a.varying_et0)
        results = []
        for model in COMPARE:
            ws = work / model
            if ws.exists():
                shutil.rmtree(ws)
            t = run_invest(model, invest_args(inputs, ws, model))
            t0 = time.perf_counter()
            ours = run_sttm(inputs, model)
            dt = time.perf_counter() - t0
            print(f"{model}: InVEST {t['seconds']:.2f} s, sttm {dt:.2f} s")
            results += compare(model, ours, ws)
        width = max(len(r["output"]) for r in results)
        print(f"{'model':30s} {'output':{width}s} {'pixels':>8s} {'nodata=':>7s} {'max|d|':>10s} {'max rel':>10s}  ok")
        for r in results:
            print(f"{r['model']:30s} {r['output']:{width}s} {r['pixels']:8d} {str(r['same_nodata']):>7s} "
                  f"{r['max_abs_diff']:10.3e} {r['max_rel_diff']:10.3e}  {'OK' if r['ok'] else 'FAIL'}")
        n_ok = sum(r["ok"] for r in results)
        print(f"{n_ok} passed, {len(results) - n_ok} failed")
        return 0 if n_ok == len(results) else 1
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
