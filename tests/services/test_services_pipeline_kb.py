"""End to end on a tiny knowledge base: access → LUM → scenario → ranking → atlases."""
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from sttm.knowledge import LayerMeta, open_kb
from sttm.services.atlas import AtlasInputError, render_atlas
from sttm.services.pipeline import ServicesRunError, run_access, run_location_scenario, run_lum, run_vulnerability

X0, Y0 = 500_000, 5_030_000
META = LayerMeta(title="test", source="hand-made", licence="CC0", vintage="2026")


@pytest.fixture()
def kb(tmp_path):
    return populate(open_kb(str(tmp_path / "kb.gpkg")))


def populate(kb):
    mun = gpd.GeoDataFrame({
        "istat_code": ["015146", "015209", "015182"], "name": ["Milano", "Sesto San Giovanni", "Rho"],
        "cadastral_code": ["F205", "I690", "H264"], "area_km2": [4.0, 4.0, 4.0],
        "residents_anpr_2025": [8000, 4000, 2000], "residents_istat_2021": [7900, 3900, 2000],
        "under12_istat_2021": [800, 500, 300], "density_per_km2": [2000.0, 1000, 500],
        "zone": ["Milano", None, None], "role": ["central_city", "attractor_pole", None],
        "geometry": [box(X0, Y0, X0 + 2000, Y0 + 2000), box(X0 + 2000, Y0, X0 + 4000, Y0 + 2000),
                     box(X0 + 4000, Y0, X0 + 6000, Y0 + 2000)]}, crs="EPSG:32632")
    kb.write_layer("municipalities", mun, META, key="istat_code")
    svc = gpd.GeoDataFrame({
        "service_id": ["p1", "p2", "s1", "s2", "h1"], "category": ["pharmacy", "pharmacy", "school", "school", "hospital"],
        "subcategory": ["farmacia", "farmacia", "primaria", "primaria", "ricovero"], "name": list("ABCDE"),
        "capacity": [None, None, 200, 100, None], "istat_code": ["015146", "015182", "015146", "015209", "015146"],
        "source": ["t"] * 5,
        "geometry": [Point(X0 + 1000, Y0 + 1000), Point(X0 + 5000, Y0 + 1100), Point(X0 + 500, Y0 + 500),
                     Point(X0 + 3000, Y0 + 900), Point(X0 + 1500, Y0 + 1500)]}, crs="EPSG:32632")
    kb.write_layer("services", svc, META, key="service_id")
    st = gpd.GeoDataFrame({
        "station_id": ["rail:1", "metro:1", "rail:2", "metro:2", "rail:3"],
        "name": ["MILANO X", "X M2", "SESTO FS", "SESTO M1", "RHO"], "mode": ["rail", "metro", "rail", "metro", "rail"],
        "lines": [None, "M2", None, "M1", None], "operator": ["RFI", "ATM", "RFI", "ATM", "RFI"],
        "istat_code": ["015146", "015146", "015209", "015209", "015182"], "in_cmm": [True] * 5,
        "interchange_with": [None] * 5, "sources": ["t"] * 5,
        "geometry": [Point(X0 + 1000, Y0 + 1000), Point(X0 + 1100, Y0 + 1000), Point(X0 + 3000, Y0 + 1000),
                     Point(X0 + 3250, Y0 + 1000), Point(X0 + 5000, Y0 + 1000)]}, crs="EPSG:32632")
    kb.write_layer("stations", st, META, key="station_id")
    hz = pd.DataFrame({"istat_code": ["015146", "015209", "015182"], "flood_pop_high": [80, 0, 200],
                       "flood_pop_high_pct": [1.0, 0.0, 10.0], "flood_area_high_km2": [0.1, 0.0, 0.5],
                       "pop_ispra_2020": [8000, 4000, 2000],
                       "landslide_pop_p3": [0, 30, 0], "landslide_pop_p4": [0, 10, 0], "landslide_pop_p2": [0, 500, 0]})
    kb.write_layer("hazard", hz, META, key="istat_code")
    return kb


def test_pipeline_end_to_end(kb, tmp_path):
    with pytest.raises(AtlasInputError, match="sttm access run"):
        render_atlas(kb, "comuni", tmp_path / "a", pdf=False)
    run = run_access(kb, cell_size=100)
    cells = kb.read_layer("access_cells")
    grid = kb.read_layer("demand_grid")
    assert len(cells) == len(grid) == 1200 and grid["pop"].sum() == pytest.approx(14000)
    assert cells["approximate"].all() and (cells["time_method"] == "straight_line_x1.30").all()
    bym = kb.read_layer("access_by_municipality").set_index("istat_code")
    assert bym.loc["015182", "pop"] == pytest.approx(2000)
    # the pharmacy cell of Rho: straight line 0 m -> nearest time 0 in that cell
    assert cells["t_pharmacy"].min() == pytest.approx(
        np.hypot(50, 50) * 1.3 / (4.5 * 1000 / 60), rel=1e-6)  # cell centres sit 50 m off the grid lines
    byz = kb.read_layer("access_by_zone").set_index("zone")
    # only Milano has a zone: its 400 cells × 20 residents (8000 / 400, uniform without built-up data)
    assert list(byz.index) == ["Milano"] and byz.loc["Milano", "pop"] == pytest.approx(8000)
    # pharmacy p1 at (1000, 1000) reaches cells within 15 min × 75 m/min / 1.3 = 865.4 m straight line;
    # centres at odd multiples u, v of 50 m with u²+v² ≤ 299.6: 9+9+8+8+7+7+6+4+2 = 60 per quadrant
    # → 240 of Milano's 400 cells → 60% of its residents
    assert byz.loc["Milano", "share_pharmacy"] == pytest.approx(0.6)
    assert any("anziani" in m for m in run.meta["missing_it"])

    table, cat, notes = run_lum(kb)
    lum = kb.read_layer("lum").set_index("lum_id")
    assert set(lum.index) == {"lum_rail_2", "lum_rail_3"}  # Milano's stations are not LUM
    assert lum.loc["lum_rail_2", "level"] == "metropolitano" and lum.loc["lum_rail_3", "level"] == "sovracomunale"
    assert lum.loc["lum_rail_3", "svc_pharmacy_r200"] == 1
    assert any("opportunity_areas" in n for n in notes)
    byl = kb.read_layer("access_by_lum").set_index("lum_id")
    # RHO station (5000, 1000), r500: cell centres at odd multiples u, v of 50 m with u²+v² < 100 →
    # 5+5+4+4+2 = 20 per quadrant = 80 cells × 5 residents (2000 / 400) = 400, all within 865 m of p2
    assert byl.loc["lum_rail_3", "pop"] == pytest.approx(400)
    assert byl.loc["lum_rail_3", "share_pharmacy"] == pytest.approx(1.0)

    name, chosen, summary = run_location_scenario(kb, "pharmacy", 1, method="mclp")
    assert name == "scenario_pharmacy_mclp_k1" and kb.has_layer(name)
    assert summary["candidates_source"] == "lum"  # no opportunity areas in the KB: said so
    # by hand: radius 15 min × 75 m/min = 1125 m network = 865.4 m straight (÷ 1.3); demand in 500 m
    # blocks (centres at 250 + 500i; block weights Milano 25×20 = 500, Sesto 25×10 = 250, Rho 25×5 = 125).
    # Before: p1 (1000,1000) covers the 12 Milano blocks that are not corners (corner: 750,750 → 1061 m)
    # = 6000; p2 (5000,1100) covers 10 Rho blocks (dx 250: dy 350/150/650 → 3 each side; dx 750:
    # dy 350/150 → 2 each side) = 1250. covered_before = 7250.
    # Candidates: lum_rail_2 at the centroid of SESTO FS/M1 (3125,1000) reaches 4+4+2 = 10 Sesto blocks
    # (dx 375 all, dx 125 all, dx 625 only dy 250) = 2500 new; lum_rail_3 (5000,1000) adds only the two
    # blocks at dx 250, dy 750 = 250. MCLP picks lum_rail_2: covered_after = 7250 + 2500 = 9750.
    assert summary["covered_before"] == pytest.approx(7250)
    assert summary["covered_after"] == pytest.approx(9750) and summary["total_demand"] == pytest.approx(14000)
    assert list(chosen["site_id"]) == ["lum_rail_2"]
    assert chosen["demand_newly_within_radius"].tolist() == pytest.approx([2500])
    with pytest.raises(ServicesRunError, match="assente"):
        run_location_scenario(kb, "library", 1)

    vname, ranked, skipped = run_vulnerability(kb, name)
    assert "soil_sealing" in skipped and len(ranked) == 1 and kb.has_layer(vname)
    # the chosen site is in Sesto: landslide persons P3 30 + P4 10 (P2 excluded) over ISPRA pop 4000
    assert ranked.iloc[0]["landslide_pop_share"] == pytest.approx(0.01)
    assert ranked.iloc[0]["flood_pop_high_share"] == pytest.approx(0.0)  # 0 / 4000

    res = render_atlas(kb, "comuni", tmp_path / "comuni", pdf=True)
    assert res["n_sheets"] == 3
    index = (tmp_path / "comuni" / "index.html").read_text()
    # Città centrale first, then the attractor pole
    assert index.index("Milano") < index.index("Sesto San Giovanni") < index.index("Rho")
    sheet = (tmp_path / "comuni" / "015182-rho.html").read_text()
    assert "<svg" in sheet and "Rho" in sheet and "APPROSSIMATI" in sheet and "2.000" in sheet
    assert (tmp_path / "comuni" / "atlante_comuni.pdf").read_bytes()[:4] == b"%PDF"
    res = render_atlas(kb, "lum", tmp_path / "lum", pdf=False)
    assert res["n_sheets"] == 2
    assert "LUM metropolitano" in (tmp_path / "lum" / "lum-rail-2.html").read_text()


def test_portal_pages(kb):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from sttm.services.web import router

    app = FastAPI()
    app.state.kb = kb
    app.include_router(router)
    client = TestClient(app)
    assert client.get("/servizi/atlante/comuni/").status_code == 503  # accessibility not computed yet
    run_access(kb, cell_size=200)
    run_lum(kb)
    r = client.get("/servizi/atlante/comuni/")
    assert r.status_code == 200 and 'href="015182-rho.html"' in r.text and 'href="015182-rho.pdf"' in r.text
    r = client.get("/servizi/atlante/comuni/015182-rho.html")
    assert r.status_code == 200 and "<svg" in r.text and "Polo urbano attrattore" not in r.text
    r = client.get("/servizi/atlante/lum/lum-rail-2.html")
    assert r.status_code == 200 and "SESTO FS" in r.text
    assert client.get("/servizi/atlante/lum/nope.html").status_code == 404
    assert client.get("/servizi/atlante/altro/").status_code == 404
    pdf = client.get("/servizi/atlante/comuni/015209-sesto-san-giovanni.pdf")
    assert pdf.status_code == 200 and pdf.content[:4] == b"%PDF"


@pytest.mark.postgis
def test_pipeline_on_postgis(fresh_postgis_url, tmp_path):
    kb = populate(open_kb(fresh_postgis_url))
    assert kb.backend == "postgis"
    run_access(kb, cell_size=200)
    run_lum(kb)
    run_location_scenario(kb, "pharmacy", 1, method="pmedian", solver="cbc")
    lum = kb.read_layer("lum").set_index("lum_id")
    assert lum.loc["lum_rail_2", "level"] == "metropolitano"
    assert lum.geometry.geom_type.eq("MultiPoint").all()
    cells = kb.read_layer("access_cells")
    assert cells["approximate"].all() and len(cells) == 300
    assert render_atlas(kb, "lum", tmp_path / "lum", pdf=False)["n_sheets"] == 2


@pytest.mark.realdata
@pytest.mark.slow
def test_real_data_access_lum_and_sheets(real_kb_path, tmp_path):
    import shutil

    path = tmp_path / "kb.gpkg"
    shutil.copy(real_kb_path, path)
    kb = open_kb(str(path))
    run = run_access(kb)
    mun = kb.read_layer("municipalities").set_index("istat_code")
    bym = kb.read_layer("access_by_municipality").set_index("istat_code")
    assert len(bym) == 133
    # the grid keeps every comune's residents
    assert bym["pop"].to_numpy() == pytest.approx(mun.loc[bym.index, "residents_anpr_2025"].to_numpy(float))
    assert run.meta["total_pop"] == pytest.approx(mun["residents_anpr_2025"].sum())
    run_lum(kb)
    lum = kb.read_layer("lum")
    sesto = lum[lum["municipality"] == "Sesto San Giovanni"]
    assert "metropolitano" in set(sesto["level"])  # Sesto 1° Maggio FS: rail–metro interchange
    assert (lum["istat_code"] != "015146").all()
    res = render_atlas(kb, "comuni", tmp_path / "atlas", pdf=False, only=["Rho", "Sesto San Giovanni", "Legnano"])
    assert res["n_sheets"] == 3
    import re

    svc = kb.read_layer("services")
    for slug, name in (("015182-rho", "Rho"), ("015209-sesto-san-giovanni", "Sesto San Giovanni"),
                       ("015118-legnano", "Legnano")):
        html = (tmp_path / "atlas" / f"{slug}.html").read_text()
        assert name in html and "<svg" in html and "Polo urbano attrattore" in html
        istat = slug[:6]
        # residents from the KB, Italian thousands separator written out here (not the atlas's own
        # formatter): e.g. Rho 51455 → "51.455"
        res = int(mun.loc[istat, "residents_anpr_2025"])
        it = f"{res:,}".replace(",", ".")
        assert res > 1000 and "." in it
        assert re.search(r"<th>Residenti \(ANPR, nov\. 2025\)</th>\s*<td class=\"num\">" + re.escape(it) + "</td>", html)
        # pharmacies of the comune in the `services` layer, shown in the Farmacia row of the table
        n_ph = int(((svc["category"] == "pharmacy") & (svc["istat_code"] == istat)).sum())
        assert n_ph > 0
        assert re.search(r"<tr><td>Farmacia</td><td class=\"num\">" + str(n_ph) + "</td>", html)


def test_result_layers_written_all_or_nothing(kb):
    from sttm.knowledge import LayerValidationError
    from sttm.services.pipeline import write_layers

    good = pd.DataFrame({"k": ["a", "b"], "v": [1, 2]})
    bad = pd.DataFrame({"k": ["a", "a"], "v": [1, 2]})  # duplicate key
    with pytest.raises(LayerValidationError):
        write_layers(kb, [("first_ok", good, META, "k"), ("second_bad", bad, META, "k")], "test")
    assert not kb.has_layer("first_ok") and not kb.has_layer("second_bad")
    write_layers(kb, [("first_ok", good, META, "k")], "test")
    assert kb.has_layer("first_ok")


def test_guidance_rules():
    from sttm.services.atlas import _guidance_comune, bar_chart

    row = pd.Series({"role": "attractor_pole", "name": "X"})
    rows = [
        {"label": "Farmacia", "share": 0.40, "cmm_share": 0.71, "r": 2.0, "cmm_r": 2.8, "per": 10000, "scale": "locale"},
        {"label": "Primaria", "share": 0.65, "cmm_share": 0.66, "r": 0.20, "cmm_r": 0.39, "per": 1, "scale": "locale"},
        {"label": "Ospedale", "share": 0.05, "cmm_share": 0.18, "r": 1.0, "cmm_r": 1.9, "per": 100000, "scale": "sovracomunale"},
    ]
    g = _guidance_comune(row, rows, [{"name": "X FS"}], {"flood_pop_high_pct": 2.5}, None, None)
    text = " | ".join(g)
    assert g[0].startswith("Polo urbano attrattore")
    assert "Farmacia: 40% dei residenti" in text and "contro 71%" in text  # 31 points under the mean
    assert "Primaria: 65%" not in text  # 1 point under the mean: no shortage
    assert "Primaria: offerta per bambino (2SFCA 0,20) sotto il 75% della media CMM (0,39)" in text
    assert "Ospedale 5% contro 18%" in text and "trasporto pubblico" in text  # supra-municipal: not a local shortage
    assert "nei LUM (X FS)" in text and "2,5% dei residenti in aree a pericolosità idraulica elevata" in text
    svg = bar_chart([("A", 0.5, 0.25), ("B", float("nan"), None)])
    assert svg.startswith("<svg") and "50%" in svg and "n.d." in svg
