"""A throw-away PostgreSQL cluster for the fund's PostGIS-marked tests, used until the shared
``postgis_url`` fixture of tests/conftest.py exists (then that one is used instead)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.geteuid() == 0 else cmd


class PgCluster:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="sttm_fund_pg_"))
        self.port = _free_port()
        self.data = self.dir / "data"

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                                     "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)
        opts = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} " \
               f"-c fsync=on -c max_connections=40 -c shared_buffers=32MB"
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l",
                                     str(self.dir / "log"), "-w", "start"]), check=True, capture_output=True)
        subprocess.run(_as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                                     "postgres", "sttm"]), check=True, capture_output=True)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/sttm"

    def stop(self) -> None:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def own_pg_server():
    """Our own cluster, only when the shared fixtures of tests/conftest.py are missing."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 binaries not installed")
    cl = PgCluster()
    try:
        url = cl.start()
    except subprocess.CalledProcessError as exc:
        cl.stop()
        pytest.skip(f"cannot start PostgreSQL: {exc.stderr!r}")
    yield url
    cl.stop()


@pytest.fixture
def pg_url(request):
    """A fresh, empty database: the shared ``fresh_postgis_url`` fixture when it exists, else
    our own cluster with the fund/procedure tables dropped."""
    try:
        return request.getfixturevalue("fresh_postgis_url")
    except pytest.FixtureLookupError:
        pass
    url = request.getfixturevalue("own_pg_server")
    from sqlalchemy import create_engine
    from sttm.equalization.fund import schema as fs
    from sttm.procedures import schema as ps
    eng = create_engine(url)
    ps.metadata.drop_all(eng)
    fs.metadata.drop_all(eng)
    eng.dispose()
    return url
