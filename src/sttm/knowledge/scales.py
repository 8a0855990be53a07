"""Dynamic maps at the three scales of the PTM: comune, zona omogenea, metropolitan.

Any layer of the knowledge base (points, lines, polygons or a table keyed by ISTAT code) is
summarised per comune — count, sums of numeric columns, and rates per 1,000 residents — and then
rolled up to zones and to CMM as a whole. Because it reads the layer's current (or any past)
version, the same map can be drawn for any date the knowledge base has kept.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InputError
from ..reports.render import it_number
from .store import KnowledgeBase

SCALES = ("comune", "zona", "cmm")
PALETTE = ["#f2f7fc", "#cfe0f3", "#9dc2e6", "#5d9bd6", "#2b73c2", "#0b4f9c"]  # light → dark blue


def per_municipality(kb: KnowledgeBase, layer: str, *, value: str | None = None, version: int | None = None,
                     where: dict | None = None) -> gpd.GeoDataFrame:
    """The comuni of CMM with ``count`` (features of ``layer`` in each), ``value_sum`` (sum of the
    numeric column ``value``, if given) and ``per_1000`` (count per 1,000 ANPR residents)."""
    mun = kb.read_layer("municipalities")
    data = kb.read_layer(layer, version=version)
    for col, wanted in (where or {}).items():
        if col not in data.columns:
            raise InputError(layer, "no such column", field=col)
        data = data[data[col] == wanted]
    if value is not None and value not in data.columns:
        raise InputError(layer, f"no such column (columns: {', '.join(map(str, data.columns))})", field=value)
    if value is not None and not pd.api.types.is_numeric_dtype(data[value]):
        raise InputError(layer, "not a numeric column", field=value)
    if "istat_code" in data.columns and data["istat_code"].notna().any():
        codes = data["istat_code"]
    elif isinstance(data, gpd.GeoDataFrame):
        # polygons and lines are counted where their representative point falls
        pts = gpd.GeoDataFrame(geometry=shapely.point_on_surface(data.geometry.to_numpy()), crs=data.crs,
                               index=data.index)
        j = gpd.sjoin(pts, mun[["istat_code", "geometry"]], how="left", predicate="within")
        codes = j.loc[~j.index.duplicated(), "istat_code"]
    else:
        raise InputError(layer, "has neither an istat_code column nor geometry: it cannot be mapped by comune")
    frame = pd.DataFrame({"istat_code": codes.to_numpy()})
    if value is not None:
        frame["value"] = pd.to_numeric(data[value], errors="coerce").to_numpy(dtype=float)
    g = frame.groupby("istat_code")
    out = mun[["istat_code", "name", "zone", "residents_anpr_2025", "geometry"]].copy()
    out["count"] = out["istat_code"].map(g.size()).fillna(0).astype(int)
    if value is not None:
        out["value_sum"] = out["istat_code"].map(g["value"].sum()).fillna(0.0)
    out["per_1000"] = 1000 * out["count"] / out["residents_anpr_2025"]
    return out


def at_scale(per_mun: gpd.GeoDataFrame, scale: str) -> gpd.GeoDataFrame:
    """Roll a per-comune table up to ``scale`` ('comune' | 'zona' | 'cmm'). Comuni with no known
    zone are kept together as 'non assegnata' rather than guessed."""
    if scale not in SCALES:
        raise InputError("scale", f"must be one of {', '.join(SCALES)}, not {scale!r}")
    if scale == "comune":
        return per_mun.rename(columns={"name": "unit"}).assign(unit_id=per_mun["istat_code"])
    key = per_mun["zone"].fillna("non assegnata") if scale == "zona" else pd.Series("CMM", index=per_mun.index)
    numeric = [c for c in ("count", "value_sum", "residents_anpr_2025") if c in per_mun.columns]
    g = per_mun.assign(unit=key).dissolve(by="unit", aggfunc={c: "sum" for c in numeric}).reset_index()
    g["per_1000"] = 1000 * g["count"] / g["residents_anpr_2025"]
    g["unit_id"] = g["unit"]
    return g


def classify(values: np.ndarray, k: int = 5) -> tuple[np.ndarray, list[float]]:
    """Quantile classes (mapclassify), robust to ties and to few units."""
    import mapclassify
    v = np.asarray(values, dtype=float)
    if len(np.unique(v)) <= 1:
        return np.zeros(len(v), dtype=int), [float(v.max()) if len(v) else 0.0]
    k = min(k, len(np.unique(v)))
    q = mapclassify.Quantiles(v, k=k)
    return q.yb, [float(b) for b in q.bins]


def choropleth_svg(table: gpd.GeoDataFrame, column: str, title: str, width: int = 700, height: int = 560) -> str:
    from ..reports import MapLayer, svg_map
    classes, bins = classify(table[column].to_numpy())
    # spread the classes over the whole ramp: the top class is always the darkest shade
    ramp = PALETTE[1:]
    shades = [ramp[int(round(i))] for i in np.linspace(0, len(ramp) - 1, len(bins))] if len(bins) > 1 else [ramp[-1]]
    t = table.assign(_fill=[shades[c] for c in classes])
    layers = [MapLayer(t, "", fill="#ffffff", stroke="#5c6f82", stroke_width=0.5, fill_column="_fill")]
    lo = float(table[column].min())
    for i, b in enumerate(bins):
        layers.append(MapLayer(t.iloc[0:0], f"{it_number(lo, 1)} – {it_number(b, 1)}", fill=shades[i],
                               stroke="#5c6f82"))
        lo = b
    return svg_map(layers, width=width, height=height + 16 * len(bins), title=title)
