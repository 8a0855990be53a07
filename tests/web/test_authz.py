"""Authorization matrix: every write route × every role, enforced on the server."""

import re

import pytest
import sqlalchemy as sa

from web_helpers import login
from sttm.remix import registry

ROLES = ["anon", "tec.milano", "tec.rho", "planner1", "admin1"]
CSV_MI = b"intervention_id,title,istat_codes,status\nCSV-1,Da file,015146,in_corso\n"


def _version(app, entity, rid):
    with app.state.kb.engine.connect() as c:
        if entity == "intervention":
            return registry.get_intervention(c, rid)["row_version"]
        return registry.get_opportunity(c, rid)["row_version"]


ROUTES = {
    # name: (request builder, expected status per role)
    "create_intervention_milano": (
        lambda app: ("/remix/interventi/nuovo", {"intervention_id": "NEW-MI", "title": "Nuovo", "istat_codes": "015146",
                                                 "status": "in_corso"}, None),
        {"anon": 401, "tec.milano": 303, "tec.rho": 403, "planner1": 303, "admin1": 303}),
    "update_intervention_milano": (
        lambda app: ("/remix/interventi/T-MI-1/modifica", {"title": "Modificato", "istat_codes": "015146",
                                                           "status": "in_corso",
                                                           "row_version": _version(app, "intervention", "T-MI-1")}, None),
        {"anon": 401, "tec.milano": 303, "tec.rho": 403, "planner1": 303, "admin1": 303}),
    "update_intervention_forged_comune": (  # a Rho technician claims the Milano record is in Rho
        lambda app: ("/remix/interventi/T-MI-1/modifica", {"title": "Rubato", "istat_codes": "015182",
                                                           "status": "in_corso",
                                                           "row_version": _version(app, "intervention", "T-MI-1")}, None),
        {"anon": 401, "tec.milano": 403, "tec.rho": 403, "planner1": 303, "admin1": 303}),
    "update_intervention_multi_comune": (
        lambda app: ("/remix/interventi/T-MULTI-1/modifica", {"title": "X", "istat_codes": ["015146", "015182"],
                                                              "status": "in_corso",
                                                              "row_version": _version(app, "intervention", "T-MULTI-1")}, None),
        {"anon": 401, "tec.milano": 403, "tec.rho": 403, "planner1": 303, "admin1": 303}),
    "delete_intervention_rho": (
        lambda app: ("/remix/interventi/T-RHO-1/elimina", {"row_version": _version(app, "intervention", "T-RHO-1")}, None),
        {"anon": 401, "tec.milano": 403, "tec.rho": 303, "planner1": 303, "admin1": 303}),
    "create_area_milano": (
        lambda app: ("/remix/aree/nuova", {"area_id": "NEW-A", "name": "Area", "kind": "brownfield", "istat_code": "015146",
                                           "lon": "9.19", "lat": "45.46"}, None),
        {"anon": 401, "tec.milano": 303, "tec.rho": 403, "planner1": 303, "admin1": 303}),
    "update_area_milano": (
        lambda app: ("/remix/aree/O-MI-1/modifica", {"name": "Scalo", "kind": "brownfield", "istat_code": "015146",
                                                     "row_version": _version(app, "opportunity", "O-MI-1")}, None),
        {"anon": 401, "tec.milano": 303, "tec.rho": 403, "planner1": 303, "admin1": 303}),
    "import_csv_milano": (
        lambda app: ("/remix/importa", {"kind": "intervention"}, {"file": ("i.csv", CSV_MI, "text/csv")}),
        {"anon": 401, "tec.milano": 200, "tec.rho": 403, "planner1": 200, "admin1": 200}),
    "publish": (
        lambda app: ("/remix/pubblica", {}, None),
        {"anon": 401, "tec.milano": 403, "tec.rho": 403, "planner1": 200, "admin1": 200}),
    "create_user": (
        lambda app: ("/admin/utenti", {"username": "nuovo.utente", "password": "abcdefghijkl", "role": "planner"}, None),
        {"anon": 401, "tec.milano": 403, "tec.rho": 403, "planner1": 403, "admin1": 303}),
    "disable_user": (
        lambda app: ("/admin/utenti/tec.rho/stato", {"active": "0"}, None),
        {"anon": 401, "tec.milano": 403, "tec.rho": 403, "planner1": 403, "admin1": 303}),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_write_route_matrix(app, client, route, role):
    build, expected = ROUTES[route]
    csrf = login(client, role) if role != "anon" else ""
    url, data, files = build(app)
    data = {**data, "csrf_token": csrf}
    before = _snapshot(app)
    r = client.post(url, data=data, files=files, follow_redirects=False)
    assert r.status_code == expected[role], (route, role, r.status_code, r.text[:300])
    if expected[role] >= 400:
        assert _snapshot(app) == before, "a refused request changed the database"
    elif route not in NO_REGISTRY_EFFECT:
        assert _snapshot(app) != before, "an allowed request wrote nothing"


#: allowed routes whose effect is outside the registry tables snapshotted below (checked elsewhere)
NO_REGISTRY_EFFECT = {"publish"}  # writes the published layers: test_publish_makes_edit_public


def _snapshot(app):
    with app.state.kb.engine.connect() as c:
        return [c.execute(sa.text(f"SELECT * FROM {t} ORDER BY 1")).all()
                for t in ("remix_interventions", "remix_opportunity_areas", "remix_funding", "web_users")]


def test_missing_or_wrong_csrf_is_refused(app, client):
    login(client, "planner1")
    v = _version(app, "intervention", "T-MI-1")
    for token in (None, "sbagliato"):
        data = {"title": "X", "istat_codes": "015146", "status": "in_corso", "row_version": v}
        if token:
            data["csrf_token"] = token
        r = client.post("/remix/interventi/T-MI-1/modifica", data=data, follow_redirects=False)
        assert r.status_code == 403 and "CSRF" in r.text


def test_stale_edit_gives_409(app, client):
    csrf = login(client, "tec.milano")
    v = _version(app, "intervention", "T-MI-1")
    ok = client.post("/remix/interventi/T-MI-1/modifica", data={"title": "Prima", "istat_codes": "015146",
                     "status": "in_corso", "row_version": v, "csrf_token": csrf}, follow_redirects=False)
    assert ok.status_code == 303
    stale = client.post("/remix/interventi/T-MI-1/modifica", data={"title": "Seconda", "istat_codes": "015146",
                        "status": "in_corso", "row_version": v, "csrf_token": csrf}, follow_redirects=False)
    assert stale.status_code == 409
    assert 'data-testid="conflict"' in stale.text and f'name="row_version" value="{v + 1}"' in stale.text
    assert 'value="Seconda"' in stale.text  # the user's text is kept for a deliberate re-submission
    with app.state.kb.engine.connect() as c:
        rec = registry.get_intervention(c, "T-MI-1")
        trail = registry.audit_trail(c, "T-MI-1")
    assert rec["title"] == "Prima" and rec["row_version"] == v + 1
    assert [t["username"] for t in trail if t["action"] == "update"] == ["tec.milano"]


def test_technician_edit_page_of_other_comune_is_403(client):
    login(client, "tec.rho")
    assert client.get("/remix/interventi/T-MI-1/modifica").status_code == 403
    assert client.get("/remix/interventi/T-RHO-1/modifica").status_code == 200


def test_login_throttling(client):
    page = client.get("/accedi")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    codes = [client.post("/accedi", data={"username": "tec.rho", "password": "sbagliata!!", "csrf_token": token},
                         follow_redirects=False).status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    # even the right password is refused while throttled
    r = client.post("/accedi", data={"username": "tec.rho", "password": "password-di-prova-1", "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_passwords_are_argon2_hashed(app):
    with app.state.kb.engine.connect() as c:
        hashes = [r[0] for r in c.execute(sa.text("SELECT password_hash FROM web_users"))]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)


def test_publish_makes_edit_public(app, client):
    csrf = login(client, "planner1")
    v = _version(app, "intervention", "T-RHO-1")
    client.post("/remix/interventi/T-RHO-1/modifica", data={"title": "Biblioteca civica", "istat_codes": "015182",
                "status": "completato", "row_version": v, "csrf_token": csrf})
    before = client.get("/ogcapi/collections/interventions/items/T-RHO-1").json()
    assert before["properties"]["title"] == "Biblioteca di Rho"
    assert client.post("/remix/pubblica", data={"csrf_token": csrf}).status_code == 200
    after = client.get("/ogcapi/collections/interventions/items/T-RHO-1").json()
    assert after["properties"]["title"] == "Biblioteca civica"
