"""A small hand-made knowledge base for the remix and web tests (3 square comuni in EPSG:32632)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from shapely.geometry import Point, box

from sttm.knowledge import LayerMeta, open_kb
from sttm.remix import registry
from sttm.remix.registry import SystemActor

X0, Y0 = 500_000.0, 5_030_000.0
SIDE = 5_000.0
COMUNI = [("015146", "Milano", "Milano"), ("015182", "Rho", "Nord Ovest"), ("015002", "Abbiategrasso", "Sud Ovest")]


def comune_box(i: int):
    return box(X0 + i * SIDE, Y0, X0 + (i + 1) * SIDE, Y0 + SIDE)


def build_small_kb(path: Path, with_registry: bool = True):
    kb = open_kb(str(path))
    mun = gpd.GeoDataFrame(
        {"istat_code": [c for c, _, _ in COMUNI], "name": [n for _, n, _ in COMUNI],
         "zone": [z for _, _, z in COMUNI], "residents_anpr_2025": [1_399_632, 51_000, 32_000]},
        geometry=[comune_box(i) for i in range(3)], crs="EPSG:32632")
    meta = LayerMeta(title="Comuni (test)", source="test", licence="CC BY 4.0", vintage="2023")
    kb.write_layer("municipalities", mun, meta, key="istat_code", loaded_by="test")
    zones = mun.dissolve("zone").reset_index()[["zone", "geometry"]]
    kb.write_layer("zones", zones, LayerMeta(title="Zone (test)"), key="zone", loaded_by="test")
    st = gpd.GeoDataFrame({"station_id": ["S1", "S2"], "name": ["Centrale", "Rho Fiera"], "mode": ["rail", "rail"],
                           "istat_code": ["015146", "015182"]},
                          geometry=[Point(X0 + 2500, Y0 + 2500), Point(X0 + 7500, Y0 + 2500)], crs="EPSG:32632")
    kb.write_layer("stations", st, LayerMeta(title="Stazioni (test)"), key="station_id", loaded_by="test")
    sv = gpd.GeoDataFrame({"service_id": ["A", "B", "C"], "category": ["school", "pharmacy", "hospital"],
                           "name": ["Scuola", "Farmacia", "Ospedale"], "istat_code": ["015146", "015146", "015002"]},
                          geometry=[Point(X0 + 1000, Y0 + 1000), Point(X0 + 1500, Y0 + 4000), Point(X0 + 12000, Y0 + 1000)],
                          crs="EPSG:32632")
    kb.write_layer("services", sv, LayerMeta(title="Servizi (test)"), key="service_id", loaded_by="test")
    if with_registry:
        registry.ensure_schema(kb.engine)
        registry.upsert_many(kb.engine, SystemActor(), interventions=INTERVENTIONS, opportunities=OPPORTUNITIES)
        registry.publish(kb, SystemActor())
    return kb


INTERVENTIONS = [
    {"intervention_id": "T-MI-1", "title": "Parco della Martesana", "istat_codes": "015146", "status": "in_corso",
     "domains": "ambientale;ricreativo", "total_cost": 1_000_000,
     "funding": [{"source": "PNRR", "programme": "PNRR M5C2I2.02.03", "amount": 800_000},
                 {"source": "Comune", "amount": 200_000}]},
    {"intervention_id": "T-RHO-1", "title": "Biblioteca di Rho", "istat_codes": "015182", "status": "completato",
     "domains": "culturale", "total_cost": 500_000, "funding": [{"source": "Bando Periferie", "amount": 500_000}]},
    {"intervention_id": "T-MULTI-1", "title": "Ciclovia Milano-Rho", "istat_codes": "015146;015182",
     "status": "programmato", "domains": "mobilita", "total_cost": 2_000_000,
     "funding": [{"source": "PNRR", "amount": 2_000_000}]},
]

OPPORTUNITIES = [
    {"area_id": "O-MI-1", "name": "Scalo dismesso", "kind": "brownfield", "istat_code": "015146",
     "licence": "CC BY-NC 4.0", "geometry_wkt": box(X0 + 3000, Y0 + 3000, X0 + 3500, Y0 + 3400).wkt},
    {"area_id": "O-ABB-1", "name": "Ex filanda", "kind": "degraded_building", "istat_code": "015002",
     "geometry_wkt": Point(X0 + 11000, Y0 + 2000).wkt},
]
