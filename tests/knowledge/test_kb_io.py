"""User files in and out: every format the issue names, and the bad ones refused by name."""
from __future__ import annotations

import zipfile

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from sttm.errors import InputError
from sttm.knowledge import LayerMeta, open_kb
from sttm.knowledge.io import export_layer, import_file


@pytest.fixture
def points():
    return gpd.GeoDataFrame({"codice": ["a", "b", "c"], "valore": [1, 2, 3]},
                            geometry=[shapely.Point(9.19, 45.46), shapely.Point(9.2, 45.47), shapely.Point(9.0, 45.5)],
                            crs=4326)


def test_import_each_format(tmp_path, points):
    kb = open_kb(tmp_path / "kb.gpkg")
    points.to_file(tmp_path / "p.geojson", driver="GeoJSON")
    points.to_crs(32632).to_file(tmp_path / "p.gpkg", layer="punti", driver="GPKG")
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    points.to_crs(32632).to_file(shp_dir / "punti.shp")
    with zipfile.ZipFile(tmp_path / "p.zip", "w") as z:
        for f in shp_dir.iterdir():
            z.write(f, f.name)
    pd.DataFrame({"codice": ["a", "b", "c"], "valore": [1, 2, 3], "lon": [9.19, 9.2, 9.0],
                  "lat": [45.46, 45.47, 45.5]}).to_csv(tmp_path / "p.csv", index=False)
    expected = shapely.get_coordinates(points.to_crs(32632).geometry)
    for i, name in enumerate(["p.geojson", "p.gpkg", "p.zip", "p.csv"]):
        res = import_file(kb, tmp_path / name, f"utente_{i}", key="codice", title="Punti")
        assert res.changed
        back = kb.read_layer(f"utente_{i}")
        assert back["valore"].tolist() == [1, 2, 3]
        assert abs(shapely.get_coordinates(back.geometry) - expected).max() < 1e-3, name
        assert kb.catalog_entry(f"utente_{i}")["source"] == f"user import: {name}"


def test_bad_files_are_named(tmp_path, points):
    kb = open_kb(tmp_path / "kb.gpkg")
    points.to_file(tmp_path / "ok.geojson", driver="GeoJSON")
    truncated = tmp_path / "troncato.geojson"
    truncated.write_text((tmp_path / "ok.geojson").read_text()[:150])
    with pytest.raises(InputError, match="troncato.geojson"):
        import_file(kb, truncated, "x", key="codice")
    corrupt = tmp_path / "rotto.gpkg"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    with pytest.raises(InputError, match="rotto.gpkg"):
        import_file(kb, corrupt, "x", key="codice")
    # shapefile without .prj: no CRS, no guess
    shp_dir = tmp_path / "noprj"
    shp_dir.mkdir()
    points.to_crs(32632).to_file(shp_dir / "punti.shp")
    (shp_dir / "punti.prj").unlink()
    with zipfile.ZipFile(tmp_path / "noprj.zip", "w") as z:
        for f in shp_dir.iterdir():
            z.write(f, f.name)
    with pytest.raises(InputError, match="no coordinate reference system"):
        import_file(kb, tmp_path / "noprj.zip", "x", key="codice")
    pd.DataFrame({"codice": ["a"], "est": [515000], "nord": [5035000]}).to_csv(tmp_path / "xy.csv", index=False)
    with pytest.raises(InputError, match="no declared CRS"):
        import_file(kb, tmp_path / "xy.csv", "x", key="codice", x="est", y="nord")
    pd.DataFrame({"codice": ["a", "b"], "lon": [9.1, "nove"], "lat": [45.4, 45.5]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError) as err:
        import_file(kb, tmp_path / "bad.csv", "x", key="codice")
    assert "field 'lon'" in str(err.value) and "row 3" in str(err.value)
    assert not kb.has_layer("x")


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".csv", ".parquet"])
def test_export_formats(tmp_path, points, suffix):
    kb = open_kb(tmp_path / "kb.gpkg")
    kb.write_layer("punti", points, LayerMeta("Punti"), key="codice")
    out = export_layer(kb, "punti", tmp_path / f"out{suffix}")
    if suffix == ".csv":
        df = pd.read_csv(out)
        assert df["codice"].tolist() == ["a", "b", "c"] and df["wkt"].str.startswith("POINT").all()
    elif suffix == ".parquet":
        g = gpd.read_parquet(out)
        assert g.crs.to_epsg() == 32632 and len(g) == 3
    else:
        g = pyogrio.read_dataframe(out)
        assert len(g) == 3 and g["valore"].tolist() == [1, 2, 3]
        if suffix == ".geojson":
            assert abs(g.geometry.x.iloc[0] - 9.19) < 1e-9
