"""Hand-made scene for the production wing (EPSG:32632, origin X0/Y0 near Milano).

Two comuni (A 015001 west, B 015002 east, 10x10 km each). Distances are chosen so that the
worked cases can be computed by hand: see test_worked_cases.py.
"""
import geopandas as gpd
import pandas as pd
import pytest
from production_scene import CRS, X0, Y0, B, P  # noqa: F401 - re-exported for the fixtures below
from shapely.geometry import LineString, Point, box  # noqa: F401


@pytest.fixture
def scene():
    mun = gpd.GeoDataFrame({
        "istat_code": ["015001", "015002"], "name": ["Alfa", "Beta"], "area_km2": [100.0, 100.0],
        "residents_anpr_2025": [200000, 500000]},
        geometry=[B(0, 0, 10000, 10000), B(10000, 0, 20000, 10000)], crs=CRS)
    hazard = pd.DataFrame({"istat_code": ["015001", "015002"], "flood_area_high_km2": [2.0, 20.0]})
    pgt = gpd.GeoDataFrame({
        "zona": ["Produttivo", "Artigianale", "Scalo"], "cod": ["P1", "P2", "T1"],
        "nome": ["Polo Alfa", "Artigiani Alfa", "Scalo Beta"]},
        geometry=[B(1000, 1000, 1600, 1500), B(5000, 5000, 5200, 5400), B(13800, 2000, 14300, 2300)], crs=CRS)
    roads = gpd.GeoDataFrame({"highway": ["motorway", "primary"]},
                             geometry=[LineString([(X0, Y0 + 1800), (X0 + 20000, Y0 + 1800)]),
                                       LineString([(X0 + 5500, Y0), (X0 + 5500, Y0 + 10000)])], crs=CRS)
    junctions = gpd.GeoDataFrame({"name": ["Alfa", "Beta"]}, geometry=[P(2000, 1800), P(14700, 2150)], crs=CRS)
    stations = gpd.GeoDataFrame({
        "station_id": ["S1", "S2", "S3", "S4"], "name": ["s1", "s2", "s3", "s4"], "mode": ["rail"] * 4,
        "lines": ["S5", "S5", "S5", "S5"], "istat_code": ["015001", "015001", "015002", "015002"]},
        geometry=[P(1300, 2200), P(5100, 5900), P(15000, 5000), P(12150, 3300)], crs=CRS)
    services = gpd.GeoDataFrame({"service_id": ["sc1", "ph1"], "category": ["school", "pharmacy"]},
                                geometry=[P(1300, 2300), P(5100, 5600)], crs=CRS)
    farmland = gpd.GeoDataFrame({"id": [1]}, geometry=[B(7000, 7000, 9500, 9500)], crs=CRS)
    brownfields = gpd.GeoDataFrame({"source_id": ["bf1"]}, geometry=[B(11900, 1900, 12400, 2400)], crs=CRS)
    residential = gpd.GeoDataFrame({"source_class": ["1121"]}, geometry=[B(12000, 3500, 12300, 3800)], crs=CRS)
    sites = gpd.GeoDataFrame({"site_id": ["farm", "brown"], "name": ["Logistica su suolo agricolo",
                                                                      "Logistica su area dismessa"]},
                             geometry=[B(8000, 8000, 8400, 8500), B(12000, 2000, 12300, 2300)], crs=CRS)
    return dict(municipalities=mun, hazard=hazard, pgt=pgt, roads=roads, junctions=junctions, stations=stations,
                services=services, farmland=farmland, brownfields=brownfields, residential=residential, sites=sites)
