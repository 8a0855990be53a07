"""The registry on both knowledge-base backends: concurrent edits, publication, OGC API."""

import threading

import pytest
from fastapi.testclient import TestClient

from remix_fixtures import build_small_kb
from sttm.remix import registry
from sttm.remix.registry import Conflict, SystemActor


@pytest.mark.postgis
def test_concurrent_edits_one_wins(kb_url):
    kb = build_small_kb(kb_url)
    try:
        with kb.engine.connect() as c:
            rec = registry.get_intervention(c, "T-MI-1")
        barrier = threading.Barrier(4)
        outcome = []

        def edit(n):
            barrier.wait()
            try:
                with registry.writing(kb.engine) as c:
                    registry.update_intervention(c, SystemActor(username=f"u{n}"), "T-MI-1",
                                                 {**rec, "title": f"titolo {n}"}, rec["row_version"])
                outcome.append(("ok", n))
            except Conflict:
                outcome.append(("conflict", n))

        threads = [threading.Thread(target=edit, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [n for kind, n in outcome if kind == "ok"]
        assert len(winners) == 1 and len(outcome) == 4
        with kb.engine.connect() as c:
            final = registry.get_intervention(c, "T-MI-1")
            trail = [t for t in registry.audit_trail(c, "T-MI-1") if t["action"] == "update"]
        assert final["title"] == f"titolo {winners[0]}" and final["row_version"] == rec["row_version"] + 1
        assert [t["username"] for t in trail] == [f"u{winners[0]}"]
    finally:
        kb.dispose()


@pytest.mark.postgis
def test_publication_and_ogcapi_on_both_backends(kb_url):
    from sttm.web.app import create_app

    kb = build_small_kb(kb_url)
    kb.dispose()
    app = create_app(kb_url, refresh_s=0)
    try:
        with TestClient(app) as client:
            fc = client.get("/ogcapi/collections/interventions/items?limit=10").json()
            assert fc["numberMatched"] == 3
            assert {f["id"] for f in fc["features"]} == {"T-MI-1", "T-RHO-1", "T-MULTI-1"}
            rho = client.get("/ogcapi/collections/interventions/items?istat_code=015182").json()
            assert [f["id"] for f in rho["features"]] == ["T-RHO-1"]
    finally:
        app.state.kb.dispose()


@pytest.mark.postgis
def test_users_sessions_and_throttling_on_both_backends(kb_url):
    from sttm.knowledge import open_kb
    from sttm.web import auth

    kb = open_kb(kb_url)
    try:
        auth.add_user(kb.engine, "tec.rho", "password-lunga-1", "technician", "015182")
        with pytest.raises(ValueError, match="esiste già"):
            auth.add_user(kb.engine, "tec.rho", "password-lunga-2", "planner")
        token, user = auth.login(kb.engine, "tec.rho", "password-lunga-1", "10.0.0.1")
        assert auth.session_user(kb.engine, token).istat_code == "015182"
        for _ in range(auth.THROTTLE_MAX_PER_USER):
            with pytest.raises(auth.AuthError):
                auth.login(kb.engine, "tec.rho", "sbagliata", "10.0.0.2")
        with pytest.raises(auth.Throttled):
            auth.login(kb.engine, "tec.rho", "password-lunga-1", "10.0.0.3")
        auth.set_active(kb.engine, "tec.rho", False)
        assert auth.session_user(kb.engine, token) is None
    finally:
        kb.dispose()
