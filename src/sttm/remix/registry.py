"""The editable Remix registries on ``kb.engine``, with optimistic locking and an audit trail.

The registries (``remix_interventions``, ``remix_funding``, ``remix_opportunity_areas``) hold the
working copy that comuni and CMM edit. Every change is checked against the actor's role
(server side, whatever the client sends), bumps ``row_version`` with a compare-and-swap
``UPDATE … WHERE row_version = :expected`` (a stale edit raises :class:`Conflict`, never a lost
update) and appends one row to ``remix_audit`` (who, when, before, after) in the same
transaction. :func:`publish` snapshots the registry into the knowledge-base layers
``interventions``, ``intervention_funding`` and ``opportunity_areas`` through ``kb.write_layer``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Protocol

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from shapely import wkt as shp_wkt
from shapely.geometry import MultiPoint

from .model import (
    FUNDING_FIELDS,
    INTERVENTION_FIELDS,
    OPPORTUNITY_FIELDS,
    ValidationError,
    normalise,
    validate_intervention,
    validate_opportunity,
)

ROLES = ("public", "technician", "planner", "admin")
CRS = "EPSG:32632"

metadata = sa.MetaData()

interventions_t = sa.Table(
    "remix_interventions", metadata,
    sa.Column("intervention_id", sa.String(120), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("istat_codes", sa.Text, nullable=False),  # ';'-separated, first = primary comune
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("start_date", sa.String(10)),
    sa.Column("end_date", sa.String(10)),
    sa.Column("domains", sa.Text),  # ';'-separated
    sa.Column("total_cost", sa.Float),
    sa.Column("cup", sa.String(15)),
    sa.Column("programme", sa.Text),
    sa.Column("implementing_body", sa.Text),
    sa.Column("n_locations_total", sa.Integer),
    sa.Column("source", sa.Text),
    sa.Column("location_precision", sa.String(20), nullable=False),
    sa.Column("geometry_wkt", sa.Text),  # EPSG:32632; NULL = place at the comuni
    sa.Column("row_version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Column("updated_by", sa.String(80), nullable=False),
)

funding_t = sa.Table(
    "remix_funding", metadata,
    sa.Column("intervention_id", sa.String(120), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("programme", sa.Text),
    sa.Column("amount", sa.Float, nullable=False),
)

opportunities_t = sa.Table(
    "remix_opportunity_areas", metadata,
    sa.Column("area_id", sa.String(120), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("istat_code", sa.String(6), nullable=False),
    sa.Column("area_m2", sa.Float),
    sa.Column("ownership", sa.Text),
    sa.Column("current_use", sa.Text),
    sa.Column("condition", sa.Text),
    sa.Column("constraints", sa.Text),
    sa.Column("address", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("licence", sa.Text),
    sa.Column("geometry_wkt", sa.Text),
    sa.Column("row_version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Column("updated_by", sa.String(80), nullable=False),
)

audit_t = sa.Table(
    "remix_audit", metadata,
    sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.String(32), nullable=False),
    sa.Column("username", sa.String(80), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("entity_id", sa.String(120), nullable=False),
    sa.Column("before_json", sa.Text),
    sa.Column("after_json", sa.Text),
)


class KB(Protocol):  # the subset of sttm.knowledge.KnowledgeBase used here
    engine: sa.Engine

    def read_layer(self, name: str, version: int | None = None) -> Any: ...
    def write_layer(self, name: str, data: Any, meta: Any, key: str, loaded_by: str) -> Any: ...
    def has_layer(self, name: str) -> bool: ...


class Actor(Protocol):
    username: str
    role: str
    istat_code: str | None


@dataclass(frozen=True)
class SystemActor:
    """The actor of command-line loads (full rights)."""

    username: str = "sttm-cli"
    role: str = "admin"
    istat_code: str | None = None


class Forbidden(PermissionError):
    """The actor may not perform this change."""


class Conflict(RuntimeError):
    """The record changed since the client read it (optimistic lock)."""

    def __init__(self, entity_id: str, expected: int, current: int | None):
        self.entity_id, self.expected, self.current = entity_id, expected, current
        super().__init__(f"{entity_id}: versione {expected} superata (attuale {current}); ricaricare e riapplicare le modifiche")


class NotFound(KeyError):
    pass


def ensure_schema(engine: sa.Engine) -> None:
    metadata.create_all(engine)


@contextmanager
def writing(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction. On SQLite it takes the write lock at BEGIN (BEGIN IMMEDIATE, honoured by
    the knowledge base's engine), so a read-then-write transaction queues behind a concurrent
    writer instead of failing with "database is locked"."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        with conn.begin():
            yield conn


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- permissions
def record_comuni(entity: str, rec: dict[str, Any]) -> list[str]:
    if entity == "intervention":
        v = rec.get("istat_codes")
        return v if isinstance(v, list) else [c for c in str(v or "").split(";") if c]
    return [rec["istat_code"]] if rec.get("istat_code") else []


def can_write(actor: Actor | None, entity: str, rec: dict[str, Any] | None) -> bool:
    """Role rule: planners and admins write everything; a technician writes only records that
    lie entirely in its own comune; the public writes nothing."""
    if actor is None or actor.role not in ROLES:
        return False
    if actor.role in ("planner", "admin"):
        return True
    if actor.role == "technician" and actor.istat_code:
        if rec is None:
            return True
        comuni = record_comuni(entity, rec)
        return bool(comuni) and all(c == actor.istat_code for c in comuni)
    return False


def can_publish(actor: Actor | None) -> bool:
    return actor is not None and actor.role in ("planner", "admin")


def _check(actor: Actor | None, entity: str, old: dict | None, new: dict | None) -> None:
    for rec in (old, new):
        if rec is not None and not can_write(actor, entity, rec):
            who = getattr(actor, "username", "anonimo")
            raise Forbidden(f"{who}: non autorizzato a modificare {entity} {rec.get('intervention_id') or rec.get('area_id')}")
    if old is None and new is None and not can_write(actor, entity, None):
        raise Forbidden("non autorizzato")


# ----------------------------------------------------------------------------- row <-> record
def _row_to_intervention(row: Any, funding: list[dict]) -> dict[str, Any]:
    d = dict(row._mapping)
    d["istat_codes"] = [c for c in (d["istat_codes"] or "").split(";") if c]
    d["domains"] = [c for c in (d["domains"] or "").split(";") if c]
    d["funding"] = funding
    return d


def _intervention_values(rec: dict[str, Any]) -> dict[str, Any]:
    vals = {f.name: rec.get(f.name) for f in INTERVENTION_FIELDS}
    vals["istat_codes"] = ";".join(rec["istat_codes"])
    vals["domains"] = ";".join(rec.get("domains") or [])
    vals["location_precision"] = rec.get("location_precision") or ("exact" if rec.get("geometry_wkt") else "comune")
    vals["geometry_wkt"] = rec.get("geometry_wkt")
    return vals


def clean_intervention(raw: dict[str, Any], row: int | str = "?") -> dict[str, Any]:
    errors = validate_intervention(raw, row)
    clean, _ = normalise(raw, INTERVENTION_FIELDS, row)
    funding = []
    for i, line in enumerate(raw.get("funding") or [], start=1):
        fl, ferr = normalise({**line, "intervention_id": clean["intervention_id"]}, FUNDING_FIELDS, f"{row} finanziamento {i}")
        errors += ferr
        funding.append(fl)
    geom = raw.get("geometry_wkt")
    if geom:
        try:
            g = shp_wkt.loads(geom)
            if g.is_empty or not g.is_valid:
                errors.append(f"riga {row}, campo 'geometry': geometria vuota o non valida")
        except Exception:  # shapely raises GEOSException / WKTReadingError
            errors.append(f"riga {row}, campo 'geometry': WKT non leggibile")
    if errors:
        raise ValidationError(errors)
    clean["funding"] = funding
    clean["geometry_wkt"] = geom or None
    clean["location_precision"] = raw.get("location_precision") or ("exact" if geom else "comune")
    return clean


def clean_opportunity(raw: dict[str, Any], row: int | str = "?") -> dict[str, Any]:
    errors = validate_opportunity(raw, row)
    clean, _ = normalise(raw, OPPORTUNITY_FIELDS, row)
    geom = raw.get("geometry_wkt")
    if not geom:
        errors.append(f"riga {row}, campo 'geometry': obbligatorio per un'area di opportunità")
    else:
        try:
            g = shp_wkt.loads(geom)
            if g.is_empty or not g.is_valid:
                errors.append(f"riga {row}, campo 'geometry': geometria vuota o non valida")
            elif clean.get("area_m2") is None and g.area > 0:
                clean["area_m2"] = round(float(g.area), 1)
        except Exception:
            errors.append(f"riga {row}, campo 'geometry': WKT non leggibile")
    if errors:
        raise ValidationError(errors)
    clean["geometry_wkt"] = geom
    return clean


# ----------------------------------------------------------------------------- reads
def get_intervention(conn: sa.Connection, intervention_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(interventions_t).where(interventions_t.c.intervention_id == intervention_id)).first()
    if row is None:
        raise NotFound(intervention_id)
    lines = conn.execute(
        sa.select(funding_t.c.source, funding_t.c.programme, funding_t.c.amount)
        .where(funding_t.c.intervention_id == intervention_id).order_by(funding_t.c.line_no)
    ).all()
    return _row_to_intervention(row, [dict(r._mapping) for r in lines])


def get_opportunity(conn: sa.Connection, area_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(opportunities_t).where(opportunities_t.c.area_id == area_id)).first()
    if row is None:
        raise NotFound(area_id)
    return dict(row._mapping)


def list_interventions(conn: sa.Connection, istat_code: str | None = None, limit: int = 200) -> list[dict]:
    q = sa.select(interventions_t.c.intervention_id, interventions_t.c.title, interventions_t.c.istat_codes,
                  interventions_t.c.status, interventions_t.c.total_cost, interventions_t.c.updated_at)
    if istat_code:
        q = q.where(interventions_t.c.istat_codes.like(f"%{istat_code}%"))
    return [dict(r._mapping) for r in conn.execute(q.order_by(interventions_t.c.intervention_id).limit(limit))]


def list_opportunities(conn: sa.Connection, istat_code: str | None = None, limit: int = 200) -> list[dict]:
    q = sa.select(opportunities_t.c.area_id, opportunities_t.c.name, opportunities_t.c.kind,
                  opportunities_t.c.istat_code, opportunities_t.c.updated_at)
    if istat_code:
        q = q.where(opportunities_t.c.istat_code == istat_code)
    return [dict(r._mapping) for r in conn.execute(q.order_by(opportunities_t.c.area_id).limit(limit))]


def audit_trail(conn: sa.Connection, entity_id: str | None = None, limit: int = 100) -> list[dict]:
    q = sa.select(audit_t).order_by(audit_t.c.audit_id.desc()).limit(limit)
    if entity_id:
        q = q.where(audit_t.c.entity_id == entity_id)
    return [dict(r._mapping) for r in conn.execute(q)]


# ----------------------------------------------------------------------------- writes
def record_audit(conn: sa.Connection, actor: Actor, action: str, entity: str, entity_id: str,
           before: dict | None, after: dict | None) -> None:
    dump = lambda d: None if d is None else json.dumps(d, ensure_ascii=False, sort_keys=True, default=str)  # noqa: E731
    conn.execute(audit_t.insert().values(ts=now(), username=actor.username, action=action, entity=entity,
                                         entity_id=entity_id, before_json=dump(before), after_json=dump(after)))


def _write_funding(conn: sa.Connection, intervention_id: str, funding: list[dict]) -> None:
    conn.execute(funding_t.delete().where(funding_t.c.intervention_id == intervention_id))
    if funding:
        conn.execute(funding_t.insert(), [
            {"intervention_id": intervention_id, "line_no": i, "source": f["source"],
             "programme": f.get("programme"), "amount": f["amount"]}
            for i, f in enumerate(funding, start=1)
        ])


def _compare_and_set(conn: sa.Connection, table: sa.Table, key: sa.Column, key_value: str, expected: int,
                     current: int, values: dict, actor: Actor) -> None:
    """Optimistic lock: update only if the row still has the version the client read."""
    res = conn.execute(table.update().where(key == key_value, table.c.row_version == expected)
                       .values(**values, row_version=table.c.row_version + 1, updated_at=now(),
                               updated_by=actor.username))
    if res.rowcount != 1:
        raise Conflict(key_value, expected, current)


def create_intervention(conn: sa.Connection, actor: Actor, raw: dict[str, Any]) -> dict[str, Any]:
    rec = clean_intervention(raw)
    _check(actor, "intervention", None, rec)
    if conn.execute(sa.select(interventions_t.c.intervention_id)
                    .where(interventions_t.c.intervention_id == rec["intervention_id"])).first():
        raise ValidationError([f"identificativo {rec['intervention_id']!r} già esistente"])
    conn.execute(interventions_t.insert().values(**_intervention_values(rec), row_version=1, updated_at=now(),
                                                 updated_by=actor.username))
    _write_funding(conn, rec["intervention_id"], rec["funding"])
    after = get_intervention(conn, rec["intervention_id"])
    record_audit(conn, actor, "create", "intervention", rec["intervention_id"], None, after)
    return after


def update_intervention(conn: sa.Connection, actor: Actor, intervention_id: str, raw: dict[str, Any],
                        expected_version: int) -> dict[str, Any]:
    before = get_intervention(conn, intervention_id)
    rec = clean_intervention({**raw, "intervention_id": intervention_id})
    _check(actor, "intervention", before, rec)
    vals = _intervention_values(rec)
    vals.pop("intervention_id")
    _compare_and_set(conn, interventions_t, interventions_t.c.intervention_id, intervention_id, expected_version,
                     before["row_version"], vals, actor)
    _write_funding(conn, intervention_id, rec["funding"])
    after = get_intervention(conn, intervention_id)
    record_audit(conn, actor, "update", "intervention", intervention_id, before, after)
    return after


def delete_intervention(conn: sa.Connection, actor: Actor, intervention_id: str, expected_version: int) -> None:
    before = get_intervention(conn, intervention_id)
    _check(actor, "intervention", before, None)
    res = conn.execute(interventions_t.delete().where(interventions_t.c.intervention_id == intervention_id,
                                                      interventions_t.c.row_version == expected_version))
    if res.rowcount != 1:
        raise Conflict(intervention_id, expected_version, before["row_version"])
    conn.execute(funding_t.delete().where(funding_t.c.intervention_id == intervention_id))
    record_audit(conn, actor, "delete", "intervention", intervention_id, before, None)


def create_opportunity(conn: sa.Connection, actor: Actor, raw: dict[str, Any]) -> dict[str, Any]:
    rec = clean_opportunity(raw)
    _check(actor, "opportunity", None, rec)
    if conn.execute(sa.select(opportunities_t.c.area_id).where(opportunities_t.c.area_id == rec["area_id"])).first():
        raise ValidationError([f"identificativo {rec['area_id']!r} già esistente"])
    conn.execute(opportunities_t.insert().values(**rec, row_version=1, updated_at=now(), updated_by=actor.username))
    after = get_opportunity(conn, rec["area_id"])
    record_audit(conn, actor, "create", "opportunity", rec["area_id"], None, after)
    return after


def update_opportunity(conn: sa.Connection, actor: Actor, area_id: str, raw: dict[str, Any],
                       expected_version: int) -> dict[str, Any]:
    before = get_opportunity(conn, area_id)
    rec = clean_opportunity({**raw, "area_id": area_id})
    _check(actor, "opportunity", before, rec)
    rec.pop("area_id")
    _compare_and_set(conn, opportunities_t, opportunities_t.c.area_id, area_id, expected_version,
                     before["row_version"], rec, actor)
    after = get_opportunity(conn, area_id)
    record_audit(conn, actor, "update", "opportunity", area_id, before, after)
    return after


def upsert_many(engine: sa.Engine, actor: Actor, interventions: Iterable[dict] = (),
                opportunities: Iterable[dict] = ()) -> dict[str, int]:
    """Bulk import in ONE transaction: validate everything first, then insert or replace.

    Any invalid record raises :class:`ValidationError` listing every problem, and nothing is written.
    """
    ensure_schema(engine)
    errors: list[str] = []
    refused: list[str] = []
    ints, opps = [], []
    for i, raw in enumerate(interventions, start=1):
        try:
            rec = clean_intervention(raw, raw.get("_row", i))
            if not can_write(actor, "intervention", rec):
                refused.append(f"riga {raw.get('_row', i)}: comune {rec['istat_codes']} non consentito a {actor.username}")
            ints.append(rec)
        except ValidationError as exc:
            errors += exc.errors
    for i, raw in enumerate(opportunities, start=1):
        try:
            rec = clean_opportunity(raw, raw.get("_row", i))
            if not can_write(actor, "opportunity", rec):
                refused.append(f"riga {raw.get('_row', i)}: comune {rec['istat_code']} non consentito a {actor.username}")
            opps.append(rec)
        except ValidationError as exc:
            errors += exc.errors
    dup = _duplicates([r["intervention_id"] for r in ints]) + _duplicates([r["area_id"] for r in opps])
    errors += [f"identificativo duplicato nel file: {d!r}" for d in dup]
    if refused:
        raise Forbidden("; ".join(refused[:20]))
    if errors:
        raise ValidationError(errors)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    with writing(engine) as conn:
        existing_i = {r[0]: r[1] for r in conn.execute(sa.select(interventions_t.c.intervention_id, interventions_t.c.row_version))}
        existing_o = {r[0]: r[1] for r in conn.execute(sa.select(opportunities_t.c.area_id, opportunities_t.c.row_version))}
        for rec in ints:
            iid = rec["intervention_id"]
            if iid in existing_i:
                before = get_intervention(conn, iid)
                if _same_intervention(before, rec):
                    counts["unchanged"] += 1
                    continue
                if not can_write(actor, "intervention", before):
                    raise Forbidden(f"{actor.username}: non autorizzato a modificare {iid}")
                update_intervention(conn, actor, iid, rec, existing_i[iid])
                counts["updated"] += 1
            else:
                conn.execute(interventions_t.insert().values(**_intervention_values(rec), row_version=1,
                                                             updated_at=now(), updated_by=actor.username))
                _write_funding(conn, iid, rec["funding"])
                record_audit(conn, actor, "import", "intervention", iid, None, {**rec, "geometry_wkt": rec.get("geometry_wkt")})
                counts["created"] += 1
        for rec in opps:
            aid = rec["area_id"]
            if aid in existing_o:
                before = get_opportunity(conn, aid)
                if all(before.get(k) == v for k, v in rec.items()):
                    counts["unchanged"] += 1
                    continue
                update_opportunity(conn, actor, aid, rec, existing_o[aid])
                counts["updated"] += 1
            else:
                conn.execute(opportunities_t.insert().values(**rec, row_version=1, updated_at=now(), updated_by=actor.username))
                record_audit(conn, actor, "import", "opportunity", aid, None, rec)
                counts["created"] += 1
    return counts


def _duplicates(ids: list[str]) -> list[str]:
    seen, dup = set(), []
    for i in ids:
        if i in seen:
            dup.append(i)
        seen.add(i)
    return dup


def _same_intervention(before: dict, rec: dict) -> bool:
    keys = [f.name for f in INTERVENTION_FIELDS] + ["geometry_wkt", "location_precision"]
    b_fund = [(f["source"], f.get("programme"), f["amount"]) for f in before["funding"]]
    r_fund = [(f["source"], f.get("programme"), f["amount"]) for f in rec["funding"]]
    return all(before.get(k) == rec.get(k) for k in keys) and b_fund == r_fund


# ----------------------------------------------------------------------------- publication
def _comune_points(kb: KB) -> tuple[dict[str, Any], dict[str, str], dict[str, Any], Any]:
    mun = kb.read_layer("municipalities")
    if mun.crs is None or mun.crs.to_epsg() != 32632:
        mun = mun.to_crs(CRS)
    pts = dict(zip(mun["istat_code"], mun.geometry.representative_point()))
    names = dict(zip(mun["istat_code"], mun["name"]))
    zones = dict(zip(mun["istat_code"], mun["zone"] if "zone" in mun.columns else [None] * len(mun)))
    cmm_point = mun.geometry.union_all().representative_point()
    return pts, names, zones, cmm_point


def build_layers(kb: KB, conn: sa.Connection) -> tuple[gpd.GeoDataFrame, pd.DataFrame, gpd.GeoDataFrame]:
    """The publishable layers from the registry. PNRR projects without coordinates are placed at
    the point-on-surface of each of their comuni (one MultiPoint per project, so a project with
    several localisations is ONE feature and is counted once in totals)."""
    pts, names, zones, cmm_point = _comune_points(kb)
    rows = [dict(r._mapping) for r in conn.execute(sa.select(interventions_t).order_by(interventions_t.c.intervention_id))]
    fund = pd.DataFrame([dict(r._mapping) for r in conn.execute(sa.select(funding_t).order_by(funding_t.c.intervention_id, funding_t.c.line_no))],
                        columns=["intervention_id", "line_no", "source", "programme", "amount"])
    by_int = {k: g for k, g in fund.groupby("intervention_id")} if len(fund) else {}
    geoms, recs = [], []
    for r in rows:
        codes = [c for c in r["istat_codes"].split(";") if c]
        if r["geometry_wkt"]:
            g = shp_wkt.loads(r["geometry_wkt"])
            precision = "exact"
        elif r["location_precision"] == "metropolitan":
            g = MultiPoint([cmm_point])
            precision = "metropolitan"
        else:
            unknown = [c for c in codes if c not in pts]
            if unknown or not codes:
                raise ValidationError([f"intervento {r['intervention_id']}: comune {unknown or codes} "
                                       "assente dal layer municipalities"])
            g = MultiPoint([pts[c] for c in codes])
            precision = "comune"
        f = by_int.get(r["intervention_id"])
        srcs = sorted(set(f["source"])) if f is not None else []
        funded = float(f.loc[f["source"] != "Da reperire", "amount"].sum()) if f is not None else 0.0
        pnrr = float(f.loc[f["source"] == "PNRR", "amount"].sum()) if f is not None else 0.0
        zone_list = sorted({zones.get(c) for c in codes if zones.get(c)})
        recs.append({
            "intervention_id": r["intervention_id"], "title": r["title"], "description": r["description"],
            "istat_code": codes[0] if codes else None, "istat_codes": ";".join(codes),
            "comuni": "; ".join(names.get(c, c) for c in codes), "n_comuni": len(codes),
            "zones": ";".join(zone_list) or None, "status": r["status"], "start_date": r["start_date"],
            "end_date": r["end_date"], "domains": r["domains"], "total_cost": r["total_cost"],
            "funded_amount": funded, "pnrr_amount": pnrr, "funding_sources": ";".join(srcs),
            "cup": r["cup"], "programme": r["programme"], "implementing_body": r["implementing_body"],
            "n_locations_total": r["n_locations_total"], "location_precision": precision,
            "source": r["source"], "row_version": r["row_version"], "updated_at": r["updated_at"],
        })
        geoms.append(g)
    ints = gpd.GeoDataFrame(recs, geometry=geoms, crs=CRS) if recs else gpd.GeoDataFrame(
        columns=["intervention_id", "geometry"], geometry="geometry", crs=CRS)
    if len(fund):
        fund = fund.assign(funding_id=fund["intervention_id"] + "#" + fund["line_no"].astype(str))
        fund = fund[["funding_id", "intervention_id", "line_no", "source", "programme", "amount"]]
    else:
        fund = pd.DataFrame(columns=["funding_id", "intervention_id", "line_no", "source", "programme", "amount"])
    orows = [dict(r._mapping) for r in conn.execute(sa.select(opportunities_t).order_by(opportunities_t.c.area_id))]
    ogeoms = [shp_wkt.loads(r.pop("geometry_wkt")) for r in orows]
    for r in orows:
        r["comune"] = names.get(r["istat_code"], r["istat_code"])
        r["zone"] = zones.get(r["istat_code"])
    opps = gpd.GeoDataFrame(orows, geometry=ogeoms, crs=CRS) if orows else gpd.GeoDataFrame(
        columns=["area_id", "geometry"], geometry="geometry", crs=CRS)
    return ints, fund, opps


def _licences(opps: gpd.GeoDataFrame) -> str:
    lic = sorted({str(x) for x in opps.get("licence", pd.Series(dtype=str)).dropna()})
    return "; ".join(lic) if lic else "CC BY 4.0 (dati CMM)"


def publish(kb: KB, actor: Actor, loaded_by: str = "sttm remix publish") -> dict[str, Any]:
    """Write the registry into the KB layers (one new version each when changed)."""
    if not can_publish(actor):
        raise Forbidden(f"{getattr(actor, 'username', 'anonimo')}: solo i pianificatori CMM pubblicano")
    from sttm.knowledge import LayerMeta  # the foundation's metadata type

    ensure_schema(kb.engine)
    with kb.engine.connect() as conn:
        ints, fund, opps = build_layers(kb, conn)
    results: dict[str, Any] = {}
    if len(ints) == 0 and len(opps) == 0:
        return results
    results["interventions"] = len(ints) and kb.write_layer("interventions", ints, LayerMeta(
        title="Realizzazioni di rigenerazione urbana (Remix)",
        description=("Interventi di rigenerazione in corso o completati, con ambiti di ricaduta e fonti di "
                     "finanziamento. I progetti PNRR non hanno coordinate: sono collocati nel punto interno di "
                     "ciascun comune di localizzazione (location_precision = 'comune'); un progetto localizzato in "
                     "più comuni è un solo elemento (MultiPoint) e gli importi sono quelli dell'intero progetto."),
        source="Registro Remix (CMM e comuni); Italia Domani, catalogo open data PNRR al 1/3/2023",
        licence="CC BY 4.0 (Italia Domani, dichiarata da terzi; non verificata sul portale)",
        vintage="2023-03-01 (PNRR) e aggiornamenti del registro"),
        key="intervention_id", loaded_by=loaded_by)
    results["intervention_funding"] = len(fund) and kb.write_layer("intervention_funding", fund, LayerMeta(
        title="Quote di finanziamento delle realizzazioni (Remix)",
        description="Una riga per fonte di finanziamento di ciascun intervento; importi in EUR.",
        source="Registro Remix; Italia Domani (colonne fin_*)",
        licence="CC BY 4.0 (Italia Domani, dichiarata da terzi; non verificata sul portale)",
        vintage="2023-03-01 (PNRR) e aggiornamenti del registro"),
        key="funding_id", loaded_by=loaded_by)
    results["opportunity_areas"] = len(opps) and kb.write_layer("opportunity_areas", opps, LayerMeta(
        title="Opportunità di rigenerazione urbana (Remix)",
        description=("Aree Re.mix, ambiti di trasformazione dei PGT, ambiti della rigenerazione (LR 12/2005 art. 8bis), "
                     "aree dismesse e sottoutilizzate. Include la mappa 2016 degli edifici e delle aree in stato di degrado "
                     "e abbandono del Comune di Milano (via scandaglio/molo): licenza CC BY-NC 4.0, USO NON COMMERCIALE."),
        source="Registro Remix; Comune di Milano, monitoraggio edifici e aree in stato di degrado (2016), via scandaglio/molo",
        licence=_licences(opps), vintage="2016 (Milano) e aggiornamenti del registro"),
        key="area_id", loaded_by=loaded_by)
    with writing(kb.engine) as conn:
        record_audit(conn, actor, "publish", "registry", "remix",
               None, {k: getattr(v, "version", None) for k, v in results.items()})
    return results
