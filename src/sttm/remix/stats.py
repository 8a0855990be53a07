"""Funding statistics of the published interventions (pure functions of KB layers).

A project localised in several comuni is ONE row of the ``interventions`` layer, so metropolitan
totals count it once. By comune, a project counts in full in every comune where it is localised
(the source gives no split by place): comune figures therefore do not add up to the metropolitan
total, and the page says so. By zone, a project counts once per zone it touches.

>>> import pandas as pd
>>> ints = pd.DataFrame({"intervention_id": ["a", "b"], "istat_codes": ["015146;015182", "015182"],
...                      "zones": ["Milano;Nord Ovest", "Nord Ovest"], "total_cost": [100.0, 10.0],
...                      "status": ["in_corso"] * 2, "domains": ["", ""], "funding_sources": ["PNRR", "PNRR"]})
>>> s = funding_summary(ints, pd.DataFrame(columns=["intervention_id", "source", "amount"]))
>>> s["total_cost"], s["by_comune"]["015182"]["total_cost"], s["by_zone"]["Nord Ovest"]["total_cost"]
(110.0, 110.0, 110.0)
"""

from __future__ import annotations

from typing import Any

import pandas as pd

UNFUNDED = "Da reperire"


def _split(s: Any) -> list[str]:
    return [x for x in str(s or "").split(";") if x]


def filter_interventions(ints: pd.DataFrame, status: str | None = None, domain: str | None = None,
                         source: str | None = None, comune: str | None = None, zone: str | None = None) -> pd.DataFrame:
    """Rows matching every given filter (list columns match when they contain the value)."""
    mask = pd.Series(True, index=ints.index)
    if status:
        mask &= ints["status"] == status
    for col, val in (("domains", domain), ("funding_sources", source), ("istat_codes", comune), ("zones", zone)):
        if val:
            mask &= ints[col].map(lambda s, v=val: v in _split(s))
    return ints[mask]


def funding_summary(ints: pd.DataFrame, funding: pd.DataFrame, names: dict[str, str] | None = None) -> dict[str, Any]:
    names = names or {}
    ids = set(ints["intervention_id"])
    f = funding[funding["intervention_id"].isin(ids)] if len(funding) else funding
    by_source = f.groupby("source")["amount"].sum().sort_values(ascending=False) if len(f) else pd.Series(dtype=float)
    by_comune: dict[str, dict[str, Any]] = {}
    by_zone: dict[str, dict[str, Any]] = {}
    for r in ints.itertuples(index=False):
        cost = float(r.total_cost) if pd.notna(r.total_cost) else 0.0
        codes = _split(r.istat_codes)
        for c in codes:
            d = by_comune.setdefault(c, {"name": names.get(c, c), "total_cost": 0.0, "n": 0, "n_multi": 0})
            d["total_cost"] += cost
            d["n"] += 1
            d["n_multi"] += len(codes) > 1
        for z in set(_split(getattr(r, "zones", ""))):
            d = by_zone.setdefault(z, {"total_cost": 0.0, "n": 0})
            d["total_cost"] += cost
            d["n"] += 1
    total = float(pd.to_numeric(ints["total_cost"], errors="coerce").fillna(0).sum())
    return {
        "n_interventions": int(len(ints)),
        "n_multi_comune": int(sum(len(_split(s)) > 1 for s in ints["istat_codes"])),
        "total_cost": total,
        "by_source": {k: float(v) for k, v in by_source.items() if k != UNFUNDED},
        "unfunded": float(by_source.get(UNFUNDED, 0.0)),
        "by_comune": dict(sorted(by_comune.items(), key=lambda kv: -kv[1]["total_cost"])),
        "by_zone": dict(sorted(by_zone.items(), key=lambda kv: -kv[1]["total_cost"])),
    }
