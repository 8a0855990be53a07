"""Loaders: one public file (or a few) → one tidy table in EPSG:32632.

Each loader knows the quirks of its source (zero-padded or not ISTAT codes, comma decimals,
GeoJSON without a CRS member meaning WGS84) and nothing else: joining and modelling the territory
is `sttm.territory`'s job. Problems are raised as `InputError` naming file, field and row.
"""
from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from .. import ANALYSIS_EPSG
from ..errors import InputError


# ---------------------------------------------------------------- generic readers
def read_vector(path: Path, *, default_crs: str | None = "EPSG:4326", layer: str | None = None) -> gpd.GeoDataFrame:
    """Any OGR vector file; GeoJSON without a CRS member is WGS84 (RFC 7946). Other formats must
    declare a CRS (a shapefile without .prj, a CSV…): we refuse to guess."""
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, …
        raise InputError(str(path), f"cannot be read as a vector file ({exc})") from exc
    if gdf.crs is None:
        if default_crs is None or Path(path).suffix.lower() not in (".geojson", ".json"):
            raise InputError(str(path), "the file declares no coordinate reference system (CRS); "
                                        "add one (e.g. a .prj for a shapefile) or state it when importing")
        gdf = gdf.set_crs(default_crs)
    return gdf.to_crs(ANALYSIS_EPSG)


def geojson(paths: list[Path]) -> gpd.GeoDataFrame:
    return pd.concat([read_vector(p) for p in paths], ignore_index=True)


def csv(paths: list[Path]) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths], ignore_index=True)


def raw(paths: list[Path]) -> list[Path]:
    """Files used as they are (e.g. OSM XML read by the network importer)."""
    return paths


def istat_code(value, source: str, field: str, row: int) -> str:
    """Normalise an ISTAT municipal code to its 6-character zero-padded form ('15146' → '015146')."""
    s = str(value).strip()
    if s.endswith(".0"):
        s = s[:-2]
    s = s.replace(".", "")
    if not s.isdigit() or not 4 <= len(s) <= 6:
        raise InputError(source, f"not an ISTAT municipal code: {value!r}", field=field, row=row)
    return s.zfill(6)


def _int_column(df: pd.DataFrame, col: str, source: str) -> pd.Series:
    if col not in df.columns:
        raise InputError(source, f"missing column (columns: {', '.join(df.columns)})", field=col)
    out = pd.to_numeric(df[col], errors="coerce")
    bad = out.isna() | (out < 0) | (out != out.round())
    if bad.any():
        pos = int(np.argmax(bad.to_numpy()))
        raise InputError(source, f"not a non-negative integer: {df[col].iloc[pos]!r}", field=col, row=pos + 2)
    return out.astype("int64")


def _codes(df: pd.DataFrame, col: str, source: str) -> list[str]:
    if col not in df.columns:
        raise InputError(source, f"missing column (columns: {', '.join(map(str, df.columns))})", field=col)
    return [istat_code(v, source, col, i + 2) for i, v in enumerate(df[col])]


# ---------------------------------------------------------------- territory
def municipal_limits(paths: list[Path]) -> gpd.GeoDataFrame:
    frames = []
    for p in paths:
        g = read_vector(p)
        frames.append(gpd.GeoDataFrame({
            "istat_code": _codes(g, "com_istat_code", str(p)),
            "name": g["name"].astype(str),
            "cadastral_code": g["com_catasto_code"].astype(str),
            "province": g["prov_acr"].astype(str),
        }, geometry=shapely.make_valid(g.geometry.to_numpy()), crs=ANALYSIS_EPSG))
    return pd.concat(frames, ignore_index=True)


def anpr_residents(paths: list[Path]) -> pd.DataFrame:
    src = str(paths[0])
    df = pd.read_csv(paths[0], dtype=str, keep_default_na=False)
    return pd.DataFrame({"istat_code": _codes(df, "COD_ISTAT_COMUNE", src),
                         "residents_anpr_2025": _int_column(df, "RESIDENTI", src)})


def istat_under12(paths: list[Path]) -> pd.DataFrame:
    src = str(paths[0])
    df = pd.read_csv(paths[0], dtype=str, keep_default_na=False)
    return pd.DataFrame({"istat_code": _codes(df, "pro_com_t", src),
                         "under12_istat_2021": _int_column(df, "<12", src),
                         "residents_istat_2021": _int_column(df, "totale", src)})


def zone_membership(paths: list[Path]) -> pd.DataFrame:
    """A membership table ``com_istat_code, zona_omogenea`` (the staged one, or a user's CSV)."""
    src = str(paths[0])
    df = pd.read_csv(paths[0], dtype=str, keep_default_na=False)
    codes = _codes(df, "com_istat_code", src)
    if "zona_omogenea" not in df.columns:
        raise InputError(src, "missing column", field="zona_omogenea")
    zones = df["zona_omogenea"].str.strip()
    empty = (zones == "").to_numpy()
    if empty.any():
        raise InputError(src, "empty zone name", field="zona_omogenea", row=int(np.argmax(empty)) + 2)
    out = pd.DataFrame({"istat_code": codes, "zone": zones})
    dup = out["istat_code"].duplicated().to_numpy()
    if dup.any():
        pos = int(np.argmax(dup))
        raise InputError(src, f"comune {codes[pos]} listed twice", field="com_istat_code", row=pos + 2)
    return out


# ---------------------------------------------------------------- stations
def rail_stations(paths: list[Path]) -> gpd.GeoDataFrame:
    g = read_vector(paths[0])
    return gpd.GeoDataFrame({
        "source_id": "viaggiatreno:" + g["codiceStazione"].astype(str),
        "name": g["nomeLungo"].astype(str),
        "mode": "rail",
        "lines": None,
        "operator": None,
    }, geometry=g.geometry, crs=ANALYSIS_EPSG)


def rail_stations_milano(paths: list[Path]) -> gpd.GeoDataFrame:
    g = read_vector(paths[0])
    return gpd.GeoDataFrame({"source_id": "ds80:" + g["ID"].astype(str), "name": g["nome"].astype(str),
                             "operator": g["gestore"].astype(str)}, geometry=g.geometry, crs=ANALYSIS_EPSG)


def metro_stations(paths: list[Path]) -> gpd.GeoDataFrame:
    g = read_vector(paths[0])
    lines = g["linee"].astype(str).map(lambda s: ",".join("M" + x.strip() for x in s.split(",") if x.strip()))
    return gpd.GeoDataFrame({"source_id": "atm:" + g["id_amat"].astype(str), "name": g["nome"].astype(str),
                             "mode": "metro", "lines": lines, "operator": "ATM"},
                            geometry=g.geometry, crs=ANALYSIS_EPSG)


# ---------------------------------------------------------------- services
def _service_frame(g, *, ids, category, subcategory, name, capacity, istat, source) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"service_id": ids, "category": category, "subcategory": subcategory, "name": name,
                             "capacity": capacity, "istat_code": istat, "source": source},
                            geometry=g.geometry.to_numpy(), crs=ANALYSIS_EPSG)


def schools(paths: list[Path]) -> gpd.GeoDataFrame:
    g = read_vector(paths[0])
    level = g["MACROTIPOLOGIA_SEDE"].map({
        "Scuola dell'Infanzia": "infanzia", "Istituto Istruzione Primario": "primaria",
        "Istituto Istruzione Secondario Primo grado": "secondaria_1", "Istituto Istruzione Secondario Secondo grado":
        "secondaria_2", "Cfp": "cfp", "Ctp": "ctp"}).fillna("altro")
    pupils = pd.to_numeric(g["ALLIEVI_SEDE"], errors="coerce").astype("Int64")
    return _service_frame(g, ids="school:" + g["COD_MECCANOGRAFICO_SEDE"].astype(str), category="school",
                          subcategory=level, name=g["DENOM_SEDE"].astype(str), capacity=pupils,
                          istat=g["comune_istat_code"], source="schools_rl")


def hospitals(paths: list[Path]) -> gpd.GeoDataFrame:
    g = read_vector(paths[0])
    return _service_frame(g, ids="hospital:" + g["codice_struttura"].astype(str), category="hospital",
                          subcategory="ricovero", name=g["descrizione"].astype(str),
                          capacity=pd.array([pd.NA] * len(g), dtype="Int64"), istat=g["comune_istat_code"],
                          source="hospitals_rl")


def pharmacies(paths: list[Path]) -> gpd.GeoDataFrame:
    g = read_vector(paths[0])
    return _service_frame(g, ids="pharmacy:" + g["codice_farmacia"].astype(str), category="pharmacy",
                          subcategory="farmacia", name=g["descrizione"].astype(str),
                          capacity=pd.array([pd.NA] * len(g), dtype="Int64"), istat=g["comune_istat_code"],
                          source="pharmacies_rl")


def sports_facilities(paths: list[Path]) -> gpd.GeoDataFrame:
    g = read_vector(paths[0])
    # ds629 has no stable id: the position in the file, with address, is what identifies a record
    ids = [f"sport:ds629:{i}" for i in range(len(g))]
    name = (g["SPECIFICA_LOCALITA"].fillna("Impianto sportivo").astype(str) + " — " + g["VIA"].fillna("").astype(str))
    return _service_frame(g, ids=ids, category="sport", subcategory=g["Tipo"].fillna("altro").astype(str),
                          name=name, capacity=pd.array([pd.NA] * len(g), dtype="Int64"), istat=None,
                          source="sports_milano_ds629")


def pools(paths: list[Path]) -> gpd.GeoDataFrame:
    g = read_vector(paths[0])
    return _service_frame(g, ids="sport:ds32:" + g["OBJECTID"].astype(str), category="sport",
                          subcategory="piscina", name=g["DENOMINAZIONE"].astype(str),
                          capacity=pd.array([pd.NA] * len(g), dtype="Int64"), istat=None, source="pools_milano_ds32")


# ---------------------------------------------------------------- hazard and hydraulics
_ISPRA_RENAME = {
    "area_id_H": "flood_area_high_km2", "area_id_M": "flood_area_medium_km2", "area_id_L": "flood_area_low_km2",
    "area_id_H_p": "flood_area_high_pct", "area_id_M_p": "flood_area_medium_pct", "area_id_L_p": "flood_area_low_pct",
    "pop_id_H": "flood_pop_high", "pop_id_M": "flood_pop_medium", "pop_id_L": "flood_pop_low",
    "pop_id_H_p": "flood_pop_high_pct", "pop_id_M_p": "flood_pop_medium_pct", "pop_id_L_p": "flood_pop_low_pct",
    "edf_id_H": "flood_buildings_high", "edf_id_M": "flood_buildings_medium", "edf_id_L": "flood_buildings_low",
    "pop": "pop_ispra_2020",
}


def ispra_hazard(paths: list[Path]) -> pd.DataFrame:
    src = str(paths[0])
    df = pd.read_csv(paths[0], dtype={"com_istat_code": str})
    out = pd.DataFrame({"istat_code": _codes(df, "com_istat_code", src)})
    for col, new in _ISPRA_RENAME.items():
        out[new] = pd.to_numeric(df[col], errors="coerce")
    # landslide hazard: P4 very high … P1 moderate, AA attention areas (area km², population)
    for lvl in ("P4", "P3", "P2", "P1", "AA"):
        for col, new in ((f"area_fr_{lvl}", f"landslide_area_{lvl.lower()}_km2"),
                         (f"pop_fr_{lvl}", f"landslide_pop_{lvl.lower()}")):
            if col in df.columns:
                out[new] = pd.to_numeric(df[col], errors="coerce")
    return out


def hydraulic_criticality(paths: list[Path]) -> pd.DataFrame:
    src = str(paths[0])
    df = pd.read_csv(paths[0], dtype=str, keep_default_na=False)
    out = pd.DataFrame({"istat_code": _codes(df, "com_istat_code", src),
                        "criticality_class": df["criticita_idraulica"].str.strip()})
    bad = ~out["criticality_class"].isin(["A", "B", "C"])
    if bad.any():
        pos = int(np.argmax(bad.to_numpy()))
        raise InputError(src, f"criticality class must be A, B or C, not {out['criticality_class'].iloc[pos]!r}",
                         field="criticita_idraulica", row=pos + 2)
    for col in ("a1", "n", "alpha", "kappa", "epsilon"):
        out[col] = pd.to_numeric(df[col].replace("", np.nan), errors="coerce")
    out["lspp_imputed_in_source"] = df["lspp_imputed_in_source"].replace("", None)
    return out


def read_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
