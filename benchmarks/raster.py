"""Benchmark: sttm raster engine vs InVEST 3.20.2 on a 4,000 × 4,000 land-cover raster.

Both models — Urban Cooling (cooling distance 450 m, air-mixing radius 500 m at 10 m cells) and
Urban Flood Risk Mitigation (curve-number runoff/retention) — are run by sttm and by InVEST in
the same run on the same synthetic inputs. Each run is a separate process so that its peak
resident memory (ru_maxrss) is its own. Prints wall time, InVEST/sttm ratio, peak memory and
the largest relative difference of the main outputs.

    .venv/bin/python benchmarks/raster.py [--size 4000] [--build]

Needs the InVEST venv (benchmarks/invest_env.sh; ``--build`` runs it).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import invest_validate as iv  # noqa: E402  (same inputs and InVEST runner as the validation)

BENCH_PARAMS = {"green_area_cooling_distance": 450.0, "t_air_average_radius": 500.0}

STTM_RUNNER = r"""
import json, sys, time, resource
sys.path.insert(0, sys.argv[3])
import numpy as np
import invest_validate as iv
import rasterio  # imported before timing, as InVEST's runner imports its model (and GDAL) first
from sttm.sustainability.raster import write_geotiff, read_raster
model, inputs, outdir = sys.argv[1], json.loads(sys.argv[2]), sys.argv[4]
iv.PARAMS.update(json.loads(sys.argv[5]))
t0 = time.perf_counter()
res = iv.run_sttm(inputs, model)
dt = time.perf_counter() - t0
like = read_raster(inputs["lulc"])
keys = ["hm", "t_air"] if model == "urban_cooling_model" else ["q_mm", "retention_m3"]
for k in keys:
    np.save(f"{outdir}/{k}.npy", res[k].astype(np.float32))
print(json.dumps({"seconds": dt, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_sttm_proc(model: str, inputs: dict, outdir: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", STTM_RUNNER, model, json.dumps(inputs), str(HERE), str(outdir),
                           json.dumps(BENCH_PARAMS)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sttm {model} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--build", action="store_true", help="build the InVEST venv first (benchmarks/invest_env.sh)")
    ap.add_argument("--keep", help="keep the working folder here")
    a = ap.parse_args(argv)
    if a.build:
        subprocess.run(["bash", str(HERE / "invest_env.sh")], check=True)
    iv.PARAMS.update(BENCH_PARAMS)
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="sttm_raster_bench_"))
    try:
        inputs = iv.make_inputs(work / "inputs", a.size, a.size, cell=10.0)
        print(f"raster {a.size} × {a.size} cells of 10 m; cooling distance "
              f"{BENCH_PARAMS['green_area_cooling_distance']:.0f} m, mixing radius "
              f"{BENCH_PARAMS['t_air_average_radius']:.0f} m")
        rows = []
        for model in iv.COMPARE:
            ws = work / model
            ours_dir = work / f"sttm_{model}"
            ours_dir.mkdir(parents=True, exist_ok=True)
            t_inv = iv.run_invest(model, iv.invest_args(inputs, ws, model))
            t_ours = run_sttm_proc(model, inputs, ours_dir)
            pairs = ([("hm", "hm.tif"), ("t_air", "T_air.tif")] if model == "urban_cooling_model"
                     else [("q_mm", "Q_mm.tif"), ("retention_m3", "Runoff_retention_m3.tif")])
            worst = 0.0
            for key, rel in pairs:
                mine = np.load(ours_dir / f"{key}.npy").astype(np.float64)
                theirs = iv.read_invest(ws / rel)
                both = ~np.isnan(mine) & ~np.isnan(theirs) & (theirs != 0)
                worst = max(worst, float(np.max(np.abs(mine[both] - theirs[both]) / np.abs(theirs[both]))))
            rows.append((model, t_inv, t_ours, worst))
            shutil.rmtree(ws, ignore_errors=True)
        print(f"{'model':30s} {'InVEST s':>9s} {'sttm s':>8s} {'ratio':>6s} {'InVEST MB':>10s} {'sttm MB':>8s} "
              f"{'max rel diff':>12s}")
        for model, ti, to, worst in rows:
            print(f"{model:30s} {ti['seconds']:9.2f} {to['seconds']:8.2f} {ti['seconds'] / to['seconds']:6.1f} "
                  f"{ti['peak_rss_mb']:10.0f} {to['peak_rss_mb']:8.0f} {worst:12.2e}")
        tot_i = sum(r[1]["seconds"] for r in rows)
        tot_o = sum(r[2]["seconds"] for r in rows)
        print(f"{'both models':30s} {tot_i:9.2f} {tot_o:8.2f} {tot_i / tot_o:6.1f}")
        return 0
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
