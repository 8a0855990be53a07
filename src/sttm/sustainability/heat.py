"""Norm sheet 2 — adaptation to and mitigation of the urban heat island.

Site-scale application of the InVEST Urban Cooling Model (UCM, InVEST 3.20 user guide):

    CC = w_shade·shade + w_albedo·albedo + w_eti·ETI,   ETI = Kc·ET0/ET_max
    HM = CC, or CC_park when green areas > 2 ha lie within the cooling distance and cool more
    T_air,nomix = T_ref + (1 − HM)·UHI_max

At site scale ET0 is uniform (ETI = Kc) and air mixing is not applied (the raster engine
applies it area-wide). Tree canopy is an overlay: each m² of canopy sets shade = 1 on the
surface beneath. The canopy needed for a target reduction ΔT follows from the linearity of
T_air in CC: A = ΔT / (UHI_max · w_shade) · S (on unshaded ground).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .catalogue import Catalogue, load_catalogue
from .params import Params, load_params
from .surfaces import SiteInputError, Surface, parse_surfaces

__all__ = ["HeatSite", "evaluate_heat", "site_cooling"]


@dataclass
class HeatSite:
    name: str
    site_area_m2: float
    surfaces_before: Any
    surfaces_after: Any
    canopy_before_m2: float = 0.0
    canopy_after_m2: float = 0.0
    t_ref_c: float | None = None
    uhi_max_c: float | None = None
    target_reduction_c: float | None = None
    nearby_green_over_2ha: bool = False      # a large park within the cooling distance
    nearby_park_cc: float | None = None      # its cooling capacity (distance-weighted), if known
    sensitive_use: str | None = None         # e.g. "scuola", "RSA"
    exposed_children: int | None = None
    exposed_elderly: int | None = None
    istat_code: str | None = None
    municipality: str | None = None
    under12_share: float | None = None       # of the comune (KB municipalities)


def site_cooling(surfaces: list[Surface], canopy_m2: float, cat: Catalogue, params: Params) -> dict[str, float]:
    """Area-weighted UCM terms of a site (uniform ET0, so ETI = Kc)."""
    S = sum(s.area_m2 for s in surfaces)
    if canopy_m2 < 0 or canopy_m2 > S + 1e-6:
        raise SiteInputError(f"canopy area {canopy_m2} m² must be within [0, site area {S} m²]")
    own_shade = sum(s.area_m2 * cat[s.nbs_id].value("shade") for s in surfaces)
    # canopy first covers unshaded ground; shaded ground cannot be shaded twice
    shade = min(S, own_shade + canopy_m2) / S
    albedo = sum(s.area_m2 * cat[s.nbs_id].value("albedo") for s in surfaces) / S
    eti = sum(s.area_m2 * cat[s.nbs_id].value("kc") for s in surfaces) / S
    w_s, w_a, w_e = (params["ucm.cc_weight_shade"], params["ucm.cc_weight_albedo"], params["ucm.cc_weight_eti"])
    cc = w_s * shade + w_a * albedo + w_e * eti
    green = sum(s.area_m2 for s in surfaces if cat[s.nbs_id].green_area)
    return {"shade": shade, "albedo": albedo, "eti": eti, "cc": cc, "green_m2": green,
            "canopy_share": min(S, own_shade + canopy_m2) / S, "unshaded_m2": S - min(S, own_shade + canopy_m2)}


def _hm(c: dict, site: HeatSite, params: Params) -> tuple[float, str]:
    """InVEST UCM eq. 4: HM = CC if CC ≥ CC_park or GA < 2 ha, CC_park otherwise.

    A known nearby park > 2 ha (with its distance-weighted CC_park) is checked first: it cools the
    lot whenever it cools more than the lot itself, also when the lot holds > 2 ha of green of its
    own (GA ≥ 2 ha either way). The lot's own green, at site scale, cools with the lot's CC (d = 0).
    """
    ga_ha = (c["green_m2"]) / 10_000.0
    if site.nearby_green_over_2ha and site.nearby_park_cc is not None and site.nearby_park_cc > c["cc"]:
        return site.nearby_park_cc, "raffrescamento da parco > 2 ha entro la distanza di raffrescamento"
    if ga_ha > params["ucm.green_area_min_ha"]:
        # the site itself is a large green area: its pixels cool with their own CC (d = 0)
        return c["cc"], "area verde > 2 ha nel lotto"
    return c["cc"], "capacità di raffrescamento del lotto"


def evaluate_heat(site: HeatSite, params: Params | None = None, catalogue: Catalogue | None = None) -> dict:
    params = params or load_params()
    cat = catalogue or load_catalogue()
    before = parse_surfaces(site.surfaces_before, site.site_area_m2, cat, "surfaces_before")
    after = parse_surfaces(site.surfaces_after, site.site_area_m2, cat, "surfaces_after")
    t_ref = params["ucm.t_ref_c"] if site.t_ref_c is None else float(site.t_ref_c)
    uhi = params["ucm.uhi_max_c"] if site.uhi_max_c is None else float(site.uhi_max_c)
    target = params["verdict.heat_target_reduction_c"] if site.target_reduction_c is None else float(site.target_reduction_c)
    if uhi <= 0:
        raise SiteInputError("field 'uhi_max_c' must be > 0")
    S = site.site_area_m2
    cb = site_cooling(before, site.canopy_before_m2, cat, params)
    ca = site_cooling(after, site.canopy_after_m2, cat, params)
    hm_b, why_b = _hm(cb, site, params)
    hm_a, why_a = _hm(ca, site, params)
    t_b = t_ref + (1.0 - hm_b) * uhi
    t_a = t_ref + (1.0 - hm_a) * uhi
    exposed = None
    if site.exposed_children is not None or site.exposed_elderly is not None:
        exposed = int(site.exposed_children or 0) + int(site.exposed_elderly or 0)
    step1 = {"cc_before": cb["cc"], "hm_before": hm_b, "hm_basis_before": why_b, "t_air_before": t_b,
             "canopy_share_before": cb["canopy_share"], "green_m2_before": cb["green_m2"],
             "shade_before": cb["shade"], "albedo_before": cb["albedo"], "eti_before": cb["eti"],
             "t_ref_c": t_ref, "uhi_max_c": uhi, "sensitive_use": site.sensitive_use,
             "exposed_children": site.exposed_children, "exposed_elderly": site.exposed_elderly,
             "exposed_sensitive": exposed, "under12_share_comune": site.under12_share,
             "exposure_note": ("anziani (65+) per comune non disponibili nella base di conoscenza: "
                               "inserire il dato se noto") if site.exposed_elderly is None else ""}
    nbs_rows = []
    areas_before = {}
    for s in before:
        areas_before[s.nbs_id] = areas_before.get(s.nbs_id, 0.0) + s.area_m2
    for s in after:
        n = cat[s.nbs_id]
        added = max(0.0, s.area_m2 - areas_before.get(s.nbs_id, 0.0))
        if n.kind == "nbs" and added > 0:
            nbs_rows.append({"nbs_id": n.nbs_id, "name_it": n.name_it, "area_m2": added, "shade": n.value("shade"),
                             "albedo": n.value("albedo"), "kc": n.value("kc"),
                             "cost_eur": added * n.value("cost_eur_m2"), "upkeep_eur_yr": added * n.value("upkeep_eur_m2_yr")})
    new_canopy = max(0.0, site.canopy_after_m2 - site.canopy_before_m2)
    tree = cat["street_trees"]
    step2 = {"nbs": nbs_rows, "new_canopy_m2": new_canopy,
             "cost_eur": sum(r["cost_eur"] for r in nbs_rows) + new_canopy * tree.value("cost_eur_m2"),
             "upkeep_eur_yr": sum(r["upkeep_eur_yr"] for r in nbs_rows) + new_canopy * tree.value("upkeep_eur_m2_yr")}
    reduction = t_b - t_a
    # canopy needed on top of the "after" design to reach the target from the "before" state
    missing_c = max(0.0, target - reduction)
    w_s = params["ucm.cc_weight_shade"]
    canopy_needed = missing_c / (uhi * w_s) * S
    feasible = canopy_needed <= ca["unshaded_m2"] + 1e-6
    # alternative: de-sealing asphalt to lawn (albedo and Kc change), area needed
    d_cc = (params["ucm.cc_weight_albedo"] * (cat["desealing"].value("albedo") - cat["asphalt"].value("albedo"))
            + params["ucm.cc_weight_eti"] * (cat["desealing"].value("kc") - cat["asphalt"].value("kc")))
    desealing_needed = missing_c / (uhi * d_cc) * S if d_cc > 0 else float("inf")
    step3 = {"cc_after": ca["cc"], "hm_after": hm_a, "hm_basis_after": why_a, "t_air_after": t_a,
             "reduction_c": reduction, "target_reduction_c": target,
             "canopy_share_after": ca["canopy_share"], "green_m2_after": ca["green_m2"],
             "shade_after": ca["shade"], "albedo_after": ca["albedo"], "eti_after": ca["eti"],
             "canopy_for_target_total_m2": max(0.0, target / (uhi * w_s) * S),
             "extra_canopy_needed_m2": canopy_needed, "extra_canopy_feasible": feasible,
             "extra_desealing_needed_m2": desealing_needed}
    def it(x, d=2):   # Italian number format
        return f"{x:,.{d}f}".replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")

    verdict = {"target_met": reduction >= target - 1e-9,
               "text_it": (f"Riduzione stimata {it(reduction)} °C: obiettivo di {it(target)} °C raggiunto"
                           if reduction >= target - 1e-9 else
                           f"Riduzione stimata {it(reduction)} °C: per l'obiettivo di {it(target)} °C servono "
                           f"altri {it(canopy_needed, 0)} m² di chioma")}
    from .monitoring import heat_indicators
    keys = ["ucm.cc_weight_shade", "ucm.cc_weight_albedo", "ucm.cc_weight_eti", "ucm.green_area_min_ha",
            "ucm.t_ref_c", "ucm.uhi_max_c", "verdict.heat_target_reduction_c"]
    used = [{"key": k, "value": params.param(k).value, "unit": params.param(k).unit,
             "source": params.param(k).source, "status": params.param(k).status} for k in keys]
    return {"sheet": "heat", "site": {"name": site.name, "istat_code": site.istat_code,
                                      "municipality": site.municipality, "site_area_m2": S},
            "step1": step1, "step2": step2, "step3": step3, "verdict": verdict,
            "indicators": heat_indicators(step1, step2, step3), "params_used": used}
