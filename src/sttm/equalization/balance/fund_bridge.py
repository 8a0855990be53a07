"""Agreement → fund: when an Accordo territoriale is concluded, the resources it assigns enter the
Fondo perequativo metropolitano's ledger, with the agreement as their cause (PTM art. 10-11 c.5).

What is posted (section ``financial``, EUR cents, author role ``cmm``):

- the fund share of the balance (allocation lines ``recipient_kind='fund'``, ``CMM-FONDO``):
  a contribution ``fund`` ← ``source:contributi_aggiuntivi`` (line comune = the adopting comune,
  who collects the additional contributions);
- only if the agreement was drafted with ``post_comuni_to_fund`` ("where the agreement says so"):
  each comune's equalized allocation (``comune`` and ``host_residual`` lines) as resources the fund
  holds for that comune, ``comune:<istat>`` ← ``source:contributi_aggiuntivi``. The ledger refuses
  them for a comune without the adhesion advantage ``agreement_advantages``.

Mitigation/compensation measures are never posted: they are the comuni's own obligations.

The postings are written in the SAME transaction as the ``outcome`` event (see
``conference.record_outcome``); :func:`post_concluded` posts for an agreement concluded earlier.
Both are idempotent: an agreement whose postings exist (cause ``agreement``/``<agreement id>``)
posts nothing again.
"""
from __future__ import annotations

from sqlalchemy import select

from ..fund import Ledger, contribution
from ..fund import schema as fund_schema
from ..fund.ledger import Line, Posting

SOURCE = "contributi_aggiuntivi"
COMUNE_KINDS = ("comune", "host_residual")


def postings_for(agreement_id: str, host: str, balance_id: str, allocation: list[dict], post_comuni: bool,
                 actor: str) -> list[Posting]:
    """The postings an agreement's allocation yields (pure: from the immutable draft payload)."""
    out: list[Posting] = []
    for a in allocation:
        amount = int(a["amount_cents"])
        if amount <= 0:
            continue
        memo = f"{agreement_id} (bilancio {balance_id}): {a['label']}"[:500]
        if a["recipient_kind"] == "fund":
            out.append(contribution(amount, source=SOURCE, comune=host, cause_type="agreement",
                                    cause_ref=agreement_id, author=actor, author_role="cmm", memo=memo))
        elif post_comuni and a["recipient_kind"] in COMUNE_KINDS:
            code = a["recipient"]
            out.append(Posting("contribution", "agreement", agreement_id, actor, "cmm",
                               (Line("financial", f"comune:{code}", amount, code),
                                Line("financial", f"source:{SOURCE}", -amount, host)), memo))
    # one comune may appear twice (e.g. residual and share): the ledger wants one account once per posting,
    # and one posting per line keeps each allocation line traceable.
    return out


def already_posted(conn, agreement_id: str) -> bool:
    P = fund_schema.postings
    return conn.execute(select(P.c.seq).where(P.c.cause_type == "agreement", P.c.cause_ref == agreement_id)
                        .limit(1)).first() is not None


def host_of(conn, proposal_id: str) -> str:
    from .store import proposals
    return conn.execute(select(proposals.c.istat_code).where(proposals.c.proposal_id == proposal_id)).scalar_one()


def prepare(kb, agreement_id: str, host: str, balance_id: str, draft: dict, actor: str,
            ledger: Ledger | None = None) -> tuple[Ledger, list[Posting]]:
    """Builds and checks (static ledger rules, adhesion rights) the postings, before any transaction."""
    ledger = ledger or Ledger(kb.engine)
    ps = postings_for(agreement_id, host, balance_id, draft["allocation"], bool(draft.get("post_comuni_to_fund")),
                      actor)
    ledger.validate(ps)
    return ledger, ps


def post_in(conn, ledger: Ledger, agreement_id: str, postings: list[Posting]) -> list:
    """Inside the caller's transaction: posts unless the agreement's postings already exist."""
    if not postings or already_posted(conn, agreement_id):
        return []
    return ledger.post_in(conn, postings)


def post_concluded(kb, agreement_id: str, actor: str, ledger: Ledger | None = None) -> list:
    """Posts the fund share (and comuni, if the agreement says so) of an agreement already concluded
    (e.g. before this link existed). Returns the new postings; ``[]`` if there was nothing to post."""
    import json

    from .conference import WorkflowError, agreement_state
    st = agreement_state(kb, agreement_id)
    if st.status != "concluded":
        raise WorkflowError(f"agreement {agreement_id} is {st.status}: only a concluded agreement enters the fund")
    first = st.events[0]
    with kb.engine.connect() as conn:
        host = host_of(conn, first["proposal_id"])
    ledger, ps = prepare(kb, agreement_id, host, first["balance_id"], json.loads(first["payload_json"]), actor, ledger)
    with kb.transaction() as conn:
        return post_in(conn, ledger, agreement_id, ps)
