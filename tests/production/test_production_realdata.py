"""The production pipeline on the real territory layers (municipalities, stations, services, hazard)."""
import shutil
from pathlib import Path

import pytest

from sttm.knowledge import open_kb
from sttm.production import pipeline

FIX = Path(__file__).parent / "fixtures"


@pytest.mark.realdata
def test_osm_extract_on_real_territory(real_kb_path, tmp_path):
    db = tmp_path / "kb.gpkg"
    shutil.copy(real_kb_path, db)
    kb = open_kb(db)
    rep = pipeline.run_import(kb, osm=FIX / "small_extract.osm", firms=FIX / "firms.csv")
    assert rep.written["productive_areas"][2] == 4
    areas = kb.read_layer("productive_areas").set_index("area_id")
    # the fixture lies at 9.10-9.16 E, 45.50 N: inside the comune of Milano
    assert set(areas["istat_code"]) == {"015146"}
    assert areas["dist_rail_station_m"].notna().all() and (areas["dist_rail_station_m"] < 5000).all()
    assert (areas["workforce_pt"] > 1_000_000).all()          # Milano's residents are reachable by metro
    rep = pipeline.run_constraints(kb, {})
    assert any("flood_hazard_comune" in n for n in rep.notes)
    assert any("strategic_farmland" in m for m in rep.not_used)   # said plainly: no farmland layer
    land = kb.read_layer("production_land_status")
    mun = kb.read_layer("municipalities")
    assert land["area_m2"].sum() == pytest.approx(mun.area.sum(), rel=1e-4)
    rep, poles = pipeline.run_poles(kb)
    assert set(poles["verdict"]) <= {"polo", "non_polo", "non_valutabile"}
    assert (poles["reason"].str.len() > 0).all()
