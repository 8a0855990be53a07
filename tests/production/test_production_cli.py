"""`sttm production …` end to end on a throw-away knowledge base built from the hand-made scene."""
import geopandas as gpd
import pytest
from typer.testing import CliRunner

from sttm.production.cli import production_app
from sttm.knowledge import LayerMeta, open_kb

from production_scene import B

runner = CliRunner()


def _kb_with_territory(url, scene):
    kb = open_kb(url)
    meta = LayerMeta(title="test", source="hand-made scene")
    kb.write_layer("municipalities", scene["municipalities"], meta, key="istat_code")
    kb.write_layer("stations", scene["stations"], meta, key="station_id")
    kb.write_layer("services", scene["services"], meta, key="service_id")
    kb.write_layer("hazard", scene["hazard"], meta, key="istat_code")
    return kb


def _files(tmp_path, scene):
    f = {}
    for name in ("pgt", "roads", "junctions", "farmland", "sites"):
        f[name] = tmp_path / f"{name}.gpkg"
        scene[name].to_file(f[name])
    dusaf = gpd.GeoDataFrame({"COD_TOT": ["134", "1121", "2111"]},
                             geometry=[scene["brownfields"].geometry[0], scene["residential"].geometry[0],
                                       B(7000, 7000, 9500, 9500)], crs="EPSG:32632")
    f["dusaf"] = tmp_path / "dusaf.gpkg"
    dusaf.to_file(f["dusaf"])
    f["stops"] = tmp_path / "stops.geojson"       # two bus stops near P2 (within 800 m), one far away
    gpd.GeoDataFrame({"linee": ["90", "91", "92"]}, geometry=gpd.points_from_xy(
        [510000 + 5100, 510000 + 4800, 510000 + 19000], [5030000 + 4700, 5030000 + 5200, 5030000 + 9000]),
        crs="EPSG:32632").to_crs(4326).to_file(f["stops"])
    return f


def _invoke(*args):
    r = runner.invoke(production_app, [*map(str, args)])   # what `sttm production ...` runs
    return r


def _run_all(db, f):
    r = _invoke("import", "--pgt", f["pgt"], "--pgt-class", "zona", "--pgt-id", "cod", "--pgt-name", "nome",
                "--dusaf", f["dusaf"], "--roads", f["roads"], "--junctions", f["junctions"],
                "--pt-stops", f["stops"], "--db", db)
    assert r.exit_code == 0, r.output
    assert "OSM: nessun estratto" in r.output                      # says plainly what it could not use
    r = _invoke("constraints", "--layer", f"strategic_farmland={f['farmland']}", "--db", db)
    assert r.exit_code == 0, r.output
    assert "protected_areas" in r.output                           # missing constraint layers are listed
    r = _invoke("poles", "--db", db)
    assert r.exit_code == 0, r.output
    r = _invoke("sites", f["sites"], "--id-field", "site_id", "--name-field", "name", "--grid",
                f["sites"].with_name("grid.tif"), "--res", "100", "--db", db)
    assert r.exit_code == 0, r.output
    assert f["sites"].with_name("grid.tif").exists() and "griglia 100 m" in r.output


def test_cli_end_to_end(tmp_path, scene):
    db = str(tmp_path / "kb.gpkg")
    kb = _kb_with_territory(db, scene)
    # an opportunity area (regeneration) registered by the municipalities, and a third site on it
    opp = gpd.GeoDataFrame({"area_id": ["OA1"]}, geometry=[B(3000, 3000, 3500, 3500)], crs="EPSG:32632")
    kb.write_layer("opportunity_areas", opp, LayerMeta(title="test"), key="area_id")
    scene["sites"] = gpd.GeoDataFrame(
        {"site_id": [*scene["sites"]["site_id"], "opp"], "name": [*scene["sites"]["name"], "Area di opportunità"]},
        geometry=[*scene["sites"].geometry, B(3100, 3100, 3300, 3300)], crs="EPSG:32632")
    f = _files(tmp_path, scene)
    _run_all(db, f)
    p = kb.read_layer("productive_poles").set_index("pole_id")
    assert p.loc["pgt:P1", "verdict"] == "polo" and p.loc["pgt:P2", "failed_rules"] == "POLE_SIZE"
    assert p.loc["pgt:P2", "pt_stops_800m"] == 3                  # station S2 + the two bus stops
    s = kb.read_layer("production_sites").set_index("site_id")
    # same hand-worked values as test_worked_cases, now through files, DUSAF (brownfield 134, homes 1121) and the KB
    assert s.loc["brown", "suitability"] == pytest.approx(82.5)
    assert s.loc["opp", "s_regeneration"] == 1.0 and s.loc["brown", "s_regeneration"] == 1.0
    assert s.loc["farm", "verdict"] == "respinta" and "Ambiti agricoli strategici" in s.loc["farm", "reason"]
    land = kb.read_layer("production_land_status")
    assert land["area_m2"].sum() == pytest.approx(200e6, rel=1e-6)   # the partition covers both comuni
    assert land.set_index("land_id").loc["015002:attention", "area_m2"] > 90e6   # Beta: flood-hazard comune

    r = _invoke("report", "pole", "pgt:P1", "--out", tmp_path / "polo.html", "--db", db)
    assert r.exit_code == 0, r.output
    html = (tmp_path / "polo.html").read_text()
    assert "Polo produttivo di rilevanza sovracomunale" in html and "<svg" in html
    r = _invoke("report", "site", "farm", "--out", tmp_path / "sito.pdf", "--db", db)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "sito.pdf").read_bytes()[:4] == b"%PDF"
    r = _invoke("report", "site", "brown", "--out", tmp_path / "sito.html", "--db", db)
    assert "brown – Logistica su area dismessa" in (tmp_path / "sito.html").read_text()

    prop = tmp_path / "prop.toml"
    prop.write_text('[proposal]\nid="PR9"\nname="Logistica su suolo agricolo"\ncategory="logistics_large"\n'
                    'gfa_m2=30000\nsite_area_m2=200000\nsite="farm.gpkg"\nrenewable_share=70\n'
                    'hydraulic_invariance=true\npermeable_share=25\ngreen_share=15\nlandscape_level=1\n'
                    'jobs_per_ha=25\n')
    (tmp_path / "farm.gpkg").unlink(missing_ok=True)
    scene["sites"].iloc[[0]].to_file(tmp_path / "farm.gpkg")
    r = _invoke("evaluate", prop, "--db", db)
    assert r.exit_code == 0, r.output
    assert "Esito: respinta" in r.output
    row = kb.read_layer("production_proposals").set_index("proposal_id").loc["PR9"]
    assert row["verdict"] == "respinta" and row["heavy_trucks_day"] == pytest.approx(18.41 * 30 * 0.30, abs=0.01)
    r = _invoke("report", "proposal", prop, "--out", tmp_path / "proposta.html", "--db", db)
    assert r.exit_code == 0 and "Ambiti agricoli strategici" in (tmp_path / "proposta.html").read_text()

    # portal pages read the same layers
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from sttm.production.web import router
    web = FastAPI()
    web.state.kb = kb
    web.include_router(router)
    with TestClient(web) as client:
        page = client.get("/sttm3")
        assert page.status_code == 200 and "Polo Alfa" in page.text and "PR9" in page.text
        assert client.get("/sttm3/poli/pgt:P1").status_code == 200
        assert client.get("/sttm3/siti/nope").status_code == 404
        sites = {r["site_id"]: r for r in client.get("/sttm3/siti.json").json()}
        assert sites["brown"]["suitability"] == pytest.approx(82.5) and sites["farm"]["suitability"] is None


def test_cli_bad_input_writes_nothing(tmp_path, scene):
    db = str(tmp_path / "kb.gpkg")
    kb = _kb_with_territory(db, scene)
    nocrs = tmp_path / "pgt_nocrs.shp"
    gpd.GeoDataFrame({"zona": ["D1"]}, geometry=[B(0, 0, 100, 100)]).to_file(nocrs)
    f = _files(tmp_path, scene)
    r = _invoke("import", "--pgt", nocrs, "--pgt-class", "zona", "--roads", f["roads"], "--db", db)
    assert r.exit_code == 2 and "CRS" in r.output and "pgt_nocrs.shp" in r.output
    assert not kb.has_layer("productive_areas") and not kb.has_layer("production_roads")
    r = _invoke("constraints", "--layer", "moon_base=x.gpkg", "--db", db)
    assert r.exit_code == 2 and "moon_base" in r.output


@pytest.mark.postgis
def test_pipeline_on_postgis(fresh_postgis_url, tmp_path, scene):
    kb = _kb_with_territory(fresh_postgis_url, scene)
    f = _files(tmp_path, scene)
    _run_all(fresh_postgis_url, f)
    assert kb.backend == "postgis"
    s = kb.read_layer("production_sites").set_index("site_id")
    assert s.loc["brown", "suitability"] == pytest.approx(82.5)
