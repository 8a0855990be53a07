"""Fund pages: a comune sees only its own accounts, CMM sees all."""
from __future__ import annotations

from types import SimpleNamespace

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from sttm.equalization import web_fund
from sttm.equalization.fund import Ledger, contribution


def _client(tmp_path, user):
    eng = create_engine(f"sqlite:///{tmp_path / 'kb.gpkg'}")
    led = Ledger(eng, rights=lambda i, a: True)
    for c in ("015146", "015010"):
        led.post(contribution(1000, source="developer", comune=c, cause_type="agreement", cause_ref=f"AT-{c}",
                              author="t", author_role="cmm"))
    app = FastAPI()
    app.state.kb = SimpleNamespace(engine=eng)
    app.include_router(web_fund.router)
    app.dependency_overrides[web_fund.fund_user] = lambda: user
    return TestClient(app)


def test_comune_sees_only_its_own(tmp_path):
    c = _client(tmp_path, SimpleNamespace(role="technician", istat_code="015146"))
    r = c.get("/fondo", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/fondo/comune/015146"
    r = c.get("/fondo/comune/015146")
    assert r.status_code == 200 and "AT-015146" in r.text and "AT-015010" not in r.text
    assert c.get("/fondo/comune/015010").status_code == 403
    j = c.get("/api/fondo/saldi?comune=015010").json()
    assert j["comune"] == "015146" and {r["comune"] for r in j["by_comune"]} == {"015146"}


def test_cmm_sees_all_and_anonymous_nothing(tmp_path):
    c = _client(tmp_path, SimpleNamespace(role="planner", istat_code=None))
    r = c.get("/fondo")
    assert r.status_code == 200 and "AT-015146" in r.text and "AT-015010" in r.text
    assert c.get("/fondo/comune/015010").status_code == 200
    (tmp_path / "anon").mkdir()
    anonymous = _client(tmp_path / "anon", None)
    assert anonymous.get("/fondo").status_code == 401
    assert anonymous.get("/api/fondo/saldi").status_code == 401


def test_pages_in_the_portal(tmp_path):
    """Through the real portal: sessions of a comune technician and of a CMM planner."""
    from sttm.web import auth
    from sttm.web.app import create_app
    db = str(tmp_path / "portal.gpkg")
    app = create_app(db)
    eng = app.state.kb.engine
    Ledger(eng, rights=lambda i, a: True).post(contribution(1000, source="developer", comune="015146",
                                                            cause_type="agreement", cause_ref="AT-P",
                                                            author="t", author_role="cmm"))
    auth.add_user(eng, "tecnico.mi", "Password-lunga-123", "technician", istat_code="015146")
    auth.add_user(eng, "pianificatore", "Password-lunga-123", "planner")
    client = TestClient(app)
    assert client.get("/fondo", follow_redirects=False).status_code == 401
    token, _ = auth.login(eng, "tecnico.mi", "Password-lunga-123")
    client.cookies.set(auth.SESSION_COOKIE, token)
    assert client.get("/fondo/comune/015146").status_code == 200
    assert client.get("/fondo/comune/015010").status_code == 403
    token, _ = auth.login(eng, "pianificatore", "Password-lunga-123")
    client.cookies.set(auth.SESSION_COOKIE, token)
    r = client.get("/fondo")
    assert r.status_code == 200 and "AT-P" in r.text
