import re
import shutil
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "remix"))

from remix_fixtures import build_small_kb  # noqa: E402

from sttm.web import auth  # noqa: E402
from sttm.web.app import create_app  # noqa: E402

PASSWORD = "password-di-prova-1"
USERS = {"admin1": ("admin", None), "planner1": ("planner", None),
         "tec.milano": ("technician", "015146"), "tec.rho": ("technician", "015182")}


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


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; return the session's CSRF token."""
    page = client.get("/accedi")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/accedi", data={"username": username, "password": password, "csrf_token": token, "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/remix/interventi")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
