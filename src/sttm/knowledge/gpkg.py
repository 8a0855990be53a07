"""The GeoPackage side of the embedded store: the OGC GeoPackage 1.4 base tables and the
geometry blob codec (GeoPackage header + ISO WKB).

We write the blobs ourselves, through the same SQLAlchemy connection as everything else, so a
layer load is one SQLite transaction; GDAL/QGIS read the result as a plain GeoPackage.
"""
from __future__ import annotations

import struct

import numpy as np
import shapely

APPLICATION_ID = 0x47504B47  # "GPKG"
USER_VERSION = 10400         # GeoPackage 1.4

_EPSG_32632_WKT = (
    'PROJCS["WGS 84 / UTM zone 32N",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],'
    'UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]],'
    'PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",9],'
    'PARAMETER["scale_factor",0.9996],PARAMETER["false_easting",500000],PARAMETER["false_northing",0],'
    'UNIT["metre",1,AUTHORITY["EPSG","9001"]],AXIS["Easting",EAST],AXIS["Northing",NORTH],'
    'AUTHORITY["EPSG","32632"]]'
)
_EPSG_4326_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],'
    'AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],'
    'UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],'
    'AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)

BASE_DDL = [
    """CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
        srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY, organization TEXT NOT NULL,
        organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT)""",
    """CREATE TABLE IF NOT EXISTS gpkg_contents (
        table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
        description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
        CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))""",
    """CREATE TABLE IF NOT EXISTS gpkg_extensions (
        table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
        scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))""",
    """CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
        table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
        srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
        CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
        CONSTRAINT uk_gc_table_name UNIQUE (table_name),
        CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
        CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))""",
]

SRS_ROWS = [
    ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
    ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
    ("WGS 84 geodetic", 4326, "EPSG", 4326, _EPSG_4326_WKT, "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid"),
    ("WGS 84 / UTM zone 32N", 32632, "EPSG", 32632, _EPSG_32632_WKT, "analysis CRS of sttm"),
]

_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def encode(geoms: np.ndarray, srs_id: int) -> list[bytes | None]:
    """Shapely geometries → GeoPackage blobs (little-endian, XY envelope except for points)."""
    wkb = shapely.to_wkb(geoms, byte_order=1, output_dimension=2)
    bounds = shapely.bounds(geoms)
    types = shapely.get_type_id(geoms)
    empty = shapely.is_empty(geoms)
    out: list[bytes | None] = []
    for i, w in enumerate(wkb):
        if w is None:
            out.append(None)
            continue
        if empty[i]:
            out.append(b"GP\x00" + bytes([0x01 | 0x10]) + struct.pack("<i", srs_id) + w)
        elif types[i] == 0:  # point: no envelope needed
            out.append(b"GP\x00\x01" + struct.pack("<i", srs_id) + w)
        else:
            minx, miny, maxx, maxy = bounds[i]
            out.append(b"GP\x00\x03" + struct.pack("<i4d", srs_id, minx, maxx, miny, maxy) + w)
    return out


def decode(blobs) -> np.ndarray:
    """GeoPackage blobs → shapely geometries (None stays None)."""
    wkbs = []
    for b in blobs:
        if b is None:
            wkbs.append(None)
            continue
        b = bytes(b)
        if b[:2] != b"GP":
            raise ValueError("not a GeoPackage geometry blob")
        hlen = 8 + _ENVELOPE_BYTES[(b[3] >> 1) & 0x07]
        wkbs.append(b[hlen:])
    return shapely.from_wkb(np.array(wkbs, dtype=object))


RTREE_DEFINITION = "http://www.geopackage.org/spec120/#extension_rtree"


def rtree_triggers_ddl(table: str) -> list[str]:
    """The maintenance triggers of the spec's R-tree spatial index of ``table.geom`` (GeoPackage 1.2
    §F.3). They call ST_MinX…ST_IsEmpty: GDAL/QGIS provide them, and so does ``register_functions``
    on our own connections. We create them after a bulk load (the index is filled in one go)."""
    r, t = f'"rtree_{table}_geom"', f'"{table}"'
    return [
        f"CREATE TRIGGER \"rtree_{table}_geom_insert\" AFTER INSERT ON {t} WHEN (new.geom NOT NULL AND "
        f"NOT ST_IsEmpty(NEW.geom)) BEGIN INSERT OR REPLACE INTO {r} VALUES (NEW.fid, ST_MinX(NEW.geom), "
        f"ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END",
        f"CREATE TRIGGER \"rtree_{table}_geom_update1\" AFTER UPDATE OF geom ON {t} WHEN OLD.fid = NEW.fid AND "
        f"(NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom)) BEGIN INSERT OR REPLACE INTO {r} VALUES (NEW.fid, "
        f"ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END",
        f"CREATE TRIGGER \"rtree_{table}_geom_update2\" AFTER UPDATE OF geom ON {t} WHEN OLD.fid = NEW.fid AND "
        f"(NEW.geom ISNULL OR ST_IsEmpty(NEW.geom)) BEGIN DELETE FROM {r} WHERE id = OLD.fid; END",
        f"CREATE TRIGGER \"rtree_{table}_geom_update3\" AFTER UPDATE ON {t} WHEN OLD.fid != NEW.fid AND "
        f"(NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom)) BEGIN DELETE FROM {r} WHERE id = OLD.fid; "
        f"INSERT OR REPLACE INTO {r} VALUES (NEW.fid, ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), "
        f"ST_MaxY(NEW.geom)); END",
        f"CREATE TRIGGER \"rtree_{table}_geom_update4\" AFTER UPDATE ON {t} WHEN OLD.fid != NEW.fid AND "
        f"(NEW.geom ISNULL OR ST_IsEmpty(NEW.geom)) BEGIN DELETE FROM {r} WHERE id IN (OLD.fid, NEW.fid); END",
        f"CREATE TRIGGER \"rtree_{table}_geom_delete\" AFTER DELETE ON {t} WHEN old.geom NOT NULL "
        f"BEGIN DELETE FROM {r} WHERE id = OLD.fid; END",
    ]


def _envelope(blob):
    """(minx, maxx, miny, maxy, empty) of a GeoPackage blob, for the SQL functions below."""
    if blob is None:
        return None
    b = bytes(blob)
    flags = b[3]
    if flags & 0x10:
        return (None, None, None, None, True)
    if (flags >> 1) & 0x07:
        return (*struct.unpack("<4d", b[8:40]), False)
    g = shapely.from_wkb(b[8:])
    minx, miny, maxx, maxy = g.bounds
    return (minx, maxx, miny, maxy, g.is_empty)


def register_functions(dbapi_conn) -> None:
    """ST_MinX/MaxX/MinY/MaxY/IsEmpty on GeoPackage blobs, so the R-tree triggers run in our
    connections as they do in GDAL's."""
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        dbapi_conn.create_function(name, 1, lambda blob, i=i: (_envelope(blob) or (None,) * 5)[i],
                                   deterministic=True)
    dbapi_conn.create_function("ST_IsEmpty", 1, lambda blob: None if blob is None else int(_envelope(blob)[4]),
                               deterministic=True)
