"""Knowledge-base glue: read a comune's context for the sheets, write results back.

Reads ``municipalities``, ``hydraulic_criticality`` and ``hazard``; writes
``nbs_sheets`` (one row per evaluated sheet, key ``sheet_id``) and ``nbs_raster_results``
(zonal statistics of raster runs per comune, key ``result_id``), each write a new version.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from .hydrology import LSPP

__all__ = ["site_context", "save_sheet", "save_raster_results", "ContextError"]

SHEETS_LAYER = "nbs_sheets"
RASTER_LAYER = "nbs_raster_results"


class ContextError(LookupError):
    pass


def _nan_to_none(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def site_context(kb, istat_code: str, lspp_override: dict[str, float] | None = None) -> dict[str, Any]:
    """Everything the sheets need about a comune, from the knowledge base."""
    code = str(istat_code).zfill(6)
    mun = kb.read_layer("municipalities")
    row = mun[mun["istat_code"] == code]
    if row.empty:
        raise ContextError(f"comune {code!r} not in the knowledge-base layer 'municipalities'")
    m = row.iloc[0]
    ctx: dict[str, Any] = {"istat_code": code, "municipality": m["name"], "area_km2": float(m["area_km2"]),
                           "residents": _nan_to_none(m.get("residents_anpr_2025")),
                           "under12_share": None, "criticality_class": None, "lspp": None,
                           "lspp_missing": [], "hazard": None, "notes": []}
    if _nan_to_none(m.get("under12_istat_2021")) and _nan_to_none(m.get("residents_istat_2021")):
        ctx["under12_share"] = float(m["under12_istat_2021"]) / float(m["residents_istat_2021"])
    if kb.has_layer("hydraulic_criticality"):
        hc = kb.read_layer("hydraulic_criticality")
        r = hc[hc["istat_code"] == code]
        if not r.empty:
            r = r.iloc[0]
            ctx["criticality_class"] = r.get("criticality_class", r.get("class"))
            vals = {k: _nan_to_none(r.get(k)) for k in ("a1", "n", "alpha", "kappa", "epsilon")}
            vals.update({k: v for k, v in (lspp_override or {}).items() if v is not None})
            ctx["lspp_values"] = vals
            ctx["lspp_missing"] = [k for k, v in vals.items() if v is None]
            if not ctx["lspp_missing"]:
                ctx["lspp"] = LSPP(**{k: float(v) for k, v in vals.items()})
            else:
                ctx["notes"].append("parametri LSPP mancanti nella tabella hydraulic_criticality (imputati nella "
                                    f"fonte e rimossi): {', '.join(ctx['lspp_missing'])}; inserirli a mano")
            ctx["notes"].append("classe di criticità e LSPP: trascrizione di terzi (Cesco1997), "
                                "non verificata sull'Allegato C del R.R. 7/2017")
    else:
        ctx["notes"].append("tabella hydraulic_criticality assente nella base di conoscenza")
    if kb.has_layer("hazard"):
        hz = kb.read_layer("hazard")
        r = hz[hz["istat_code"] == code]
        if not r.empty:
            ctx["hazard"] = {k: _nan_to_none(v) for k, v in r.iloc[0].to_dict().items()}
    return ctx


def _upsert(kb, layer: str, key: str, new_rows: pd.DataFrame, meta, loaded_by: str):
    if kb.has_layer(layer):
        old = pd.DataFrame(kb.read_layer(layer))
        old = old[~old[key].isin(new_rows[key])]
        data = pd.concat([old, new_rows], ignore_index=True)
    else:
        data = new_rows
    return kb.write_layer(layer, data.reset_index(drop=True), meta, key=key, loaded_by=loaded_by)


def save_sheet(kb, result: dict, sheet_id: str | None = None):
    """Write one evaluated sheet into ``nbs_sheets`` (replacing the row with the same id)."""
    from sttm.knowledge import LayerMeta

    site = result["site"]
    sid = sheet_id or f"{result['sheet']}:{site.get('istat_code') or 'na'}:{site['name']}"
    s3 = result["step3"]
    if result["sheet"] == "flood":
        q = {"required_m3": s3["invariance"]["required_m3"], "provided_m3": s3["provided_m3"],
             "runoff_before_m3": s3["runoff_cn_before_m3"], "runoff_after_m3": s3["runoff_cn_net_after_m3"],
             "rie_before": s3["rie_before"], "rie_after": s3["rie_after"], "met": result["verdict"]["invariance_met"]}
    else:
        q = {"t_air_before_c": result["step1"]["t_air_before"], "t_air_after_c": s3["t_air_after"],
             "hm_before": result["step1"]["hm_before"], "hm_after": s3["hm_after"],
             "met": result["verdict"]["target_met"]}
    row = {"sheet_id": sid, "sheet": result["sheet"], "site_name": site["name"], "istat_code": site.get("istat_code"),
           "site_area_m2": float(site["site_area_m2"]), "verdict_it": result["verdict"]["text_it"],
           "target_met": bool(q.pop("met")),
           "quantities_json": json.dumps(q), "result_json": json.dumps(result, default=str),
           "computed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    meta = LayerMeta(title="Schede norma STTM 1 valutate",
                     description="Esiti delle schede norma (alluvioni e siccità; isola di calore) per intervento",
                     source="sttm.sustainability", licence="CC BY 4.0", vintage=row["computed_at"][:10])
    return _upsert(kb, SHEETS_LAYER, "sheet_id", pd.DataFrame([row]), meta, "sttm nbs")


def zonal_by_municipality(kb, grid, arrays: dict[str, np.ndarray], stats: dict[str, str]) -> pd.DataFrame:
    """Mean/sum of ``arrays`` per comune of the KB that the grid covers."""
    from rasterio.features import rasterize

    mun = kb.read_layer("municipalities")
    if grid.crs is not None and mun.crs is not None and mun.crs != grid.crs:
        mun = mun.to_crs(grid.crs)
    mun = mun.reset_index(drop=True)
    shapes = ((geom, i + 1) for i, geom in enumerate(mun.geometry))
    zones = rasterize(shapes, out_shape=grid.data.shape, transform=grid.transform, fill=0, dtype="int32")
    rows = []
    for z in np.unique(zones):
        if z == 0:
            continue
        mask = zones == z
        rec = {"istat_code": mun.loc[z - 1, "istat_code"], "municipality": mun.loc[z - 1, "name"],
               "cells": int(mask.sum())}
        for name, how in stats.items():
            v = arrays[name][mask]
            v = v[~np.isnan(v)]
            rec[f"{name}_{how}"] = float(v.sum() if how == "sum" else v.mean()) if v.size else None
        rows.append(rec)
    return pd.DataFrame(rows)


def save_raster_results(kb, run_id: str, model: str, table: pd.DataFrame, inputs: dict):
    from sttm.knowledge import LayerMeta

    if table.empty:
        raise ContextError("the raster does not overlap any comune of the knowledge base: nothing to write")
    t = table.copy()
    t.insert(0, "result_id", [f"{run_id}:{c}" for c in t["istat_code"]])
    t.insert(1, "run_id", run_id)
    t.insert(2, "model", model)
    for col in ("runoff_m3_sum", "retention_m3_sum", "q_mm_mean", "cc_mean", "hm_mean", "t_air_mean"):
        if col not in t.columns:
            t[col] = np.nan   # one schema for both models: QGIS-friendly columns, NULL where n/a
    t["inputs_json"] = json.dumps(inputs, default=str)
    t["computed_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    meta = LayerMeta(title="Risultati raster STTM 1 per comune",
                     description="Statistiche per comune dei modelli raster (deflusso SCS-CN, raffrescamento urbano)",
                     source="sttm.sustainability.raster", licence="CC BY 4.0", vintage=t["computed_at"].iloc[0][:10])
    return _upsert(kb, RASTER_LAYER, "result_id", t, meta, "sttm nbs raster")


MUNICIPAL_LAYER = "nbs_flood_context"


def flood_context_by_municipality(kb, params=None):
    """Per comune: criticality class, LSPP, the rainfall-curve invariance volume per impervious
    hectare (T from params, u_lim of the class), the minimum volume, the governing requirement,
    and the ISPRA flood-hazard class — the place-knowledge of sheet 1 as a map layer."""
    import geopandas as gpd

    from .flood import hazard_class
    from .hydrology import HydrologyError, rainfall_curve_volume
    from .params import load_params

    params = params or load_params()
    T = params["invariance.return_period_years"]
    mun = kb.read_layer("municipalities")[["istat_code", "name", "area_km2", "geometry"]]
    hc = kb.read_layer("hydraulic_criticality") if kb.has_layer("hydraulic_criticality") else pd.DataFrame()
    hz = kb.read_layer("hazard") if kb.has_layer("hazard") else pd.DataFrame()
    hc = hc.set_index("istat_code") if len(hc) else hc
    hz = hz.set_index("istat_code") if len(hz) else hz
    rows = []
    for _, m in mun.iterrows():
        code = m["istat_code"]
        rec = {"istat_code": code, "name": m["name"], "criticality_class": None, "ulim_l_s_ha": None,
               "lspp_complete": False, "lspp_missing": None, "h_1h_mm": None, "critical_duration_h": None,
               "rainfall_curve_m3_ha": None, "min_volume_m3_ha": None, "min_volume_status": None,
               "required_m3_ha": None, "flood_hazard_class": "non disponibile", "flood_share_high": None,
               "flood_share_medium": None, "flood_pop_high": None}
        if len(hc) and code in hc.index:
            r = hc.loc[code]
            crit = r.get("criticality_class", r.get("class"))
            rec["criticality_class"] = crit
            if crit in ("A", "B", "C"):
                rec["ulim_l_s_ha"] = params[f"invariance.ulim_l_s_ha.{crit}"]
                rec["min_volume_m3_ha"] = params[f"invariance.min_volume_m3_ha.{crit}"]
                rec["min_volume_status"] = params.param(f"invariance.min_volume_m3_ha.{crit}").status
            vals = {k: _nan_to_none(r.get(k)) for k in ("a1", "n", "alpha", "kappa", "epsilon")}
            missing = [k for k, v in vals.items() if v is None]
            rec["lspp_missing"] = ",".join(missing) or None
            if not missing and crit in ("A", "B", "C"):
                try:
                    lspp = LSPP(**{k: float(v) for k, v in vals.items()})
                    inv = rainfall_curve_volume(10_000, 1.0, lspp, T, rec["ulim_l_s_ha"])
                    rec.update(lspp_complete=True, h_1h_mm=lspp.depth_mm(1.0, T),
                               critical_duration_h=inv.critical_duration_h,
                               rainfall_curve_m3_ha=inv.volume_m3_per_ha_imp,
                               required_m3_ha=(max(inv.volume_m3_per_ha_imp, rec["min_volume_m3_ha"])
                                               if params["invariance.use_greater_of_min_and_computed"]
                                               else inv.volume_m3_per_ha_imp))
                except HydrologyError as exc:
                    rec["lspp_missing"] = f"non valido: {exc}"
        if len(hz) and code in hz.index:
            h = hazard_class({k: _nan_to_none(v) for k, v in hz.loc[code].to_dict().items()},
                             float(m["area_km2"]), params)
            rec.update(flood_hazard_class=h["class"], flood_share_high=h["share_high"],
                       flood_share_medium=h["share_medium"], flood_pop_high=h["pop_high"])
        rows.append(rec)
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=list(mun.geometry), crs=mun.crs)


def save_flood_context(kb, gdf):
    from sttm.knowledge import LayerMeta

    meta = LayerMeta(title="STTM 1 — contesto idraulico per comune",
                     description="Classe di criticità (R.R. 7/2017), LSPP ARPA, volume di invarianza per ettaro "
                                 "impermeabile (metodo delle sole piogge e volume minimo), pericolosità ISPRA",
                     source="sttm.sustainability su hydraulic_criticality (trascrizione di terzi) e hazard (ISPRA PIR)",
                     licence="CC BY 4.0", vintage=dt.date.today().isoformat())
    return kb.write_layer(MUNICIPAL_LAYER, gdf, meta, key="istat_code", loaded_by="sttm nbs context")
