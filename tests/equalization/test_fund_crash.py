"""Crash safety: SIGKILL a writer in the middle of a batch; after restart every posting is fully
there or absent and the chain verifies — on the embedded store (GeoPackage) and on PostgreSQL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sttm.equalization.fund import Ledger, contribution, verify
from sttm.equalization.fund.stress import store_engine



def _run_and_kill(db: str, log: Path, *, size: int, pause: float, committed_before_kill: int) -> list[str]:
    cmd = [sys.executable, "-m", "sttm.equalization.fund.stress", db, str(log), "--batches", "100000",
           "--size", str(size), "--pause-in-txn", str(pause)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            lines = log.read_text().split() if log.exists() else []
            records = [(lines[i], int(lines[i + 1])) for i in range(0, len(lines) - 1, 2)]
            n_commit = sum(1 for k, _ in records if k == "COMMITTED")
            if n_commit >= committed_before_kill and records and records[-1][0] == "IN_TXN" or \
                    (pause == 0 and n_commit >= committed_before_kill):
                os.kill(proc.pid, signal.SIGKILL)
                break
            if proc.poll() is not None:
                pytest.fail(f"writer died: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.01)
        else:
            pytest.fail("writer did not reach the kill point")
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return log.read_text().split("\n")


def _check_after_restart(db: str, lines: list[str], size: int, mid_txn: bool):
    committed = [int(x.split()[1]) for x in lines if x.startswith("COMMITTED")]
    in_txn = [int(x.split()[1]) for x in lines if x.startswith("IN_TXN")]
    engine = store_engine(db)
    rep = verify(engine)
    assert rep.ok, rep.errors
    assert rep.n_postings % size == 0                       # whole batches only
    assert rep.n_lines == 2 * rep.n_postings                # every posting complete
    if mid_txn:
        assert rep.n_postings == committed[-1]              # the batch being written is absent…
        assert in_txn[-1] == committed[-1] + size           # …although its rows had been inserted
    else:
        assert committed[-1] <= rep.n_postings <= committed[-1] + size
    led = Ledger(engine, rights=lambda i, a: True)          # the store is usable and the chain continues
    led.post(contribution(1, source="developer", comune=None, cause_type="agreement", cause_ref="after-crash",
                          author="t", author_role="cmm"))
    rep2 = verify(engine)
    assert rep2.ok and rep2.n_postings == rep.n_postings + 1
    engine.dispose()


@pytest.mark.parametrize("size,pause", [(100, 0.5), (1, 0.0)])
def test_sigkill_embedded_store(tmp_path, size, pause):
    db = str(tmp_path / "kb.gpkg")
    lines = _run_and_kill(db, tmp_path / "log", size=size, pause=pause, committed_before_kill=3 if size > 1 else 40)
    _check_after_restart(db, lines, size, mid_txn=pause > 0)


@pytest.mark.postgis
@pytest.mark.parametrize("size,pause", [(100, 0.5), (1, 0.0)])
def test_sigkill_postgresql(tmp_path, fresh_postgis_url, size, pause):
    url = fresh_postgis_url
    lines = _run_and_kill(url, tmp_path / "log", size=size, pause=pause, committed_before_kill=3 if size > 1 else 40)
    _check_after_restart(url, lines, size, mid_txn=pause > 0)
