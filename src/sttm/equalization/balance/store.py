"""Append-only tables of the balance, conference and agreement records (SQLAlchemy Core,
portable types only, on ``kb.engine``).

Rows are only ever INSERTed; on both backends triggers refuse UPDATE and DELETE. Every
conference/agreement event carries the SHA-256 of the previous event of the same record and
of its own content, so :func:`verify_chain` detects any tampering. One import (proposal +
forecasts + balance + matrix + resources + allocation) is one transaction.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import weakref
from typing import Any

from sqlalchemy import (BigInteger, Column, Float, Integer, MetaData, PrimaryKeyConstraint, String, Table,
                        Text, UniqueConstraint, func, select)
from sqlalchemy.engine import Connection

metadata = MetaData()

proposals = Table(
    "balance_proposals", metadata,
    Column("proposal_id", String(40), primary_key=True),
    Column("recorded_at", String(40), nullable=False),
    Column("recorded_by", String(120), nullable=False),
    Column("istat_code", String(6), nullable=False),
    Column("act_kind", String(20), nullable=False),
    Column("title", Text, nullable=False),
    Column("adopted_on", String(10)),
    Column("submitted_on", String(10)),
    Column("proposal_ref", Text, nullable=False),
    Column("source_file", Text, nullable=False),
    Column("payload_json", Text, nullable=False),
    Column("payload_sha256", String(64), nullable=False),
)

forecasts = Table(
    "balance_forecasts", metadata,
    Column("proposal_id", String(40), nullable=False),
    Column("forecast_id", String(60), nullable=False),
    Column("function", String(30), nullable=False),
    Column("floor_area_m2", Float, nullable=False),
    Column("land_take_free_soil_m2", Float, nullable=False),
    Column("new_impervious_m2", Float, nullable=False),
    Column("former_cover", String(30), nullable=False),
    Column("residents", Float), Column("jobs", Float), Column("visitors_per_day", Float),
    Column("car_trips_per_day", Float), Column("truck_trips_per_day", Float),
    Column("construction_contribution_eur", Float),
    Column("geometry_wkt", Text, nullable=False),       # EPSG:32632
    PrimaryKeyConstraint("proposal_id", "forecast_id"),
)

results = Table(
    "balance_results", metadata,
    Column("balance_id", String(50), primary_key=True),
    Column("proposal_id", String(40), nullable=False),
    Column("computed_at", String(40), nullable=False),
    Column("recorded_by", String(120), nullable=False),
    Column("params_version", String(40), nullable=False),
    Column("params_sha256", String(64), nullable=False),
    Column("relevance", String(20), nullable=False),
    Column("total_resources_cents", BigInteger, nullable=False),
    Column("affected_json", Text, nullable=False),
    Column("explanation_json", Text, nullable=False),
    Column("assumptions_json", Text, nullable=False),
    Column("indicators_json", Text, nullable=False),
)

matrix = Table(
    "balance_matrix", metadata,
    Column("balance_id", String(50), nullable=False),
    Column("istat_code", String(6), nullable=False),
    Column("externality", String(40), nullable=False),
    Column("value", Float, nullable=False),
    PrimaryKeyConstraint("balance_id", "istat_code", "externality"),
)

resource_lines = Table(
    "balance_resources", metadata,
    Column("balance_id", String(50), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("forecast_id", String(60), nullable=False),
    Column("resource_id", String(40), nullable=False),
    Column("legal_reference", Text, nullable=False),
    Column("base_cents", BigInteger, nullable=False),
    Column("rate", Float, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    PrimaryKeyConstraint("balance_id", "line_no"),
)

allocation_lines = Table(
    "balance_allocations", metadata,
    Column("balance_id", String(50), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("recipient_kind", String(20), nullable=False),
    Column("recipient", Text, nullable=False),
    Column("label", Text, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("basis", Text, nullable=False),
    PrimaryKeyConstraint("balance_id", "line_no"),
)


def _event_table(name: str, record_col: str) -> Table:
    return Table(
        name, metadata,
        Column("event_id", Integer, primary_key=True, autoincrement=True),
        Column(record_col, String(60), nullable=False),
        Column("seq", Integer, nullable=False),
        Column("kind", String(30), nullable=False),
        Column("proposal_id", String(40), nullable=False),
        Column("balance_id", String(50), nullable=False),
        Column("istat_code", String(6)),
        Column("actor", String(120), nullable=False),
        Column("payload_json", Text, nullable=False),
        Column("due_on", String(10)),
        Column("event_date", String(10), nullable=False),
        Column("recorded_at", String(40), nullable=False),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
        UniqueConstraint(record_col, "seq", name=f"uq_{name}_seq"),
    )


conference_events = _event_table("conference_events", "conference_id")
agreement_events = _event_table("agreement_events", "agreement_id")

APPEND_ONLY = [t.name for t in metadata.sorted_tables]


class AppendOnlyError(RuntimeError):
    pass


_READY: "weakref.WeakSet" = weakref.WeakSet()


def ensure_schema(kb) -> None:
    """Create the tables (idempotent) and the triggers that forbid UPDATE/DELETE (and TRUNCATE)."""
    if kb.engine in _READY:
        return
    with kb.transaction() as conn:
        metadata.create_all(conn)
        backend = conn.dialect.name
        if backend == "postgresql":
            conn.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION sttm_balance_append_only() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION '%% is append-only', TG_TABLE_NAME; END; $$ LANGUAGE plpgsql")
        for t in APPEND_ONLY:
            if backend == "sqlite":
                for op in ("UPDATE", "DELETE"):
                    conn.exec_driver_sql(
                        f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t} "
                        f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END")
            elif backend == "postgresql":
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
                conn.exec_driver_sql(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                                     "FOR EACH ROW EXECUTE FUNCTION sttm_balance_append_only()")
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}")
                conn.exec_driver_sql(f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
                                     "FOR EACH STATEMENT EXECUTE FUNCTION sttm_balance_append_only()")
    _READY.add(kb.engine)


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def event_hash(prev_hash: str, row: dict) -> str:
    body = {k: v for k, v in row.items() if k not in ("event_id", "hash", "prev_hash")}
    return hashlib.sha256((prev_hash + canonical(body)).encode()).hexdigest()


def append_event(conn: Connection, table: Table, record_col: str, row: dict) -> dict:
    """Insert the next event of a record (seq, prev_hash and hash are computed here)."""
    last = conn.execute(select(table.c.seq, table.c.hash).where(table.c[record_col] == row[record_col])
                        .order_by(table.c.seq.desc()).limit(1)).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, "0" * 64)
    full = {**row, "seq": seq, "recorded_at": row.get("recorded_at") or now_iso(), "prev_hash": prev}
    full["hash"] = event_hash(prev, full)
    conn.execute(table.insert().values(**full))
    return full


def read_events(conn: Connection, table: Table, record_col: str, record_id: str) -> list[dict]:
    rows = conn.execute(select(table).where(table.c[record_col] == record_id).order_by(table.c.seq)).mappings()
    return [dict(r) for r in rows]


def verify_chain(events: list[dict]) -> list[str]:
    """Problems found in a record's hash chain (empty list = intact)."""
    problems, prev = [], "0" * 64
    for i, e in enumerate(events, 1):
        if e["seq"] != i:
            problems.append(f"seq {e['seq']}: expected {i}")
        if e["prev_hash"] != prev:
            problems.append(f"seq {e['seq']}: prev_hash does not match the previous event")
        if event_hash(e["prev_hash"], e) != e["hash"]:
            problems.append(f"seq {e['seq']}: content does not match its hash")
        prev = e["hash"]
    return problems


def next_proposal_id(conn: Connection, istat_code: str) -> str:
    n = conn.execute(select(func.count()).select_from(proposals)
                     .where(proposals.c.istat_code == istat_code)).scalar_one()
    return f"BD-{istat_code}-{n + 1:04d}"


def save_balance(kb, result, source_file: str, actor: str) -> tuple[str, str]:
    """Record the proposal and its balance in ONE transaction; returns (proposal_id, balance_id)."""
    from .externalities import COLUMN_NAMES
    ensure_schema(kb)
    p = result.proposal
    payload = p.to_record()
    payload_json = canonical(payload)
    with kb.transaction() as conn:
        pid = next_proposal_id(conn, p.istat_code)
        conn.execute(proposals.insert().values(
            proposal_id=pid, recorded_at=now_iso(), recorded_by=actor, istat_code=p.istat_code,
            act_kind=p.act_kind, title=p.title, adopted_on=payload["adopted_on"],
            submitted_on=payload["submitted_on"], proposal_ref=p.proposal_ref, source_file=source_file,
            payload_json=payload_json, payload_sha256=hashlib.sha256(payload_json.encode()).hexdigest()))
        conn.execute(forecasts.insert(), [{
            "proposal_id": pid, "forecast_id": f.forecast_id, "function": f.function,
            "floor_area_m2": f.floor_area_m2, "land_take_free_soil_m2": f.land_take_free_soil_m2,
            "new_impervious_m2": f.new_impervious_m2, "former_cover": f.former_cover,
            "residents": f.residents, "jobs": f.jobs, "visitors_per_day": f.visitors_per_day,
            "car_trips_per_day": f.car_trips_per_day, "truck_trips_per_day": f.truck_trips_per_day,
            "construction_contribution_eur": f.construction_contribution_eur,
            "geometry_wkt": f.geometry.wkt} for f in p.forecasts])
        bid = f"{pid}-B1"
        conn.execute(results.insert().values(**_result_row(result, pid, bid, actor)))
        _insert_details(conn, result, bid, COLUMN_NAMES)
    return pid, bid


def save_recomputed(kb, result, proposal_id: str, actor: str) -> str:
    """Record a new balance of an already recorded proposal (e.g. with confirmed parameters)."""
    from .externalities import COLUMN_NAMES
    ensure_schema(kb)
    with kb.transaction() as conn:
        n = conn.execute(select(func.count()).select_from(results)
                         .where(results.c.proposal_id == proposal_id)).scalar_one()
        bid = f"{proposal_id}-B{n + 1}"
        conn.execute(results.insert().values(**_result_row(result, proposal_id, bid, actor)))
        _insert_details(conn, result, bid, COLUMN_NAMES)
    return bid


def _result_row(result, pid: str, bid: str, actor: str) -> dict:
    from dataclasses import asdict
    return dict(
        balance_id=bid, proposal_id=pid, computed_at=result.computed_at, recorded_by=actor,
        params_version=result.params_version, params_sha256=result.params_sha256,
        relevance=result.relevance.level, total_resources_cents=result.total_resources_cents,
        affected_json=canonical([asdict(a) for a in result.relevance.affected]),
        explanation_json=canonical({"lines": [asdict(ln) for ln in result.relevance.lines],
                                    "text": result.relevance.explain()}),
        assumptions_json=canonical(result.assumptions),
        indicators_json=canonical([asdict(i) for i in result.indicators]))


def _insert_details(conn: Connection, result, bid: str, columns: list[str]) -> None:
    m = result.matrix
    rows = [{"balance_id": bid, "istat_code": code, "externality": col, "value": float(v)}
            for col in columns for code, v in m[col].items() if abs(float(v)) > 1e-9]
    if rows:
        conn.execute(matrix.insert(), rows)
    if result.resources:
        conn.execute(resource_lines.insert(), [
            {"balance_id": bid, "line_no": i, "forecast_id": r.forecast_id, "resource_id": r.resource_id,
             "legal_reference": r.legal_reference, "base_cents": r.base_cents, "rate": r.rate,
             "amount_cents": r.amount_cents} for i, r in enumerate(result.resources, 1)])
    conn.execute(allocation_lines.insert(), [
        {"balance_id": bid, "line_no": i, "recipient_kind": a.recipient_kind, "recipient": a.recipient,
         "label": a.label, "amount_cents": a.amount_cents, "basis": a.basis}
        for i, a in enumerate(result.allocation, 1)])


def load_balance_row(conn: Connection, balance_id: str) -> dict | None:
    r = conn.execute(select(results).where(results.c.balance_id == balance_id)).mappings().first()
    return dict(r) if r else None


def load_allocation(conn: Connection, balance_id: str) -> list[dict]:
    return [dict(r) for r in conn.execute(select(allocation_lines).where(allocation_lines.c.balance_id == balance_id)
                                          .order_by(allocation_lines.c.line_no)).mappings()]


def list_balances(kb) -> list[dict]:
    ensure_schema(kb)
    with kb.engine.connect() as conn:
        q = select(results.c.balance_id, results.c.proposal_id, results.c.computed_at, results.c.relevance,
                   results.c.total_resources_cents, proposals.c.istat_code, proposals.c.title, proposals.c.act_kind
                   ).join(proposals, proposals.c.proposal_id == results.c.proposal_id).order_by(results.c.balance_id)
        return [dict(r) for r in conn.execute(q).mappings()]
