"""A writer process used by the crash-safety tests and by benchmarks/ledger.py.

``python -m sttm.equalization.fund.stress URL LOG --batches N --size K [--pause-in-txn S]``
posts N transactions of K postings each (a contribution into the fund, then alternating
disbursements and contributions) and appends the last committed seq to LOG after each commit.
With ``--pause-in-txn`` it writes ``IN_TXN <seq>`` to LOG after the rows of a transaction are
inserted and sleeps before the commit, so a test can SIGKILL it mid-batch.
"""
from __future__ import annotations

import argparse
import os
import time

from sqlalchemy import create_engine

from .ledger import Ledger, contribution, disbursement


def store_engine(db: str):
    """A .gpkg path opens the knowledge base (its engine: WAL, synchronous=FULL); a URL, a plain engine."""
    if "://" not in db:
        from sttm.knowledge import open_kb
        return open_kb(db).engine
    return create_engine(db, connect_args={"timeout": 60} if db.startswith("sqlite") else {})


def make_batch(i: int, size: int) -> list:
    out = []
    for j in range(size):
        if (i * size + j) % 3 == 2:
            out.append(disbursement(100, category="public_services", beneficiary="015146", cause_type="call_decision",
                                    cause_ref=f"stress/{i}/{j}", author="stress", author_role="cmm"))
        else:
            out.append(contribution(1000 + j, source="developer", comune="015146", cause_type="agreement",
                                    cause_ref=f"stress/{i}/{j}", author="stress", author_role="cmm"))
    return out


def _log(fh, text: str) -> None:
    fh.write(text + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("log")
    ap.add_argument("--batches", type=int, default=1000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--pause-in-txn", type=float, default=0.0)
    a = ap.parse_args(argv)
    engine = store_engine(a.url)
    led = Ledger(engine, rights=lambda istat, adv: True)
    with open(a.log, "a", encoding="utf-8") as fh:
        for i in range(a.batches):
            extra = None
            if a.pause_in_txn:
                def extra(conn, posted, _fh=fh):
                    _log(_fh, f"IN_TXN {posted[-1].seq}")
                    time.sleep(a.pause_in_txn)
            posted = led.post_many(make_batch(i, a.size), extra=extra)
            _log(fh, f"COMMITTED {posted[-1].seq}")


if __name__ == "__main__":
    main()
