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
    result = compute_balance(proposal, t, params, source=name)
    pid, bid = save_balance(kb, result, name, actor)
    return pid, bid, result
