"""Resources derivable from a proposal (LR 12/2005 additional contributions) and their
allocation: measures first, then the metropolitan fund share, then the affected comuni in
proportion to their net burden, by largest remainder on integer cents.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from ...reports.render import it_number as _it
from .externalities import ForecastIndicators
from .model import Proposal
from .params import BalanceParams


def to_cents(eur: float | Decimal) -> int:
    """Euro → integer cents, half-up (the usual rounding of Italian public accounts)."""
    return int((Decimal(str(eur)) * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


@dataclass
class ResourceLine:
    forecast_id: str
    resource_id: str
    label: str
    legal_reference: str
    base_cents: int
    rate: float
    amount_cents: int
    status: str


@dataclass
class AllocationLine:
    recipient_kind: str        # measure | fund | comune | host_residual
    recipient: str             # istat code, "CMM-FONDO", or measure description
    label: str
    amount_cents: int
    basis: str                 # why this amount


def resources(p: Proposal, inds: list[ForecastIndicators], params: BalanceParams) -> list[ResourceLine]:
    """One line per (forecast, resource) that applies; amount = round(base · rate) in cents."""
    out = []
    by_id = {f.forecast_id: f for f in p.forecasts}
    for ind in inds:
        f = by_id[ind.forecast_id]
        base = to_cents(ind.contribution_base_eur)
        for r in params["resources"]:
            fns = r["functions"]
            if fns != "*" and ind.function not in fns:
                continue
            cond = r["applies_when"]
            if cond == "agricultural_land_take" and not (ind.land_take_free_soil_m2 > 0 and f.former_cover == "agricultural"):
                continue
            if cond == "free_soil_take" and not ind.land_take_free_soil_m2 > 0:
                continue
            amount = int((Decimal(base) * Decimal(str(r["rate"]))).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
            out.append(ResourceLine(ind.forecast_id, r["id"], r["label"], r["legal_reference"], base,
                                    float(r["rate"]), amount, r.get("status", "")))
    return out


def largest_remainder(total_cents: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``total_cents`` in proportion to ``weights`` so that the parts sum exactly.

    Each part gets floor(total·w/W); the cents left over go one each to the largest fractional
    remainders (ties: smaller key first). Exact integer arithmetic on the weights' Decimals."""
    if total_cents < 0:
        raise ValueError("total must be ≥ 0")
    ws = {k: Decimal(str(w)) for k, w in weights.items() if w > 0}
    W = sum(ws.values(), Decimal(0))
    if total_cents == 0 or W == 0:
        return {k: 0 for k in weights}
    parts, rems = {}, []
    for k, w in ws.items():
        q, r = divmod(Decimal(total_cents) * w, W)
        parts[k] = int(q)
        rems.append((-r, k))
    left = total_cents - sum(parts.values())
    for _, k in sorted(rems)[:left]:
        parts[k] += 1
    return {k: parts.get(k, 0) for k in weights}


def allocate(total_cents: int, p: Proposal, level: str, net_burden: dict[str, float],
             names: dict[str, str], params: BalanceParams) -> list[AllocationLine]:
    """Allocation lines that sum exactly to ``total_cents``.

    Order: mitigation measures, compensation measures (each funded in full while money lasts),
    the fund share (metropolitan/supra percentages of what remains, rounded half-up), the
    affected comuni by largest remainder on their positive net burden; what is left stays with
    the adopting comune."""
    a = params["allocation"]
    out: list[AllocationLine] = []
    left = total_cents
    if level == "none":
        return [AllocationLine("host_residual", p.istat_code, names.get(p.istat_code, p.istat_code), left,
                               "rilevanza nessuna: nessun accordo territoriale, le risorse restano al Comune")]
    for kind in ("mitigation", "compensation"):
        for m in p.measures:
            if m.kind != kind:
                continue
            c = min(to_cents(m.cost_eur), left)
            left -= c
            where = m.istat_code or p.istat_code
            partial = "" if c == to_cents(m.cost_eur) else " — finanziata solo in parte: risorse esaurite"
            out.append(AllocationLine("measure", where, f"{'Mitigazione' if kind == 'mitigation' else 'Compensazione'}: {m.description}",
                                      c, f"misura dichiarata ({names.get(where, where)}), costo {_it(m.cost_eur, 2)} €{partial}"))
    share = float(a["fund_share_metropolitan"] if level == "metropolitan" else a["fund_share_supra"])
    fund = int((Decimal(left) * Decimal(str(share))).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    if share > 0:
        left -= fund
        out.append(AllocationLine("fund", "CMM-FONDO", "Fondo perequativo metropolitano", fund,
                                  f"{_it(100 * share, 0)}% delle risorse residue ({a['fund_source']})"))
    include_host = bool(a.get("include_host", False))
    weights = {k: max(v, 0.0) for k, v in net_burden.items() if include_host or k != p.istat_code}
    parts = largest_remainder(left, weights)
    W = sum(weights.values())
    for k in sorted(parts):
        if parts[k] > 0:
            out.append(AllocationLine("comune", k, names.get(k, k), parts[k],
                                      f"onere netto {_it(weights[k], 0)} €/anno = {_it(100 * weights[k] / W, 2)}% del totale"))
    left -= sum(parts.values())
    if left:
        out.append(AllocationLine("host_residual", p.istat_code, names.get(p.istat_code, p.istat_code), left,
                                  "quota non ripartibile (nessun Comune investito con onere netto positivo)"))
    assert sum(x.amount_cents for x in out) == total_cents
    return out
