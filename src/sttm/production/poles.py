"""Recognition of supra-municipal productive poles (STTM 3 §3.3.3, PTM) from a rule table.

``data/pole_rules.csv``: one row per rule (``field op value``); rules in the same ``group`` are
alternatives (any one passing is enough), groups must all pass. Each rule is ``pass``,
``fail`` or ``n.d.`` (its field is missing); a group with no pass and some ``n.d.`` is not
evaluable. Verdict: ``polo`` (all groups pass), ``non_polo`` (a group fails: the reasons name
the failing rules, measured values, thresholds and references) or ``non_valutabile``.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from ..reports.render import it_number
from . import params

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
        "==": operator.eq, "!=": operator.ne}
VERDICT_LABEL = {"polo": "Polo produttivo di rilevanza sovracomunale",
                 "non_polo": "Non riconosciuto come polo", "non_valutabile": "Non valutabile (dati mancanti)"}


@dataclass
class RuleResult:
    rule_id: str
    group: str
    label: str
    value: float | None
    op: str
    threshold: float
    unit: str
    outcome: str   # pass | fail | n.d.
    reference: str
    status: str

    def text(self) -> str:
        v = "dato non disponibile" if self.value is None else _fmt(self.value, self.unit)
        sym = {"pass": "soddisfatto", "fail": "NON soddisfatto", "n.d.": "non verificabile"}[self.outcome]
        return (f"{self.rule_id} – {self.label}: {v} (soglia {self.op} {_fmt(self.threshold, self.unit)}) "
                f"→ {sym} [rif.: {self.reference}; valore {self.status}]")


def _fmt(v, unit):
    if unit == "m2":
        return f"{it_number(v / 1e4, 1)} ha"
    if unit == "ratio":
        return f"{v:.0%}"
    if unit == "m":
        return f"{it_number(v, 0)} m"
    return f"{v:g} {unit}".strip()


def evaluate_area(row, rules: pd.DataFrame | None = None) -> dict:
    """Apply the rule table to one area (a mapping of field -> value)."""
    rules = params.table("pole_rules") if rules is None else rules
    results = []
    for _, r in rules.iterrows():
        v = row.get(r["field"]) if hasattr(row, "get") else None
        v = None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
        thr = float(r["value"])
        outcome = "n.d." if v is None else ("pass" if _OPS[r["op"]](v, thr) else "fail")
        results.append(RuleResult(r["rule_id"], r["group"], r["label_it"], v, r["op"], thr, r["unit"],
                                  outcome, r["reference"], r["status"]))
    groups: dict[str, list[RuleResult]] = {}
    for res in results:
        groups.setdefault(res.group, []).append(res)
    group_out = {}
    for gname, rs in groups.items():
        if any(r.outcome == "pass" for r in rs):
            group_out[gname] = "pass"
        elif any(r.outcome == "n.d." for r in rs):
            group_out[gname] = "n.d."
        else:
            group_out[gname] = "fail"
    if any(v == "fail" for v in group_out.values()):
        verdict = "non_polo"
        reasons = [r.text() for g, rs in groups.items() if group_out[g] == "fail" for r in rs]
    elif any(v == "n.d." for v in group_out.values()):
        verdict = "non_valutabile"
        reasons = [r.text() for g, rs in groups.items() if group_out[g] == "n.d." for r in rs]
    else:
        verdict = "polo"
        reasons = [r.text() for g, rs in groups.items() for r in rs if r.outcome == "pass"]
    return {"verdict": verdict, "verdict_label": VERDICT_LABEL[verdict], "reasons": reasons,
            "groups": group_out, "rules": results}


def recognise(areas: gpd.GeoDataFrame, rules: pd.DataFrame | None = None) -> gpd.GeoDataFrame:
    """Pole verdict for every area: adds ``verdict``, ``verdict_label``, ``reason`` (one text)."""
    rules = params.table("pole_rules") if rules is None else rules
    out = areas.copy()
    verdicts, labels, reasons, failed = [], [], [], []
    for _, row in out.iterrows():
        ev = evaluate_area(row, rules)
        verdicts.append(ev["verdict"])
        labels.append(ev["verdict_label"])
        reasons.append(" | ".join(ev["reasons"]))
        failed.append(",".join(r.rule_id for r in ev["rules"]
                               if r.outcome == "fail" and ev["groups"][r.group] == "fail"))
    out["verdict"], out["verdict_label"], out["reason"], out["failed_rules"] = verdicts, labels, reasons, failed
    return out


def cluster(areas: gpd.GeoDataFrame, gap_m: float | None = None) -> gpd.GeoDataFrame:
    """Group areas closer than ``gap_m`` (e.g. split by a road) into agglomerations.

    A pole is a productive *agglomeration*: its size is the sum of its members' areas. The cluster
    id is the smallest member ``area_id``, so a lone area keeps its own id. Columns: ``pole_id``,
    ``members``, ``n_members``, ``area_m2``, ``area_ha``, ``category`` (largest by area), ``name``,
    ``n_firms``, ``employees``, geometry = union of the members.
    """
    gap = params.scalar("pole_cluster_gap_m") if gap_m is None else float(gap_m)
    a = areas.reset_index(drop=True)
    g = a.geometry.to_numpy()
    blobs = shapely.get_parts(shapely.union_all(shapely.buffer(g, gap / 2)))
    ai, ci = STRtree(blobs).query(g, predicate="within")
    cid = np.full(len(a), -1)
    cid[ai] = ci
    rows = []
    for c in np.unique(cid):
        m = a[cid == c]
        area = m.area.to_numpy()
        by_cat = pd.Series(area, index=m["category"].to_numpy()).groupby(level=0).sum()
        names = [n for n in m.get("name", pd.Series(dtype=object)) if isinstance(n, str) and n and n != "None"]
        emp = m["employees"] if "employees" in m else pd.Series(dtype=float)
        rows.append({
            "pole_id": min(m["area_id"]), "members": ",".join(sorted(m["area_id"])), "n_members": len(m),
            "name": names[0] if names else None, "category": by_cat.idxmax(),
            "area_m2": round(float(area.sum()), 1), "area_ha": round(float(area.sum()) / 1e4, 2),
            "n_firms": int(m["n_firms"].sum()) if "n_firms" in m else 0,
            "employees": float(emp.sum()) if emp.notna().any() else np.nan,
            "geometry": shapely.union_all(m.geometry.to_numpy())})
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=areas.crs)
    out["category_label"] = [params.category_label(c) for c in out["category"]]
    return out
