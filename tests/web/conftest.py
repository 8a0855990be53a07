import shutil
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "remix"))  # importlib mode: helpers by path
sys.path.insert(0, str(Path(__file__).resolve().parent))

from remix_fixtures import build_small_kb  # noqa: E402

from sttm.web import auth  # noqa: E402
from web_helpers import PASSWORD, USERS  # noqa: E402
from sttm.web.app import create_app  # noqa: E402


@pytest.fixture(scope="session")
def template_kb(tmp_path_factory):
    path = tmp_path_factory.mktemp("kbtemplate") / "kb.gpkg"
    kb = build_small_kb(path)
    for name, (role, code) in USERS.items():
        auth.add_user(kb.engine, name, PASSWORD, role, code)
    with kb.engine.connect() as c:  # checkpoint the WAL so a file copy is complete
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    kb.dispose()
    return path


@pytest.fixture
def kb_path(template_kb, tmp_path):
    p = tmp_path / "kb.gpkg"
    shutil.copy(template_kb, p)
    return p


@pytest.fixture
def app(kb_path):
    a = create_app(str(kb_path), refresh_s=0.0)
    yield a
    a.state.kb.dispose()


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c
