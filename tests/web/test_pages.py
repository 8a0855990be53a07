"""Portal pages: dashboard totals, comune page, import errors, wing templates."""

import sys

from web_helpers import login


def test_dashboard_counts_each_project_once(client):
    html = client.get("/cruscotto").text
    assert 'data-testid="total-cost">3.500.000 €' in html  # 1 M + 0.5 M + 2 M (multi-comune once)
    assert 'data-testid="n-interventions">3<' in html
    # by comune, the Milano–Rho project counts in full in both
    assert "3.000.000 €" in html and "2.500.000 €" in html
    filtered = client.get("/cruscotto?fonte=Bando%20Periferie").text
    assert 'data-testid="total-cost">500.000 €' in filtered
    by_zone = client.get("/cruscotto?zona=Nord%20Ovest").text  # Rho's zone: the library and the cycle path
    assert 'data-testid="total-cost">2.500.000 €' in by_zone


def test_comune_page_and_404(client):
    html = client.get("/comuni/015182").text
    assert "Rho" in html and "Biblioteca di Rho" in html and "Ciclovia Milano-Rho" in html
    assert client.get("/comuni/015999").status_code == 404


def test_bad_import_reports_rows_and_writes_nothing(app, client):
    csrf = login(client, "planner1")
    bad = b"intervention_id,title,istat_codes,status\nA1,Ok,015146,in_corso\nA2,,015146,finito\n"
    r = client.post("/remix/importa", data={"kind": "intervention", "csrf_token": csrf},
                    files={"file": ("lotto.csv", bad, "text/csv")})
    assert r.status_code == 422
    assert "lotto.csv riga 3" in r.text and "&#39;title&#39;: obbligatorio" in r.text
    assert client.get("/remix/interventi/A1").status_code == 404


def test_wing_template_extends_portal_base(app, client, tmp_path):
    pkg = tmp_path / "wingpkg"
    (pkg / "templates").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "templates" / "hello.html").write_text(
        '{% extends "base.html" %}{% block title %}Prova{% endblock %}{% block content %}<h1>Ciao {{ who }}</h1>{% endblock %}')
    sys.path.insert(0, str(tmp_path))
    try:
        from fastapi import Request

        from sttm.web.pages import render_page

        @app.get("/prova-ala")
        async def hello(request: Request):
            return render_page(request, "wingpkg", "hello.html", {"who": "mondo"})

        html = client.get("/prova-ala").text
        assert "<h1>Ciao mondo</h1>" in html and 'lang="it"' in html and "Vai al contenuto principale" in html
    finally:
        sys.path.remove(str(tmp_path))


def test_html_errors_for_browsers_json_for_api(client):
    assert client.get("/remix/interventi/NOPE").headers["content-type"].startswith("text/html")
    r = client.get("/ogcapi/collections/nope")
    assert r.status_code == 404 and r.json()["code"] == "404"


def test_public_reads_published_version_only(app, client):
    csrf = login(client, "planner1")
    with app.state.kb.engine.connect() as c:
        from sttm.remix import registry
        v = registry.get_intervention(c, "T-RHO-1")["row_version"]
    client.post("/remix/interventi/T-RHO-1/modifica", data={"title": "Bozza non pubblicata", "istat_codes": "015182",
                "status": "completato", "row_version": v, "csrf_token": csrf})
    assert "Bozza non pubblicata" in client.get("/remix/interventi/T-RHO-1").text
    client.cookies.clear()
    public = client.get("/remix/interventi/T-RHO-1").text
    assert "Bozza non pubblicata" not in public and "Biblioteca di Rho" in public
    assert "Bozza non pubblicata" not in client.get("/remix/interventi").text


def test_opportunity_page_public_and_nuova_route(client):
    html = client.get("/remix/aree/O-MI-1").text
    assert "Scalo dismesso" in html and "CC BY-NC 4.0" in html and "Area dismessa" in html
    assert client.get("/remix/aree/nuova").status_code == 401  # not shadowed by the detail route
    assert client.get("/remix/aree/NOPE").status_code == 404
