"""Importers: OSM (pyosmium), DUSAF, firms CSV, merge of sources; bad input gives clear errors."""
from pathlib import Path

import geopandas as gpd
import osmium
import pandas as pd
import pytest
from shapely.geometry import box

from sttm.production import importers
from sttm.production.errors import ProductionInputError

FIX = Path(__file__).parent / "fixtures"
OSM = FIX / "small_extract.osm"


def test_osm_areas_roads_junctions():
    o = importers.read_osm(OSM)
    cats = dict(zip(o.productive["area_id"], o.productive["category"]))
    # generic landuse=industrial refined by the large warehouse inside it (building is not a separate area)
    assert cats == {"osm:w101": "logistics_large", "osm:w104": "manufacturing",
                    "osm:w106": "intermodal_terminal", "osm:w103": "last_mile_hub"}
    assert list(o.brownfields["source_id"]) == ["w105"]
    assert list(o.residential["source_id"]) == ["w107"]
    assert list(o.roads["highway"]) == ["motorway"]            # residential street ignored
    assert list(o.junctions["name"]) == ["Svincolo Test"]
    assert o.productive.crs == "EPSG:32632"
    # the small warehouse: 0.001 deg lon x 0.0005 deg lat at 45.5 N ~ 78 m x 55.6 m
    small = o.productive.set_index("area_id").loc["osm:w103"]
    assert small.geometry.area == pytest.approx(78.0 * 55.6, rel=0.03)


def test_osm_pbf_same_as_xml(tmp_path):
    pbf = tmp_path / "small.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as w:
        for obj in osmium.FileProcessor(str(OSM)):
            w.add(obj)
    a, b = importers.read_osm(OSM), importers.read_osm(pbf)
    assert list(a.productive["area_id"]) == list(b.productive["area_id"])
    assert a.productive.area.sum() == pytest.approx(b.productive.area.sum(), rel=1e-6)


def test_firms_refine_generic_dusaf_area():
    # DUSAF 12111 polygon covering the OSM industrial zone; 134 brownfield; 1121 residential; 2111 ignored
    osm = importers.read_osm(OSM).productive.set_index("area_id")
    zone = osm.loc["osm:w101"].geometry
    dusaf = gpd.GeoDataFrame({"COD_TOT": ["12111", "134", "1121", "2111"]},
                             geometry=[zone, zone.buffer(-200), box(0, 0, 10, 10), box(20, 20, 30, 30)],
                             crs="EPSG:32632")
    d = importers.import_dusaf(dusaf)
    assert list(d.productive["category"]) == ["mixed_productive_services"]
    assert len(d.brownfields) == 1 and len(d.residential) == 1 and d.ignored_codes == {"2111": 1}
    firms = importers.import_firms(FIX / "firms.csv")
    assert list(firms["category"][:3]) == ["logistics_large", "crafts", "last_mile_hub"]
    assert pd.isna(firms["category"].iloc[3])                # 56.10 restaurant: not productive
    areas = importers.build_productive_areas([d.productive], firms=firms)
    row = areas.iloc[0]
    assert row["n_firms"] == 2 and row["employees"] == 150
    assert row["category"] == "logistics_large"               # 120 logistics employees vs 30 craft


def test_merge_prefers_pgt_then_osm_then_dusaf():
    o = importers.read_osm(OSM).productive
    zone = o.set_index("area_id").loc["osm:w101"].geometry
    pgt = gpd.GeoDataFrame({"zona": ["D1"]}, geometry=[zone.buffer(5)], crs="EPSG:32632")
    dusaf = gpd.GeoDataFrame({"COD_TOT": ["12111"]}, geometry=[zone.buffer(-5)], crs="EPSG:32632")
    areas = importers.build_productive_areas([importers.import_dusaf(dusaf).productive, o,
                                              importers.import_pgt(pgt, "zona")])
    merged = areas.set_index("area_id").loc["pgt:1"]
    assert merged["sources"] == "dusaf,osm,pgt" and merged["category"] == "manufacturing"
    assert len(areas) == 4                                    # pgt zone + the 3 other OSM areas


# ------------------------------------------------------------------------------ bad input
def test_area_without_crs_file(tmp_path):
    shp = tmp_path / "pgt_nocrs.shp"
    gpd.GeoDataFrame({"zona": ["D1"]}, geometry=[box(0, 0, 100, 100)]).to_file(shp)
    with pytest.raises(ProductionInputError, match="CRS") as e:
        importers.import_pgt(shp, "zona")
    assert "pgt_nocrs.shp" in str(e.value)


def test_area_without_crs_gdf():
    with pytest.raises(ProductionInputError, match="CRS"):
        importers.import_dusaf(gpd.GeoDataFrame({"COD_TOT": ["12111"]}, geometry=[box(0, 0, 100, 100)]))


def test_unknown_pgt_class_names_rows(tmp_path):
    f = tmp_path / "pgt.geojson"
    gpd.GeoDataFrame({"zona": ["D1", "Z9", "produttivo", "boh"]},
                     geometry=[box(i * 200, 0, i * 200 + 100, 100) for i in range(4)],
                     crs="EPSG:32632").to_file(f)
    with pytest.raises(ProductionInputError) as e:
        importers.import_pgt(f, "zona")
    msg = str(e.value)
    assert "['Z9', 'boh']" in msg and "righe 1, 3" in msg and "'zona'" in msg and "pgt.geojson" in msg


def test_unknown_class_mapped_with_user_table(tmp_path):
    cmap = tmp_path / "map.csv"
    cmap.write_text("source,source_class,category,productive\npgt,Z9,logistics_large,true\n")
    g = gpd.GeoDataFrame({"zona": ["Z9"]}, geometry=[box(0, 0, 100, 100)], crs="EPSG:32632")
    assert list(importers.import_pgt(g, "zona", user_map=cmap)["category"]) == ["logistics_large"]


def test_user_table_with_category_outside_taxonomy(tmp_path):
    cmap = tmp_path / "map.csv"
    cmap.write_text("source,source_class,category,productive\npgt,Z9,spaceport,true\n")
    g = gpd.GeoDataFrame({"zona": ["Z9"]}, geometry=[box(0, 0, 100, 100)], crs="EPSG:32632")
    with pytest.raises(ProductionInputError, match="tassonomia"):
        importers.import_pgt(g, "zona", user_map=cmap)


def test_overlapping_duplicates_named():
    g = gpd.GeoDataFrame({"zona": ["D1", "D1", "D2"], "cod": ["A", "B", "C"]},
                         geometry=[box(0, 0, 100, 100), box(2, 0, 102, 100), box(500, 0, 600, 100)],
                         crs="EPSG:32632")
    with pytest.raises(ProductionInputError, match="duplicate") as e:
        importers.import_pgt(g, "zona", id_field="cod")
    assert "pgt:A~pgt:B" in str(e.value) and "righe 0, 1" in str(e.value)


def test_nested_but_distinct_areas_are_not_duplicates():
    g = gpd.GeoDataFrame({"zona": ["D1", "D2"]}, geometry=[box(0, 0, 1000, 1000), box(0, 0, 100, 100)],
                         crs="EPSG:32632")
    assert len(importers.import_pgt(g, "zona")) == 2


def test_bad_dusaf_code():
    g = gpd.GeoDataFrame({"COD_TOT": ["12111", "industriale"]}, geometry=[box(0, 0, 1, 1), box(5, 5, 6, 6)],
                         crs="EPSG:32632")
    with pytest.raises(ProductionInputError, match="DUSAF") as e:
        importers.import_dusaf(g)
    assert "righe 1" in str(e.value)


def test_firms_xy_without_crs(tmp_path):
    f = tmp_path / "firms.csv"
    f.write_text("firm_id,ateco,x,y\nF1,52.10,515000,5035000\n")
    with pytest.raises(ProductionInputError, match="senza CRS"):
        importers.import_firms(f)
    assert importers.import_firms(f, crs="EPSG:32632").geometry.iloc[0].x == 515000


def test_firms_bad_ateco_line_number(tmp_path):
    f = tmp_path / "firms.csv"
    f.write_text("firm_id,ateco,lon,lat\nF1,52.10,9.1,45.5\nF2,logistica,9.1,45.5\n")
    with pytest.raises(ProductionInputError, match="ATECO") as e:
        importers.import_firms(f)
    assert "righe 3" in str(e.value)


def test_points_are_not_areas():
    g = gpd.GeoDataFrame({"zona": ["D1"]}, geometry=gpd.points_from_xy([0], [0]), crs="EPSG:32632")
    with pytest.raises(ProductionInputError, match="poligoni"):
        importers.import_pgt(g, "zona")


def test_osm_duplicate_areas_dropped_with_warning(tmp_path):
    # a copy of way 104 (factory) with a new id: crowd-sourced duplicate -> dropped and reported
    text = OSM.read_text()
    start = text.index('  <way id="104"')
    block = text[start:text.index("</way>", start) + len("</way>")]
    dup = tmp_path / "dup.osm"
    dup.write_text(text.replace("</osm>", block.replace('id="104"', 'id="999"') + "\n</osm>"))
    o = importers.read_osm(dup)
    assert "osm:w999" not in set(o.productive["area_id"]) and "osm:w104" in set(o.productive["area_id"])
    assert any("w104~osm:w999" in w for w in o.warnings)


def test_proposal_file_errors(tmp_path):
    from sttm.production import evaluation
    f = tmp_path / "p.toml"
    f.write_text('[proposal]\nid="X"\nname="x"\ncategory="spaceport"\ngfa_m2=100\nsite_area_m2=100\n')
    with pytest.raises(ProductionInputError, match="categoria sconosciuta") as e:
        evaluation.load_proposal(f)
    assert "p.toml" in str(e.value)
    f.write_text('[proposal]\nid="X"\nname="x"\ncategory="crafts"\n')
    with pytest.raises(ProductionInputError, match="gfa_m2"):
        evaluation.load_proposal(f)
    with pytest.raises(ProductionInputError, match="fuori scala"):
        evaluation.evaluate({"landscape_level": 7})
    with pytest.raises(ProductionInputError, match="booleano"):
        evaluation.evaluate({"hydraulic_invariance": "forse"})
