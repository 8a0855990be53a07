"""Norm sheet 1 — adaptation to extreme weather events (floods and drought).

The three steps of the STTM 1 sheet (reference report §3.1.3):

1. *Conoscere il luogo*: imperviousness of the site, ISPRA flood hazard of the comune,
   hydraulic criticality class (R.R. 7/2017, A/B/C), hydrologic soil group;
2. *Conoscere l'intervento*: the NBS used, with their catalogue parameters and costs;
3. *Quantità*: design-event runoff before/after (SCS curve number and runoff coefficient),
   storage volume required by hydraulic invariance (minimum volume by class and
   rainfall-curve method with the comune's LSPP) against the storage the NBS provide,
   groundwater recharge, RIE index before/after; then the verdict and the monitoring indicators.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from .catalogue import Catalogue, load_catalogue
from .hydrology import LSPP, rainfall_curve_volume, scs_runoff_mm
from .params import Params, load_params
from .surfaces import SiteInputError, Surface, parse_surfaces

__all__ = ["FloodSite", "evaluate_flood", "rie_index", "hazard_class", "SiteInputError"]

CRITICALITY_CLASSES = ("A", "B", "C")


@dataclass
class FloodSite:
    """Declared inputs of sheet 1 (areas m², depths mm)."""

    name: str
    site_area_m2: float
    surfaces_before: Any
    surfaces_after: Any
    soil_group: str
    criticality_class: str
    lspp: LSPP | None = None
    istat_code: str | None = None
    municipality: str | None = None
    hazard: Mapping[str, Any] | None = None          # row of the KB table `hazard`
    municipality_area_km2: float | None = None
    trees_before: Mapping[str, int] = field(default_factory=dict)   # RIE size class -> count
    trees_after: Mapping[str, int] = field(default_factory=dict)
    design_storm_mm: float | None = None             # None: LSPP depth for 1 h at T
    count_infiltration: bool = False                  # count infiltration during D_w as outflow
    renovation: bool = True                           # RIE target: renovation vs new building


def hazard_class(hazard: Mapping[str, Any] | None, municipality_area_km2: float | None,
                 params: Params) -> dict[str, Any]:
    """Classify the ISPRA PIR flood indicators of the comune (sttm convention, see params)."""
    if not hazard:
        return {"class": "non disponibile", "share_high": None, "share_medium": None, "pop_high": None,
                "note": "indicatori ISPRA non disponibili per il comune"}

    def pick(*names):
        for n in names:
            if n in hazard and hazard[n] is not None and not (isinstance(hazard[n], float) and math.isnan(hazard[n])):
                return float(hazard[n])
        return None

    high = pick("flood_area_high_km2", "area_id_H")
    med = pick("flood_area_medium_km2", "area_id_M")
    pop_high = pick("flood_pop_high", "pop_id_H")
    area = municipality_area_km2
    if area is None or area <= 0:
        return {"class": "non disponibile", "share_high": None, "share_medium": None, "pop_high": pop_high,
                "note": "superficie comunale mancante: quota di area a pericolosità non calcolabile"}
    sh = (high or 0.0) / area
    sm = (med or 0.0) / area
    if sh >= params["hazard.flood_high_share_threshold"]:
        cls = "alta"
    elif sm >= params["hazard.flood_medium_share_threshold"] or sh > 0:
        cls = "media"
    else:
        cls = "bassa"
    return {"class": cls, "share_high": sh, "share_medium": sm, "pop_high": pop_high,
            "note": "classi: convenzione sttm su indicatori ISPRA PIR 2020 (P3 = elevata, P2 = media)"}


def rie_index(surfaces: list[Surface], trees: Mapping[str, int], cat: Catalogue, params: Params) -> float:
    """RIE (Riduzione dell'Impatto Edilizio), Bolzano/Milano formula::

        RIE = (Σ Sv_i / ψ_i + Se) / (Σ Sv_i + Σ Sij · ψ_j)

    Sv: surfaces treated with green, Sij: the others, ψ: RIE runoff coefficients,
    Se: equivalent green surface of trees (count × equivalent area by size class).
    """
    green_num = green_den = other = 0.0
    for s in surfaces:
        n = cat[s.nbs_id]
        psi = n.value("rie_psi")
        if n.rie_green:
            green_num += s.area_m2 / psi
            green_den += s.area_m2
        else:
            other += s.area_m2 * psi
    eq = params.section("rie.tree_equivalent_m2")
    se = 0.0
    for size, count in (trees or {}).items():
        if size not in eq:
            raise SiteInputError(f"trees: size class {size!r} unknown (use {', '.join(eq)})")
        if int(count) < 0:
            raise SiteInputError(f"trees: negative count for {size!r}")
        se += int(count) * eq[size]
    den = green_den + other
    return (green_num + se) / den if den > 0 else float("nan")


def _weighted(surfaces: list[Surface], cat: Catalogue, par: str) -> float:
    tot = sum(s.area_m2 for s in surfaces)
    return sum(s.area_m2 * cat[s.nbs_id].value(par) for s in surfaces) / tot


def _runoff(surfaces, cat, soil, p_mm, lam):
    cn_vol = sum(scs_runoff_mm(p_mm, cat[s.nbs_id].cn(soil), lam) / 1000.0 * s.area_m2 for s in surfaces)
    phi_vol = sum(cat[s.nbs_id].value("runoff_coeff") * p_mm / 1000.0 * s.area_m2 for s in surfaces)
    return cn_vol, phi_vol


def _recharge(surfaces, cat, params):
    rain = params["recharge.annual_rain_mm"] / 1000.0
    f = params["recharge.infiltration_to_aquifer"]
    return sum(s.area_m2 * rain * (1.0 - cat[s.nbs_id].value("runoff_coeff")) * f
               for s in surfaces if cat[s.nbs_id].value("infiltration_rate_mm_h") > 0)


def evaluate_flood(site: FloodSite, params: Params | None = None, catalogue: Catalogue | None = None) -> dict:
    """Run sheet 1 on a site. Returns a plain dict (JSON-serialisable) with the three steps."""
    params = params or load_params()
    cat = catalogue or load_catalogue()
    soil = str(site.soil_group).upper()
    if soil not in ("A", "B", "C", "D"):
        raise SiteInputError(f"field 'soil_group' = {site.soil_group!r}: use A, B, C or D")
    crit = str(site.criticality_class).upper()
    if crit not in CRITICALITY_CLASSES:
        raise SiteInputError(f"field 'criticality_class' = {site.criticality_class!r}: use A, B or C "
                             "(R.R. 7/2017 all. C; table hydraulic_criticality)")
    if site.lspp is None:
        raise SiteInputError("field 'lspp': the rainfall-curve parameters of the comune are missing")
    before = parse_surfaces(site.surfaces_before, site.site_area_m2, cat, "surfaces_before")
    after = parse_surfaces(site.surfaces_after, site.site_area_m2, cat, "surfaces_after")
    S = site.site_area_m2
    T = params["invariance.return_period_years"]
    lam = params["scs.lambda"]
    p_mm = site.design_storm_mm if site.design_storm_mm is not None else site.lspp.depth_mm(1.0, T)
    if p_mm <= 0:
        raise SiteInputError("field 'design_storm_mm' must be > 0")

    # step 1 — place
    imperv_before = sum(s.area_m2 for s in before if cat[s.nbs_id].sealed) / S
    imperv_after = sum(s.area_m2 for s in after if cat[s.nbs_id].sealed) / S
    hz = hazard_class(site.hazard, site.municipality_area_km2, params)
    priority = imperv_before >= 0.5 and (crit == "A" or hz["class"] == "alta")
    step1 = {
        "imperviousness_before": imperv_before, "phi_before": _weighted(before, cat, "runoff_coeff"),
        "hazard": hz, "criticality_class": crit, "soil_group": soil,
        "ulim_l_s_ha": params[f"invariance.ulim_l_s_ha.{crit}"],
        "lspp": asdict(site.lspp),
        "priority_site": priority,
    }

    # step 2 — intervention
    areas_before = {}
    for s in before:
        areas_before[s.nbs_id] = areas_before.get(s.nbs_id, 0.0) + s.area_m2
    nbs_rows = []
    for s in after:
        n = cat[s.nbs_id]
        added = max(0.0, s.area_m2 - areas_before.get(s.nbs_id, 0.0))
        if n.kind != "nbs" or added <= 0:
            continue
        nbs_rows.append({"nbs_id": n.nbs_id, "name_it": n.name_it, "area_m2": added,
                         "storage_depth_mm": n.value("storage_depth_mm"),
                         "infiltration_rate_mm_h": n.value("infiltration_rate_mm_h"),
                         "runoff_coeff": n.value("runoff_coeff"), "cn": n.cn(soil),
                         "cost_eur": added * n.value("cost_eur_m2"),
                         "upkeep_eur_yr": added * n.value("upkeep_eur_m2_yr")})
    step2 = {"nbs": nbs_rows, "cost_eur": sum(r["cost_eur"] for r in nbs_rows),
             "upkeep_eur_yr": sum(r["upkeep_eur_yr"] for r in nbs_rows),
             "desealed_m2": max(0.0, (imperv_before - imperv_after) * S)}

    # step 3 — quantities
    q_cn_b, q_phi_b = _runoff(before, cat, soil, p_mm, lam)
    q_cn_a, q_phi_a = _runoff(after, cat, soil, p_mm, lam)
    phi_after = _weighted(after, cat, "runoff_coeff")
    inv = rainfall_curve_volume(S, phi_after, site.lspp, T, step1["ulim_l_s_ha"])
    min_vol = params[f"invariance.min_volume_m3_ha.{crit}"] * inv.impervious_equivalent_ha
    if params["invariance.use_greater_of_min_and_computed"]:
        required = max(min_vol, inv.volume_m3)
    else:
        required = inv.volume_m3
    storage = sum(s.area_m2 * cat[s.nbs_id].value("storage_depth_mm") / 1000.0 for s in after)
    infiltration = sum(s.area_m2 * cat[s.nbs_id].value("infiltration_rate_mm_h") / 1000.0 * inv.critical_duration_h
                       for s in after if cat[s.nbs_id].value("storage_depth_mm") > 0)
    provided = storage + (infiltration if site.count_infiltration else 0.0)
    small_site = S <= params["invariance.small_site_threshold_m2"]
    net_runoff_after = max(0.0, q_cn_a - storage)
    rie_b = rie_index(before, site.trees_before, cat, params)
    rie_a = rie_index(after, site.trees_after, cat, params)
    rie_target = params["rie.target_renovation" if site.renovation else "rie.target_new"]
    recharge_b = _recharge(before, cat, params)
    recharge_a = _recharge(after, cat, params)
    best = max((r for r in nbs_rows if r["storage_depth_mm"] > 0), key=lambda r: r["storage_depth_mm"], default=None)
    deficit = max(0.0, required - provided)
    step3 = {
        "design_storm_mm": p_mm, "return_period_years": T,
        "runoff_cn_before_m3": q_cn_b, "runoff_cn_after_m3": q_cn_a, "runoff_cn_net_after_m3": net_runoff_after,
        "runoff_phi_before_m3": q_phi_b, "runoff_phi_after_m3": q_phi_a,
        "runoff_reduction_share": (q_cn_b - net_runoff_after) / q_cn_b if q_cn_b > 0 else 0.0,
        "retention_before_m3": p_mm / 1000.0 * S - q_cn_b, "retention_after_m3": p_mm / 1000.0 * S - net_runoff_after,
        "phi_after": phi_after, "imperviousness_after": imperv_after,
        "invariance": {
            "impervious_equivalent_ha": inv.impervious_equivalent_ha, "a_mm_h_n": inv.a_mm_h_n, "n": inv.n,
            "critical_duration_h": inv.critical_duration_h, "rainfall_curve_volume_m3": inv.volume_m3,
            "rainfall_curve_m3_per_ha": inv.volume_m3_per_ha_imp, "outflow_l_s": inv.outflow_l_s,
            "min_volume_m3_ha": params[f"invariance.min_volume_m3_ha.{crit}"],
            "min_volume_status": params.param(f"invariance.min_volume_m3_ha.{crit}").status,
            "min_volume_m3": min_vol, "required_m3": required, "small_site": small_site,
            "lspp_valid_duration": inv.critical_duration_h >= 1.0,
        },
        "storage_provided_m3": storage, "infiltration_during_dw_m3": infiltration, "provided_m3": provided,
        "deficit_m3": deficit,
        "extra_area_needed_m2": (deficit / (best["storage_depth_mm"] / 1000.0)) if (best and deficit > 0) else 0.0,
        "extra_area_nbs": best["nbs_id"] if best else None,
        "recharge_before_m3_yr": recharge_b, "recharge_after_m3_yr": recharge_a,
        "rie_before": rie_b, "rie_after": rie_a, "rie_target": rie_target,
    }
    compliant = provided >= required - 1e-9
    verdict = {
        "invariance_met": compliant,
        "rie_met": rie_a >= rie_target,
        "runoff_reduced": net_runoff_after < q_cn_b,
        "text_it": ("Volume di invarianza garantito dalle NBS" if compliant else
                    f"Volume insufficiente: mancano {deficit:,.0f} m³".replace(",", ".")),
    }
    from .monitoring import flood_indicators
    return {"sheet": "flood", "site": {"name": site.name, "istat_code": site.istat_code,
                                       "municipality": site.municipality, "site_area_m2": S},
            "step1": step1, "step2": step2, "step3": step3, "verdict": verdict,
            "indicators": flood_indicators(step1, step2, step3),
            "params_used": _params_used(params, crit)}


def _params_used(params: Params, crit: str) -> list[dict]:
    keys = ["scs.lambda", "invariance.return_period_years", f"invariance.ulim_l_s_ha.{crit}",
            f"invariance.min_volume_m3_ha.{crit}", "invariance.small_site_threshold_m2",
            "invariance.use_greater_of_min_and_computed", "recharge.annual_rain_mm",
            "recharge.infiltration_to_aquifer", "rie.target_new", "rie.target_renovation"]
    out = []
    for k in keys:
        p = params.param(k)
        out.append({"key": k, "value": p.value, "unit": p.unit, "source": p.source, "status": p.status})
    return out
