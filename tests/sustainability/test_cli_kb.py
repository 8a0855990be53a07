"""CLI and knowledge-base round trip on a small hand-made knowledge base."""
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box
from typer.testing import CliRunner

from sttm.knowledge import LayerMeta, open_kb
from sttm.sustainability.cli import nbs_app
from sttm.sustainability.siteio import EXAMPLES

runner = CliRunner()


def populate(url: str) -> str:
    """A two-comune knowledge base (Milano class A with full LSPP; Abbiategrasso class B, n blank)."""
    kb = open_kb(url)
    meta = LayerMeta(title="test")
    mun = gpd.GeoDataFrame(
        {"istat_code": ["015146", "015002"], "name": ["Milano", "Abbiategrasso"], "area_km2": [181.7, 47.8],
         "residents_anpr_2025": [1_400_000, 32_000], "residents_istat_2021": [1_397_715, 32_476],
         "under12_istat_2021": [137_441, 3_500]},
        geometry=[box(510_000, 5_030_000, 511_000, 5_031_000), box(511_000, 5_030_000, 512_000, 5_031_000)],
        crs="EPSG:32632")
    kb.write_layer("municipalities", mun, meta, key="istat_code", loaded_by="test")
    hc = pd.DataFrame({"istat_code": ["015146", "015002"], "criticality_class": ["A", "B"],
                       "a1": [29.87, 29.28], "n": [0.3006, None], "alpha": [0.2958, 0.2982],
                       "kappa": [-0.0358, -0.0473], "epsilon": [0.8179, 0.8126]})
    kb.write_layer("hydraulic_criticality", hc, meta, key="istat_code", loaded_by="test")
    hz = pd.DataFrame({"istat_code": ["015146", "015002"], "flood_area_high_km2": [4.65, 12.889],
                       "flood_area_medium_km2": [12.4, 12.889], "flood_pop_high": [29735, 19]})
    kb.write_layer("hazard", hz, meta, key="istat_code", loaded_by="test")
    kb.dispose()
    return url


@pytest.fixture()
def kb_path(tmp_path):
    return populate(str(tmp_path / "kb.gpkg"))


def _page_text(html: str) -> str:
    import html as h
    import re
    return re.sub(r"\s+", " ", h.unescape(re.sub(r"<[^>]+>", " ", html)))


def test_flood_sheet_from_kb_saved_and_reported(tmp_path, kb_path, monkeypatch):
    site = tmp_path / "site.toml"
    site.write_text(EXAMPLES["flood"])
    html, pdf = tmp_path / "s.html", tmp_path / "s.pdf"
    r = runner.invoke(nbs_app, ["flood", str(site), "--db", kb_path, "--html", str(html), "--pdf", str(pdf), "--save"])
    assert r.exit_code == 0, r.output
    assert "620.3" in r.output and "735.0" in r.output
    text = html.read_text()
    assert "Comune di Milano" in text and "Metodo delle sole piogge" in text and "unverified" in text
    assert pdf.stat().st_size > 5000
    kb = open_kb(kb_path)
    sheets = kb.read_layer("nbs_sheets")
    assert list(sheets["sheet"]) == ["flood"] and bool(sheets["target_met"].iloc[0])
    assert kb.history("nbs_sheets")["version"].tolist() == [1]
    first = sheets.iloc[0]
    # same evaluation again, one second later (save_sheet replaces the row with the same sheet_id;
    # kb.py: every write is a new version): identical row apart from `computed_at` → version 2, one row
    import datetime as real_dt

    import sttm.sustainability.kb as nbs_kb

    later = real_dt.datetime.fromisoformat(first["computed_at"]) + real_dt.timedelta(seconds=1)

    class _Clock(real_dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return later

    monkeypatch.setattr(nbs_kb, "dt", type("dt", (), {"datetime": _Clock, "timezone": real_dt.timezone}))
    r = runner.invoke(nbs_app, ["flood", str(site), "--db", kb_path, "--save"])
    assert r.exit_code == 0, r.output
    assert "nbs_sheets versione 2" in r.output and "invariato" not in r.output
    again = open_kb(kb_path).read_layer("nbs_sheets")
    assert len(again) == 1 and again["sheet_id"].iloc[0] == first["sheet_id"] == "flood:015146:Parcheggio via Esempio"
    assert again["computed_at"].iloc[0] == later.isoformat(timespec="seconds")
    assert again["quantities_json"].iloc[0] == first["quantities_json"]
    # only the time stamp changed
    assert open_kb(kb_path).diff("nbs_sheets", 1, 2).changed == {first["sheet_id"]: ["computed_at"]}
    # the very same row (same time stamp) once more: identical content is a no-op (ARCHITECTURE.md)
    r = runner.invoke(nbs_app, ["flood", str(site), "--db", kb_path, "--save"])
    assert r.exit_code == 0 and "nbs_sheets versione 2 (invariato)" in r.output
    assert open_kb(kb_path).history("nbs_sheets")["version"].tolist() == [1, 2]
    r = runner.invoke(nbs_app, ["heat", str(site.with_name("h.toml")), "--db", kb_path])
    assert r.exit_code == 2  # missing file → clear error, nothing written
    assert len(kb.read_layer("nbs_sheets")) == 1


def test_flood_sheet_with_blank_lspp_asks_for_it(tmp_path, kb_path):
    site = tmp_path / "site.toml"
    site.write_text(EXAMPLES["flood"].replace("015146", "015002"))
    r = runner.invoke(nbs_app, ["flood", str(site), "--db", kb_path])
    assert r.exit_code == 2
    assert "['n']" in r.output and "[lspp]" in r.output
    site.write_text(site.read_text() + "\n[lspp]\nn = 0.31\n")
    r = runner.invoke(nbs_app, ["flood", str(site), "--db", kb_path, "--json"])
    assert r.exit_code == 0, r.output
    assert '"criticality_class": "B"' in r.output and '"ulim_l_s_ha": 20.0' in r.output


def test_heat_sheet_cli(tmp_path, kb_path):
    site = tmp_path / "heat.toml"
    site.write_text(EXAMPLES["heat"])
    r = runner.invoke(nbs_app, ["heat", str(site), "--db", kb_path, "--save"])
    assert r.exit_code == 0, r.output
    assert "355" in r.output


def test_raster_runoff_and_cooling_written_per_municipality(tmp_path, kb_path):
    lulc = np.full((100, 200), 1221, np.int16)      # roads
    lulc[:, 100:] = 3111                            # forest over the second comune
    p = tmp_path / "lulc.tif"
    with rasterio.open(p, "w", driver="GTiff", height=100, width=200, count=1, dtype="int16", nodata=-1,
                       crs="EPSG:32632", transform=from_origin(510_000, 5_031_000, 10, 10)) as ds:
        ds.write(lulc, 1)
    r = runner.invoke(nbs_app, ["runoff", str(p), "--rain-mm", "40", "--soil-group", "C", "--db", kb_path,
                                "--save", "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "q_mm.tif").exists()
    r = runner.invoke(nbs_app, ["cooling", str(p), "--db", kb_path, "--save", "--cooling-distance", "100",
                                "--mixing-radius", "100"])
    assert r.exit_code == 0, r.output
    res = open_kb(kb_path).read_layer("nbs_raster_results")
    assert set(res["model"]) == {"scs_cn_runoff", "urban_cooling"}
    run = res[res["model"] == "scs_cn_runoff"].set_index("istat_code")
    # Milano: all roads (CN 98): Q(40 mm) on 1 km² ; Abbiategrasso: forest CN_C 70
    s = 25400 / 98 - 254
    q = (40 - 0.2 * s) ** 2 / (40 + 0.8 * s)
    assert run.loc["015146", "runoff_m3_sum"] == pytest.approx(q * 1e6 / 1000, rel=1e-6)
    s70 = 25400 / 70 - 254
    q70 = (40 - 0.2 * s70) ** 2 / (40 + 0.8 * s70) if 40 > 0.2 * s70 else 0.0
    assert run.loc["015002", "runoff_m3_sum"] == pytest.approx(q70 * 1e6 / 1000, abs=1e-6)
    cool = res[res["model"] == "urban_cooling"].set_index("istat_code")
    assert cool.loc["015002", "t_air_mean"] < cool.loc["015146", "t_air_mean"]


def test_raster_bad_input_cli(tmp_path, kb_path):
    p = tmp_path / "lc.tif"
    with rasterio.open(p, "w", driver="GTiff", height=2, width=2, count=1, dtype="int16", nodata=-1,
                       crs="EPSG:32632", transform=from_origin(510_000, 5_031_000, 10, 10)) as ds:
        ds.write(np.array([[1221, 42], [43, 1221]], np.int16), 1)
    r = runner.invoke(nbs_app, ["runoff", str(p), "--rain-mm", "40"])
    assert r.exit_code == 2
    assert "[42, 43]" in r.output


def test_portal_pages_list_and_show_saved_sheets(tmp_path, kb_path):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from sttm.sustainability.web import router

    site = tmp_path / "site.toml"
    site.write_text(EXAMPLES["flood"])
    assert runner.invoke(nbs_app, ["flood", str(site), "--db", kb_path, "--save"]).exit_code == 0
    app = FastAPI()
    app.state.kb = open_kb(kb_path)
    app.include_router(router)
    with TestClient(app) as c:
        r = c.get("/sttm1")
        assert r.status_code == 200 and "Parcheggio via Esempio" in r.text and "Giardino della pioggia" in r.text
        sid = app.state.kb.read_layer("nbs_sheets")["sheet_id"].iloc[0]
        r = c.get(f"/sttm1/schede/{sid}")
        assert r.status_code == 200 and "Volume richiesto" in r.text
        assert c.get("/sttm1/schede/nope").status_code == 404
        assert any(row["parameter"] == "cn_B" for row in c.get("/sttm1/catalogo.json").json())


def test_dusaf_vector_is_rasterized_and_run(tmp_path, kb_path):
    dusaf = gpd.GeoDataFrame({"COD_TOT": ["1111", "3111"]},
                             geometry=[box(510_000, 5_030_000, 511_000, 5_031_000),
                                       box(511_000, 5_030_000, 512_000, 5_031_000)], crs="EPSG:32632")
    p = tmp_path / "dusaf.gpkg"
    dusaf.to_file(p)
    r = runner.invoke(nbs_app, ["runoff", str(p), "--rain-mm", "60", "--cell", "20", "--db", kb_path, "--save"])
    assert r.exit_code == 0, r.output
    res = open_kb(kb_path).read_layer("nbs_raster_results").set_index("istat_code")
    # 1111 dense urban, CN_B 92; 3111 forest, CN_B 55 — each on 1 km²
    def q(cn):
        s = 25400 / cn - 254
        return (60 - 0.2 * s) ** 2 / (60 + 0.8 * s) if 60 > 0.2 * s else 0.0
    assert res.loc["015146", "runoff_m3_sum"] == pytest.approx(q(92) * 1e3, rel=1e-6)
    assert res.loc["015002", "runoff_m3_sum"] == pytest.approx(q(55) * 1e3, rel=1e-6)
    bad = tmp_path / "bad.gpkg"
    dusaf.assign(COD_TOT=["1111", "x"]).to_file(bad)
    r = runner.invoke(nbs_app, ["runoff", str(bad), "--rain-mm", "60"])
    assert r.exit_code == 2 and "non-numeric class codes ['x']" in r.output


def test_flood_context_layer_per_municipality(kb_path):
    r = runner.invoke(nbs_app, ["context", "--db", kb_path, "--save"])
    assert r.exit_code == 0, r.output
    ctx = open_kb(kb_path).read_layer("nbs_flood_context").set_index("istat_code")
    mi, ab = ctx.loc["015146"], ctx.loc["015002"]
    assert mi["criticality_class"] == "A" and mi["ulim_l_s_ha"] == 10
    assert mi["rainfall_curve_m3_ha"] == pytest.approx(867.55, abs=0.01)   # as in the worked example
    assert mi["required_m3_ha"] == pytest.approx(867.55, abs=0.01)
    assert mi["flood_hazard_class"] == "media"          # 4.65/181.7 = 2.6 % high (< 5 %), > 0
    assert not bool(ab["lspp_complete"]) and ab["lspp_missing"] == "n"
    assert ab["min_volume_m3_ha"] == 500 and ab["min_volume_status"] == "unverified"
    assert ab["flood_hazard_class"] == "alta"           # 12.889/47.8 = 27 % high


def test_portal_form_evaluates_without_saving(kb_path):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from sttm.sustainability.web import router

    app = FastAPI()
    app.state.kb = open_kb(kb_path)
    app.include_router(router)
    with TestClient(app) as c:
        assert "Calcola la scheda" in c.get("/sttm1/valuta?scheda=heat").text
        r = c.post("/sttm1/valuta", data={"sheet": "heat", "site": EXAMPLES["heat"]})
        assert r.status_code == 200
        page = _page_text(r.text)
        assert "Adattamento e mitigazione dell'isola di calore" in page
        # the example is the school yard of test_sheets: T_air 29 + (1 − 0.076)·4 = 32.696 → 32.70 °C before,
        # 29 + (1 − 0.2834)·4 = 31.866 → 31.87 °C after, reduction 0.8296 → 0.83 °C, the missing 0.1704 °C
        # needs 0.1704 / (4 · 0.6) · 5000 = 355 m² more canopy; the whole 1 °C needs 1/(4·0.6)·5000 = 2083 m²
        assert "Temperatura dell'aria stimata 32,70 °C 31,87 °C" in page
        assert "Riduzione stimata 0,83 °C: per l'obiettivo di 1,00 °C servono altri 355 m² di chioma" in page
        assert "Chioma aggiuntiva necessaria 355 m²" in page and "2.083 m²" in page
        assert "Superficie verde 1.000 m² 3.000 m²" in page           # lawn 1000; + desealing 2000
        r = c.post("/sttm1/valuta", data={"sheet": "flood", "site": EXAMPLES["flood"].replace("asphalt = 4500",
                                                                                              "asphalt = 10")})
        assert r.status_code == 400 and "surfaces add up to" in r.text
    assert not app.state.kb.has_layer("nbs_sheets")


@pytest.mark.postgis
def test_results_round_trip_on_both_backends(tmp_path, kb_url):
    url = populate(kb_url)
    site = tmp_path / "site.toml"
    site.write_text(EXAMPLES["flood"])
    for args in (["flood", str(site), "--db", url, "--save"], ["context", "--db", url, "--save"]):
        r = runner.invoke(nbs_app, args)
        assert r.exit_code == 0, r.output
    kb = open_kb(url)
    assert bool(kb.read_layer("nbs_sheets")["target_met"].iloc[0])
    ctx = kb.read_layer("nbs_flood_context").set_index("istat_code")
    assert ctx.loc["015146", "required_m3_ha"] == pytest.approx(867.55, abs=0.01)
    # re-running the context on unchanged inputs writes nothing new
    r = runner.invoke(nbs_app, ["context", "--db", url, "--save"])
    assert "invariato" in r.output
