"""Site description files (TOML or JSON) → sheet inputs, completed from the knowledge base.

A flood site file gives ``name``, ``istat_code`` (criticality class, LSPP and hazard then come from
the knowledge base), ``site_area_m2``, ``soil_group``, the tables ``[surfaces_before]`` and
``[surfaces_after]`` (catalogue id = m²), optionally ``[trees_after]``, ``[lspp]`` overrides,
``criticality_class``, ``design_storm_mm``; see :data:`EXAMPLES` (``sttm nbs example flood``).

A heat site file has the same surfaces plus ``canopy_before_m2``, ``canopy_after_m2`` and
optionally ``t_ref_c``, ``uhi_max_c``, ``target_reduction_c``, ``sensitive_use``,
``exposed_children``, ``exposed_elderly``.
"""
from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from .flood import FloodSite
from .heat import HeatSite
from .hydrology import LSPP
from .surfaces import SiteInputError

__all__ = ["read_site_file", "flood_site", "heat_site", "EXAMPLES"]

FLOOD_KEYS = {"name", "istat_code", "site_area_m2", "soil_group", "criticality_class", "lspp", "surfaces_before",
              "surfaces_after", "trees_before", "trees_after", "design_storm_mm", "count_infiltration", "renovation"}
HEAT_KEYS = {"name", "istat_code", "site_area_m2", "surfaces_before", "surfaces_after", "canopy_before_m2",
             "canopy_after_m2", "t_ref_c", "uhi_max_c", "target_reduction_c", "nearby_green_over_2ha",
             "nearby_park_cc", "sensitive_use", "exposed_children", "exposed_elderly", "soil_group"}


def read_site_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise SiteInputError(f"{path}: cannot read the site file ({exc})") from exc


def _check_keys(d: dict, allowed: set[str], label: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise SiteInputError(f"{label}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    for k in ("name", "site_area_m2", "surfaces_before", "surfaces_after"):
        if k not in d:
            raise SiteInputError(f"{label}: field {k!r} is required")


def flood_site(d: dict, ctx: dict | None = None, label: str = "site") -> tuple[FloodSite, list[str]]:
    _check_keys(d, FLOOD_KEYS, label)
    ctx = ctx or {}
    notes = list(ctx.get("notes", []))
    crit = d.get("criticality_class") or ctx.get("criticality_class")
    if crit is None:
        raise SiteInputError(f"{label}: criticality class unknown: give 'istat_code' (knowledge base) or "
                             "'criticality_class'")
    lspp = ctx.get("lspp")
    if "lspp" in d:
        base = dict(ctx.get("lspp_values") or {})
        base.update(d["lspp"])
        missing = [k for k in ("a1", "n", "alpha", "kappa", "epsilon") if base.get(k) is None]
        if missing:
            raise SiteInputError(f"{label}: [lspp] lacks {missing}")
        lspp = LSPP(**{k: float(base[k]) for k in ("a1", "n", "alpha", "kappa", "epsilon")})
        notes.append("parametri LSPP forniti dall'utente")
    elif lspp is None and ctx.get("lspp_missing"):
        raise SiteInputError(f"{label}: LSPP parameter(s) {ctx['lspp_missing']} of comune {ctx.get('istat_code')} "
                             "are blank in hydraulic_criticality (imputed in the source): add them under [lspp]")
    site = FloodSite(name=d["name"], site_area_m2=float(d["site_area_m2"]), surfaces_before=d["surfaces_before"],
                     surfaces_after=d["surfaces_after"], soil_group=d.get("soil_group", "B"),
                     criticality_class=crit, lspp=lspp, istat_code=ctx.get("istat_code", d.get("istat_code")),
                     municipality=ctx.get("municipality"), hazard=ctx.get("hazard"),
                     municipality_area_km2=ctx.get("area_km2"), trees_before=d.get("trees_before", {}),
                     trees_after=d.get("trees_after", {}), design_storm_mm=d.get("design_storm_mm"),
                     count_infiltration=bool(d.get("count_infiltration", False)),
                     renovation=bool(d.get("renovation", True)))
    if "soil_group" not in d:
        notes.append("gruppo idrologico del suolo non indicato: assunto B")
    return site, notes


def heat_site(d: dict, ctx: dict | None = None, label: str = "site") -> tuple[HeatSite, list[str]]:
    _check_keys(d, HEAT_KEYS, label)
    ctx = ctx or {}
    kw = {k: d[k] for k in HEAT_KEYS - {"soil_group", "istat_code"} if k in d}
    site = HeatSite(**kw, istat_code=ctx.get("istat_code", d.get("istat_code")),
                    municipality=ctx.get("municipality"), under12_share=ctx.get("under12_share"))
    return site, [n for n in ctx.get("notes", []) if "LSPP" not in n and "criticità" not in n]


EXAMPLES = {
    "flood": '''# Scheda 1 — parcheggio di 1 ha de-impermeabilizzato (esempio)
name = "Parcheggio via Esempio"
istat_code = "015146"
site_area_m2 = 10000
soil_group = "B"

[surfaces_before]
asphalt = 10000

[surfaces_after]
asphalt = 4500
permeable_paving = 2500
desealing = 1200
rain_garden = 1500
infiltration_trench = 300

[trees_after]
second = 40
''',
    "heat": '''# Scheda 2 — cortile scolastico rinverdito (esempio)
name = "Cortile scuola primaria"
istat_code = "015146"
site_area_m2 = 5000
canopy_before_m2 = 0
canopy_after_m2 = 1000
t_ref_c = 29.0
uhi_max_c = 4.0
target_reduction_c = 1.0
sensitive_use = "scuola"
exposed_children = 320

[surfaces_before]
asphalt = 4000
lawn = 1000

[surfaces_after]
asphalt = 1500
desealing = 2000
lawn = 1000
cool_pavement = 500
''',
}
