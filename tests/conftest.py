"""Shared fixtures. The real data is found through the project's data registry (STTM_DATA_MIRROR,
default ../shared/data); PostgreSQL+PostGIS is started by the tests themselves on a free port."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from sttm.config import data_mirror


@pytest.fixture(scope="session")
def pg_cluster():
    from sttm.knowledge.pgcluster import PgCluster, PostgresUnavailable
    try:
        cluster = PgCluster().start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not available here: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def postgis_url(pg_cluster) -> str:
    """One PostGIS database for the session (SQLAlchemy URL)."""
    return pg_cluster.new_database("sttm_session")


@pytest.fixture
def fresh_postgis_url(pg_cluster) -> str:
    """A new, empty PostGIS database for one test."""
    return pg_cluster.new_database()


@pytest.fixture(params=["gpkg", "postgis"])
def kb_url(request, tmp_path) -> str:
    """Run a test against both knowledge-base backends."""
    if request.param == "gpkg":
        return str(tmp_path / "kb.gpkg")
    return request.getfixturevalue("pg_cluster").new_database()


@pytest.fixture(scope="session")
def mirror() -> Path:
    m = data_mirror()
    if m is None or not m.is_dir():
        msg = "no data mirror (set STTM_DATA_MIRROR or put ../shared/data beside the project)"
        if os.environ.get("CI"):
            pytest.fail(msg + ": in CI the real-data tests must run, not skip")
        pytest.skip(msg)
    return m


@pytest.fixture(scope="session")
def real_kb_path(tmp_path_factory, mirror) -> str:
    """A GeoPackage knowledge base built once per session from the real data."""
    from sttm.knowledge import open_kb
    from sttm.territory import build_territory
    path = tmp_path_factory.mktemp("realkb") / "sttm.gpkg"
    kb = open_kb(path)
    build_territory(kb, mirror=mirror)
    kb.dispose()
    return str(path)
