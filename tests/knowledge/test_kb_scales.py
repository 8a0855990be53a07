"""Dynamic maps at comune / zona / CMM scale, checked by hand on three square comuni."""
from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from sttm.errors import InputError
from sttm.knowledge import LayerMeta, open_kb
from sttm.knowledge.scales import at_scale, choropleth_svg, per_municipality


@pytest.fixture
def kb(tmp_path):
    kb = open_kb(tmp_path / "kb.gpkg")
    sq = lambda x: shapely.box(x, 5_000_000, x + 1000, 5_001_000)  # noqa: E731
    mun = gpd.GeoDataFrame({"istat_code": ["015001", "015002", "015003"], "name": ["Uno", "Due", "Tre"],
                            "zone": ["Zona A", "Zona A", None], "residents_anpr_2025": [1000, 4000, 500]},
                           geometry=[sq(500_000), sq(501_000), sq(502_000)], crs=32632)
    kb.write_layer("municipalities", mun, LayerMeta("Comuni"), key="istat_code")
    pts = gpd.GeoDataFrame({"id": list("abcdef"), "posti": [10, 20, 30, 40, 50, 60],
                            "tipo": ["x", "x", "y", "x", "x", "y"]},
                           geometry=[shapely.Point(500_100, 5_000_500), shapely.Point(500_900, 5_000_100),
                                     shapely.Point(501_500, 5_000_500), shapely.Point(502_500, 5_000_500),
                                     shapely.Point(502_600, 5_000_600), shapely.Point(502_700, 5_000_700)], crs=32632)
    kb.write_layer("servizi", pts, LayerMeta("Servizi"), key="id")
    return kb


def test_counts_sums_and_rates(kb):
    pm = per_municipality(kb, "servizi", value="posti")
    assert pm.set_index("istat_code")["count"].to_dict() == {"015001": 2, "015002": 1, "015003": 3}
    assert pm.set_index("istat_code")["value_sum"].to_dict() == {"015001": 30, "015002": 30, "015003": 150}
    assert pm.set_index("istat_code")["per_1000"]["015003"] == pytest.approx(6.0)
    z = at_scale(pm, "zona").set_index("unit")
    assert z.loc["Zona A", "count"] == 3 and z.loc["Zona A", "per_1000"] == pytest.approx(3 / 5)
    assert z.loc["non assegnata", "count"] == 3
    c = at_scale(pm, "cmm")
    assert c["count"].iloc[0] == 6 and c["value_sum"].iloc[0] == 210
    assert c.geometry.iloc[0].area == pytest.approx(3e6)
    only_x = per_municipality(kb, "servizi", where={"tipo": "x"})
    assert only_x["count"].tolist() == [2, 0, 2]
    svg = choropleth_svg(pm, "count", "prova")
    # three comuni with counts 2, 1, 3 → three quantile classes, each comune filled with its own shade
    import re
    fills = re.findall(r'<path d="[^"]+" fill-rule="evenodd" fill="(#[0-9a-f]{6})"', svg)
    assert len(fills) == 3 and len(set(fills)) == 3
    assert fills[2] == "#0b4f9c"  # Tre has the most (3): the darkest shade
    # quantile bounds of {1, 2, 3} at 1/3, 2/3, 1 (linear interpolation): 1.67, 2.33, 3 → top class "2,3 – 3,0"
    assert "2,3 – 3,0" in svg and "1,0 – 1,7" in svg


def test_bad_requests(kb):
    with pytest.raises(InputError, match="field 'nessuna'"):
        per_municipality(kb, "servizi", value="nessuna")
    with pytest.raises(InputError, match="not a numeric column"):
        per_municipality(kb, "servizi", value="tipo")
    with pytest.raises(InputError, match="must be one of"):
        at_scale(per_municipality(kb, "servizi"), "regione")
