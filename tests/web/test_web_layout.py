"""Portal layout: the comune page is titled by name; the wings' documents are served inside the portal
(header, navigation, footer), with their tables scrollable on phones and one visible title."""
import re

import pytest
from fastapi.testclient import TestClient

from web_wings_kb import build_wings_kb


def test_comune_page_is_titled_by_name(client):
    html = client.get("/comuni/015182").text
    assert re.search(r"<h1[^>]*>Rho</h1>", html) and "<title>Rho — " in html


@pytest.fixture(scope="module")
def wings_client(tmp_path_factory):
    from sttm.web.app import create_app

    path = tmp_path_factory.mktemp("wings_layout") / "kb.gpkg"
    build_wings_kb(path).dispose()
    app = create_app(str(path), refresh_s=0.0)
    with TestClient(app) as c:
        yield c
    app.state.kb.dispose()


@pytest.mark.parametrize("path", ["/sttm1", "/sttm1/valuta", "/sttm1/schede/flood:015146:Parcheggio via Esempio",
                                  "/servizi/atlante/comuni/", "/servizi/atlante/comuni/015182-rho.html",
                                  "/servizi/atlante/lum/lum_rail_2.html"])
def test_wing_documents_inside_the_portal(wings_client, path):
    r = wings_client.get(path)
    assert r.status_code == 200
    html = r.text
    assert html.count('id="main-nav"') == 1 and 'id="footer"' in html and 'href="#main-container"' in html
    assert '<header class="testata">' not in html and 'class="sttm-doc"' in html
    assert html.count("<h1") == 1
    tables = re.findall(r"<table\b", html)
    wrapped = re.findall(r'<div class="table-responsive" tabindex="0" role="region" aria-label="[^"]+"><table\b', html)
    assert len(wrapped) == len(tables)
    # the wing's own style rules are scoped to the document body, never to the portal
    for style in re.findall(r"<style>(.*?)</style>", html, re.S):
        for selector in re.findall(r"([^{}]+)\{", style):
            assert all(s.strip().startswith(".sttm-doc-body") for s in selector.split(",")), selector


def test_atlas_sheet_keeps_one_visible_title(wings_client):
    html = wings_client.get("/servizi/atlante/comuni/015182-rho.html").text
    assert re.search(r'<h1 class="visually-hidden">Rho</h1>', html)
    html = wings_client.get("/sttm1").text
    assert re.search(r'<h1 class="h2 mb-3">STTM 1 — Schede norma e catalogo NBS</h1>', html)
