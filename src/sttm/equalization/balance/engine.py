"""compute_balance: proposal + territory + parameters → the Bilancio delle diffusività."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from .allocation import AllocationLine, ResourceLine, allocate, resources
from .externalities import ForecastIndicators, assumptions, check_against_territory, proposal_matrix, source_notes
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


def scaled_params(params: BalanceParams, f: float) -> BalanceParams:
    """Parameters with every estimated quantity (trip rates, €/ha, damage costs, €/user) × f."""
    over: dict[str, float] = {}
    for fn, tg in params["trip_generation"].items():
        over[f"trip_generation.{fn}.car_per_100m2"] = tg["car_per_100m2"] * f
        over[f"trip_generation.{fn}.truck_per_100m2"] = tg["truck_per_100m2"] * f
    for cover, v in params["ecosystem_services"]["eur_per_ha_year"].items():
        if isinstance(v, (int, float)):
            over[f"ecosystem_services.eur_per_ha_year.{cover}"] = v * f
    for k in ("co2_eur_per_t", "nox_eur_per_kg", "pm10_eur_per_kg"):
        over[f"damage_costs.{k}"] = params["damage_costs"][k] * f
    for cat, sd in params["service_demand"].items():
        over[f"service_demand.{cat}.eur_per_user_year"] = float(sd["eur_per_user_year"]) * f
    return params.with_overrides(over)


def sensitivity(p: Proposal, t: Territory, params: BalanceParams, factors=(0.5, 1.5)) -> list[str]:
    """How the qualification moves when the estimated quantities are halved or raised by half."""
    from .params import LEVEL_IT
    out = []
    for f in factors:
        sp = scaled_params(params, f)
        matrix, inds = proposal_matrix(p, t, sp)
        rel = assess(inds, matrix, p.istat_code, sp, t, [x.geometry for x in p.forecasts])
        out.append(f"Sensibilità: con tassi di generazione degli spostamenti e valori monetari × {f:g}".replace(".", ",")
                   + f" la rilevanza sarebbe {LEVEL_IT[rel.level]}, con {len(rel.affected)} Comuni investiti.")
    return out


def compute_balance(p: Proposal, t: Territory, params: BalanceParams, source: str | None = None,
                    with_sensitivity: bool = False) -> BalanceResult:
    """Validate against the territory, then compute matrix, relevance, resources, allocation;
    ``with_sensitivity`` adds to the assumptions the relevance under ×0.5 and ×1.5 estimates.

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
    notes = assumptions(params, t) + source_notes(inds) + (sensitivity(p, t, params) if with_sensitivity else [])
    return BalanceResult(p, matrix, inds, rel, res, alloc, notes, params.version, params.sha256)
