"""Location scenarios: k new sites for a service category among candidate areas, by maximal
covering (MCLP) or p-median, solved with spopt and the HiGHS (default) or CBC solver.

Existing facilities are taken as given: MCLP maximises the population newly covered (demand
already within reach of an existing facility is left out of the model); p-median minimises the
total population-weighted distance to the nearest facility, existing ones included through one
always-open pseudo-facility whose cost for each demand point is its distance to the nearest
existing facility (exact, and it keeps the model small).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class ScenarioInputError(ValueError):
    pass


def _solver(name: str):
    import pulp

    if name == "highs":
        return pulp.HiGHS(msg=False)
    if name == "cbc":
        return pulp.PULP_CBC_CMD(msg=False)
    raise ScenarioInputError(f"solver {name!r}: use 'highs' or 'cbc'")


def _solve(model, solver: str):
    return model.solve(_solver(solver))


@dataclass
class ScenarioResult:
    method: str
    solver: str
    chosen: list[int]                     # indices into the candidates
    covered_before: float                 # demand within radius of an existing facility
    covered_after: float
    total_demand: float
    mean_dist_before: float               # demand-weighted mean distance to the nearest facility (m)
    mean_dist_after: float
    notes: list[str] = field(default_factory=list)


def run_scenario(dist_existing: np.ndarray, dist_candidates: np.ndarray, weights: np.ndarray, k: int,
                 radius_m: float, method: str = "mclp", solver: str = "highs") -> ScenarioResult:
    """See :func:`_run_scenario`; PuLP 3 deprecation notices raised inside spopt are silenced."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _run_scenario(dist_existing, dist_candidates, weights, k, radius_m, method, solver)


def _run_scenario(dist_existing, dist_candidates, weights, k, radius_m, method, solver) -> ScenarioResult:
    """dist_existing: distance (m) from each demand point to its nearest existing facility (inf if none);
    dist_candidates: (n_demand × n_candidates) distances; weights: demand per point."""
    from spopt.locate import MCLP, PMedian

    dist_existing = np.asarray(dist_existing, float)
    D = np.asarray(dist_candidates, float)
    w = np.asarray(weights, float)
    if D.ndim != 2 or D.shape[0] != len(w) or len(dist_existing) != len(w):
        raise ScenarioInputError("shapes: dist_candidates must be n_demand × n_candidates, matching weights")
    if not 1 <= k <= D.shape[1]:
        raise ScenarioInputError(f"k={k} must be between 1 and the number of candidates ({D.shape[1]})")
    if np.any(w < 0) or np.any(~np.isfinite(w)):
        raise ScenarioInputError("weights must be finite and non-negative")
    notes = []
    covered_before_mask = dist_existing <= radius_m
    if method == "mclp":
        # only demand not yet covered and reachable by some candidate enters the model
        active = (~covered_before_mask) & (D <= radius_m).any(axis=1) & (w > 0)
        if not active.any():
            chosen = list(range(k))
            notes.append("nessuna domanda scoperta raggiungibile dai candidati: scelta indifferente")
        else:
            model = MCLP.from_cost_matrix(D[active], w[active], service_radius=radius_m, p_facilities=k)
            model = _solve(model, solver)
            chosen = [j for j in range(D.shape[1]) if model.fac_vars[j].value() > 0.5]
    elif method == "pmedian":
        dex = np.where(np.isfinite(dist_existing), dist_existing, D.max() * 10 + 1e6)
        active = (D < dex[:, None]).any(axis=1) & (w > 0)
        if not active.any():
            chosen = list(range(k))
            notes.append("nessun candidato avvicina la domanda: scelta indifferente")
        else:
            Da = np.column_stack([D[active], dex[active]])
            model = PMedian.from_cost_matrix(Da, w[active], p_facilities=k + 1,
                                             predefined_facilities_arr=np.array([Da.shape[1] - 1]))
            model = _solve(model, solver)
            chosen = [j for j in range(D.shape[1]) if model.fac_vars[j].value() > 0.5]
    else:
        raise ScenarioInputError(f"method {method!r}: use 'mclp' or 'pmedian'")
    after = np.minimum(dist_existing, D[:, chosen].min(axis=1)) if chosen else dist_existing
    tot = float(w.sum())

    def wmean(d):
        ok = np.isfinite(d)
        return float((d[ok] * w[ok]).sum() / w[ok].sum()) if w[ok].sum() > 0 else float("nan")

    return ScenarioResult(method=method, solver=solver, chosen=chosen,
                          covered_before=float(w[covered_before_mask].sum()),
                          covered_after=float(w[after <= radius_m].sum()), total_demand=tot,
                          mean_dist_before=wmean(dist_existing), mean_dist_after=wmean(after), notes=notes)
