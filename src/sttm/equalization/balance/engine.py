"""compute_balance: proposal + territory + parameters → the Bilancio delle diffusività."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from .allocation import AllocationLine, ResourceLine, allocate, resources
from .externalities import ForecastIndicators, assumptions, check_against_territory, proposal_matrix
from .model import Proposal
from .params import BalanceParams
from .relevance import Relevance, assess
from .territory import Territory


@dataclass
class BalanceResult:
    proposal: Proposal
    matrix: pd.DataFrame                       # rows: all comuni; see externalities.COLUMNS
    indicators: list[ForecastIndicators]
    relevance: Relevance
    resources: list[ResourceLine]
    allocation: list[AllocationLine]
    assumptions: list[str]
    params_version: str
    params_sha256: str
    computed_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))

    @property
    def total_resources_cents(self) -> int:
        return sum(r.amount_cents for r in self.resources)

    @property
    def affected_codes(self) -> list[str]:
        return [a.istat_code for a in self.relevance.affected]

    def matrix_nonzero(self) -> pd.DataFrame:
        """Rows of the matrix for the adopting comune and every comune with a non-negligible value."""
        m = self.matrix
        keep = (m.index == self.proposal.istat_code) | m.index.isin(self.affected_codes)
        return m[keep]


def compute_balance(p: Proposal, t: Territory, params: BalanceParams, source: str | None = None) -> BalanceResult:
    """Validate against the territory, then compute matrix, relevance, resources, allocation.

    Pure: reads nothing but its arguments and writes nothing."""
    check_against_territory(p, t, source)
    matrix, inds = proposal_matrix(p, t, params)
    rel = assess(inds, matrix, p.istat_code, params, t, [f.geometry for f in p.forecasts])
    res = resources(p, inds, params)
    total = sum(r.amount_cents for r in res)
    burden = {a.istat_code: float(matrix.at[a.istat_code, "net_burden_eur_year"]) for a in rel.affected}
    if params["allocation"].get("include_host"):
        burden[p.istat_code] = float(matrix.at[p.istat_code, "net_burden_eur_year"])
    names = dict(zip(t.codes, t.names))
    alloc = allocate(total, p, rel.level, burden, names, params)
    return BalanceResult(p, matrix, inds, rel, res, alloc, assumptions(params, t), params.version, params.sha256)
