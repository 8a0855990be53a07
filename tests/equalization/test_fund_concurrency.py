"""Concurrent quota transfers from one comune on PostgreSQL never overdraw (writers serialise on
the chain-head row lock; under SERIALIZABLE, serialization failures are retried)."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine

from sttm.equalization.fund import Ledger, LedgerRefused, quota_allocation, quota_transfer, verify


GIVER, TAKERS = "015146", ["015010", "015027", "015036"]


def _race(engine, n_threads=8, per_thread=20, m2=10, initial=1_000):
    led = Ledger(engine, rights=lambda i, a: True)
    led.post(quota_allocation(initial, comune=GIVER, cause_ref="LR31", author="t"))
    ok, refused, errors = [], [], []
    start = threading.Barrier(n_threads)

    def worker(t):
        start.wait()
        for k in range(per_thread):
            try:
                led.post(quota_transfer(m2, from_comune=GIVER, to_comune=TAKERS[(t + k) % 3], cause_ref=f"S{t}-{k}",
                                        author=f"w{t}", author_role=f"comune:{GIVER}"))
                ok.append(1)
            except LedgerRefused as exc:
                assert exc.code == "insufficient", exc
                refused.append(1)
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:3]
    assert len(ok) == initial // m2 and len(refused) == n_threads * per_thread - initial // m2
    assert led.balance("soil_quota", f"comune:{GIVER}") == 0
    assert sum(led.balance("soil_quota", f"comune:{c}") for c in TAKERS) == initial
    rep = verify(engine)
    assert rep.ok and rep.n_postings == 1 + initial // m2, rep.errors


@pytest.mark.postgis
@pytest.mark.parametrize("isolation", ["READ COMMITTED", "SERIALIZABLE"])
def test_concurrent_transfers_never_overdraw_postgresql(fresh_postgis_url, isolation):
    engine = create_engine(fresh_postgis_url, isolation_level=isolation, pool_size=10)
    try:
        _race(engine)
    finally:
        engine.dispose()


def test_concurrent_transfers_never_overdraw_embedded(tmp_path):
    from sttm.knowledge import open_kb
    engine = open_kb(str(tmp_path / "kb.gpkg")).engine
    _race(engine, n_threads=4, per_thread=30)
    engine.dispose()
