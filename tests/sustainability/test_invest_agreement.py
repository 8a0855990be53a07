"""Agreement with InVEST 3.20.2 (rtol 1e-4) on small synthetic inputs, when its venv exists.

InVEST is not an sttm dependency: build it with ``bash benchmarks/invest_env.sh``; without it
this test is skipped. The same check is ``benchmarks/invest_validate.py``.
"""
import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("INVEST_VENV", "/work/invest-venv"))

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (VENV / "bin" / "python").exists(), reason="InVEST venv not built")]


def _validator():
    spec = importlib.util.spec_from_file_location("invest_validate", ROOT / "benchmarks" / "invest_validate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("model", ["urban_cooling_model", "urban_flood_risk_mitigation"])
def test_sttm_equals_invest(tmp_path, model):
    iv = _validator()
    inputs = iv.make_inputs(tmp_path / "inputs", 120, 110, varying_et0=True)
    ws = tmp_path / model
    iv.run_invest(model, iv.invest_args(inputs, ws, model))
    rows = iv.compare(model, iv.run_sttm(inputs, model), ws)
    bad = [r for r in rows if not r["ok"]]
    assert not bad, bad
    assert all(r["pixels"] > 10_000 for r in rows)
