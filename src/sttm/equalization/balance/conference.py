"""Conferenza consultiva di concertazione → Accordo territoriale (PTM art. 10-11).

Each step is an append-only, hash-chained event; the state of a conference/agreement is the
fold of its events. Every step is checked first (who may do what, when) and refused with a
:class:`WorkflowError` before anything is written.

Conference events: ``opened`` → ``invited`` (one per comune) → ``position`` / ``observation``
→ ``closed``. Agreement events: ``drafted`` (from the balance: allocations, obligations,
deadlines, signatories) → ``signed`` (one per signatory) → ``outcome`` (for the PTM
compatibility opinion).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from .params import BalanceParams
from .store import (agreement_events, append_event, conference_events, ensure_schema, load_allocation,
                    load_balance_row, read_events, verify_chain)

CMM = "CMM"
STANCES = ("favourable", "favourable_with_conditions", "contrary")
STANCE_IT = {"favourable": "favorevole", "favourable_with_conditions": "favorevole con condizioni",
             "contrary": "contrario"}


class WorkflowError(ValueError):
    """A workflow step that is not allowed now (nothing has been recorded)."""


@dataclass
class ConferenceState:
    conference_id: str
    proposal_id: str
    balance_id: str
    host: str
    relevance: str
    status: str                                   # open | closed
    invited: list[str]
    positions: dict[str, dict] = field(default_factory=dict)
    observations: list[dict] = field(default_factory=list)
    positions_due: str | None = None
    outcome: str | None = None
    events: list[dict] = field(default_factory=list)

    def overdue(self, today: dt.date) -> list[str]:
        if self.status != "open" or not self.positions_due or today <= dt.date.fromisoformat(self.positions_due):
            return []
        return [c for c in self.invited if c not in self.positions]


@dataclass
class AgreementState:
    agreement_id: str
    conference_id: str
    status: str                                   # drafted | concluded | not_concluded
    signatories: list[str]
    signed: dict[str, str]                        # signatory -> date
    signature_due: str
    allocation: list[dict]
    obligations: list[dict]
    events: list[dict] = field(default_factory=list)

    def missing(self) -> list[str]:
        return [s for s in self.signatories if s not in self.signed]

    def overdue(self, today: dt.date) -> list[str]:
        if self.status != "drafted" or today <= dt.date.fromisoformat(self.signature_due):
            return []
        return self.missing()


def _d(x: dt.date | str | None) -> dt.date:
    if x is None:
        return dt.date.today()
    return x if isinstance(x, dt.date) else dt.date.fromisoformat(str(x))


def conference_state(kb, conference_id: str) -> ConferenceState:
    ensure_schema(kb)
    with kb.engine.connect() as conn:
        ev = read_events(conn, conference_events, "conference_id", conference_id)
    return _fold_conference(conference_id, ev)


def _fold_conference(conference_id: str, ev: list[dict]) -> ConferenceState:
    if not ev:
        raise WorkflowError(f"conference {conference_id!r} does not exist")
    first = json.loads(ev[0]["payload_json"])
    st = ConferenceState(conference_id, ev[0]["proposal_id"], ev[0]["balance_id"], first["host"],
                         first["relevance"], "open", [], positions_due=ev[0]["due_on"], events=ev)
    for e in ev[1:]:
        pl = json.loads(e["payload_json"])
        if e["kind"] == "invited":
            st.invited.append(e["istat_code"])
        elif e["kind"] == "position":
            st.positions[e["istat_code"]] = {"stance": pl["stance"], "text": pl.get("text", ""), "date": e["event_date"]}
        elif e["kind"] == "observation":
            st.observations.append({"by": e["istat_code"] or e["actor"], "text": pl.get("text", ""), "date": e["event_date"]})
        elif e["kind"] == "closed":
            st.status, st.outcome = "closed", pl["outcome"]
    return st


def open_conference(kb, balance_id: str, params: BalanceParams, actor: str, on: dt.date | str | None = None) -> ConferenceState:
    """CMM opens the conference on a balance of supra-municipal or metropolitan relevance and
    invites the adopting comune and every affected comune; positions are due in N days."""
    ensure_schema(kb)
    day = _d(on)
    with kb.transaction() as conn:
        row = load_balance_row(conn, balance_id)
        if row is None:
            raise WorkflowError(f"balance {balance_id!r} does not exist")
        if row["relevance"] == "none":
            raise WorkflowError(f"balance {balance_id}: relevance 'none' — no conference can be convened (PTM art. 10)")
        existing = conn.execute(conference_events.select().where(
            (conference_events.c.balance_id == balance_id) & (conference_events.c.kind == "opened"))).first()
        if existing:
            raise WorkflowError(f"balance {balance_id}: conference {existing.conference_id} already opened")
        from .store import proposals
        host = conn.execute(proposals.select().with_only_columns(proposals.c.istat_code)
                            .where(proposals.c.proposal_id == row["proposal_id"])).scalar_one()
        affected = [a["istat_code"] for a in json.loads(row["affected_json"])]
        cid = f"CC-{balance_id}"
        due = (day + dt.timedelta(days=int(params["deadlines"]["positions_days"]))).isoformat()
        base = {"conference_id": cid, "proposal_id": row["proposal_id"], "balance_id": balance_id, "actor": actor,
                "event_date": day.isoformat()}
        append_event(conn, conference_events, "conference_id", {
            **base, "kind": "opened", "istat_code": None, "due_on": due,
            "payload_json": json.dumps({"host": host, "relevance": row["relevance"], "affected": affected})})
        for code in [host] + [a for a in affected if a != host]:
            append_event(conn, conference_events, "conference_id", {
                **base, "kind": "invited", "istat_code": code, "due_on": due, "payload_json": "{}"})
    return conference_state(kb, cid)


def _conf_event(kb, conference_id: str, kind: str, actor: str, istat_code: str | None, payload: dict,
                on: dt.date | str | None, check) -> ConferenceState:
    ensure_schema(kb)
    day = _d(on)
    with kb.transaction() as conn:      # check and write in one transaction (the write lock is held)
        st = _fold_conference(conference_id, read_events(conn, conference_events, "conference_id", conference_id))
        if st.status != "open":
            raise WorkflowError(f"conference {conference_id} is closed")
        opened = dt.date.fromisoformat(st.events[0]["event_date"])
        if day < opened:
            raise WorkflowError(f"date {day} precedes the opening of the conference ({opened})")
        check(st, day)
        append_event(conn, conference_events, "conference_id", {
            "conference_id": conference_id, "proposal_id": st.proposal_id, "balance_id": st.balance_id,
            "kind": kind, "istat_code": istat_code, "actor": actor, "payload_json": json.dumps(payload, ensure_ascii=False),
            "due_on": None, "event_date": day.isoformat()})
    return conference_state(kb, conference_id)


def record_position(kb, conference_id: str, istat_code: str, stance: str, text: str, actor: str,
                    on: dt.date | str | None = None) -> ConferenceState:
    if stance not in STANCES:
        raise WorkflowError(f"stance must be one of {', '.join(STANCES)}; got {stance!r}")

    def check(st: ConferenceState, day):
        if istat_code not in st.invited:
            raise WorkflowError(f"comune {istat_code} is not invited to conference {conference_id}")
        if istat_code in st.positions:
            raise WorkflowError(f"comune {istat_code} has already recorded its position (append-only: add an observation)")
    return _conf_event(kb, conference_id, "position", actor, istat_code, {"stance": stance, "text": text}, on, check)


def record_observation(kb, conference_id: str, by: str, text: str, actor: str,
                       on: dt.date | str | None = None) -> ConferenceState:
    def check(st: ConferenceState, day):
        if by != CMM and by not in st.invited:
            raise WorkflowError(f"{by} is neither CMM nor an invited comune of conference {conference_id}")
        if not text.strip():
            raise WorkflowError("an observation needs a text")
    return _conf_event(kb, conference_id, "observation", actor, None if by == CMM else by, {"text": text}, on, check)


def close_conference(kb, conference_id: str, outcome: str, actor: str, on: dt.date | str | None = None) -> ConferenceState:
    """CMM closes the conference: ``agreement`` (go on to draft it) or ``no_agreement``.
    Closing before the positions deadline needs every invited comune's position."""
    if outcome not in ("agreement", "no_agreement"):
        raise WorkflowError("outcome must be 'agreement' or 'no_agreement'")

    def check(st: ConferenceState, day):
        missing = [c for c in st.invited if c not in st.positions]
        if missing and day <= dt.date.fromisoformat(st.positions_due):
            raise WorkflowError(f"positions still due until {st.positions_due} from: {', '.join(missing)}")
        if outcome == "agreement" and any(p["stance"] == "contrary" for p in st.positions.values()):
            raise WorkflowError("a comune is contrary: the conference cannot close with an agreement")
    return _conf_event(kb, conference_id, "closed", actor, None, {"outcome": outcome}, on, check)


# ----------------------------------------------------------------------------- agreement
def agreement_state(kb, agreement_id: str) -> AgreementState:
    ensure_schema(kb)
    with kb.engine.connect() as conn:
        ev = read_events(conn, agreement_events, "agreement_id", agreement_id)
    return _fold_agreement(agreement_id, ev)


def _fold_agreement(agreement_id: str, ev: list[dict]) -> AgreementState:
    if not ev:
        raise WorkflowError(f"agreement {agreement_id!r} does not exist")
    d = json.loads(ev[0]["payload_json"])
    st = AgreementState(agreement_id, d["conference_id"], "drafted", d["signatories"], {}, ev[0]["due_on"],
                        d["allocation"], d["obligations"], events=ev)
    for e in ev[1:]:
        if e["kind"] == "signed":
            st.signed[e["istat_code"] or CMM] = e["event_date"]
        elif e["kind"] == "outcome":
            st.status = json.loads(e["payload_json"])["outcome"]
    return st


def draft_agreement(kb, conference_id: str, params: BalanceParams, actor: str,
                    on: dt.date | str | None = None, post_comuni_to_fund: bool = False) -> AgreementState:
    """Draft the Accordo territoriale from the balance: allocations (to the cent), obligations
    (the measures with their comune), signature deadline; signatories are the invited comuni,
    plus CMM for metropolitan relevance (LR 12/2005 art. 11 c.2-ter).

    ``post_comuni_to_fund``: the agreement says that the comuni's allocations are held in the
    metropolitan fund (posted there at conclusion, with the fund share that is always posted)."""
    st = conference_state(kb, conference_id)
    if st.status != "closed" or st.outcome != "agreement":
        raise WorkflowError(f"conference {conference_id} must be closed with outcome 'agreement' first")
    day = _d(on)
    aid = f"AT-{st.balance_id}"
    with kb.transaction() as conn:
        if read_events(conn, agreement_events, "agreement_id", aid):
            raise WorkflowError(f"agreement {aid} already drafted")
        alloc = load_allocation(conn, st.balance_id)
        allocation = [{"recipient_kind": a["recipient_kind"], "recipient": a["recipient"], "label": a["label"],
                       "amount_cents": a["amount_cents"]} for a in alloc]
        obligations = [{"istat_code": a["recipient"], "what": a["label"],
                        "amount_cents": a["amount_cents"],
                        "due_on": (day + dt.timedelta(days=int(params["deadlines"]["obligation_days"]))).isoformat()}
                       for a in alloc if a["recipient_kind"] == "measure"]
        signatories = list(st.invited) + ([CMM] if st.relevance == "metropolitan" else [])
        due = (day + dt.timedelta(days=int(params["deadlines"]["signature_days"]))).isoformat()
        append_event(conn, agreement_events, "agreement_id", {
            "agreement_id": aid, "proposal_id": st.proposal_id, "balance_id": st.balance_id, "kind": "drafted",
            "istat_code": None, "actor": actor, "due_on": due, "event_date": day.isoformat(),
            "payload_json": json.dumps({"conference_id": conference_id, "signatories": signatories,
                                        "allocation": allocation, "obligations": obligations,
                                        "total_cents": sum(a["amount_cents"] for a in allocation),
                                        "post_comuni_to_fund": bool(post_comuni_to_fund)}, ensure_ascii=False)})
    return agreement_state(kb, aid)


def sign_agreement(kb, agreement_id: str, signatory: str, actor: str, on: dt.date | str | None = None) -> AgreementState:
    ensure_schema(kb)
    day = _d(on)
    with kb.transaction() as conn:
        st = _fold_agreement(agreement_id, read_events(conn, agreement_events, "agreement_id", agreement_id))
        if st.status != "drafted":
            raise WorkflowError(f"agreement {agreement_id} is {st.status}: no more signatures")
        if signatory not in st.signatories:
            raise WorkflowError(f"{signatory} is not a signatory of {agreement_id} ({', '.join(st.signatories)})")
        if signatory in st.signed:
            raise WorkflowError(f"{signatory} has already signed {agreement_id}")
        if day < dt.date.fromisoformat(st.events[0]["event_date"]):
            raise WorkflowError(f"date {day} precedes the draft")
        append_event(conn, agreement_events, "agreement_id", {
            "agreement_id": agreement_id, "proposal_id": st.events[0]["proposal_id"],
            "balance_id": st.events[0]["balance_id"], "kind": "signed",
            "istat_code": None if signatory == CMM else signatory, "actor": actor, "due_on": None,
            "event_date": day.isoformat(), "payload_json": json.dumps({"signatory": signatory})})
    return agreement_state(kb, agreement_id)


def record_outcome(kb, agreement_id: str, actor: str, note: str = "", on: dt.date | str | None = None,
                   ledger=None) -> AgreementState:
    """Record the outcome for the compatibility opinion: ``concluded`` if every signatory signed;
    ``not_concluded`` is allowed only after the signature deadline.

    A ``concluded`` outcome posts the agreement's fund share (and, if the agreement says so, the
    comuni's allocations) to the fund ledger in the SAME transaction (see :mod:`.fund_bridge`): if
    the ledger refuses (e.g. a comune without adhesion), nothing is recorded."""
    from . import fund_bridge
    from ..fund import LedgerRefused
    ensure_schema(kb)
    day = _d(on)
    pre = agreement_state(kb, agreement_id)          # the draft payload is immutable: postings can be built first
    postings, led = [], None
    if pre.status == "drafted" and not pre.missing():
        first = pre.events[0]
        with kb.engine.connect() as conn:
            host = fund_bridge.host_of(conn, first["proposal_id"])
        try:
            led, postings = fund_bridge.prepare(kb, agreement_id, host, first["balance_id"],
                                                json.loads(first["payload_json"]), actor, ledger)
        except LedgerRefused as exc:
            raise WorkflowError(f"agreement {agreement_id}: the fund ledger refuses its postings, nothing recorded "
                                f"— {exc}") from None
    with kb.transaction() as conn:
        st = _fold_agreement(agreement_id, read_events(conn, agreement_events, "agreement_id", agreement_id))
        if st.status != "drafted":
            raise WorkflowError(f"agreement {agreement_id} already has an outcome ({st.status})")
        missing = st.missing()
        if missing and day <= dt.date.fromisoformat(st.signature_due):
            raise WorkflowError(f"signatures still due until {st.signature_due} from: {', '.join(missing)}")
        outcome = "concluded" if not missing else "not_concluded"
        append_event(conn, agreement_events, "agreement_id", {
            "agreement_id": agreement_id, "proposal_id": st.events[0]["proposal_id"],
            "balance_id": st.events[0]["balance_id"], "kind": "outcome", "istat_code": None, "actor": actor,
            "due_on": None, "event_date": day.isoformat(),
            "payload_json": json.dumps({"outcome": outcome, "missing": missing, "note": note}, ensure_ascii=False)})
        if outcome == "concluded":
            if led is None:                      # the last signature arrived after the pre-read
                raise WorkflowError(f"agreement {agreement_id} changed meanwhile: retry")
            try:
                fund_bridge.post_in(conn, led, agreement_id, postings)
            except LedgerRefused as exc:         # e.g. a balance rule (insufficient): the outcome rolls back too
                raise WorkflowError(f"agreement {agreement_id}: the fund ledger refuses its postings, nothing "
                                    f"recorded — {exc}") from None
    return agreement_state(kb, agreement_id)


def verify(kb, record_id: str) -> list[str]:
    """Hash-chain check of a conference (CC-…) or agreement (AT-…)."""
    with kb.engine.connect() as conn:
        if record_id.startswith("AT-"):
            return verify_chain(read_events(conn, agreement_events, "agreement_id", record_id))
        return verify_chain(read_events(conn, conference_events, "conference_id", record_id))


def deadlines(kb, today: dt.date | None = None) -> list[dict]:
    """Every open conference/agreement with its deadline and who is overdue."""
    ensure_schema(kb)
    today = today or dt.date.today()
    out = []
    with kb.engine.connect() as conn:
        cids = [r[0] for r in conn.execute(conference_events.select().with_only_columns(
            conference_events.c.conference_id).where(conference_events.c.kind == "opened"))]
        aids = [r[0] for r in conn.execute(agreement_events.select().with_only_columns(
            agreement_events.c.agreement_id).where(agreement_events.c.kind == "drafted"))]
    for cid in cids:
        s = conference_state(kb, cid)
        if s.status == "open":
            out.append({"record": cid, "step": "posizioni", "due_on": s.positions_due,
                        "pending": [c for c in s.invited if c not in s.positions], "overdue": s.overdue(today)})
    for aid in aids:
        a = agreement_state(kb, aid)
        if a.status == "drafted":
            out.append({"record": aid, "step": "sottoscrizione", "due_on": a.signature_due,
                        "pending": a.missing(), "overdue": a.overdue(today)})
    return out
