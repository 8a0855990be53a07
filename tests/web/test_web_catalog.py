"""Catalogo dei dati: every knowledge-base layer with its metadata, versions, downloads and licence notices."""
import io
import json
import re

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point

from sttm.knowledge import LayerMeta


def _rows(html: str) -> dict[str, str]:
    """The catalogue table's rows by layer name."""
    return dict(re.findall(r'<tr data-layer="([^"]+)">(.*?)</tr>', html, re.S))


def test_index_lists_every_layer_with_licence_flags(client, app):
    layers = app.state.kb.layers()
    r = client.get("/catalogo")
    assert r.status_code == 200
    rows = _rows(r.text)
    assert set(rows) == {e["name"] for e in layers}
    for e in layers:
        assert f'href="/catalogo/{e["name"]}"' in rows[e["name"]]
        assert f'{e["feature_count"]}</td>' in rows[e["name"]]
    # the 2016 map of degraded areas (CC BY-NC 4.0) is flagged, CC BY comuni are not
    assert 'data-testid="nc-badge"' in rows["opportunity_areas"]
    assert 'data-testid="nc-badge"' not in rows["municipalities"]
    # a layer whose licence is not declared says so
    assert "non dichiarata" in rows["stations"] and "Licenza da verificare" in rows["stations"]
    # the portal navigation links the catalogue
    assert 'href="/catalogo"' in client.get("/").text


def test_layer_page_shows_metadata_history_downloads_and_ogc_link(client, app):
    e = app.state.kb.catalog_entry("municipalities")
    r = client.get("/catalogo/municipalities")
    assert r.status_code == 200
    html = r.text
    for value in (e["title"], e["source"], e["licence"], e["vintage"], e["crs"], e["loaded_by"]):
        assert value in html
    assert f'data-testid="layer-version">{e["current_version"]}<' in html
    assert str(round(e["min_x"])) in html and str(round(e["max_y"])) in html
    for fmt in ("gpkg", "geojson", "csv"):
        assert f'href="/catalogo/municipalities/scarica/{fmt}"' in html
    assert 'href="/ogcapi/collections/municipalities"' in html
    assert client.get("/ogcapi/collections/municipalities").status_code == 200
    assert 'data-testid="nc-notice"' not in html
    nc = client.get("/catalogo/opportunity_areas").text
    assert 'data-testid="nc-notice"' in nc and "non a fini commerciali" in nc
    # the NC notice sits in the download block, before the links
    assert nc.index('data-testid="nc-notice"') < nc.index('data-testid="downloads"')


def test_downloads_match_the_layer(client, app, tmp_path):
    kb = app.state.kb
    ref = kb.read_layer("municipalities")
    r = client.get("/catalogo/municipalities/scarica/gpkg")
    assert r.status_code == 200 and 'filename="municipalities-v1.gpkg"' in r.headers["content-disposition"]
    (tmp_path / "m.gpkg").write_bytes(r.content)
    got = pyogrio.read_dataframe(tmp_path / "m.gpkg")
    assert sorted(got["istat_code"]) == sorted(ref["istat_code"])
    assert got.crs.to_epsg() == 32632
    assert got.geometry.area.sum() == pytest.approx(ref.geometry.area.sum())

    gj = json.loads(client.get("/catalogo/municipalities/scarica/geojson").content)
    assert len(gj["features"]) == len(ref)
    lon, lat = gj["features"][0]["geometry"]["coordinates"][0][0]
    assert 8 < lon < 10 and 45 < lat < 46  # WGS84 around Milano

    csv = pd.read_csv(io.BytesIO(client.get("/catalogo/municipalities/scarica/csv").content), dtype={"istat_code": str})
    assert sorted(csv["istat_code"]) == sorted(ref["istat_code"]) and csv["wkt"].str.startswith("POLYGON").all()
    # the licence travels with the file
    assert client.get("/catalogo/opportunity_areas/scarica/csv").headers["x-licence"].startswith("CC BY-NC")


def test_old_versions_stay_downloadable(client, app):
    kb = app.state.kb
    st = kb.read_layer("stations")
    more = pd.concat([st, gpd.GeoDataFrame({"station_id": ["S9"], "name": ["Nuova"], "mode": ["rail"],
                                            "istat_code": ["015182"]}, geometry=[Point(st.geometry[0].x + 10, st.geometry[0].y)],
                                           crs=st.crs)], ignore_index=True)
    kb.write_layer("stations", more, LayerMeta(title="Stazioni (test)"), key="station_id", loaded_by="tester")
    page = client.get("/catalogo/stations").text
    hist = re.search(r'data-testid="history-table">(.*?)</table>', page, re.S).group(1)
    assert hist.count("<tr>") == 1 + len(kb.history("stations")) == 3  # header + two versions
    assert "tester" in hist
    v1 = pd.read_csv(io.BytesIO(client.get("/catalogo/stations/scarica/csv?versione=1").content))
    v2 = pd.read_csv(io.BytesIO(client.get("/catalogo/stations/scarica/csv").content))
    assert len(v1) == len(st) and len(v2) == len(st) + 1 and "S9" in set(v2["station_id"])
    assert client.get("/catalogo/stations/scarica/csv?versione=7").status_code == 404


def test_tables_and_unknown_names(client, app):
    kb = app.state.kb
    kb.write_layer("tabella_prova", pd.DataFrame({"k": ["a", "b"], "v": [1, 2]}),
                   LayerMeta(title="Tabella di prova", licence="CC0 1.0"), key="k", loaded_by="tester")
    page = client.get("/catalogo/tabella_prova").text
    assert "/catalogo/tabella_prova/scarica/csv" in page and "/catalogo/tabella_prova/scarica/gpkg" not in page
    assert "nessuno (tabella senza geometria)" in page
    r = client.get("/catalogo/tabella_prova/scarica/gpkg")
    assert r.status_code == 404 and "senza geometria" in r.text
    assert client.get("/catalogo/tabella_prova/scarica/csv").status_code == 200
    r = client.get("/catalogo/nessuno")
    assert r.status_code == 404 and "non è nel catalogo" in r.text
    assert client.get("/catalogo/municipalities/scarica/shp").status_code == 404


def test_every_navigation_link_resolves(tmp_path):
    """Header and footer links of every portal page, on a KB with the wings' layers (no /bilanci, /fondo:
    the equalization wing is reworking them)."""
    from web_wings_kb import build_wings_kb

    from sttm.web.app import create_app

    build_wings_kb(tmp_path / "kb.gpkg").dispose()
    app = create_app(str(tmp_path / "kb.gpkg"), refresh_s=0.0)
    try:
        with TestClient(app) as c:
            home = c.get("/").text
            header_footer = home[:home.index('<main')] + home[home.index('</main>'):]
            links = sorted({h for h in re.findall(r'href="(/[^"#]*)"', header_footer)
                            if not h.startswith("/static/") and h not in ("/bilanci", "/fondo")})
            assert {"/mappa", "/catalogo", "/servizi", "/sttm1", "/sttm3"} <= set(links)
            bad = {h: c.get(h).status_code for h in links}
            assert all(s < 400 for s in bad.values()), bad
    finally:
        app.state.kb.dispose()


def test_wing_pages_without_their_layers_say_which_command_builds_them(client):
    """On the Remix KB (no STTM 2/3 results) the wing pages keep the portal layout and name the command."""
    r = client.get("/servizi/atlante/comuni/")
    assert r.status_code == 503
    assert "Dati non ancora disponibili" in r.text and "sttm access run" in r.text
    assert 'id="main-nav"' in r.text and 'href="/catalogo"' in r.text
    r = client.get("/sttm3")
    assert r.status_code == 200 and "sttm production import" in r.text and 'id="main-nav"' in r.text
    assert 'class="sttm-doc"' in r.text and '<header class="testata">' not in r.text
