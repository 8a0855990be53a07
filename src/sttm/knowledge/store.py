"""The knowledge base: one schema, two backends (GeoPackage file or PostgreSQL+PostGIS).

A layer is stored twice, on purpose:
- its *current version* as an ordinary feature table (what QGIS, the portal and the OGC API read);
- its *history* as validity intervals in ``kb_feature_versions`` (what ``history``/``diff`` and
  reads of old versions use). Unchanged features are stored once across versions.

Every write is one transaction on one connection: validation happens first, and any error
leaves the knowledge base exactly as it was.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, create_engine, event, select

from .. import ANALYSIS_CRS, ANALYSIS_EPSG
from ..config import current_user, default_db
from . import gpkg, schema
from .errors import KnowledgeError, LayerNotFound, VersionNotFound
from .validate import PreparedLayer, check_name, prepare

_GPKG_TYPES = {"text": "TEXT", "integer": "INTEGER", "real": "REAL", "boolean": "BOOLEAN",
               "datetime": "DATETIME", "date": "DATE", "json": "TEXT"}
_PG_TYPES = {"text": "TEXT", "integer": "BIGINT", "real": "DOUBLE PRECISION", "boolean": "BOOLEAN",
             "datetime": "TEXT", "date": "TEXT", "json": "TEXT"}


@dataclass
class LayerMeta:
    """Catalog metadata of a layer (PTM art. 13: every layer says what, whence, which licence, when)."""
    title: str
    description: str = ""
    source: str = ""
    licence: str = ""
    vintage: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class LayerDiff:
    layer: str
    from_version: int
    to_version: int
    added: list[str]
    removed: list[str]
    changed: dict[str, list[str]]  # key -> names of the fields that changed ("geometry" included)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass
class WriteResult:
    layer: str
    version: int
    changed: bool
    diff: LayerDiff | None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def url_from(location: str | Path | None) -> str:
    """A .gpkg path (or sqlite URL) or a PostgreSQL URL → SQLAlchemy URL."""
    loc = str(location or default_db())
    if "://" in loc:
        if loc.startswith("postgresql://"):
            loc = "postgresql+psycopg://" + loc[len("postgresql://"):]
        return loc
    return "sqlite:///" + str(Path(loc).resolve())


def _sqlite_engine(url: str) -> Engine:
    path = Path(url[len("sqlite:///"):])
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # The GeoPackage identity lives in the file header: write it before WAL is switched on,
        # so readers that look at the header (GDAL, QGIS) see it at once.
        raw = sqlite3.connect(path)
        raw.execute(f"PRAGMA application_id = {gpkg.APPLICATION_ID}")
        raw.execute(f"PRAGMA user_version = {gpkg.USER_VERSION}")
        raw.commit()
        raw.close()
    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # We drive transactions ourselves (BEGIN below), so DDL is transactional too.
        dbapi_conn.isolation_level = None
        gpkg.register_functions(dbapi_conn)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))

    return engine


class KnowledgeBase:
    """The sistema delle conoscenze (PTM art. 13): catalogued, versioned territorial layers."""

    def __init__(self, location: str | Path | None = None):
        self.url = url_from(location)
        if self.url.startswith("sqlite"):
            self.backend = "gpkg"
            self.path: Path | None = Path(self.url[len("sqlite:///"):])
            self.engine = _sqlite_engine(self.url)
        elif self.url.startswith("postgresql"):
            self.backend = "postgis"
            self.path = None
            self.engine = create_engine(self.url, pool_pre_ping=True)
        else:
            raise KnowledgeError(f"unsupported knowledge-base location {location!r}: "
                                 "give a .gpkg path or a postgresql:// URL")
        self._init_schema()

    def __repr__(self) -> str:
        where = self.path if self.path else self.engine.url.render_as_string(hide_password=True)
        return f"KnowledgeBase({self.backend}: {where})"

    @property
    def _placeholder(self) -> str:
        return "?" if self.backend == "gpkg" else "%s"

    # ------------------------------------------------------------------ transactions
    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[Connection]:
        """One transaction. ``write=True`` takes the write lock at BEGIN on SQLite (BEGIN IMMEDIATE),
        so concurrent writers queue instead of failing half-way."""
        with self.engine.connect() as conn:
            if self.backend == "gpkg" and write:
                conn = conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                yield conn

    def _init_schema(self) -> None:
        with self.transaction() as conn:
            if self.backend == "gpkg":
                for ddl in gpkg.BASE_DDL:
                    conn.exec_driver_sql(ddl)
                for row in gpkg.SRS_ROWS:
                    conn.exec_driver_sql(
                        "INSERT OR IGNORE INTO gpkg_spatial_ref_sys (srs_name, srs_id, organization, "
                        "organization_coordsys_id, definition, description) VALUES (?,?,?,?,?,?)", row)
            else:
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
            schema.metadata.create_all(conn)
            if self.backend == "gpkg":
                for t in ("kb_catalog", "kb_versions", "kb_feature_versions", "kb_audit"):
                    conn.exec_driver_sql(
                        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) "
                        "VALUES (?, 'attributes', ?, 'sttm knowledge-base bookkeeping')", (t, t))

    # ------------------------------------------------------------------ catalog
    def layers(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.catalog).order_by(schema.catalog.c.name)).mappings().all()
        return [dict(r) for r in rows]

    def has_layer(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(schema.catalog.c.name).where(schema.catalog.c.name == name)).first() is not None

    def catalog_entry(self, name: str) -> dict:
        with self.engine.connect() as conn:
            return self._entry(conn, name)

    def _entry(self, conn: Connection, name: str) -> dict:
        row = conn.execute(select(schema.catalog).where(schema.catalog.c.name == name)).mappings().first()
        if row is None:
            names = [r[0] for r in conn.execute(select(schema.catalog.c.name))]
            raise LayerNotFound(name, names)
        return dict(row)

    def input_fingerprint(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(schema.catalog.c.input_fingerprint)
                                .where(schema.catalog.c.name == name)).scalar()

    # ------------------------------------------------------------------ read
    def read_layer(self, name: str, version: int | None = None) -> gpd.GeoDataFrame | pd.DataFrame:
        """The layer as a GeoDataFrame in EPSG:32632 (a DataFrame for attribute tables)."""
        with self.engine.connect() as conn:
            entry = self._entry(conn, name)
            if version is None or version == entry["current_version"]:
                return self._read_current(conn, entry)
            return self._read_version(conn, entry, version)

    def _read_current(self, conn: Connection, entry: dict) -> pd.DataFrame:
        cols = json.loads(entry["schema_json"])
        names = [c for c, _ in cols]
        feats = entry["kind"] == "features"
        sel = ", ".join(_q(c) for c in names)
        if feats:
            gexpr = "geom" if self.backend == "gpkg" else "ST_AsBinary(geom)"
            sel = f"{gexpr} AS geom" + (", " + sel if sel else "")
        rows = conn.exec_driver_sql(f"SELECT {sel} FROM {_q(entry['name'])} ORDER BY fid").fetchall()
        if feats:
            blobs = [r[0] for r in rows]
            geoms = gpkg.decode(blobs) if self.backend == "gpkg" else shapely.from_wkb(
                np.array([bytes(b) if b is not None else None for b in blobs], dtype=object))
            df = pd.DataFrame([r[1:] for r in rows], columns=names)
            return gpd.GeoDataFrame(_restore_types(df, cols), geometry=geoms, crs=ANALYSIS_CRS)
        df = pd.DataFrame([tuple(r) for r in rows], columns=names)
        return _restore_types(df, cols)

    def _read_version(self, conn: Connection, entry: dict, version: int) -> pd.DataFrame:
        fv = schema.feature_versions
        vrow = conn.execute(select(schema.versions).where(schema.versions.c.layer == entry["name"],
                                                          schema.versions.c.version == version)).mappings().first()
        if vrow is None:
            raise VersionNotFound(f"layer '{entry['name']}' has no version {version} "
                                  f"(current: {entry['current_version']})")
        cols = json.loads(vrow["schema_json"])
        rows = conn.execute(
            select(fv.c.props, fv.c.geom_wkb).where(
                fv.c.layer == entry["name"], fv.c.v_from <= version,
                (fv.c.v_to.is_(None)) | (fv.c.v_to > version)).order_by(fv.c.id)).all()
        df = pd.DataFrame([json.loads(r[0]) for r in rows], columns=[c for c, _ in cols])
        df = _restore_types(df, cols)
        if entry["kind"] == "features":
            geoms = shapely.from_wkb(np.array([bytes(r[1]) if r[1] is not None else None for r in rows], dtype=object))
            return gpd.GeoDataFrame(df, geometry=geoms, crs=ANALYSIS_CRS)
        return df

    # ------------------------------------------------------------------ write
    def write_layer(self, name: str, data: pd.DataFrame, meta: LayerMeta, *, key: str,
                    loaded_by: str | None = None, input_fingerprint: str | None = None,
                    note: str = "", source_label: str | None = None) -> WriteResult:
        """Validate and write ``data`` as the new current version of ``name``.

        Identical content is a no-op (``changed=False``); otherwise a new version is created and
        the old one stays readable. All or nothing: any error leaves the knowledge base unchanged.
        """
        prepared = prepare(name, data, key, source=source_label)
        actor = loaded_by or current_user()
        with self.transaction() as conn:
            return self._write_prepared(conn, prepared, meta, actor, input_fingerprint, note)

    def write_layers(self, items: list[tuple[str, pd.DataFrame, LayerMeta, str]], *, loaded_by: str | None = None,
                     note: str = "") -> list[WriteResult]:
        """Write several layers as ONE transaction: ``items`` are (name, data, meta, key). Every layer is
        validated before anything is written; if any write fails, none of them happened."""
        prepared = [(prepare(name, data, key), meta) for name, data, meta, key in items]
        names = [p.name for p, _ in prepared]
        if len(set(names)) != len(names):
            raise KnowledgeError(f"write_layers: a layer is named twice ({', '.join(names)})")
        actor = loaded_by or current_user()
        with self.transaction() as conn:
            return [self._write_prepared(conn, p, meta, actor, None, note) for p, meta in prepared]

    def _write_prepared(self, conn: Connection, p: PreparedLayer, meta: LayerMeta, actor: str,
                        fingerprint: str | None, note: str) -> WriteResult:
        cat, fv, ver = schema.catalog, schema.feature_versions, schema.versions
        now = _utcnow()
        prev = conn.execute(select(cat).where(cat.c.name == p.name)).mappings().first()
        content_hash = p.content_hash
        meta_values = dict(title=meta.title, description=meta.description, source=meta.source,
                           licence=meta.licence, vintage=meta.vintage,
                           extra_json=json.dumps(meta.extra, sort_keys=True, default=str))
        if prev is not None and prev["key_field"] != p.key:
            raise KnowledgeError(f"layer '{p.name}' is keyed by '{prev['key_field']}', not '{p.key}'")
        if prev is not None and prev["kind"] != p.kind:
            raise KnowledgeError(f"layer '{p.name}' holds {prev['kind']}; cannot replace it with {p.kind}")

        if prev is not None and prev["content_hash"] == content_hash:
            changed_meta = {k: v for k, v in meta_values.items() if prev[k] != v}
            if changed_meta or (fingerprint and prev["input_fingerprint"] != fingerprint):
                conn.execute(cat.update().where(cat.c.name == p.name).values(
                    **changed_meta, input_fingerprint=fingerprint or prev["input_fingerprint"]))
                if changed_meta:
                    self._audit(conn, actor, "metadata", p.name, prev["current_version"], changed_meta)
            return WriteResult(p.name, prev["current_version"], False, None)

        version = 1 if prev is None else prev["current_version"] + 1
        old = {} if prev is None else dict(conn.execute(
            select(fv.c.fkey, fv.c.fhash).where(fv.c.layer == p.name, fv.c.v_to.is_(None))).all())
        new = dict(zip(p.keys, p.fhashes))
        added = [k for k in p.keys if k not in old]
        removed = [k for k in old if k not in new]
        changed_keys = [k for k in p.keys if k in old and old[k] != new[k]]
        idx = {k: i for i, k in enumerate(p.keys)}
        changed_fields: dict[str, list[str]] = {}
        for chunk in _chunks(changed_keys, 500):  # the old states of the changed features only
            for k, props, wkb in conn.execute(select(fv.c.fkey, fv.c.props, fv.c.geom_wkb).where(
                    fv.c.layer == p.name, fv.c.v_to.is_(None), fv.c.fkey.in_(chunk))):
                i = idx[k]
                changed_fields[k] = _changed_fields(props, wkb, p.props_json[i], p.wkb[i])
        closing = removed + changed_keys
        for chunk in _chunks(closing, 500):
            conn.execute(fv.update().where(fv.c.layer == p.name, fv.c.v_to.is_(None), fv.c.fkey.in_(chunk))
                         .values(v_to=version))
        opening = added + changed_keys
        if opening:
            ph = self._placeholder
            rows = [(p.name, k, version, p.fhashes[idx[k]], p.props_json[idx[k]], p.wkb[idx[k]]) for k in opening]
            for chunk in _chunks(rows, 5000):
                conn.exec_driver_sql("INSERT INTO kb_feature_versions (layer, fkey, v_from, fhash, props, geom_wkb) "
                                     f"VALUES ({', '.join([ph] * 6)})", chunk)
        schema_json = json.dumps(p.schema)
        conn.execute(ver.insert().values(layer=p.name, version=version, created_at=now, loaded_by=actor,
                                         source=meta.source, feature_count=len(p.keys), added=len(added),
                                         removed=len(removed), changed=len(changed_keys),
                                         content_hash=content_hash, schema_json=schema_json, note=note))
        self._replace_current_table(conn, p, meta, now)
        b = p.bounds or (None, None, None, None)
        values = dict(kind=p.kind, crs=ANALYSIS_CRS if p.kind == "features" else None,
                      geometry_type=p.geometry_type, key_field=p.key, min_x=b[0], min_y=b[1], max_x=b[2],
                      max_y=b[3], feature_count=len(p.keys), current_version=version,
                      content_hash=content_hash, input_fingerprint=fingerprint, schema_json=schema_json,
                      updated_at=now, loaded_by=actor, **meta_values)
        if prev is None:
            conn.execute(cat.insert().values(name=p.name, **values))
        else:
            conn.execute(cat.update().where(cat.c.name == p.name).values(**values))
        diff = LayerDiff(p.name, version - 1, version, added, removed,
                         {k: changed_fields[k] for k in changed_keys})
        self._audit(conn, actor, "load", p.name, version,
                    {"added": len(added), "removed": len(removed), "changed": len(changed_keys),
                     "source": meta.source, "note": note})
        return WriteResult(p.name, version, True, diff)

    def _replace_current_table(self, conn: Connection, p: PreparedLayer, meta: LayerMeta, now) -> None:
        t = _q(p.name)
        types = _GPKG_TYPES if self.backend == "gpkg" else _PG_TYPES
        cols_ddl = [f"{_q(c)} {types[typ]}" for c, typ in p.schema]
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {t}")
        if self.backend == "gpkg":
            self._drop_gpkg_registration(conn, p.name)
            geom_ddl = [f"geom {p.geometry_type}"] if p.kind == "features" else []
            conn.exec_driver_sql(f"CREATE TABLE {t} (fid INTEGER PRIMARY KEY AUTOINCREMENT, "
                                 + ", ".join(geom_ddl + cols_ddl) + ")")
            b = p.bounds or (None, None, None, None)
            conn.exec_driver_sql(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, "
                "min_x, min_y, max_x, max_y, srs_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (p.name, "features" if p.kind == "features" else "attributes", p.name,
                 f"{meta.title}. {meta.description}".strip(" ."), now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), *b,
                 ANALYSIS_EPSG if p.kind == "features" else None))
            if p.kind == "features":
                conn.exec_driver_sql(
                    "INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, 0, 0)",
                    (p.name, p.geometry_type, ANALYSIS_EPSG))
                geoms = gpkg.encode(p.geoms, ANALYSIS_EPSG)
        else:
            geom_ddl = [f"geom geometry(Geometry, {ANALYSIS_EPSG}) NOT NULL"] if p.kind == "features" else []
            conn.exec_driver_sql(f"CREATE TABLE {t} (fid BIGSERIAL PRIMARY KEY"
                                 + "".join(", " + d for d in geom_ddl + cols_ddl) + ")")
            if p.kind == "features":
                conn.exec_driver_sql(f"CREATE INDEX {_q(p.name + '_geom_idx')} ON {t} USING GIST (geom)")
                geoms = p.wkb
        names = [c for c, _ in p.schema]
        json_cols = {c for c, typ in p.schema if typ == "json"}
        ph = self._placeholder
        placeholders = [ph] * len(names)
        col_sql = [_q(c) for c in names]
        if p.kind == "features":
            col_sql.insert(0, "geom")
            placeholders.insert(0, ph if self.backend == "gpkg" else f"ST_GeomFromWKB({ph}, {ANALYSIS_EPSG})")
        sql = f"INSERT INTO {t} ({', '.join(col_sql)}) VALUES ({', '.join(placeholders)})"
        rows = []
        for i, rec in enumerate(p.records):
            row = tuple(json.dumps(rec[c], ensure_ascii=False) if c in json_cols and rec[c] is not None else rec[c]
                        for c in names)
            rows.append((geoms[i], *row) if p.kind == "features" else row)
        for chunk in _chunks(rows, 5000):
            conn.exec_driver_sql(sql, chunk)  # straight to the driver's executemany: no per-row overhead
        if self.backend == "gpkg" and p.kind == "features":
            # spatial index: filled in bulk from the bounds we already have, then kept by triggers
            rtree = _q(f"rtree_{p.name}_geom")
            conn.exec_driver_sql(f"CREATE VIRTUAL TABLE {rtree} USING rtree(id, minx, maxx, miny, maxy)")
            fids = [r[0] for r in conn.exec_driver_sql(f"SELECT fid FROM {t} ORDER BY fid")]
            b = shapely.bounds(p.geoms)
            conn.exec_driver_sql(f"INSERT INTO {rtree} VALUES (?,?,?,?,?)",
                                 [(f, x0, x1, y0, y1) for f, (x0, y0, x1, y1) in zip(fids, b.tolist())])
            for ddl in gpkg.rtree_triggers_ddl(p.name):
                conn.exec_driver_sql(ddl)
            conn.exec_driver_sql("INSERT INTO gpkg_extensions VALUES (?, 'geom', 'gpkg_rtree_index', ?, "
                                 "'write-only')", (p.name, gpkg.RTREE_DEFINITION))

    @staticmethod
    def _drop_gpkg_registration(conn: Connection, name: str) -> None:
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "rtree_{name}_geom"')
        for t in ("gpkg_extensions", "gpkg_geometry_columns", "gpkg_contents"):
            conn.exec_driver_sql(f"DELETE FROM {t} WHERE table_name = ?", (name,))

    def _audit(self, conn: Connection, actor: str, action: str, layer: str | None, version: int | None,
               detail: dict) -> None:
        conn.execute(schema.audit.insert().values(at=_utcnow(), actor=actor, action=action, layer=layer,
                                                  version=version, detail=json.dumps(detail, default=str)))

    # ------------------------------------------------------------------ history
    def history(self, name: str) -> pd.DataFrame:
        with self.engine.connect() as conn:
            self._entry(conn, name)
            rows = conn.execute(select(schema.versions).where(schema.versions.c.layer == name)
                                .order_by(schema.versions.c.version)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows]).drop(columns=["schema_json"])

    def diff(self, name: str, v1: int, v2: int) -> LayerDiff:
        """Which features (by stable key) were added, removed or changed from version v1 to v2."""
        fv = schema.feature_versions
        with self.engine.connect() as conn:
            entry = self._entry(conn, name)
            for v in (v1, v2):
                if not 1 <= v <= entry["current_version"]:
                    raise VersionNotFound(f"layer '{name}' has versions 1..{entry['current_version']}, not {v}")

            def state(v):
                return {r[0]: (r[1], r[2], r[3]) for r in conn.execute(
                    select(fv.c.fkey, fv.c.fhash, fv.c.props, fv.c.geom_wkb).where(
                        fv.c.layer == name, fv.c.v_from <= v, (fv.c.v_to.is_(None)) | (fv.c.v_to > v)))}
            a, b = state(v1), state(v2)
        changed: dict[str, list[str]] = {}
        for k in b:
            if k in a and a[k][0] != b[k][0]:
                changed[k] = _changed_fields(a[k][1], a[k][2], b[k][1], b[k][2])
        return LayerDiff(name, v1, v2, added=sorted(k for k in b if k not in a),
                         removed=sorted(k for k in a if k not in b), changed=changed)

    def audit_log(self, layer: str | None = None, limit: int = 100) -> pd.DataFrame:
        q = select(schema.audit).order_by(schema.audit.c.id.desc()).limit(limit)
        if layer:
            q = q.where(schema.audit.c.layer == layer)
        with self.engine.connect() as conn:
            return pd.DataFrame([dict(r) for r in conn.execute(q).mappings().all()])

    def drop_layer(self, name: str, actor: str | None = None) -> None:
        """Remove a layer and its history (for scratch layers; the audit trail keeps the fact)."""
        check_name(name)
        with self.transaction() as conn:
            self._entry(conn, name)
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_q(name)}")
            if self.backend == "gpkg":
                self._drop_gpkg_registration(conn, name)
            for t in (schema.feature_versions, schema.versions):
                conn.execute(t.delete().where(t.c.layer == name))
            conn.execute(schema.catalog.delete().where(schema.catalog.c.name == name))
            self._audit(conn, actor or current_user(), "drop", name, None, {})

    def dispose(self) -> None:
        self.engine.dispose()


def _changed_fields(props_a: str, wkb_a, props_b: str, wkb_b) -> list[str]:
    """Names of the fields that differ between two states of a feature ("geometry" last)."""
    pa, pb = json.loads(props_a), json.loads(props_b)
    fields = sorted(f for f in set(pa) | set(pb) if pa.get(f) != pb.get(f))
    if (bytes(wkb_a) if wkb_a is not None else None) != (bytes(wkb_b) if wkb_b is not None else None):
        fields.append("geometry")
    return fields


def _restore_types(df: pd.DataFrame, cols: list) -> pd.DataFrame:
    for c, typ in cols:
        s = df[c]
        if typ == "integer":
            df[c] = s.astype("Int64") if s.isna().any() else s.astype("int64")
        elif typ == "real":
            df[c] = pd.to_numeric(s, errors="coerce").astype("float64")
        elif typ == "boolean":
            df[c] = s.map(lambda v: None if v is None else bool(v)).astype("boolean") if s.isna().any() \
                else s.astype(bool)
        elif typ == "datetime":
            df[c] = pd.to_datetime(s)
        elif typ == "json":
            df[c] = s.map(lambda v: json.loads(v) if isinstance(v, str) else v)
        else:
            df[c] = s.astype(object).where(s.notna(), None)
    return df


def _chunks(seq: list, n: int):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def open_kb(location: str | Path | None = None) -> KnowledgeBase:
    """Open (creating if needed) the knowledge base at ``location`` (default: STTM_DB or var/sttm.gpkg)."""
    return KnowledgeBase(location)
