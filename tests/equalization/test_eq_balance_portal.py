"""Portal forms of the diffusion balance through the real portal (sessions, CSRF, roles): the whole
workflow driven by a comune technician and a CMM planner, and the authorization matrix (every new
write route × every role), on the hand-made grid territory."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).parent))
from balance_fixtures import (grid_adjacency, grid_codes, grid_hydraulic, grid_municipalities,  # noqa: E402
                              grid_services)
from test_balance_store import HUB  # noqa: E402

PASSWORD = "Password-lunga-123"
HOST, OTHER = "015005", "015006"          # the HUB's adopting comune; a neighbour it affects


def build_kb(path: Path) -> None:
    from sttm.knowledge import LayerMeta, open_kb
    from sttm.web import auth
    kb = open_kb(str(path))
    meta = LayerMeta(title="t", description="d", source="test", licence="CC0", vintage="2026")
    kb.write_layers([("municipalities", grid_municipalities(), meta, "istat_code"),
                     ("adjacency", grid_adjacency(), meta, "pair_id"),
                     ("hydraulic_criticality", grid_hydraulic(), meta, "istat_code"),
                     ("services", grid_services(), meta, "service_id")], loaded_by="test")
    auth.ensure_schema(kb.engine)
    for code in grid_codes():
        auth.add_user(kb.engine, f"tec.{code}", PASSWORD, "technician", istat_code=code)
    auth.add_user(kb.engine, "planner1", PASSWORD, "planner")
    auth.add_user(kb.engine, "admin1", PASSWORD, "admin")
    kb.dispose()


def _checkpoint(path: Path) -> None:
    from sqlalchemy import create_engine
    eng = create_engine(f"sqlite:///{path}")
    with eng.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()


class Portal:
    def __init__(self, path: Path):
        from sttm.web.app import create_app
        self.app = create_app(str(path), refresh_s=0.0)
        self.client = TestClient(self.app)
        self.csrf = ""

    def as_(self, username: str | None) -> "Portal":
        from sttm.web import auth
        self.client.cookies.clear()
        self.csrf = ""
        if username:
            token, user = auth.login(self.app.state.kb.engine, username, PASSWORD)
            self.client.cookies.set(auth.SESSION_COOKIE, token)
            self.csrf = user.csrf_token
        return self

    def post(self, url: str, data: dict | None = None, files=None, csrf: bool = True):
        d = dict(data or {})
        if csrf:
            d["csrf_token"] = self.csrf
        return self.client.post(url, data=d, files=files, follow_redirects=False)

    def close(self):
        self.client.close()
        self.app.state.kb.dispose()


def hub_file(istat: str = HOST) -> dict:
    return {"file": ("hub.json", json.dumps({**HUB, "act": {**HUB["act"], "istat_code": istat}}).encode(),
                     "application/json")}


def n_balances(portal: Portal) -> int:
    from sttm.equalization.balance import store
    store.ensure_schema(portal.app.state.kb)
    with portal.app.state.kb.engine.connect() as c:
        return c.execute(select(func.count()).select_from(store.results)).scalar_one()


# ------------------------------------------------------------------------------ the workflow
def test_workflow_through_the_portal(tmp_path):
    from sttm.equalization.fund import Ledger
    path = tmp_path / "portal.gpkg"
    build_kb(path)
    p = Portal(path)
    try:
        assert p.as_(None).client.get("/bilanci/proponi").status_code == 401
        # a technician of the host comune submits; a bad file is refused with its reason, nothing recorded
        p.as_(f"tec.{HOST}")
        assert p.client.get("/bilanci/proponi").status_code == 200
        bad = {"file": ("x.json", b'{"act": {"kind": "SUAP", "istat_code": "015005", "title": "x"}, "forecasts": []}',
                        "application/json")}
        r = p.post("/bilanci/proponi", files=bad)
        assert r.status_code == 422 and "Nulla è stato registrato" in r.text and n_balances(p) == 0
        r = p.post("/bilanci/proponi", files=hub_file())
        assert r.status_code == 303, r.text
        url = r.headers["location"].split("?")[0]
        bid = url.split("/")[2]
        page = p.client.get(url)
        assert page.status_code == 200 and "metropolitana" in page.text and 'data-testid="open-conference"' not in page.text
        # the planner opens the conference, records the positions, closes it, drafts the agreement
        p.as_("planner1")
        assert p.post(f"/bilanci/{bid}/conferenza").status_code == 303
        cid = f"CC-{bid}"
        from sttm.equalization.balance import conference as cf
        invited = cf.conference_state(p.app.state.kb, cid).invited
        assert HOST in invited and OTHER in invited
        for code in invited:
            if code != OTHER:
                assert p.post(f"/conferenze/{cid}/posizione", {"istat_code": code, "stance": "favourable"}).status_code == 303
        r = p.post(f"/conferenze/{cid}/chiusura", {"outcome": "agreement"})
        assert r.status_code == 409 and OTHER in r.text           # a position is still due: refused, explained
        p.as_(f"tec.{OTHER}")                                       # the neighbour records its own position
        assert p.post(f"/conferenze/{cid}/posizione", {"istat_code": OTHER, "stance": "favourable_with_conditions",
                                                       "text": "fascia boscata"}).status_code == 303
        p.as_("planner1")
        assert p.post(f"/conferenze/{cid}/chiusura", {"outcome": "agreement"}).status_code == 303
        assert p.post(f"/conferenze/{cid}/accordo", {}).status_code == 303
        aid = f"AT-{bid}"
        signatories = cf.agreement_state(p.app.state.kb, aid).signatories
        assert "CMM" in signatories
        # each comune signs through its own technician, CMM through the planner
        for s in signatories:
            p.as_("planner1" if s == "CMM" else f"tec.{s}")
            page = p.client.get(url)
            assert 'data-testid="sign-agreement"' in page.text
            assert p.post(f"/accordi/{aid}/firma", {"signatory": s}).status_code == 303
        p.as_("planner1")
        r = p.post(f"/accordi/{aid}/esito", {"note": "parere favorevole"})
        assert r.status_code == 303
        page = p.client.get(url)
        assert 'data-testid="agreement-status">concluso' in page.text
        # the fund share entered the fund ledger with the agreement as its cause
        fund = next(a["amount_cents"] for a in cf.agreement_state(p.app.state.kb, aid).allocation
                    if a["recipient_kind"] == "fund")
        led = Ledger(p.app.state.kb.engine)
        assert led.balance("financial", "fund") == fund and led.verify().ok
        assert {x["cause_ref"] for x in led.postings()} == {aid}
    finally:
        p.close()


# ----------------------------------------------------------------------- authorization matrix
ROLES = ["anon", "tec_own", "tec_other", "planner1", "admin1"]
STAGES = ["imported", "open", "positions", "closed", "drafted", "signed"]


@pytest.fixture(scope="module")
def stages(tmp_path_factory) -> dict[str, Path]:
    """Knowledge bases at each stage of the workflow (built once, copied per case)."""
    from sttm.equalization.balance import Territory, load_params
    from sttm.equalization.balance import conference as cf
    from sttm.equalization.balance.importer import import_proposal
    from sttm.knowledge import open_kb
    d = tmp_path_factory.mktemp("eq_stages")
    work = d / "work.gpkg"
    build_kb(work)
    params = load_params()
    out = {}

    def snap(name):
        kb.dispose()
        _checkpoint(work)
        out[name] = d / f"{name}.gpkg"
        shutil.copy(work, out[name])

    kb = open_kb(str(work))
    t = Territory.from_frames(grid_municipalities(), grid_adjacency(), grid_hydraulic(), grid_services())
    _, bid, _ = import_proposal(kb, HUB, params, "tester", t)
    snap("imported")
    st = cf.open_conference(kb, bid, params, "cmm")
    snap("open")
    for code in st.invited:
        cf.record_position(kb, st.conference_id, code, "favourable", "", code)
    snap("positions")
    cf.close_conference(kb, st.conference_id, "agreement", "cmm")
    snap("closed")
    a = cf.draft_agreement(kb, st.conference_id, params, "cmm")
    snap("drafted")
    for s in a.signatories:
        cf.sign_agreement(kb, a.agreement_id, s, s)
    snap("signed")
    kb.dispose()
    out["bid"] = bid
    return out


def _routes(bid: str) -> dict:
    cid, aid = f"CC-{bid}", f"AT-{bid}"
    own_other = {"tec_own": f"tec.{OTHER}", "tec_other": "tec.015001"}
    return {
        # name: (stage, url, data per role, users for the technician roles, expected per role)
        "submit": ("imported", "/bilanci/proponi", lambda role: {}, {"tec_own": f"tec.{HOST}", "tec_other": f"tec.{OTHER}"},
                   {"anon": 401, "tec_own": 303, "tec_other": 403, "planner1": 303, "admin1": 303}),
        "open": ("imported", f"/bilanci/{bid}/conferenza", lambda role: {}, own_other,
                 {"anon": 401, "tec_own": 403, "tec_other": 403, "planner1": 303, "admin1": 303}),
        "position": ("open", f"/conferenze/{cid}/posizione", lambda role: {"istat_code": OTHER, "stance": "favourable"},
                     own_other, {"anon": 401, "tec_own": 303, "tec_other": 403, "planner1": 303, "admin1": 303}),
        "close": ("positions", f"/conferenze/{cid}/chiusura", lambda role: {"outcome": "agreement"}, own_other,
                  {"anon": 401, "tec_own": 403, "tec_other": 403, "planner1": 303, "admin1": 303}),
        "draft": ("closed", f"/conferenze/{cid}/accordo", lambda role: {"post_comuni_to_fund": "0"}, own_other,
                  {"anon": 401, "tec_own": 403, "tec_other": 403, "planner1": 303, "admin1": 303}),
        "sign": ("drafted", f"/accordi/{aid}/firma",
                 lambda role: {"signatory": "CMM" if role in ("planner1", "admin1") else OTHER}, own_other,
                 {"anon": 401, "tec_own": 303, "tec_other": 403, "planner1": 303, "admin1": 303}),
        "sign_cmm_as_technician": ("drafted", f"/accordi/{aid}/firma", lambda role: {"signatory": "CMM"}, own_other,
                                   {"anon": 401, "tec_own": 403, "tec_other": 403, "planner1": 303, "admin1": 303}),
        "outcome": ("signed", f"/accordi/{aid}/esito", lambda role: {}, own_other,
                    {"anon": 401, "tec_own": 403, "tec_other": 403, "planner1": 303, "admin1": 303}),
    }


def _state(portal: Portal) -> tuple:
    """Everything the workflow writes: balances, conference and agreement events, fund postings."""
    from sttm.equalization.balance import store
    from sttm.equalization.fund import ensure_schema, schema
    ensure_schema(portal.app.state.kb.engine)
    with portal.app.state.kb.engine.connect() as c:
        return tuple(c.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (store.results, store.conference_events, store.agreement_events, schema.postings))


@pytest.mark.parametrize("route", ["submit", "open", "position", "close", "draft", "sign", "sign_cmm_as_technician",
                                   "outcome"])
def test_authorization_matrix(stages, tmp_path, route):
    stage, url, data, techs, expected = _routes(stages["bid"])[route]
    files = (lambda: hub_file()) if route == "submit" else (lambda: None)
    # refusals first, on one copy: each is refused and changes nothing (nor does a missing CSRF token)
    path = tmp_path / "refusals.gpkg"
    shutil.copy(stages[stage], path)
    p = Portal(path)
    try:
        before = _state(p)
        for role in ROLES:
            if expected[role] == 303:
                p.as_(role if role in ("planner1", "admin1") else techs[role])
                r = p.post(url, data(role), files=files(), csrf=False)
                assert r.status_code == 403, (route, role, "no csrf", r.status_code)
                continue
            p.as_(None if role == "anon" else techs.get(role, role))
            r = p.post(url, data(role), files=files())
            assert r.status_code == expected[role], (route, role, r.status_code, r.text[:300])
        assert _state(p) == before
    finally:
        p.close()
    # each allowed role on a fresh copy: the step is recorded
    for role in (r_ for r_ in ROLES if expected[r_] == 303):
        path = tmp_path / f"{role}.gpkg"
        shutil.copy(stages[stage], path)
        p = Portal(path)
        try:
            before = _state(p)
            p.as_(role if role in ("planner1", "admin1") else techs[role])
            r = p.post(url, data(role), files=files())
            assert r.status_code == 303, (route, role, r.status_code, r.text[:300])
            assert _state(p) != before
        finally:
            p.close()
