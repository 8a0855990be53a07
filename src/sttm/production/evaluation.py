"""Evaluation tables of a proposed productive/logistics settlement (STTM 3 §3.3.3).

``data/evaluation_criteria.csv`` holds the sustainability and innovation criteria: each has a
field of the proposal, a kind (``number``, ``bool``, ``level`` 0-3), an optional minimum standard
(``min_op min_value``: failing it — or not declaring the value — makes the proposal
non-compliant), a linear score from ``worst`` (0) to ``best`` (1) and a weight. The total is
``100 * sum(w * s) / sum(w)`` over the criteria that apply to the proposal's category
(column ``applies_to``: ``all`` or a ``;``-separated list of categories); the grade comes from ``data/grades.csv``; a non-compliant
proposal gets grade ``NC`` whatever its total.
"""
from __future__ import annotations

import math
import operator
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import params
from .errors import ProductionInputError

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq,
        "!=": operator.ne}


@dataclass
class CriterionResult:
    criterion_id: str
    group: str
    label: str
    value: object
    minimum: str
    compliant: bool | None     # None = no minimum standard
    score: float
    weight: float
    reference: str

    @property
    def points(self) -> float:
        return self.score * self.weight


@dataclass
class Evaluation:
    proposal_id: str
    rows: list[CriterionResult]
    total: float
    grade: str
    grade_label: str
    compliant: bool
    non_compliance: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "criterio": r.criterion_id, "gruppo": r.group, "descrizione": r.label, "valore": r.value,
            "standard_minimo": r.minimum, "conforme": r.compliant, "punteggio_0_1": round(r.score, 4),
            "peso": r.weight, "punti": round(r.points, 4), "riferimento": r.reference} for r in self.rows])


def _coerce(v, kind: str, cid: str, fld: str):
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return None
    if kind == "bool":
        if isinstance(v, bool):
            return v
        s = str(v).strip().lower()
        if s in ("true", "1", "si", "sì", "yes"):
            return True
        if s in ("false", "0", "no"):
            return False
        raise ProductionInputError(f"criterio {cid}: valore booleano atteso, trovato {v!r}", field=fld)
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ProductionInputError(f"criterio {cid}: valore numerico atteso, trovato {v!r}", field=fld) from None
    if kind == "level" and not (0 <= x <= 3):
        raise ProductionInputError(f"criterio {cid}: livello fuori scala 0-3 ({x:g})", field=fld)
    if kind == "number" and x < 0:
        raise ProductionInputError(f"criterio {cid}: valore negativo ({x:g})", field=fld)
    return x


def evaluate(proposal: dict, criteria: pd.DataFrame | None = None) -> Evaluation:
    """Score ``proposal`` (a mapping of the criteria fields) against the evaluation table."""
    criteria = params.table("evaluation_criteria") if criteria is None else criteria
    cat = proposal.get("category")
    if cat and "applies_to" in criteria:
        # criteria profiles differ by type of activity (STTM 3 §3.3.3): keep those for this category
        applies = criteria["applies_to"].fillna("all").astype(str)
        criteria = criteria[[a.strip() in ("", "all") or cat in a.split(";") for a in applies]]
    rows, nc = [], []
    for _, c in criteria.iterrows():
        fld, kind = c["field"], c["kind"]
        v = _coerce(proposal.get(fld), kind, c["criterion_id"], fld)
        minimum, compliant = "", None
        if c["min_op"]:
            mv = (str(c["min_value"]).lower() == "true") if kind == "bool" else float(c["min_value"])
            minimum = f"{c['min_op']} {c['min_value']}"
            if v is None:
                compliant = False
                nc.append(f"{c['criterion_id']} – {c['label_it']}: valore non dichiarato (standard minimo {minimum})")
            else:
                compliant = bool(_OPS[c["min_op"]](v, mv))
                if not compliant:
                    nc.append(f"{c['criterion_id']} – {c['label_it']}: {v} non rispetta lo standard minimo "
                              f"{minimum} [rif.: {c['reference']}]")
        if v is None:
            s = 0.0
        else:
            x = float(v)
            lo, hi = float(c["worst"]), float(c["best"])
            s = min(1.0, max(0.0, (x - lo) / (hi - lo)))
        rows.append(CriterionResult(c["criterion_id"], c["group"], c["label_it"], v, minimum, compliant, s,
                                    float(c["weight"]), c["reference"]))
    wsum = sum(r.weight for r in rows)
    total = round(100 * sum(r.points for r in rows) / wsum, 2) if wsum else 0.0
    ok = not nc
    grades = params.table("grades")
    grades["min_score"] = grades["min_score"].astype(float)
    if ok:
        g = grades.sort_values("min_score", ascending=False)
        hit = g[g["min_score"] <= total].iloc[0]
        grade, label = hit["grade"], hit["label_it"]
    else:
        grade, label = "NC", "non conforme agli standard minimi"
    return Evaluation(str(proposal.get("id", "proposta")), rows, total, grade, label, ok, nc)


PROPOSAL_REQUIRED = ["id", "name", "category", "gfa_m2", "site_area_m2"]


def load_proposal(path: str | Path) -> dict:
    """A proposal TOML file: ``[proposal]`` with id, name, category, gfa_m2, site_area_m2, istat_code,
    optional ``site`` (path of a vector file with the site polygon) and the criteria fields."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProductionInputError(f"proposta illeggibile: {exc}", source=str(path)) from exc
    p = data.get("proposal", data)
    missing = [k for k in PROPOSAL_REQUIRED if k not in p]
    if missing:
        raise ProductionInputError(f"campi obbligatori mancanti {missing}", source=str(path))
    if p["category"] not in params.categories():
        raise ProductionInputError(f"categoria sconosciuta {p['category']!r} (ammesse {params.categories()})",
                                   source=str(path), field="category")
    for k in ("gfa_m2", "site_area_m2"):
        if not isinstance(p[k], (int, float)) or p[k] <= 0:
            raise ProductionInputError("valore positivo atteso", source=str(path), field=k)
    if "jobs" in p and "jobs_per_ha" not in p:
        p["jobs_per_ha"] = float(p["jobs"]) / (float(p["site_area_m2"]) / 1e4)
    if "site" in p and not Path(p["site"]).is_absolute():
        p["site"] = str((path.parent / p["site"]).resolve())
    return p
