"""The planning proposal (act + forecasts + measures) and its validation.

A proposal is read from JSON/GeoJSON (see :func:`parse_proposal`); every problem is reported as
a :class:`ProposalError` naming the field (``forecasts[1].floor_area_m2``) so that nothing is
recorded until the whole input is valid.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import shapely
from pyproj import Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

ANALYSIS_CRS = "EPSG:32632"

ACT_KINDS = {
    "PGT": "Piano di Governo del Territorio",
    "PGT_variant": "Variante parziale al PGT",
    "SUAP": "SUAP in variante",
    "PII": "Programma Integrato di Intervento",
    "PA": "Piano Attuativo non conforme",
    "OOPP": "Opera pubblica non conforme",
}
LAND_COVERS = ("agricultural", "grassland", "forest", "wetland", "urban_green", "bare", "urbanized")
MEASURE_KINDS = ("mitigation", "compensation")


class ProposalError(ValueError):
    """Invalid proposal input. ``field`` names the offending field (dotted path)."""

    def __init__(self, field: str, message: str, source: str | None = None):
        self.field = field
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{field}: {message}")


@dataclass
class Forecast:
    forecast_id: str
    function: str
    geometry: BaseGeometry              # EPSG:32632
    floor_area_m2: float
    land_take_free_soil_m2: float = 0.0
    new_impervious_m2: float = 0.0
    former_cover: str = "agricultural"
    residents: float | None = None
    jobs: float | None = None
    visitors_per_day: float | None = None
    car_trips_per_day: float | None = None
    truck_trips_per_day: float | None = None
    construction_contribution_eur: float | None = None
    description: str = ""


@dataclass
class Measure:
    kind: str                          # mitigation | compensation
    description: str
    cost_eur: float
    istat_code: str | None = None      # where it is carried out (None = host comune)


@dataclass
class Proposal:
    act_kind: str
    istat_code: str                    # comune that adopts the act
    title: str
    adopted_on: dt.date | None
    submitted_on: dt.date | None
    forecasts: list[Forecast]
    measures: list[Measure] = field(default_factory=list)
    proposal_ref: str = ""             # the comune's own reference (protocol number)

    def to_record(self) -> dict[str, Any]:
        """JSON-able form (geometry as WKT in EPSG:32632) for the append-only store."""
        return {
            "act_kind": self.act_kind, "istat_code": self.istat_code, "title": self.title,
            "adopted_on": self.adopted_on.isoformat() if self.adopted_on else None,
            "submitted_on": self.submitted_on.isoformat() if self.submitted_on else None,
            "proposal_ref": self.proposal_ref,
            "forecasts": [{**{k: v for k, v in asdict(f).items() if k != "geometry"},
                           "geometry_wkt": f.geometry.wkt} for f in self.forecasts],
            "measures": [asdict(m) for m in self.measures],
        }


def _num(obj: dict, key: str, path: str, src: str | None, required: bool = False) -> float | None:
    v = obj.get(key)
    if v is None:
        if required:
            raise ProposalError(f"{path}.{key}", "required numeric value is missing", src)
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        try:
            v = float(str(v).replace(",", "."))
        except ValueError:
            raise ProposalError(f"{path}.{key}", f"not a number: {v!r}", src) from None
    v = float(v)
    if not math.isfinite(v):
        raise ProposalError(f"{path}.{key}", f"not a finite number: {v!r}", src)
    if v < 0:
        raise ProposalError(f"{path}.{key}", f"must be ≥ 0, got {v:g}", src)
    return v


def _date(obj: dict, key: str, path: str, src: str | None) -> dt.date | None:
    v = obj.get(key)
    if v in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(v))
    except ValueError:
        raise ProposalError(f"{path}.{key}", f"not an ISO date (YYYY-MM-DD): {v!r}", src) from None


def _istat(v: Any) -> str:
    s = str(v).strip()
    return s.zfill(6) if s.isdigit() else s


def parse_proposal(data: dict[str, Any] | str | Path, functions: dict[str, str],
                   source: str | None = None) -> Proposal:
    """Build a :class:`Proposal` from a dict, a JSON string or a file path.

    Two layouts are accepted: ``{"act": {...}, "forecasts": [{..., "geometry": GeoJSON}],
    "measures": [...]}`` or a GeoJSON FeatureCollection whose features are the forecasts and
    whose foreign members ``act`` and ``measures`` carry the rest. Geometries are lon/lat
    (RFC 7946) unless a top-level ``"crs": "EPSG:xxxx"`` says otherwise; they are transformed
    to EPSG:32632.
    """
    if isinstance(data, Path) or (isinstance(data, str) and not data.lstrip().startswith("{")):
        source = source or str(data)
        try:
            data = json.loads(Path(data).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProposalError("file", "not found", source) from None
        except json.JSONDecodeError as exc:
            raise ProposalError("file", f"not valid JSON: {exc}", source) from None
    elif isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ProposalError("file", f"not valid JSON: {exc}", source) from None
    if not isinstance(data, dict):
        raise ProposalError("file", "top level must be a JSON object", source)
    src = source
    crs = data.get("crs") or "EPSG:4326"
    if isinstance(crs, dict):        # GeoJSON 2008 style {"type": "name", "properties": {"name": ...}}
        crs = crs.get("properties", {}).get("name", "EPSG:4326")
    if "CRS84" in str(crs):
        crs = "EPSG:4326"
    try:
        to_utm = Transformer.from_crs(crs, ANALYSIS_CRS, always_xy=True)
    except Exception:
        raise ProposalError("crs", f"unknown CRS {crs!r}", src) from None

    act = data.get("act")
    if not isinstance(act, dict):
        raise ProposalError("act", "missing object with kind, istat_code, title", src)
    kind = act.get("kind")
    if kind not in ACT_KINDS:
        raise ProposalError("act.kind", f"must be one of {', '.join(ACT_KINDS)}; got {kind!r}", src)
    if not act.get("istat_code"):
        raise ProposalError("act.istat_code", "missing ISTAT code of the adopting comune", src)

    if data.get("type") == "FeatureCollection":
        raw_fc = []
        for i, feat in enumerate(data.get("features") or []):
            props = dict(feat.get("properties") or {})
            props["geometry"] = feat.get("geometry")
            raw_fc.append(props)
    else:
        raw_fc = data.get("forecasts")
    if not isinstance(raw_fc, list) or not raw_fc:
        raise ProposalError("forecasts", "at least one forecast is required", src)

    forecasts: list[Forecast] = []
    seen: set[str] = set()
    for i, f in enumerate(raw_fc):
        path = f"forecasts[{i}]"
        if not isinstance(f, dict):
            raise ProposalError(path, "must be an object", src)
        fid = str(f.get("id") or f.get("forecast_id") or f"F{i + 1}")
        if fid in seen:
            raise ProposalError(f"{path}.id", f"duplicate forecast id {fid!r}", src)
        seen.add(fid)
        fn = f.get("function")
        if not fn:
            raise ProposalError(f"{path}.function", f"missing function (one of {', '.join(functions)})", src)
        if fn not in functions:
            raise ProposalError(f"{path}.function", f"unknown function {fn!r} (one of {', '.join(functions)})", src)
        g = f.get("geometry")
        if not g:
            raise ProposalError(f"{path}.geometry", "missing geometry", src)
        try:
            geom = shape(g) if isinstance(g, dict) else shapely.from_wkt(str(g))
        except Exception as exc:
            raise ProposalError(f"{path}.geometry", f"not a valid GeoJSON/WKT geometry: {exc}", src) from None
        if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise ProposalError(f"{path}.geometry", f"must be a (Multi)Polygon, got {geom.geom_type}", src)
        geom = shapely.transform(geom, lambda xy: _tx(to_utm, xy))
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
            if geom.is_empty or geom.area == 0:
                raise ProposalError(f"{path}.geometry", "invalid polygon with zero area", src)
        cover = f.get("former_cover", "agricultural")
        if cover not in LAND_COVERS:
            raise ProposalError(f"{path}.former_cover", f"unknown land cover {cover!r} (one of {', '.join(LAND_COVERS)})", src)
        fc = Forecast(
            forecast_id=fid, function=fn, geometry=geom,
            floor_area_m2=_num(f, "floor_area_m2", path, src, required=True),
            land_take_free_soil_m2=_num(f, "land_take_free_soil_m2", path, src) or 0.0,
            new_impervious_m2=_num(f, "new_impervious_m2", path, src) or 0.0,
            former_cover=cover,
            residents=_num(f, "residents", path, src), jobs=_num(f, "jobs", path, src),
            visitors_per_day=_num(f, "visitors_per_day", path, src),
            car_trips_per_day=_num(f, "car_trips_per_day", path, src),
            truck_trips_per_day=_num(f, "truck_trips_per_day", path, src),
            construction_contribution_eur=_num(f, "construction_contribution_eur", path, src),
            description=str(f.get("description") or ""),
        )
        site_m2 = geom.area
        for k in ("land_take_free_soil_m2", "new_impervious_m2"):
            if getattr(fc, k) > site_m2 * 1.001 + 1:
                raise ProposalError(f"{path}.{k}", f"{getattr(fc, k):,.0f} m² exceeds the area of the geometry ({site_m2:,.0f} m²)", src)
        if fc.land_take_free_soil_m2 > 0 and cover == "urbanized":
            raise ProposalError(f"{path}.former_cover", "'urbanized' cover cannot have land take on free soil", src)
        forecasts.append(fc)

    measures: list[Measure] = []
    for i, m in enumerate(data.get("measures") or []):
        path = f"measures[{i}]"
        if m.get("kind") not in MEASURE_KINDS:
            raise ProposalError(f"{path}.kind", f"must be one of {', '.join(MEASURE_KINDS)}", src)
        measures.append(Measure(kind=m["kind"], description=str(m.get("description") or ""),
                                cost_eur=_num(m, "cost_eur", path, src, required=True),
                                istat_code=_istat(m["istat_code"]) if m.get("istat_code") else None))

    return Proposal(act_kind=kind, istat_code=_istat(act["istat_code"]), title=str(act.get("title") or ""),
                    adopted_on=_date(act, "adopted_on", "act", src),
                    submitted_on=_date(act, "submitted_on", "act", src),
                    forecasts=forecasts, measures=measures,
                    proposal_ref=str(act.get("ref") or act.get("proposal_ref") or ""))


def _tx(tr: Transformer, xy):
    import numpy as np
    x, y = tr.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def proposal_from_record(record: dict[str, Any], functions: dict[str, str]) -> Proposal:
    """Rebuild a :class:`Proposal` from its stored record (:meth:`Proposal.to_record`)."""
    d = {"crs": ANALYSIS_CRS,
         "act": {"kind": record["act_kind"], "istat_code": record["istat_code"], "title": record["title"],
                 "adopted_on": record["adopted_on"], "submitted_on": record["submitted_on"],
                 "ref": record.get("proposal_ref", "")},
         "forecasts": [{**{k: v for k, v in f.items() if k not in ("geometry_wkt", "forecast_id")},
                        "id": f["forecast_id"], "geometry": f["geometry_wkt"]} for f in record["forecasts"]],
         "measures": record.get("measures") or []}
    return parse_proposal(d, functions, source="stored record")
