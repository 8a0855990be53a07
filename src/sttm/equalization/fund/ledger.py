"""The metropolitan equalization fund as a double-entry, append-only, hash-chained ledger.

A :class:`Posting` is a set of :class:`Line` s; within each section the signed amounts sum to
zero (debits = credits). Accounts are strings with a type prefix:

- ``fund`` — what the fund holds in a section (never negative);
- ``comune:<istat>`` — what a comune holds in a section, e.g. its soil-consumption quota (never negative);
- ``use:<category>`` — resources disbursed to a public-utility category (never negative; CMM only);
- ``source:<origin>`` — counterpart of what entered the fund (contributions, grants, conferrals);
- ``quota:<origin>`` — counterpart of soil-consumption quota allocations (CMM only).

Every posting carries a cause (type + reference), an author and role, a UTC timestamp and the
SHA-256 of its content chained to the previous posting's hash; :func:`verify` recomputes the
chain, the per-section zero sums and the balances. Writers serialise on the chain-head row
(an ``UPDATE`` as the transaction's first statement: a row lock on PostgreSQL, the RESERVED
lock on SQLite), so the chain stays linear and balance checks see committed state.

Example
-------
>>> from sqlalchemy import create_engine
>>> led = Ledger(create_engine("sqlite://"), rights=lambda istat, adv: True)
>>> _ = led.post(contribution(100_00, source="developer", comune="015146",
...                           cause_type="agreement", cause_ref="AT-1", author="ufficio", author_role="cmm"))
>>> led.balance("financial", "fund")
10000
"""
from __future__ import annotations

import csv
import hashlib
import re
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Callable, Iterator, Sequence

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from . import chain, schema
from .errors import Refused

GENESIS = chain.GENESIS
CMM = "cmm"
_ISTAT = re.compile(r"^\d{6}$")
_ACCOUNT = re.compile(r"^(fund|comune:\d{6}|use:[a-z0-9_]+|source:[a-z0-9_:.\-]+|quota:[a-z0-9_]+)$")
_CTRL = re.compile(r"[\x00-\x1f\x7f]")
KINDS = ("contribution", "conferral", "disbursement", "quota_allocation", "quota_transfer",
         "rights_transfer", "asset_assignment", "reversal")


# ----------------------------------------------------------------------------------------- data
def _read_csv(name: str) -> list[dict]:
    with resources.files(__package__).joinpath("data", name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@lru_cache(maxsize=None)
def sections() -> dict[str, dict]:
    """Fund sections with their unit (``EUR_cent`` or ``m2``), from data/sections.csv."""
    return {r["section"]: r for r in _read_csv("sections.csv")}


@lru_cache(maxsize=None)
def public_utility_categories() -> dict[str, dict]:
    """The only destinations of disbursements (Relazione §4.4), with their legal basis."""
    return {r["code"]: r for r in _read_csv("public_utility_categories.csv")}


@lru_cache(maxsize=None)
def cause_types() -> dict[str, dict]:
    return {r["code"]: r for r in _read_csv("causes.csv")}


# ------------------------------------------------------------------------------------- postings
class LedgerRefused(Refused):
    """An operation the ledger refuses; nothing was written. ``code`` is machine-readable."""



@dataclass(frozen=True)
class Line:
    section: str
    account: str
    amount: int          # signed, in the section's unit: + debit, - credit
    comune: str | None = None


@dataclass(frozen=True)
class Posting:
    kind: str
    cause_type: str
    cause_ref: str
    author: str
    author_role: str      # "cmm" or "comune:<istat>"
    lines: tuple[Line, ...]
    memo: str = ""


@dataclass
class Posted:
    seq: int
    posting_uid: str
    ts: str
    hash: str


def role_comune(role: str) -> str | None:
    return role.split(":", 1)[1] if role.startswith("comune:") else None


def _check_amount(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LedgerRefused("amount_type", f"{what}: the amount must be an integer (cents or m²), got {value!r}")
    if value <= 0:
        raise LedgerRefused("amount_sign", f"{what}: the amount must be positive, got {value}")
    return value


def _check_istat(code, what: str) -> str:
    if not isinstance(code, str) or not _ISTAT.match(code):
        raise LedgerRefused("istat", f"{what}: '{code}' is not a 6-digit ISTAT code")
    return code


# Builders for the operations the fund knows. Each returns a Posting; Ledger.post validates it.
def contribution(amount: int, *, source: str, comune: str | None, cause_type: str, cause_ref: str,
                 author: str, author_role: str, section: str = "financial", memo: str = "") -> Posting:
    """Resources entering the fund (financial or shares_credit section) from ``source``
    (e.g. ``contributi_aggiuntivi``, ``tax_share``, ``developer``, ``region``, ``state``, ``eu``, ``cmm_own``)."""
    _check_amount(amount, "contribution")
    return Posting("contribution", cause_type, cause_ref, author, author_role,
                   (Line(section, "fund", amount, comune), Line(section, f"source:{source}", -amount, comune)), memo)


def disbursement(amount: int, *, category: str, beneficiary: str | None, cause_type: str, cause_ref: str,
                 author: str, author_role: str = CMM, section: str = "financial", memo: str = "") -> Posting:
    """Resources leaving the fund for a public-utility ``category`` (CMM only)."""
    _check_amount(amount, "disbursement")
    return Posting("disbursement", cause_type, cause_ref, author, author_role,
                   (Line(section, f"use:{category}", amount, beneficiary), Line(section, "fund", -amount, beneficiary)),
                   memo)


def quota_allocation(m2: int, *, comune: str, cause_ref: str, author: str, author_role: str = CMM,
                     origin: str = "lr31", memo: str = "") -> Posting:
    """Registers soil-consumption quota held by ``comune`` (CMM only)."""
    _check_amount(m2, "quota allocation")
    return Posting("quota_allocation", "quota_allocation", cause_ref, author, author_role,
                   (Line("soil_quota", f"comune:{comune}", m2, comune), Line("soil_quota", f"quota:{origin}", -m2, None)),
                   memo)


def quota_transfer(m2: int, *, from_comune: str, to_comune: str, cause_ref: str, author: str, author_role: str,
                   section: str = "soil_quota", cause_type: str = "quota_exchange", memo: str = "") -> Posting:
    """Moves soil-consumption quota (or volumetric rights) between two adherent comuni."""
    _check_amount(m2, "quota transfer")
    kind = "quota_transfer" if section == "soil_quota" else "rights_transfer"
    return Posting(kind, cause_type, cause_ref, author, author_role,
                   (Line(section, f"comune:{to_comune}", m2, to_comune),
                    Line(section, f"comune:{from_comune}", -m2, from_comune)), memo)


def conferral(value: int, *, section: str, comune: str | None, cause_ref: str, author: str, author_role: str,
              cause_type: str = "conferral", memo: str = "") -> Posting:
    """Property, volumetric rights or titles conferred to the fund (value in the section's unit)."""
    _check_amount(value, "conferral")
    return Posting("conferral", cause_type, cause_ref, author, author_role,
                   (Line(section, "fund", value, comune), Line(section, f"source:conferral", -value, comune)), memo)


# --------------------------------------------------------------------------------- validation
def _validate_static(p: Posting, rights: Callable[[str, str], bool]) -> None:
    """Every rule that does not need the current balances. Raises LedgerRefused."""
    secs = sections()
    if p.kind not in KINDS:
        raise LedgerRefused("kind", f"unknown posting kind '{p.kind}' (known: {', '.join(KINDS)})")
    if p.cause_type not in cause_types():
        raise LedgerRefused("cause_type", f"unknown cause type '{p.cause_type}' (see fund/data/causes.csv)")
    for name in ("cause_ref", "author", "author_role"):
        value = getattr(p, name)
        if not isinstance(value, str) or not value.strip():
            raise LedgerRefused(name, f"{name} is required")
    for name in ("cause_ref", "author", "author_role", "memo"):
        if _CTRL.search(getattr(p, name)):
            raise LedgerRefused(name, f"{name} contains control characters")
    role = p.author_role
    if role != CMM:
        if not role.startswith("comune:"):
            raise LedgerRefused("author_role", f"author_role must be 'cmm' or 'comune:<istat>', got '{role}'")
        _check_istat(role_comune(role), "author_role")
    if len(p.lines) < 2:
        raise LedgerRefused("lines", "a posting needs at least two lines (double entry)")
    sums: dict[str, int] = {}
    for i, ln in enumerate(p.lines, 1):
        where = f"line {i}"
        if ln.section not in secs:
            raise LedgerRefused("section", f"{where}: unknown section '{ln.section}' (known: {', '.join(secs)})")
        if not isinstance(ln.account, str) or not _ACCOUNT.match(ln.account):
            raise LedgerRefused("account", f"{where}: malformed account '{ln.account}'")
        if isinstance(ln.amount, bool) or not isinstance(ln.amount, int) or ln.amount == 0:
            raise LedgerRefused("amount_type", f"{where}: amount must be a non-zero integer, got {ln.amount!r}")
        if abs(ln.amount) >= 2**62:
            raise LedgerRefused("amount_range", f"{where}: amount out of range")
        if ln.comune is not None:
            _check_istat(ln.comune, where)
        if ln.account.startswith("comune:") and ln.comune != ln.account[7:]:
            raise LedgerRefused("comune", f"{where}: line comune must equal the account's comune")
        sums[ln.section] = sums.get(ln.section, 0) + ln.amount
    pairs = [(ln.section, ln.account) for ln in p.lines]
    if len(set(pairs)) != len(pairs):
        raise LedgerRefused("same_account", "an account appears twice in one posting (e.g. a transfer to itself)")
    unbalanced = {s: v for s, v in sums.items() if v != 0}
    if unbalanced:
        raise LedgerRefused("unbalanced", f"debits differ from credits in section(s) {unbalanced}")

    accounts = [ln.account for ln in p.lines]
    # Only CMM disburses, allocates quotas, or assigns conferred goods.
    if any(a.startswith("use:") for a in accounts) or any(a.startswith("quota:") for a in accounts):
        if role != CMM:
            raise LedgerRefused("only_cmm", "only CMM may disburse from the fund or allocate soil-consumption quotas")
    if p.kind in ("disbursement", "quota_allocation", "asset_assignment") and role != CMM:
        raise LedgerRefused("only_cmm", f"only CMM may record a {p.kind}")
    if p.kind == "reversal":
        if role != CMM or p.cause_type != "correction" or not re.match(r"^seq:\d+$", p.cause_ref):
            raise LedgerRefused("reversal", "a reversal is posted by CMM with cause 'correction' and reference 'seq:<n>'")
    for ln in p.lines:
        if ln.account.startswith("use:"):
            cat = ln.account[4:]
            if cat not in public_utility_categories():
                raise LedgerRefused("category", f"'{cat}' is not a public-utility category "
                                    f"(allowed: {', '.join(public_utility_categories())})")
            if ln.amount < 0 and p.kind != "reversal":
                raise LedgerRefused("use_credit", "disbursed resources cannot be credited back; post a new contribution")
        if ln.account.startswith("source:") and ln.amount > 0 and p.kind != "reversal":
            raise LedgerRefused("source_debit", "a source account can only be credited")
    # A comune acting alone may only move what is its own.
    if role != CMM:
        me = role_comune(role)
        for ln in p.lines:
            if ln.account.startswith("comune:") and ln.amount < 0 and ln.account != f"comune:{me}":
                raise LedgerRefused("not_owner", f"comune {me} cannot give away what comune {ln.account[7:]} holds")
            if ln.account.startswith("source:") and ln.comune != me:
                raise LedgerRefused("not_owner", f"comune {me} can only record its own contributions")
    # Exchanges between comuni: both parties must hold the right (adhesion advantage). The §4.5 tables
    # name only the exchange of soil-consumption quotas; transfers of volumetric rights between comuni
    # are held to the same right (an assumption, to be confirmed by CMM).
    comune_lines = [ln for ln in p.lines if ln.account.startswith("comune:")]
    # Resources a territorial agreement assigns to a comune are held for it in the fund's financial
    # section only if its adhesion gives it financing from that section (advantage 'fund_financing',
    # cases a and b of Relazione §4.5).
    if p.cause_type == "agreement":
        for ln in comune_lines:
            if ln.amount > 0 and not rights(ln.account[7:], "fund_financing"):
                raise LedgerRefused("not_adherent", f"comune {ln.account[7:]} has not adhered to the STTM with "
                                    "financing from the fund (advantage 'fund_financing', cases a-b, Relazione §4.5): "
                                    "the fund cannot hold the agreement's resources for it")
    if len({ln.account for ln in comune_lines}) >= 2 or p.kind in ("quota_transfer", "rights_transfer"):
        for ln in comune_lines:
            if not rights(ln.account[7:], "soil_quota_exchange"):
                raise LedgerRefused("not_adherent", f"comune {ln.account[7:]} has no adhesion right to exchange "
                                    "soil-consumption quotas or rights (Relazione §4.5)")


def _constrained(account: str) -> bool:
    return not (account.startswith("source:") or account.startswith("quota:"))


def _digest(prev_hash: str, seq: int, uid: str, ts: str, p: Posting) -> str:
    parts = [prev_hash, str(seq), uid, ts, p.author, p.author_role, p.kind, p.cause_type, p.cause_ref, p.memo,
             str(len(p.lines))]
    for ln in p.lines:
        parts += [ln.section, ln.account, ln.comune or "", str(ln.amount)]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


_now = chain.now


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if code in ("40001", "40P01", "55P03"):
        return True
    return isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower()


# ------------------------------------------------------------------------------------- ledger
def _default_rights(engine: Engine) -> Callable[[str, str], bool]:
    def check(istat: str, advantage: str) -> bool:
        from sttm.procedures import adhesion      # lazy: procedures depend on the fund too
        return adhesion.has_right(engine, istat, advantage)
    return check


def ensure_schema(engine: Engine) -> None:
    """Creates the fund tables (if missing) and the chain head row."""
    chain.ensure_tables(engine, schema.metadata, list(schema.metadata.tables.values()), head=schema.chain_head)


class Ledger:
    """The fund ledger on a SQLAlchemy engine (SQLite/GeoPackage or PostgreSQL)."""

    def __init__(self, engine: Engine, *, rights: Callable[[str, str], bool] | None = None, create: bool = True,
                 max_retries: int = 50):
        self.engine = engine
        self.rights = rights or _default_rights(engine)
        self.max_retries = max_retries
        if create:
            ensure_schema(engine)

    # -- writing
    def post(self, posting: Posting) -> Posted:
        return self.post_many([posting])[0]

    def post_many(self, postings: Sequence[Posting], *, extra: Callable | None = None) -> list[Posted]:
        """Appends ``postings`` in ONE transaction: all are written, or (on any refusal) none.

        ``extra(conn, posted)`` runs inside the same transaction (e.g. to record call decisions).
        """
        postings = list(postings)
        if not postings:
            return []
        self.validate(postings)
        for attempt in range(self.max_retries):
            try:
                with self.engine.begin() as conn:
                    posted = self._append(conn, postings)
                    if extra is not None:
                        extra(conn, posted)
                return posted
            except DBAPIError as exc:
                if attempt + 1 < self.max_retries and _retryable(exc):
                    time.sleep(min(0.005 * 2 ** attempt, 0.2))
                    continue
                raise

    def validate(self, postings: Sequence[Posting]) -> None:
        """The rules that need no balances (incl. adhesion rights); raises LedgerRefused, writes nothing."""
        postings = list(postings)
        for i, p in enumerate(postings, 1):
            try:
                _validate_static(p, self.rights)
            except LedgerRefused as exc:
                if len(postings) > 1:
                    raise LedgerRefused(exc.code, f"posting {i} of {len(postings)}: {exc.message}") from None
                raise

    def post_in(self, conn, postings: Sequence[Posting]) -> list[Posted]:
        """Appends ``postings`` inside the caller's open transaction ``conn`` (same engine), so that
        they commit or roll back together with the caller's own records (e.g. an agreement's
        outcome). Call :meth:`validate` first, outside the transaction: the adhesion-rights check
        reads on its own connection. No retry here: the caller owns the transaction."""
        postings = list(postings)
        return self._append(conn, postings) if postings else []

    def _append(self, conn, postings: list[Posting]) -> list[Posted]:
        H, P, L, B = schema.chain_head, schema.postings, schema.lines, schema.balances
        ts = _now()
        # First statement: take the writer lock (row lock on PostgreSQL, RESERVED lock on SQLite).
        tip = chain.lock_head(conn, H, ts)
        if tip is None:
            raise LedgerRefused("no_chain", "fund chain head missing: run ensure_schema()")
        seq, prev = tip
        self._check_reversals(conn, postings)
        keys = sorted({(ln.section, ln.account) for p in postings for ln in p.lines})
        current: dict[tuple[str, str], int | None] = {k: None for k in keys}
        for chunk in _chunks(keys, 200):
            by_section: dict[str, list[str]] = {}
            for s, a in chunk:
                by_section.setdefault(s, []).append(a)
            for s, accts in by_section.items():
                for a, bal in conn.execute(select(B.c.account, B.c.balance).where(B.c.section == s,
                                                                                  B.c.account.in_(accts))):
                    current[(s, a)] = bal
        new = {k: (v or 0) for k, v in current.items()}
        comune_of: dict[tuple[str, str], str | None] = {}
        posted, prow, lrows = [], [], []
        for i, p in enumerate(postings, 1):
            for ln in p.lines:
                k = (ln.section, ln.account)
                new[k] += ln.amount
                comune_of.setdefault(k, ln.comune if ln.account.startswith("comune:") else None)
            for ln in p.lines:
                k = (ln.section, ln.account)
                if _constrained(ln.account) and new[k] < 0:
                    unit = sections()[ln.section]["unit"]
                    where = f"posting {i} of {len(postings)}: " if len(postings) > 1 else ""
                    raise LedgerRefused("insufficient", f"{where}account {ln.account} in section {ln.section} would "
                                        f"go negative ({new[k] - ln.amount} {unit} available, {-ln.amount} requested)")
            seq += 1
            uid = str(uuid.uuid4())
            h = _digest(prev, seq, uid, ts, p)
            prow.append(dict(seq=seq, posting_uid=uid, ts=ts, author=p.author, author_role=p.author_role, kind=p.kind,
                             cause_type=p.cause_type, cause_ref=p.cause_ref, memo=p.memo, n_lines=len(p.lines),
                             prev_hash=prev, hash=h))
            lrows.extend(dict(seq=seq, line_no=j, section=ln.section, account=ln.account, comune=ln.comune,
                              amount=ln.amount) for j, ln in enumerate(p.lines, 1))
            posted.append(Posted(seq, uid, ts, h))
            prev = h
        conn.execute(insert(P), prow)
        conn.execute(insert(L), lrows)
        ins, upd = [], []
        for k in keys:
            if current[k] is None:
                ins.append(dict(section=k[0], account=k[1], comune=comune_of.get(k), balance=new[k], updated_seq=seq))
            elif new[k] != current[k]:
                upd.append(dict(s=k[0], a=k[1], b=new[k], u=seq))
        if ins:
            conn.execute(insert(B), ins)
        if upd:
            from sqlalchemy import bindparam
            conn.execute(update(B).where(B.c.section == bindparam("s"), B.c.account == bindparam("a"))
                         .values(balance=bindparam("b"), updated_seq=bindparam("u")), upd)
        chain.set_head(conn, H, seq, prev)
        return posted

    def _check_reversals(self, conn, postings: list[Posting]) -> None:
        """A reversal must negate exactly the lines of an existing, not yet reversed, non-reversal posting."""
        P, L = schema.postings, schema.lines
        refs = [p.cause_ref for p in postings if p.kind == "reversal"]
        if len(set(refs)) != len(refs):
            raise LedgerRefused("reversal", "the same posting is reversed twice in one batch")
        for p in postings:
            if p.kind != "reversal":
                continue
            orig = int(p.cause_ref[4:])
            row = conn.execute(select(P.c.kind).where(P.c.seq == orig)).first()
            if row is None or row.kind == "reversal":
                raise LedgerRefused("reversal", f"posting {orig} does not exist or is itself a reversal")
            if conn.execute(select(P.c.seq).where(P.c.kind == "reversal", P.c.cause_ref == p.cause_ref)).first():
                raise LedgerRefused("reversal", f"posting {orig} has already been reversed")
            lines_ = conn.execute(select(L.c.section, L.c.account, L.c.comune, L.c.amount).where(L.c.seq == orig)
                                  .order_by(L.c.line_no)).all()
            if [(a, b, c, -d) for a, b, c, d in lines_] != [(ln.section, ln.account, ln.comune, ln.amount)
                                                            for ln in p.lines]:
                raise LedgerRefused("reversal", f"the lines do not negate those of posting {orig}")

    def reverse(self, seq: int, *, reason: str, author: str, author_role: str = CMM) -> Posted:
        """Corrects an error without rewriting history: posts the exact opposite of posting ``seq``
        (CMM only, once; still refused if it would drive an account negative)."""
        L = schema.lines
        with self.engine.connect() as conn:
            rows = conn.execute(select(L.c.section, L.c.account, L.c.comune, L.c.amount).where(L.c.seq == seq)
                                .order_by(L.c.line_no)).all()
        if not rows:
            raise LedgerRefused("reversal", f"posting {seq} does not exist")
        if not reason or not reason.strip():
            raise LedgerRefused("reversal", "the reason of the correction is required")
        p = Posting("reversal", "correction", f"seq:{seq}", author, author_role,
                    tuple(Line(r.section, r.account, -r.amount, r.comune) for r in rows), reason)
        return self.post(p)

    def assign_asset(self, asset_id: str, *, category: str, beneficiary: str | None, cause_ref: str, author: str,
                     author_role: str = CMM, cause_type: str = "call_decision",
                     availability: str = "assegnato a intervento") -> Posted:
        """Assigns a conferred good to a public-utility intervention (CMM only): its value leaves the
        fund's section for ``use:<category>`` and the registry records the new availability."""
        current = {a["asset_id"]: a for a in self.assets()}.get(asset_id)
        if current is None:
            raise LedgerRefused("asset", f"no registered asset '{asset_id}'")
        if current["availability"] != "disponibile":
            raise LedgerRefused("asset", f"asset '{asset_id}' is not available ({current['availability']})")
        p = Posting("asset_assignment", cause_type, cause_ref, author, author_role,
                    (Line(current["section"], f"use:{category}", current["value"], beneficiary),
                     Line(current["section"], "fund", -current["value"], beneficiary)), f"asset {asset_id}")

        def extra(conn, posted):
            A = schema.assets
            version = conn.execute(select(func.max(A.c.version)).where(A.c.asset_id == asset_id)).scalar()
            if version != current["version"]:
                raise LedgerRefused("asset", f"asset '{asset_id}' changed meanwhile; retry")
            conn.execute(insert(A).values(**{**{k: current[k] for k in ("asset_id", "section", "comune", "description",
                                                                         "value", "condition")},
                                             "version": version + 1, "seq": posted[0].seq, "availability": availability,
                                             "ts": posted[0].ts, "author": author}))
        return self.post_many([p], extra=extra)[0]

    # -- reading
    def balance(self, section: str, account: str) -> int:
        B = schema.balances
        with self.engine.connect() as conn:
            v = conn.execute(select(B.c.balance).where(B.c.section == section, B.c.account == account)).scalar()
        return int(v or 0)

    def balances(self, section: str | None = None) -> list[dict]:
        B = schema.balances
        q = select(B.c.section, B.c.account, B.c.comune, B.c.balance).order_by(B.c.section, B.c.account)
        if section:
            q = q.where(B.c.section == section)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def balances_by(self, by: str, *, section: str | None = None, comune: str | None = None) -> list[dict]:
        """Sums of lines grouped by ``by`` in {"section", "comune", "cause", "account"} (debit/credit split)."""
        P, L = schema.postings, schema.lines
        col = {"section": [L.c.section], "comune": [L.c.section, L.c.comune], "account": [L.c.section, L.c.account],
               "cause": [L.c.section, P.c.cause_type, P.c.cause_ref]}[by]
        debit = func.sum(func.coalesce(func.nullif(func.abs(L.c.amount) + L.c.amount, 0), 0) / 2)
        credit = func.sum(func.coalesce(func.nullif(func.abs(L.c.amount) - L.c.amount, 0), 0) / 2)
        q = select(*col, debit.label("debit"), credit.label("credit")).select_from(L.join(P, P.c.seq == L.c.seq))
        # A fund's own holdings per comune/cause: count only the 'fund' and 'comune:' accounts' movements.
        if by in ("comune", "cause"):
            q = q.where((L.c.account == "fund") | L.c.account.like("comune:%"))
        if section:
            q = q.where(L.c.section == section)
        if comune:
            q = q.where(L.c.comune == comune)
        q = q.group_by(*col).order_by(*col)
        with self.engine.connect() as conn:
            out = []
            for r in conn.execute(q):
                d = dict(r._mapping)
                d["debit"], d["credit"] = int(d["debit"] or 0), int(d["credit"] or 0)
                d["net"] = d["debit"] - d["credit"]
                out.append(d)
            return out

    def postings(self, *, comune: str | None = None, limit: int | None = None, since_seq: int = 0,
                 last: int | None = None) -> list[dict]:
        """Postings with their lines, in chain order; ``last=N``: only the N most recent."""
        P, L = schema.postings, schema.lines
        q = select(P).where(P.c.seq > since_seq)
        if comune:
            q = q.where(P.c.seq.in_(select(L.c.seq).where(L.c.comune == comune)))
        if last:
            q = select(q.order_by(P.c.seq.desc()).limit(last).subquery())
            q = q.order_by(q.selected_columns.seq)
        else:
            q = q.order_by(P.c.seq)
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
            if rows:
                seqs = [r["seq"] for r in rows]
                by: dict[int, list] = {}
                for ch in _chunks(seqs, 500):
                    for ln in conn.execute(select(L).where(L.c.seq.in_(ch)).order_by(L.c.seq, L.c.line_no)):
                        by.setdefault(ln.seq, []).append(dict(ln._mapping))
                for r in rows:
                    r["lines"] = by.get(r["seq"], [])
        return rows

    def head(self) -> tuple[int, str]:
        H = schema.chain_head
        with self.engine.connect() as conn:
            return tuple(conn.execute(select(H.c.last_seq, H.c.last_hash).where(H.c.id == 1)).one())

    def verify(self, **kw):
        """See :func:`sttm.equalization.fund.verify.verify`."""
        from .verify import verify
        return verify(self.engine, **kw)

    # -- assets registry
    def register_asset(self, *, asset_id: str, section: str, comune: str | None, description: str, value: int,
                       condition: str, availability: str, author: str, author_role: str, cause_ref: str) -> Posted:
        """Confers a property / right / title: a conferral posting plus the registry row, atomically."""
        if section not in ("real_estate", "volumetric_rights", "shares_credit"):
            raise LedgerRefused("section", f"assets are registered in real_estate, volumetric_rights or shares_credit, "
                                f"not '{section}'")
        p = conferral(value, section=section, comune=comune, cause_ref=cause_ref, author=author,
                      author_role=author_role, memo=f"asset {asset_id}: {description}"[:500])

        def extra(conn, posted):
            A = schema.assets
            if conn.execute(select(A.c.asset_id).where(A.c.asset_id == asset_id)).first():
                raise LedgerRefused("asset_exists", f"asset '{asset_id}' is already registered")
            conn.execute(insert(A).values(asset_id=asset_id, version=1, seq=posted[0].seq, section=section,
                                          comune=comune, description=description, value=value, condition=condition,
                                          availability=availability, ts=posted[0].ts, author=author))
        return self.post_many([p], extra=extra)[0]

    def assets(self) -> list[dict]:
        """Current state (latest version) of every registered asset."""
        A = schema.assets
        latest = select(A.c.asset_id, func.max(A.c.version).label("v")).group_by(A.c.asset_id).subquery()
        q = select(A).join(latest, (A.c.asset_id == latest.c.asset_id) & (A.c.version == latest.c.v)).order_by(A.c.asset_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]


def _chunks(seq: list, n: int) -> Iterator[list]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]
