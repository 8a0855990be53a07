"""Symptomatic indicators against thresholds → relevance (none / supra / metropolitan).

Each threshold row of the parameter file produces one :class:`RuleLine` that says what was
measured, against which threshold, with which reference, and the level it yields, so that the
qualification can be read line by line.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .externalities import ForecastIndicators
from .params import LEVEL_IT, LEVELS, BalanceParams

INDICATOR_IT = {
    "floor_area_m2": "Superficie lorda",
    "vehicle_trips_day": "Spostamenti veicolari giornalieri",
    "truck_trips_day": "Spostamenti giornalieri di mezzi pesanti",
    "land_take_free_soil_m2": "Consumo di suolo libero",
    "n_affected_comuni": "Comuni investiti dalle esternalità (escluso il proponente)",
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

    def explain(self) -> str:
        name = INDICATOR_IT.get(self.indicator, self.indicator)
        v = f"{self.value:,.0f}".replace(",", ".")
        s = f"{self.supra:,.0f}".replace(",", ".")
        m = f"{self.metropolitan:,.0f}".replace(",", ".")
        if self.level == "metropolitan":
            cmp = f"≥ soglia metropolitana {m}"
        elif self.level == "supra":
            cmp = f"≥ soglia sovracomunale {s} e < soglia metropolitana {m}"
        else:
            cmp = f"< soglia sovracomunale {s}"
        return (f"[{self.threshold_id}] {self.subject}: {name} = {v} {self.unit} {cmp} "
                f"→ rilevanza {LEVEL_IT[self.level]} (rif. {self.reference})")


@dataclass
class AffectedComune:
    istat_code: str
    name: str
    reasons: list[str] = field(default_factory=list)


@dataclass
class Relevance:
    level: str
    lines: list[RuleLine]
    affected: list[AffectedComune]

    @property
    def level_it(self) -> str:
        return LEVEL_IT[self.level]

    def explain(self) -> list[str]:
        out = [ln.explain() for ln in self.lines]
        for a in self.affected:
            out.append(f"Comune investito {a.name} ({a.istat_code}): " + "; ".join(a.reasons))
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


def _it(v: float, decimals: int) -> str:
    return f"{v:,.{decimals}f}".replace(",", "˙").replace(".", ",").replace("˙", ".")


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


def assess(indicators: list[ForecastIndicators], matrix: pd.DataFrame, host: str,
           params: BalanceParams) -> Relevance:
    lines: list[RuleLine] = []
    for t in params["threshold"]:
        if t["scope"] != "forecast":
            continue
        for ind in indicators:
            if t["function"] not in ("*", ind.function):
                continue
            v = float(getattr(ind, t["indicator"]))
            lines.append(RuleLine(t["id"], "forecast", f"previsione {ind.forecast_id} ({ind.function})",
                                  t["indicator"], v, float(t["supra"]), float(t["metropolitan"]),
                                  t.get("unit", ""), _level(v, t["supra"], t["metropolitan"]), t["reference"]))
    affected = affected_comuni(matrix, host, params)
    for t in params["threshold"]:
        if t["scope"] != "proposal":
            continue
        if t["indicator"] != "n_affected_comuni":
            raise ValueError(f"threshold {t['id']}: unknown proposal indicator {t['indicator']!r}")
        v = float(len(affected))
        lines.append(RuleLine(t["id"], "proposal", "proposta", t["indicator"], v, float(t["supra"]),
                              float(t["metropolitan"]), t.get("unit", ""),
                              _level(v, t["supra"], t["metropolitan"]), t["reference"]))
    level = max((ln.level for ln in lines), key=LEVELS.index, default="none")
    return Relevance(level=level, lines=lines, affected=affected)
