"""The NBS catalogue as data: ``data/nbs_types.csv`` (what each solution is) and
``data/nbs_parameters.csv`` (long format: one row per parameter value with unit, source, status).
``sealed`` marks sealed surfaces (impermeabilizzate: asphalt, concrete, roofs, cool paving, fountain
basins), the basis of the imperviousness indicator.

>>> cat = load_catalogue()
>>> cat["rain_garden"].value("storage_depth_mm")
300.0
>>> cat["lawn"].cn("B")
61.0
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

__all__ = ["NBS", "Catalogue", "load_catalogue", "CatalogueError", "REQUIRED_PARAMETERS"]

REQUIRED_PARAMETERS = (
    "runoff_coeff", "cn_A", "cn_B", "cn_C", "cn_D", "storage_depth_mm", "infiltration_rate_mm_h",
    "shade", "albedo", "kc", "rie_psi", "cost_eur_m2", "upkeep_eur_m2_yr",
)
_BOUNDS = {
    "runoff_coeff": (0, 1), "shade": (0, 1), "albedo": (0, 1), "kc": (0, 1.5), "rie_psi": (0.01, 1),
    "cn_A": (1, 100), "cn_B": (1, 100), "cn_C": (1, 100), "cn_D": (1, 100),
    "storage_depth_mm": (0, 5000), "infiltration_rate_mm_h": (0, 1000),
    "cost_eur_m2": (0, 10000), "upkeep_eur_m2_yr": (0, 1000),
}


class CatalogueError(ValueError):
    """Catalogue file malformed: message names file, row and field."""


@dataclass(frozen=True)
class NBS:
    nbs_id: str
    kind: str
    name_it: str
    name_en: str
    sheets: tuple[str, ...]
    green_area: bool
    rie_green: bool
    sealed: bool
    description_it: str
    params: dict[str, float] = field(repr=False)
    sources: dict[str, tuple[str, str, str]] = field(repr=False)  # parameter -> (unit, source, status)

    def value(self, parameter: str) -> float:
        try:
            return self.params[parameter]
        except KeyError:
            raise CatalogueError(f"NBS {self.nbs_id!r} has no parameter {parameter!r}") from None

    def cn(self, soil_group: str) -> float:
        g = str(soil_group).upper()
        if g not in "ABCD" or len(g) != 1:
            raise CatalogueError(f"soil group must be one of A, B, C, D (got {soil_group!r})")
        return self.value(f"cn_{g}")


class Catalogue(dict):
    """``nbs_id -> NBS``; also exposes the long table for reports/exports."""

    table: pd.DataFrame

    def nbs(self, kind: str = "nbs") -> list[NBS]:
        return [v for v in self.values() if v.kind == kind]

    def get_or_fail(self, nbs_id: str) -> NBS:
        if nbs_id not in self:
            raise CatalogueError(f"unknown NBS/surface type {nbs_id!r}; known: {', '.join(sorted(self))}")
        return self[nbs_id]


def _read(path_or_res, name: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path_or_res, dtype=str, keep_default_na=False)
    except Exception as exc:  # pragma: no cover - file-level parse error
        raise CatalogueError(f"{name}: cannot be read as CSV ({exc})") from exc


def load_catalogue(types_csv: str | Path | None = None, params_csv: str | Path | None = None) -> Catalogue:
    """Read and validate the catalogue (packaged files unless paths are given)."""
    base = resources.files("sttm.sustainability").joinpath("data")
    tname = str(types_csv or "data/nbs_types.csv")
    pname = str(params_csv or "data/nbs_parameters.csv")
    with (open(types_csv, "rb") if types_csv else base.joinpath("nbs_types.csv").open("rb")) as f:
        types = _read(f, tname)
    with (open(params_csv, "rb") if params_csv else base.joinpath("nbs_parameters.csv").open("rb")) as f:
        long = _read(f, pname)
    for col in ("nbs_id", "kind", "name_it", "green_area", "rie_green"):
        if col not in types.columns:
            raise CatalogueError(f"{tname}: missing column {col!r}")
    for col in ("nbs_id", "parameter", "value", "unit", "source", "status"):
        if col not in long.columns:
            raise CatalogueError(f"{pname}: missing column {col!r}")
    if types["nbs_id"].duplicated().any():
        dup = types.loc[types["nbs_id"].duplicated(), "nbs_id"].tolist()
        raise CatalogueError(f"{tname}: duplicated nbs_id {dup}")
    cat = Catalogue()
    known = set(types["nbs_id"])
    params: dict[str, dict[str, float]] = {k: {} for k in known}
    sources: dict[str, dict[str, tuple[str, str, str]]] = {k: {} for k in known}
    for i, row in long.iterrows():
        line = i + 2
        nid, par = row["nbs_id"], row["parameter"]
        if nid not in known:
            raise CatalogueError(f"{pname} row {line}: nbs_id {nid!r} not in {tname}")
        if par in params[nid]:
            raise CatalogueError(f"{pname} row {line}: parameter {par!r} repeated for {nid!r}")
        try:
            val = float(row["value"])
        except ValueError:
            raise CatalogueError(f"{pname} row {line}: field 'value' = {row['value']!r} is not a number") from None
        lo, hi = _BOUNDS.get(par, (-1e12, 1e12))
        if not lo <= val <= hi:
            raise CatalogueError(f"{pname} row {line}: {nid}.{par} = {val} outside [{lo}, {hi}]")
        if not row["source"].strip():
            raise CatalogueError(f"{pname} row {line}: {nid}.{par} has no source")
        params[nid][par] = val
        sources[nid][par] = (row["unit"], row["source"], row["status"])
    for _, t in types.iterrows():
        nid = t["nbs_id"]
        missing = [p for p in REQUIRED_PARAMETERS if p not in params[nid]]
        if missing:
            raise CatalogueError(f"{pname}: NBS {nid!r} lacks parameters {missing}")
        cat[nid] = NBS(nid, t["kind"], t["name_it"], t.get("name_en", ""), tuple(t["sheets"].split(";")),
                       t["green_area"] == "1", t["rie_green"] == "1", t.get("sealed", "0") == "1",
                       t.get("description_it", ""),
                       params[nid], sources[nid])
    cat.table = long
    return cat
