"""Symptomatic indicators against thresholds → relevance (none / supra / metropolitan).

Each threshold row of the parameter file produces one :class:`RuleLine` that says what was
measured, against which threshold, with which reference, and the level it yields, so that the
qualification can be read line by line.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from ...reports.render import it_number as _it
from .externalities import ForecastIndicators
from .params import LEVEL_IT, LEVELS, BalanceParams

INDICATOR_IT = {
    "floor_area_m2": "Superficie lorda",
    "vehicle_trips_day": "Spostamenti veicolari giornalieri",
    "truck_trips_day": "Spostamenti giornalieri di mezzi pesanti",
    "land_take_free_soil_m2": "Consumo di suolo libero",
    "n_affected_comuni": "Comuni investiti dalle esternalità (escluso il proponente)",
    "runoff_hazard_m3": "Deflusso aggiuntivo in Comuni ad alta criticità o pericolosità idraulica",
}


@dataclass
class RuleLine:
    threshold_id: str
    scope: str                 # forecast | proposal
    subject: str               # forecast id or "proposta"
    indicator: str
    value: float
    supra: float
    metropolitan: float
    unit: str
    level: str
    reference: str
    detail: str = ""

    def explain(self) -> str:
        name = INDICATOR_IT.get(self.indicator, self.indicator)
        v, s, m = _it(self.value, 0), _it(self.supra, 0), _it(self.metropolitan, 0)
        if self.level == "metropolitan":
            cmp = f"≥ soglia metropolitana {m}"
        elif self.level == "supra":
            cmp = f"≥ soglia sovracomunale {s} e < soglia metropolitana {m}"
        else:
            cmp = f"< soglia sovracomunale {s}"
        detail = f" [{self.detail}]" if self.detail else ""
        return (f"[{self.threshold_id}] {self.subject}: {name} = {v} {self.unit}{detail} {cmp} "
                f"→ rilevanza {LEVEL_IT[self.level]} (rif. {self.reference})")


@dataclass
class AffectedComune:
    istat_code: str
    name: str
    reasons: list[str] = field(default_factory=list)


@dataclass
class ExternalComune:
    istat_code: str
    name: str
    province: str
    distance_m: float


@dataclass
class Relevance:
    level: str
    lines: list[RuleLine]
    affected: list[AffectedComune]
    external: list[ExternalComune] = field(default_factory=list)

    @property
    def level_it(self) -> str:
        return LEVEL_IT[self.level]

    def explain(self) -> list[str]:
        out = [ln.explain() for ln in self.lines]
        for a in self.affected:
            out.append(f"Comune investito {a.name} ({a.istat_code}): " + "; ".join(a.reasons))
        for e in self.external:
            out.append(f"Comune esterno alla CMM entro il raggio di verifica: {e.name} ({e.province}, {e.istat_code}) "
                       f"a {_it(e.distance_m, 0)} m — da coinvolgere tramite Provincia/Regione, escluso dal riparto")
        decisive = [ln.threshold_id for ln in self.lines if ln.level == self.level and self.level != "none"]
        out.append(f"Esito: rilevanza {self.level_it}"
                   + (f" (determinata da {', '.join(decisive)})" if decisive else " (nessuna soglia raggiunta)"))
        return out


def _level(value: float, supra: float, metro: float) -> str:
    if value >= metro:
        return "metropolitan"
    if value >= supra:
        return "supra"
    return "none"




def affected_comuni(matrix: pd.DataFrame, host: str, params: BalanceParams) -> list[AffectedComune]:
    """Comuni other than ``host`` where any affected_rule minimum is reached, with the reasons."""
    rules = params["affected_rule"]
    hits = [(r, matrix[r["indicator"]].to_numpy(dtype=float) >= float(r["min"])) for r in rules]
    any_hit = np.logical_or.reduce([h for _, h in hits]) & (matrix.index.to_numpy() != host)
    out: list[AffectedComune] = []
    for i in np.nonzero(any_hit)[0]:
        reasons = [f"{r['label']}: {_it(float(matrix[r['indicator']].iat[i]), 1)} {r['unit']} ≥ {_it(float(r['min']), 0)}"
                   for r, h in hits if h[i]]
        out.append(AffectedComune(str(matrix.index[i]), str(matrix["name"].iat[i]), reasons))
    return out


def hazard_mask(t, params: BalanceParams) -> np.ndarray:
    """Comuni where extra runoff counts for T9: hydraulic class in the list, or high flood hazard share."""
    hz = params["hazard"]
    mask = np.array(t.lspp["class"].astype(str).isin([str(c) for c in hz["hydraulic_classes"]]), dtype=bool)
    if t.flood_high_pct is not None:
        mask |= t.flood_high_pct >= float(hz["flood_high_pct_min"])
    return mask


def proposal_indicators(matrix: pd.DataFrame, affected: list[AffectedComune], t, params: BalanceParams
                        ) -> dict[str, tuple[float, str]]:
    """Proposal-level indicators: value and the comuni it comes from (for the explanation)."""
    out = {"n_affected_comuni": (float(len(affected)), "")}
    if t is not None:
        mask = hazard_mask(t, params)
        ro = matrix["runoff_m3_event"].to_numpy()
        hit = mask & (ro > 0)
        names = ", ".join(f"{n} {_it(v, 0)}" for n, v in zip(matrix["name"].to_numpy()[hit], ro[hit]))
        out["runoff_hazard_m3"] = (float(ro[hit].sum()), names)
    return out


def external_comuni(forecast_geoms: list, t, params: BalanceParams) -> list[ExternalComune]:
    if t is None or t.neighbours is None or not len(t.neighbours):
        return []
    r = float(params["external"]["radius_m"])
    site = shapely.union_all(forecast_geoms)
    nb = t.neighbours
    d = shapely.distance(nb.geometry.to_numpy(), site)
    idx = np.nonzero(d <= r)[0]
    return [ExternalComune(str(nb["istat_code"].iat[i]), str(nb["name"].iat[i]), str(nb.get("province", pd.Series([""] * len(nb))).iat[i]),
                           float(d[i])) for i in idx[np.argsort(d[idx])]]


def assess(indicators: list[ForecastIndicators], matrix: pd.DataFrame, host: str,
           params: BalanceParams, t=None, forecast_geoms: list | None = None) -> Relevance:
    lines: list[RuleLine] = []
    for th in params["threshold"]:
        if th["scope"] != "forecast":
            continue
        for ind in indicators:
            if th["function"] not in ("*", ind.function):
                continue
            v = float(getattr(ind, th["indicator"]))
            lines.append(RuleLine(th["id"], "forecast", f"previsione {ind.forecast_id} ({ind.function})",
                                  th["indicator"], v, float(th["supra"]), float(th["metropolitan"]),
                                  th.get("unit", ""), _level(v, th["supra"], th["metropolitan"]), th["reference"]))
    affected = affected_comuni(matrix, host, params)
    pind = proposal_indicators(matrix, affected, t, params)
    for th in params["threshold"]:
        if th["scope"] != "proposal":
            continue
        if th["indicator"] not in ("n_affected_comuni", "runoff_hazard_m3"):
            raise ValueError(f"threshold {th['id']}: unknown proposal indicator {th['indicator']!r}")
        if th["indicator"] not in pind:
            continue                        # needs the territory (hazard) and was not given
        v, where = pind[th["indicator"]]
        lines.append(RuleLine(th["id"], "proposal", "proposta", th["indicator"], v,
                              float(th["supra"]), float(th["metropolitan"]), th.get("unit", ""),
                              _level(v, th["supra"], th["metropolitan"]), th["reference"], where))
    level = max((ln.level for ln in lines), key=LEVELS.index, default="none")
    return Relevance(level=level, lines=lines, affected=affected,
                     external=external_comuni(forecast_geoms or [], t, params))
