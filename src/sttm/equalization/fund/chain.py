"""The tip of a hash chain, kept in a one-row table that is also the writers' lock.

A writer's FIRST statement in its transaction is :func:`lock_head` (an ``UPDATE`` of the row: a
row lock on PostgreSQL, the RESERVED write lock on SQLite), so every append sees the committed tip
and chains stay linear; :func:`set_head` moves the tip before commit.
"""
from __future__ import annotations

import weakref
from datetime import datetime, timezone

from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

GENESIS = "0" * 64


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def head_table(name: str, metadata: MetaData) -> Table:
    return Table(name, metadata,
                 Column("id", Integer, primary_key=True, autoincrement=False),
                 Column("last_seq", BigInteger, nullable=False),
                 Column("last_hash", String(64), nullable=False),
                 Column("touched_at", String(40), nullable=False))


def ensure_head(engine: Engine, table: Table) -> None:
    """Inserts the genesis row if missing (safe when two processes race)."""
    with engine.begin() as conn:
        if conn.execute(select(table.c.id)).first() is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(table).values(id=1, last_seq=0, last_hash=GENESIS, touched_at=now()))
            except IntegrityError:
                pass


def lock_head(conn, table: Table, ts: str) -> tuple[int, str] | None:
    """Takes the writer lock and returns (last_seq, last_hash); None if the row is missing."""
    if conn.execute(update(table).where(table.c.id == 1).values(touched_at=ts)).rowcount != 1:
        return None
    return tuple(conn.execute(select(table.c.last_seq, table.c.last_hash).where(table.c.id == 1)).one())


def set_head(conn, table: Table, seq: int, last_hash: str) -> None:
    conn.execute(update(table).where(table.c.id == 1).values(last_seq=seq, last_hash=last_hash))


def read_head(conn, table: Table) -> tuple[int, str] | None:
    row = conn.execute(select(table.c.last_seq, table.c.last_hash).where(table.c.id == 1)).first()
    return tuple(row) if row else None


def check_tables(engine: Engine, tables: list[Table]) -> None:
    """Refuses to work on tables created by an older layout (create_all does not add columns)."""
    from sqlalchemy import inspect
    insp = inspect(engine)
    for t in tables:
        have = {c["name"] for c in insp.get_columns(t.name)}
        missing = [c.name for c in t.columns if c.name not in have]
        if missing:
            raise RuntimeError(f"table {t.name} in {engine.url.render_as_string(hide_password=True)} has an older "
                               f"layout (missing columns: {', '.join(missing)}); it cannot be used as it is — "
                               "migrate it or start from a new store")


_READY: "weakref.WeakKeyDictionary[Engine, set[str]]" = weakref.WeakKeyDictionary()


def ensure_tables(engine: Engine, metadata: MetaData, tables: list[Table], head: Table | None = None) -> None:
    """Creates ``tables`` if missing, checks their layout and (with ``head``) the chain's genesis row;
    done once per engine."""
    done = _READY.setdefault(engine, set())
    key = ",".join(sorted(t.name for t in tables))
    if key in done:
        return
    metadata.create_all(engine, checkfirst=True, tables=tables)
    check_tables(engine, tables)
    if head is not None:
        ensure_head(engine, head)
    done.add(key)
