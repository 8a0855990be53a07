"""The territory model on the real data of CMM, on both backends."""
from __future__ import annotations

import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from sttm.errors import InputError
from sttm.knowledge import open_kb
from sttm.territory import build_territory, territory_summary
from sttm.territory.build import build_adjacency, build_municipalities

pytestmark = pytest.mark.realdata


def test_real_build_counts(real_kb_path):
    kb = open_kb(real_kb_path)
    s = territory_summary(kb)
    # figures stated in ../shared/data/SOURCES.md §2 (verified there by summing the files)
    assert s["municipalities"] == 133
    assert s["residents_anpr_2025"] == 3_300_752
    assert s["milano_residents"] == 1_399_632
    assert (s["zone_assigned"], s["zone_unassigned"]) == (80, 53)
    assert s["zones"] == {"Adda Martesana": 29, "Magentino e Abbiatense": 28, "Alto Milanese": 22, "Milano": 1}
    m = kb.read_layer("municipalities")
    assert m["istat_code"].is_unique and m["istat_code"].str.fullmatch(r"015\d{3}").all()
    assert int(m["residents_istat_2021"].sum()) == 3_249_821  # SOURCES.md §2: CMM total 3,249,821
    assert int(m.loc[m["name"] == "Milano", "residents_istat_2021"].iloc[0]) == 1_397_715
    # area: Milano is about 181.7 km² (ISTAT); the coarse limits must be within 3 %
    assert m.loc[m["name"] == "Milano", "area_km2"].iloc[0] == pytest.approx(181.7, rel=0.03)
    # SOURCES.md §6: 1,401 schools, 918 pharmacies, 62 hospitals in CMM; sports: 407 ds629 + 28 ds32 pools
    assert s["services"] == {"school": 1401, "pharmacy": 918, "sport": 407 + 28, "hospital": 62}
    st = kb.read_layer("stations")
    assert st["station_id"].is_unique
    metro = st[st["mode"] == "metro"]
    # SOURCES.md §3: 130 metro stations, 21 of them outside the comune of Milano
    assert len(metro) == 130 and (metro["istat_code"] == "015146").sum() == 130 - 21
    # the station a planner will look for first, merged across sources, with its operator
    centrale = st[(st["mode"] == "rail") & st["name"].str.contains("CENTRALE")]
    assert len(centrale) == 1 and centrale["operator"].iloc[0] == "FS"
    assert "CENTRALE FS" in centrale["interchange_with"].iloc[0]
    assert (st.loc[st["in_cmm"], "istat_code"].notna()).all()


def test_adjacency_is_symmetric_in_meaning_and_crosses_provinces(real_kb_path):
    kb = open_kb(real_kb_path)
    a = kb.read_layer("adjacency")
    pairs = {frozenset(p) for p in zip(a["istat_a"], a["istat_b"])}
    assert len(pairs) == len(a)  # no pair twice
    milano = {b if x == "015146" else x for x, b in zip(a["istat_a"], a["istat_b"]) if "015146" in (x, b)}
    m = kb.read_layer("municipalities").set_index("istat_code")
    names = {m.loc[c, "name"] for c in milano}
    assert {"Sesto San Giovanni", "Rho", "Rozzano", "Corsico", "Segrate", "San Donato Milanese"} <= names
    assert "Legnano" not in names
    # Legnano borders Castellanza and Busto Arsizio (Varese): the cross-province rule must find them
    n = kb.read_layer("neighbour_municipalities").set_index("istat_code")
    leg = [b for x, b in zip(a["istat_a"], a["istat_b"]) if x == "015118" and b in n.index]
    assert {"Castellanza", "Busto Arsizio"} <= {n.loc[c, "name"] for c in leg}


def test_adjacency_rule_on_squares():
    """Hand-made: 3 squares in a row + one touching only at a corner."""
    sq = lambda x, y: shapely.box(x, y, x + 1000, y + 1000)  # noqa: E731
    import geopandas as gpd
    cmm = gpd.GeoDataFrame({"istat_code": ["015001", "015002", "015003"]},
                           geometry=[sq(0, 0), sq(1000, 0), sq(2000, 0)], crs=32632)
    nb = gpd.GeoDataFrame({"istat_code": ["012001", "012002"]}, geometry=[sq(3000, 1000), sq(1000, -1050)],
                          crs=32632)
    a = build_adjacency(cmm, nb)
    got = {(x, y): b for x, y, b in zip(a["istat_a"], a["istat_b"], a["border_m"])}
    assert got[("015001", "015002")] == pytest.approx(1000, abs=1)
    assert got[("015002", "015003")] == pytest.approx(1000, abs=1)
    assert ("015001", "015003") not in got
    assert ("015003", "012001") not in got          # corner only
    assert ("015002", "012002") in got              # 50 m gap across the provincial line: within tolerance


def test_unknown_istat_code_in_zone_file(tmp_path, mirror):
    bad = tmp_path / "zone.csv"
    pd.DataFrame({"com_istat_code": ["015146", "015999"], "zona_omogenea": ["Milano", "Nord Milano"]}).to_csv(bad, index=False)
    kb = open_kb(tmp_path / "kb.gpkg")
    with pytest.raises(InputError) as err:
        build_territory(kb, zones_csv=bad, mirror=mirror)
    assert "015999" in str(err.value) and "row 3" in str(err.value)
    assert kb.layers() == []


def test_user_zone_file_replaces_membership(tmp_path, real_kb_path, mirror):
    import shutil
    path = tmp_path / "kb.gpkg"
    shutil.copy(real_kb_path, path)
    zones = tmp_path / "zone.csv"
    pd.DataFrame({"com_istat_code": ["015146", "015209", "015077"],
                  "zona_omogenea": ["Milano", "Nord Milano", "Nord Milano"]}).to_csv(zones, index=False)
    kb = open_kb(path)
    rep = build_territory(kb, zones_csv=zones, mirror=mirror)
    assert "municipalities" in rep.loaded and "stations" in rep.unchanged
    s = territory_summary(kb)
    assert s["zone_assigned"] == 3 and s["zones"] == {"Nord Milano": 2, "Milano": 1}
    assert kb.catalog_entry("municipalities")["current_version"] == 2
    d = kb.diff("municipalities", 1, 2)
    assert d.changed["015209"] == ["zone"] and not d.added and not d.removed


def test_unchanged_rebuild_skips_everything(tmp_path, real_kb_path, mirror):
    import shutil
    path = tmp_path / "kb.gpkg"
    shutil.copy(real_kb_path, path)
    rep = build_territory(open_kb(path), mirror=mirror)
    assert rep.loaded == [] and len(rep.unchanged) == 8


@pytest.mark.postgis
def test_postgis_build_equals_geopackage(real_kb_path, fresh_postgis_url, mirror):
    gp, pg = open_kb(real_kb_path), open_kb(fresh_postgis_url)
    build_territory(pg, mirror=mirror)
    assert {e["name"]: e["feature_count"] for e in gp.layers()} == {e["name"]: e["feature_count"] for e in pg.layers()}
    for e in gp.layers():
        a, b = gp.read_layer(e["name"]), pg.read_layer(e["name"])
        assert list(a.columns) == list(b.columns), e["name"]
        assert gp.catalog_entry(e["name"])["content_hash"] == pg.catalog_entry(e["name"])["content_hash"], e["name"]
        pd.testing.assert_frame_equal(pd.DataFrame(a).drop(columns="geometry", errors="ignore"),
                                      pd.DataFrame(b).drop(columns="geometry", errors="ignore"))
    pg.dispose()


def test_cli_info(real_kb_path):
    from sttm.cli import app
    res = CliRunner().invoke(app, ["kb", "info", "--db", real_kb_path])
    assert res.exit_code == 0, res.output
    assert "Comuni: 133" in res.output and "3.300.752" in res.output and "1.399.632" in res.output
    assert "53 non assegnati" in res.output
    res = CliRunner().invoke(app, ["kb", "diff", "municipalities", "1", "5", "--db", real_kb_path])
    assert res.exit_code == 2 and "versions 1..1" in res.output


def test_cli_build_layers_and_map(tmp_path, mirror):
    from sttm.cli import app
    db = str(tmp_path / "kb.gpkg")
    res = CliRunner().invoke(app, ["kb", "build", "--db", db, "--mirror", str(mirror)])
    assert res.exit_code == 0, res.output
    assert "municipalities" in res.output and "Invariati: —" in res.output
    res = CliRunner().invoke(app, ["kb", "build", "--db", db, "--mirror", str(mirror)])
    assert "Caricati (nuova versione): —" in res.output
    res = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["kb", "layers", "--db", db])
    assert res.exit_code == 0 and "CC0 1.0" in res.output and "sttm kb build" in res.output
    out = tmp_path / "scuole.pdf"
    res = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["kb", "map", "services", "--scale", "zona", "--where", "category=school", "--value", "capacity",
              "--out", str(out), "--db", db])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:4] == b"%PDF"
    # zone totals: Milano has the 437 schools listed in SOURCES.md §6
    assert "Milano" in res.output and "437" in res.output
