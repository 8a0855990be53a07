"""Loaders: real open data and user files -> raw registry records (validated by the registry).

* :func:`pnrr_records` — Italia Domani validated PNRR projects located in CMM (SOURCES.md §10):
  one record per project (CUP + Codice Locale Progetto), whatever its number of localisations,
  so totals never count a project twice; its comuni are listed in ``istat_codes``.
* :func:`degraded_area_records` — Comune di Milano 2016 degraded / abandoned places (§12),
  CC BY-NC 4.0, as opportunity areas.
* :func:`read_user_file` — bulk import from CSV, GeoJSON or GeoPackage.
"""

from __future__ import annotations

import csv
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from .model import ValidationError

PNRR_FILE = "interventions/pnrr_progetti_validati_cmm_2023-03-01.csv"
DEGRADED_FILE = "regeneration/comune_milano_edifici_aree_degrado_2016.geojson"
DEGRADED_LICENCE = "CC BY-NC 4.0 (scandaglio/molo; dati Comune di Milano 2016) — uso non commerciale"
PNRR_SOURCE = "Italia Domani, progetti PNRR validati, estrazione 2023-03-01"


def data_mirror() -> Path:
    """The local mirror of the open data (``STTM_DATA_MIRROR``; default ../shared/data)."""
    try:  # the foundation's settings, when present
        from sttm.config import data_mirror as _mirror

        found = _mirror()
        if found:
            return Path(found)
    except ImportError:
        pass
    env = os.environ.get("STTM_DATA_MIRROR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def _rule_table(name: str) -> list[dict[str, str]]:
    with resources.files("sttm.remix").joinpath(f"data/{name}").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@lru_cache(maxsize=1)
def funding_columns() -> dict[str, str]:
    return {r["column"]: r["source"] for r in _rule_table("funding_columns.csv")}


@lru_cache(maxsize=1)
def mission_domains() -> dict[str, list[str]]:
    return {r["mission_or_component"]: r["domains"].split(";") for r in _rule_table("domains_by_mission.csv")}


def domains_for(component: str | None, mission: str | None) -> list[str]:
    table = mission_domains()
    for key in (component, mission):
        if key and key in table:
            return table[key]
    return []


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0.0
    return f if f == f else 0.0


def pnrr_records(path: Path | None = None) -> list[dict[str, Any]]:
    """One raw intervention per PNRR project (CUP + CLP) localised in CMM."""
    path = path or data_mirror() / PNRR_FILE
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = {"cup", "codice_locale_progetto", "com_istat_code", "titolo_progetto", "fin_totale", "submisura_code"}
    missing = need - set(df.columns)
    if missing:
        raise ValidationError([f"colonna mancante {m!r}" for m in sorted(missing)], where=str(path))
    cols = funding_columns()
    out: list[dict[str, Any]] = []
    for (cup, clp), g in df.groupby(["cup", "codice_locale_progetto"], sort=True):
        first = g.iloc[0]
        codes = sorted({c for c in g["com_istat_code"] if c})
        province_wide = (g["com_istat_code"] == "").any()
        programme = f"PNRR {first['submisura_code']} — {first['submisura_descr'] or first['misura_descr']}"
        funding = []
        for col, source in cols.items():
            amount = _num(first.get(col))
            if amount > 0:
                funding.append({"source": source, "programme": programme if source == "PNRR" else None, "amount": amount})
        status = "completato" if first["stato_cup"].strip().lower() == "chiuso" else "in_corso"
        rec = {
            "intervention_id": f"PNRR-{cup}-{clp}",
            "title": (first["titolo_progetto"] or first["sintesi_progetto"] or cup).strip(),
            "description": first["sintesi_progetto"] or None,
            # province-wide projects ("TUTTI I COMUNI") belong to the whole CMM: no comune is theirs
            "istat_codes": codes,
            "status": status,
            "domains": domains_for(first.get("componente"), first.get("missione")),
            "total_cost": _num(first["fin_totale"]),
            "cup": cup if len(cup) == 15 else None,
            "programme": programme,
            "implementing_body": first.get("soggetto_attuatore") or None,
            "n_locations_total": int(_num(first.get("n_localizzazioni_totali")) or len(g)),
            "source": PNRR_SOURCE,
            "funding": funding,
            "location_precision": "metropolitan" if province_wide and not codes else "comune",
            "_row": f"{path.name}: CUP {cup}",
        }
        out.append(rec)
    return out


def degraded_area_records(path: Path | None = None) -> list[dict[str, Any]]:
    """Milano 2016 degraded / abandoned buildings and areas as opportunity areas (points)."""
    path = path or data_mirror() / DEGRADED_FILE
    gdf = gpd.read_file(path)
    gdf = gdf.set_crs("EPSG:4326") if gdf.crs is None else gdf
    gdf = gdf.to_crs("EPSG:32632")
    out = []
    for i, r in enumerate(gdf.itertuples(index=False), start=1):
        code = r.cod_prog if isinstance(r.cod_prog, str) and r.cod_prog else None
        typ = r.typology if isinstance(r.typology, str) else ""
        kind = "brownfield" if typ in ("Area libera", "Scalo Ferroviario", "Produttivo") else "degraded_building"
        out.append({
            "area_id": f"MI2016-{code}" if code else f"MI2016-X{i:03d}",
            "name": r.name,
            "kind": kind,
            "istat_code": r.comune_istat_code or "015146",
            "current_use": typ or None,
            "condition": "; ".join(x for x in (r.condition, r.condition_desc) if isinstance(x, str) and x),
            "address": r.address if isinstance(r.address, str) else None,
            "ownership": None,
            "constraints": None,
            "source": "Comune di Milano, monitoraggio edifici e aree in stato di degrado e abbandono (marzo 2016), via scandaglio/molo",
            "licence": DEGRADED_LICENCE,
            "geometry_wkt": r.geometry.wkt,
            "_row": f"{path.name}: elemento {i}",
        })
    # a few cod_prog are duplicated in the source (SOURCES.md: cod_prog_duplicated): disambiguate
    seen: dict[str, int] = {}
    for rec in out:
        n = seen.get(rec["area_id"], 0)
        seen[rec["area_id"]] = n + 1
        if n:
            rec["area_id"] = f"{rec['area_id']}-{n + 1}"
    return out


def read_user_file(path: Path, kind: str) -> list[dict[str, Any]]:
    """Rows of a user CSV / GeoJSON / GeoPackage as raw records of ``kind``
    ('intervention' | 'opportunity'). Geometries are reprojected to EPSG:32632; a CSV may carry
    WKT in ``geometry_wkt`` (EPSG:32632) or ``lon``/``lat`` (WGS84). Funding lines in a CSV:
    columns ``funding_<source>`` with amounts (e.g. ``funding_PNRR``)."""
    path = Path(path)
    if not path.exists():
        raise ValidationError([f"file non trovato: {path}"])
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        if {"lon", "lat"} <= set(df.columns) and "geometry_wkt" not in df.columns:
            try:
                pts = gpd.GeoSeries.from_xy(pd.to_numeric(df["lon"]), pd.to_numeric(df["lat"]), crs="EPSG:4326")
            except ValueError as exc:
                raise ValidationError([f"{path.name}: colonne lon/lat non numeriche ({exc})"]) from exc
            df["geometry_wkt"] = pts.to_crs("EPSG:32632").to_wkt()
        rows = df.to_dict("records")
    elif suffix in (".geojson", ".json", ".gpkg"):
        gdf = gpd.read_file(path)
        if gdf.crs is None:
            if suffix == ".gpkg":
                raise ValidationError([f"{path.name}: sistema di riferimento mancante"])
            gdf = gdf.set_crs("EPSG:4326")
        gdf = gdf.to_crs("EPSG:32632")
        wkts = [g.wkt if g is not None else None for g in gdf.geometry]
        rows = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).to_dict("records")
        for r, w in zip(rows, wkts):
            r["geometry_wkt"] = w
    else:
        raise ValidationError([f"{path.name}: formato non supportato (CSV, GeoJSON, GeoPackage)"])
    out = []
    for i, r in enumerate(rows, start=2 if suffix == ".csv" else 1):
        r = {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
        r["_row"] = f"{path.name} riga {i}"
        if kind == "intervention":
            r["funding"] = [
                {"source": k[len("funding_"):], "amount": v}
                for k, v in r.items() if k.startswith("funding_") and v not in (None, "")
            ]
        out.append(r)
    return out
