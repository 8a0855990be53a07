"""Site surfaces: the footprint partition a norm sheet works on."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from .catalogue import Catalogue, CatalogueError

__all__ = ["Surface", "parse_surfaces", "SiteInputError"]


class SiteInputError(ValueError):
    """Bad site description: the message names the field and the row."""


@dataclass(frozen=True)
class Surface:
    nbs_id: str
    area_m2: float


def parse_surfaces(rows: Iterable[Mapping | tuple] | Mapping[str, float], site_area_m2: float,
                   catalogue: Catalogue, label: str, tol: float = 0.005) -> list[Surface]:
    """Validate a footprint partition: known types, positive areas, sum = site area (±0.5 %)."""
    if isinstance(rows, Mapping):
        rows = list(rows.items())
    out: list[Surface] = []
    for i, r in enumerate(rows, start=1):
        if isinstance(r, Mapping):
            nid, area = r.get("nbs_id") or r.get("type"), r.get("area_m2")
        else:
            nid, area = r
        try:
            catalogue.get_or_fail(str(nid))
        except CatalogueError as exc:
            raise SiteInputError(f"{label} row {i}: field 'type': {exc}") from None
        try:
            area = float(area)
        except (TypeError, ValueError):
            raise SiteInputError(f"{label} row {i}: field 'area_m2' = {area!r} is not a number") from None
        if area < 0:
            raise SiteInputError(f"{label} row {i}: field 'area_m2' = {area} is negative")
        out.append(Surface(str(nid), area))
    total = sum(s.area_m2 for s in out)
    if site_area_m2 <= 0:
        raise SiteInputError("site area must be > 0 m²")
    if abs(total - site_area_m2) > tol * site_area_m2:
        raise SiteInputError(f"{label}: surfaces add up to {total:.1f} m² but the site is {site_area_m2:.1f} m² "
                             "(the surfaces must partition the site footprint)")
    return out
