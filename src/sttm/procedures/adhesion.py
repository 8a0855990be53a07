"""Adhesion of a comune to the STTM and to the Fondo perequativo metropolitano (Relazione §4.5).

The four cases a–d (steps, legal references, obligations, advantages) are data:
``data/adhesion_cases.toml``. An adhesion is opened for a comune in one case; acts (the
deliberation with its commitments, the agreement…) move it through the case's steps; the
advantages unlock as their steps are done. Events are insert-only.

The rest of the system asks :func:`has_right` (``istat``, ``advantage``), e.g.
``has_right(engine, "015146", "soil_quota_exchange")`` before a quota exchange.
"""
from __future__ import annotations

import hashlib
import json
import re
import tomllib
import uuid
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from . import schema
from sttm.equalization.fund import chain
from sttm.equalization.fund.errors import Refused

CMM = "cmm"
GENESIS = chain.GENESIS
_ISTAT = re.compile(r"^\d{6}$")
STRATEGIES = ("sttm1", "sttm2", "sttm3")


class AdhesionError(Refused):
    """A refusal; nothing was written."""


@lru_cache(maxsize=None)
def catalogue() -> dict:
    """The whole adhesion table (cases, advantages, obligations), validated once."""
    with resources.files(__package__).joinpath("data", "adhesion_cases.toml").open("rb") as fh:
        data = tomllib.load(fh)
    adv, obl = data["advantages"], data["obligations"]
    for cid, case in data["cases"].items():
        ids = [s["id"] for s in case["steps"]]
        if "adhesion_act" not in ids:
            raise ValueError(f"adhesion_cases.toml: case {cid} has no adhesion_act step")
        for s in case["steps"]:
            for a in s.get("after", []):
                if a not in ids[:ids.index(s["id"])]:
                    raise ValueError(f"adhesion_cases.toml: case {cid} step {s['id']}: 'after' {a} is not an earlier step")
        for a in case["advantages"] + case.get("procedural_rights", []) + list(case.get("unlocked_by", {})):
            if a not in adv:
                raise ValueError(f"adhesion_cases.toml: case {cid}: unknown advantage {a}")
        for o in case["obligations"]:
            if o not in obl or obl[o]["due_at"] not in ids + ["agreement"]:
                raise ValueError(f"adhesion_cases.toml: case {cid}: obligation {o} unknown or due at an unknown step")
    return data


def cases() -> dict[str, dict]:
    return catalogue()["cases"]


def ensure_schema(engine: Engine) -> None:
    chain.ensure_tables(engine, schema.metadata, [schema.adhesions, schema.adhesion_events, schema.adhesion_head],
                        head=schema.adhesion_head)


_now = chain.now


def known_municipalities(engine: Engine) -> set[str] | None:
    """ISTAT codes of the KB's ``municipalities`` layer, or None when the territory is not built."""
    from sqlalchemy import inspect, text
    if not inspect(engine).has_table("municipalities"):
        return None
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(text("SELECT istat_code FROM municipalities"))}


def open_adhesion(engine: Engine, istat: str, case_id: str, *, author: str, strategies=STRATEGIES,
                  subject: str = "") -> str:
    """Opens an adhesion of ``istat`` in case ``case_id`` ('a'..'d'); returns its id."""
    if not isinstance(istat, str) or not _ISTAT.match(istat):
        raise AdhesionError("istat", f"'{istat}' is not a 6-digit ISTAT code")
    if case_id not in cases():
        raise AdhesionError("case", f"unknown case '{case_id}' (known: {', '.join(cases())})")
    strategies = tuple(strategies)
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad or not strategies:
        raise AdhesionError("strategies", f"strategies must be among {STRATEGIES}, got {strategies}")
    ensure_schema(engine)
    known = known_municipalities(engine)
    if known is not None and istat not in known:
        raise AdhesionError("istat", f"{istat} is not one of the {len(known)} comuni of the knowledge base")
    aid = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(insert(schema.adhesions).values(adhesion_id=aid, istat_code=istat, case_id=case_id,
                                                     strategies=",".join(strategies), subject=subject,
                                                     opened_at=_now(), opened_by=author))
    return aid


@dataclass
class AdhesionStatus:
    adhesion_id: str
    istat_code: str
    case_id: str
    steps: list[dict]            # id, label, actor, status (done | not_due | pending), act_ref, ts
    next_steps: list[str]
    advantages: list[str]        # unlocked
    rights: list[str]            # advantages + procedural rights in force
    adherent: bool               # adhesion act done
    complete: bool


def _load(conn, adhesion_id: str):
    rec = conn.execute(select(schema.adhesions).where(schema.adhesions.c.adhesion_id == adhesion_id)).first()
    if rec is None:
        raise AdhesionError("not_found", f"no adhesion '{adhesion_id}'")
    ev = conn.execute(select(schema.adhesion_events).where(schema.adhesion_events.c.adhesion_id == adhesion_id)
                      .order_by(schema.adhesion_events.c.event_id)).all()
    return rec, {e.step_id: e for e in ev}


def _status(rec, events) -> AdhesionStatus:
    case = cases()[rec.case_id]
    steps, nxt = [], []
    closed = {k for k in events}
    for s in case["steps"]:
        e = events.get(s["id"])
        st = e.status if e else "pending"
        steps.append(dict(id=s["id"], label=s["label"], actor=s["actor"], status=st, condition=s.get("condition"),
                          act_ref=e.act_ref if e else None, ts=e.ts if e else None))
        if e is None and all(a in closed for a in s.get("after", [])):
            nxt.append(s["id"])
    done = {k for k, e in events.items() if e.status == "done"}
    unlocked_by = case.get("unlocked_by", {})
    adv = [a for a in case["advantages"] if all(s in done for s in unlocked_by.get(a, ["adhesion_act"]))]
    rights = sorted(set(adv) | set(case.get("procedural_rights", [])))
    return AdhesionStatus(rec.adhesion_id, rec.istat_code, rec.case_id, steps, nxt, adv, rights,
                          "adhesion_act" in done, not nxt and all(s["status"] != "pending" for s in steps))


def status(engine: Engine, adhesion_id: str) -> AdhesionStatus:
    ensure_schema(engine)
    with engine.connect() as conn:
        return _status(*_load(conn, adhesion_id))


def record_step(engine: Engine, adhesion_id: str, step_id: str, *, act_ref: str, author: str, author_role: str,
                act_date: str | None = None, commitments: dict | None = None, note: str = "",
                status_: str = "done") -> AdhesionStatus:
    """Records that ``step_id`` is done (an act: deliberation, request, agreement…), or with
    ``status_='not_due'`` that a conditional step is not due (CMM only, ``note`` = the reason;
    the steps depending on it that are also conditional become not due too)."""
    ensure_schema(engine)
    if not act_ref or not act_ref.strip():
        raise AdhesionError("act_ref", "the act reference (e.g. 'DCC n. 12 del 2026-03-01') is required")
    if act_date is not None:
        try:
            date.fromisoformat(act_date)
        except ValueError:
            raise AdhesionError("act_date", f"act_date '{act_date}' is not an ISO date (YYYY-MM-DD)") from None
    commitments = commitments or {}
    with engine.begin() as conn:
        H = schema.adhesion_head
        ts = _now()
        seq, prev = chain.lock_head(conn, H, ts)          # writer lock: the transaction's first statement
        rec, events = _load(conn, adhesion_id)
        case = cases()[rec.case_id]
        steps = {s["id"]: s for s in case["steps"]}
        if step_id not in steps:
            raise AdhesionError("step", f"case {rec.case_id} has no step '{step_id}' (steps: {', '.join(steps)})")
        step = steps[step_id]
        if step_id in events:
            raise AdhesionError("already", f"step '{step_id}' already recorded ({events[step_id].status})")
        missing = [a for a in step.get("after", []) if a not in events]
        if missing:
            raise AdhesionError("order", f"step '{step_id}' needs first: {', '.join(missing)}")
        if author_role != CMM:
            if author_role != f"comune:{rec.istat_code}":
                raise AdhesionError("role", f"{author_role} cannot act on the adhesion of comune {rec.istat_code}")
            if step["actor"] != "comune":
                raise AdhesionError("role", f"step '{step_id}' is recorded by CMM (actor: {step['actor']})")
        to_write = [step_id]
        if status_ == "not_due":
            if author_role != CMM or "condition" not in step:
                raise AdhesionError("not_due", f"only a conditional step can be declared not due, and only by CMM")
            if not note.strip():
                raise AdhesionError("not_due", "the reason (note) is required")
            for s in case["steps"]:       # dependent conditional steps fall with it
                if "condition" in s and any(a in to_write for a in s.get("after", [])) and s["id"] not in to_write:
                    to_write.append(s["id"])
        elif status_ == "done":
            obl = catalogue()["obligations"]
            due = [o for o in case["obligations"] if obl[o]["due_at"] == step_id]
            lacking = [o for o in due if not commitments.get(o)]
            if lacking:
                raise AdhesionError("commitments", f"the act for '{step_id}' must state the commitments: "
                                    + "; ".join(f"{o} ({obl[o]['label'][:80]}…)" for o in lacking))
            unknown = [k for k in commitments if k not in obl]
            if unknown:
                raise AdhesionError("commitments", f"unknown commitment(s) {unknown}; known: {', '.join(obl)}")
        else:
            raise AdhesionError("status", f"status must be 'done' or 'not_due', got '{status_}'")
        rows = []
        for s in to_write:
            seq += 1
            row = dict(event_id=seq, adhesion_id=adhesion_id, step_id=s, status=status_, act_ref=act_ref,
                       act_date=act_date, author=author, author_role=author_role, ts=ts, note=note,
                       commitments=json.dumps(commitments if s == step_id else {}, sort_keys=True, ensure_ascii=False),
                       prev_hash=prev)
            row["hash"] = prev = _event_digest(row, rec.istat_code, rec.case_id, rec.strategies)
            rows.append(row)
        try:
            conn.execute(insert(schema.adhesion_events), rows)
        except IntegrityError:
            raise AdhesionError("already", f"step '{step_id}' was recorded concurrently") from None
        chain.set_head(conn, H, seq, prev)
        rec, events = _load(conn, adhesion_id)
        return _status(rec, events)


def _event_digest(row: dict, istat: str, case_id: str, strategies: str) -> str:
    """SHA-256 of an event chained to the previous one; covers the adhesion's comune, case and
    strategies too, so a record edited after the fact (e.g. case d → a) no longer verifies."""
    parts = [row["prev_hash"], str(row["event_id"]), row["adhesion_id"], istat, case_id, strategies, row["step_id"],
             row["status"], row["act_ref"], row["act_date"] or "", row["author"], row["author_role"], row["ts"],
             row["note"], row["commitments"]]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def verify_events(engine: Engine) -> list[str]:
    """Recomputes the adhesion events' chain; returns the problems found (empty = intact)."""
    ensure_schema(engine)
    E, R, H = schema.adhesion_events, schema.adhesions, schema.adhesion_head
    errors, prev, expected = [], GENESIS, 0
    with engine.connect() as conn:
        q = select(E, R.c.istat_code, R.c.case_id, R.c.strategies).select_from(
            E.outerjoin(R, R.c.adhesion_id == E.c.adhesion_id)).order_by(E.c.event_id)
        for r in conn.execute(q):
            expected += 1
            row = dict(r._mapping)
            if row["event_id"] != expected:
                errors.append(f"event {row['event_id']}: expected {expected} (an event is missing)")
                expected = row["event_id"]
            if row["istat_code"] is None:
                errors.append(f"event {row['event_id']}: its adhesion record is missing")
                continue
            if row["prev_hash"] != prev:
                errors.append(f"event {row['event_id']}: does not link to the previous event")
            if _event_digest(row, row["istat_code"], row["case_id"], row["strategies"]) != row["hash"]:
                errors.append(f"event {row['event_id']}: hash mismatch (event or adhesion record altered)")
            prev = row["hash"]
        head = chain.read_head(conn, H)
        if head is None or head[0] != expected or head[1] != prev:
            errors.append("chain head does not match the last event: events were removed")
    return errors


def adhesions_of(engine: Engine, istat: str) -> list[AdhesionStatus]:
    ensure_schema(engine)
    with engine.connect() as conn:
        ids = conn.execute(select(schema.adhesions.c.adhesion_id).where(schema.adhesions.c.istat_code == istat)
                           .order_by(schema.adhesions.c.opened_at)).scalars().all()
        return [_status(*_load(conn, i)) for i in ids]


def rights_of(engine: Engine, istat: str) -> set[str]:
    """All rights in force for ``istat``: unlocked advantages and procedural rights of its adhesions."""
    out: set[str] = set()
    for st in adhesions_of(engine, istat):
        out |= set(st.rights)
    return out


def advantages(engine: Engine, istat: str) -> set[str]:
    out: set[str] = set()
    for st in adhesions_of(engine, istat):
        out |= set(st.advantages)
    return out


def has_right(engine: Engine, istat: str, right: str) -> bool:
    """The check other wings call: may ``istat`` exercise ``right`` (an advantage code of §4.5)?"""
    if right not in catalogue()["advantages"]:
        raise AdhesionError("advantage", f"unknown advantage '{right}' (known: {', '.join(catalogue()['advantages'])})")
    return right in rights_of(engine, istat)


def is_adherent(engine: Engine, istat: str) -> bool:
    """True once the comune's adhesion act (deliberation with commitments) is recorded."""
    return any(st.adherent for st in adhesions_of(engine, istat))
