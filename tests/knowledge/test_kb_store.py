"""The knowledge-base contract, run against both backends (GeoPackage and PostGIS)."""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from sttm.knowledge import LayerMeta, LayerValidationError, open_kb
from sttm.knowledge import schema as kbschema


def sample(n=5, crs=4326):
    return gpd.GeoDataFrame({
        "code": [f"k{i}" for i in range(n)],
        "pop": np.arange(n) * 10,
        "share": [0.5 * i for i in range(n)],
        "label": [f"nome {i}" for i in range(n)],
        "flag": [i % 2 == 0 for i in range(n)],
        "tags": [["a", str(i)] for i in range(n)],
    }, geometry=[shapely.Point(9.1 + i / 100, 45.4 + i / 100).buffer(0.001) for i in range(n)], crs=crs)


META = LayerMeta(title="Prova", description="strato di prova", source="test", licence="CC0", vintage="2026")


def snapshot(kb):
    """Everything the KB holds, to prove a failed load changed nothing."""
    with kb.engine.connect() as conn:
        out = {}
        for t in kbschema.metadata.sorted_tables:
            rows = conn.execute(t.select()).all()
            out[t.name] = sorted(map(lambda r: tuple(map(str, r)), rows))
    out["layers"] = {e["name"]: kb.read_layer(e["name"]).to_json() if e["kind"] == "features"
                     else kb.read_layer(e["name"]).to_json() for e in kb.layers()}
    return out


def test_roundtrip_types_and_crs(kb_url):
    kb = open_kb(kb_url)
    res = kb.write_layer("prova", sample(), META, key="code", loaded_by="tester")
    assert res.changed and res.version == 1
    back = kb.read_layer("prova")
    assert back.crs.to_epsg() == 32632
    assert list(back["code"]) == [f"k{i}" for i in range(5)]
    assert back["pop"].dtype == "int64" and back["pop"].tolist() == [0, 10, 20, 30, 40]
    assert back["flag"].tolist() == [True, False, True, False, True]
    assert back["tags"].iloc[3] == ["a", "3"]
    expected = sample().to_crs(32632).geometry
    assert np.allclose(shapely.get_coordinates(back.geometry), shapely.get_coordinates(expected))
    e = kb.catalog_entry("prova")
    assert (e["title"], e["licence"], e["vintage"], e["loaded_by"], e["feature_count"]) == \
        ("Prova", "CC0", "2026", "tester", 5)
    assert e["crs"] == "EPSG:32632" and e["min_x"] < e["max_x"]
    kb.dispose()


def test_unchanged_reload_is_noop_and_changes_make_versions(kb_url):
    kb = open_kb(kb_url)
    g = sample()
    kb.write_layer("prova", g, META, key="code")
    again = kb.write_layer("prova", g.copy(), META, key="code")
    assert not again.changed and again.version == 1
    assert len(kb.history("prova")) == 1

    g2 = g.drop(index=0).copy()                          # k0 removed
    g2.loc[g2["code"] == "k2", "pop"] = 999              # k2 attribute changed
    g2.loc[g2["code"] == "k3", "geometry"] = shapely.Point(9.2, 45.5).buffer(0.001)  # k3 moved
    g2 = pd.concat([g2, sample(7).iloc[[6]]])            # k6 added
    res = kb.write_layer("prova", g2, META, key="code", note="aggiornamento")
    assert res.changed and res.version == 2
    assert res.diff.changed == {"k2": ["pop"], "k3": ["geometry"]}  # the load says what changed, as diff() does
    d = kb.diff("prova", 1, 2)
    assert d.added == ["k6"] and d.removed == ["k0"]
    assert d.changed == {"k2": ["pop"], "k3": ["geometry"]}
    h = kb.history("prova")
    assert h[["version", "added", "removed", "changed"]].values.tolist() == [[1, 5, 0, 0], [2, 1, 1, 2]]
    old = kb.read_layer("prova", version=1)
    assert sorted(old["code"]) == [f"k{i}" for i in range(5)]
    assert int(old.loc[old["code"] == "k2", "pop"].iloc[0]) == 20
    cur = kb.read_layer("prova")
    assert int(cur.loc[cur["code"] == "k2", "pop"].iloc[0]) == 999
    assert kb.diff("prova", 2, 1).added == ["k0"]
    kb.dispose()


@pytest.mark.parametrize("mutate, field, row, words", [
    (lambda g: g.set_crs(None, allow_override=True), "geometry", None, "no CRS"),
    (lambda g: g.assign(geometry=[*g.geometry[:2], shapely.Polygon([(9, 45), (9.1, 45.1), (9.1, 45), (9, 45.1)]),
                                  *g.geometry[3:]]), "geometry", 3, "invalid geometry"),
    (lambda g: g.assign(geometry=[*g.geometry[:4], shapely.Polygon()]), "geometry", 5, "empty geometry"),
    (lambda g: g.assign(code=["a", "b", "c", "b", "e"]), "code", 4, "duplicate key"),
    (lambda g: g.assign(code=["a", None, "c", "d", "e"]), "code", 2, "empty key"),
    (lambda g: g.assign(label=["x", "y", 3, "z", "w"]), "label", 3, "wrong column type"),
])
def test_bad_input_is_refused_and_nothing_changes(kb_url, mutate, field, row, words):
    kb = open_kb(kb_url)
    kb.write_layer("prova", sample(), META, key="code")
    before = snapshot(kb)
    with pytest.raises(LayerValidationError) as err:
        kb.write_layer("prova", mutate(sample()), META, key="code")
    assert words in str(err.value) and f"field '{field}'" in str(err.value)
    if row is not None:
        assert f"row {row}" in str(err.value)
    assert snapshot(kb) == before
    kb.dispose()


def test_failure_mid_write_rolls_back(kb_url, monkeypatch):
    """A crash after the history rows and half the table are written leaves no trace."""
    kb = open_kb(kb_url)
    kb.write_layer("prova", sample(), META, key="code")
    before = snapshot(kb)
    original = kb._replace_current_table

    def explode(conn, p, meta, now):
        original(conn, p, meta, now)
        raise RuntimeError("disk full")
    monkeypatch.setattr(kb, "_replace_current_table", explode)
    g = sample(8)
    with pytest.raises(RuntimeError):
        kb.write_layer("prova", g, META, key="code")
    with pytest.raises(RuntimeError):
        kb.write_layer("nuovo", g, META, key="code")
    monkeypatch.undo()
    assert snapshot(kb) == before
    assert not kb.has_layer("nuovo")
    kb.dispose()


def test_attribute_tables(kb_url):
    kb = open_kb(kb_url)
    df = pd.DataFrame({"istat_code": ["015146", "015002"], "value": [1.5, None]})
    kb.write_layer("indicatori", df, LayerMeta("Indicatori"), key="istat_code")
    back = kb.read_layer("indicatori")
    assert not isinstance(back, gpd.GeoDataFrame)
    assert back["value"].iloc[0] == 1.5 and np.isnan(back["value"].iloc[1])
    assert kb.catalog_entry("indicatori")["kind"] == "attributes"
    kb.dispose()


def test_audit_trail_records_loads(kb_url):
    kb = open_kb(kb_url)
    kb.write_layer("prova", sample(), META, key="code", loaded_by="ufficio piano")
    log = kb.audit_log("prova")
    assert log["actor"].tolist() == ["ufficio piano"] and log["action"].tolist() == ["load"]
    assert json.loads(log["detail"].iloc[0])["added"] == 5
    kb.dispose()


def test_geopackage_opens_in_gdal(tmp_path):
    """QGIS reads GeoPackages through GDAL: GDAL must see our layers, CRS and attributes as they are."""
    path = tmp_path / "kb.gpkg"
    kb = open_kb(path)
    kb.write_layer("prova", sample(), META, key="code")
    kb.write_layer("tabella", pd.DataFrame({"k": ["a"], "v": [1]}), LayerMeta("Tabella"), key="k")
    kb.dispose()
    layers = dict(pyogrio.list_layers(path))
    assert layers["prova"] == "Polygon" and "tabella" in layers
    g = pyogrio.read_dataframe(path, layer="prova")
    assert g.crs.to_epsg() == 32632 and len(g) == 5 and g["pop"].tolist() == [0, 10, 20, 30, 40]
    info = pyogrio.read_info(path, layer="prova")
    assert info["features"] == 5
    with open(path, "rb") as f:
        header = f.read(100)
    assert header[68:72] == b"GPKG"


def test_geopackage_spatial_index(tmp_path):
    """The R-tree index is there, GDAL uses it, and it follows edits made outside sttm (as in QGIS)."""
    import sqlite3
    path = tmp_path / "kb.gpkg"
    kb = open_kb(path)
    kb.write_layer("prova", sample(), META, key="code")
    kb.write_layer("prova", sample(3), META, key="code")  # replaced: the old index must go too
    with kb.engine.begin() as conn:  # an edit through SQL, as a QGIS user would make
        conn.exec_driver_sql("DELETE FROM prova WHERE code = 'k0'")
    kb.dispose()
    info = pyogrio.read_info(path, layer="prova")
    assert info["capabilities"]["fast_spatial_filter"] is True
    with sqlite3.connect(path) as raw:
        ids = sorted(r[0] for r in raw.execute("SELECT id FROM rtree_prova_geom"))
        fids = sorted(r[0] for r in raw.execute("SELECT fid FROM prova"))
    assert ids == fids and len(ids) == 2
    b = sample(3).to_crs(32632).geometry.iloc[2].bounds
    hit = pyogrio.read_dataframe(path, layer="prova", bbox=b)
    assert hit["code"].tolist() == ["k2"]


def test_write_layers_is_one_transaction(kb_url):
    kb = open_kb(kb_url)
    kb.write_layer("a", sample(), META, key="code")
    before = snapshot(kb)
    bad = sample().assign(code=["x", "x", "y", "z", "w"])
    with pytest.raises(LayerValidationError, match="duplicate key"):
        kb.write_layers([("a", sample(6), META, "code"), ("b", bad, META, "code")])
    assert snapshot(kb) == before
    res = kb.write_layers([("a", sample(6), META, "code"), ("b", sample(2), META, "code")], loaded_by="import")
    assert [(r.layer, r.version, r.changed) for r in res] == [("a", 2, True), ("b", 1, True)]
    assert kb.catalog_entry("b")["loaded_by"] == "import"
    kb.dispose()
