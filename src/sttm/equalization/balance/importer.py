"""Import a proposal file into the knowledge base: parse → validate → compute → record (one transaction)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .engine import BalanceResult, compute_balance
from .model import parse_proposal
from .params import BalanceParams
from .store import save_balance
from .territory import Territory


def import_proposal(kb, source: str | Path | dict[str, Any], params: BalanceParams, actor: str,
                    territory: Territory | None = None) -> tuple[str, str, BalanceResult]:
    """Returns (proposal_id, balance_id, result). Any invalid input raises before anything is written."""
    name = str(source) if not isinstance(source, dict) else "<inline>"
    proposal = parse_proposal(source if isinstance(source, dict) else Path(source), params.functions, source=name)
    t = territory or Territory.from_kb(kb)
    result = compute_balance(proposal, t, params, source=name, with_sensitivity=True)
    pid, bid = save_balance(kb, result, name, actor)
    return pid, bid, result


def recompute(kb, proposal_id: str, params: BalanceParams, actor: str,
              territory: Territory | None = None) -> tuple[str, BalanceResult]:
    """A new balance of an already recorded proposal (e.g. once the parameters are confirmed).

    The earlier balances stay as they were (append-only); returns (balance_id, result)."""
    import json

    from sqlalchemy import select

    from .model import ProposalError, proposal_from_record
    from .store import ensure_schema, proposals, save_recomputed
    ensure_schema(kb)
    with kb.engine.connect() as conn:
        row = conn.execute(select(proposals.c.payload_json).where(proposals.c.proposal_id == proposal_id)).first()
    if row is None:
        raise ProposalError("proposal_id", f"proposal {proposal_id!r} not found")
    proposal = proposal_from_record(json.loads(row.payload_json), params.functions)
    result = compute_balance(proposal, territory or Territory.from_kb(kb), params, source=proposal_id,
                            with_sensitivity=True)
    return save_recomputed(kb, result, proposal_id, actor), result
