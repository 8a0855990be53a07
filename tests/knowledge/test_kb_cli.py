"""The `sttm kb` commands a technician uses: import a file, reload it changed, see history and diff,
export it; a bad file is refused by name and leaves the layer as it was."""
from __future__ import annotations

import geopandas as gpd
import pyogrio
import shapely
from typer.testing import CliRunner

from sttm.cli import app
from sttm.knowledge import open_kb


def run(*args):
    res = CliRunner().invoke(app, list(map(str, args)))
    return res.exit_code, res.output


def test_import_history_diff_export(tmp_path):
    db = tmp_path / "kb.gpkg"
    g = gpd.GeoDataFrame({"cod": ["A1", "A2", "A3"], "stato": ["in corso", "concluso", "in corso"]},
                         geometry=[shapely.Point(9.1, 45.4), shapely.Point(9.2, 45.5), shapely.Point(9.3, 45.45)],
                         crs=4326)
    g.to_file(tmp_path / "v1.geojson", driver="GeoJSON")
    g2 = g.copy()
    g2.loc[0, "stato"] = "concluso"
    g2 = g2.iloc[[0, 1]]
    g2.to_file(tmp_path / "v2.geojson", driver="GeoJSON")

    code, out = run("kb", "import", tmp_path / "v1.geojson", "interventi_comune", "--key", "cod", "--db", db,
                    "--licence", "CC BY 4.0")
    assert code == 0 and "versione 1" in out
    code, out = run("kb", "import", tmp_path / "v1.geojson", "interventi_comune", "--key", "cod", "--db", db)
    assert code == 0 and "invariato" in out
    code, out = run("kb", "import", tmp_path / "v2.geojson", "interventi_comune", "--key", "cod", "--db", db)
    assert code == 0 and "versione 2" in out and "1 rimossi" in out and "1 modificati" in out
    code, out = run("kb", "history", "interventi_comune", "--db", db)
    assert code == 0
    rows = [line.split("│")[1:-1] for line in out.splitlines() if line.startswith("│")]
    cells = [[c.strip() for c in r] for r in rows]
    # version, created, by, features, added, removed, changed: v1 = 3 added; v2 = A3 removed, A1 changed
    assert [(c[0], c[3], c[4], c[5], c[6]) for c in cells if c[0].isdigit()] == [
        ("1", "3", "3", "0", "0"), ("2", "2", "0", "1", "1")]
    code, out = run("kb", "diff", "interventi_comune", "1", "2", "--db", db)
    assert code == 0 and "- A3" in out and "~ A1 (stato)" in out

    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"cod": "A1"},'
                   ' "geometry": {"type": "Polygon", "coordinates": [[[9,45],[9.1,45.1],[9.1,45],[9,45.1],[9,45]]]}}]}')
    code, out = run("kb", "import", bad, "interventi_comune", "--key", "cod", "--db", db)
    assert code == 2 and "bad.geojson" in out and "invalid geometry" in out and "row 1" in out
    assert open_kb(db).catalog_entry("interventi_comune")["current_version"] == 2

    code, out = run("kb", "export", "interventi_comune", tmp_path / "out.gpkg", "--db", db, "--version", "1")
    assert code == 0
    assert sorted(pyogrio.read_dataframe(tmp_path / "out.gpkg")["cod"]) == ["A1", "A2", "A3"]
