import json

import pandas as pd
import pytest
import sqlalchemy as sa

from sttm.remix import registry
from sttm.remix.model import ValidationError, validate_intervention
from sttm.remix.registry import Conflict, Forbidden, SystemActor
from dataclasses import dataclass


@dataclass
class U:
    username: str
    role: str
    istat_code: str | None = None


TECH_MI = U("tec.milano", "technician", "015146")
TECH_RHO = U("tec.rho", "technician", "015182")
PLANNER = U("pianificatore", "planner")
PUBLIC = U("anonimo", "public")


def test_validation_names_row_and_field():
    errs = validate_intervention({"intervention_id": "X", "title": "", "istat_codes": "15146",
                                  "status": "boh", "total_cost": "-3"}, row=7)
    assert "riga 7, campo 'title': obbligatorio" in errs
    assert any("'status'" in e and "'boh'" in e for e in errs)
    assert any("'istat_codes'" in e and "'15146'" in e for e in errs)
    assert any("'total_cost'" in e for e in errs)


def test_optimistic_locking_gives_conflict_not_lost_update(small_kb):
    with registry.writing(small_kb.engine) as c:
        rec = registry.get_intervention(c, "T-MI-1")
    v = rec["row_version"]
    edit_a = {**rec, "title": "Versione A"}
    edit_b = {**rec, "title": "Versione B"}
    with registry.writing(small_kb.engine) as c:
        after = registry.update_intervention(c, TECH_MI, "T-MI-1", edit_a, v)
    assert after["row_version"] == v + 1
    with pytest.raises(Conflict):
        with registry.writing(small_kb.engine) as c:
            registry.update_intervention(c, PLANNER, "T-MI-1", edit_b, v)
    with registry.writing(small_kb.engine) as c:
        assert registry.get_intervention(c, "T-MI-1")["title"] == "Versione A"
        trail = registry.audit_trail(c, "T-MI-1")
    assert trail[0]["username"] == "tec.milano" and trail[0]["action"] == "update"
    assert json.loads(trail[0]["before_json"])["title"] == "Parco della Martesana"
    assert json.loads(trail[0]["after_json"])["title"] == "Versione A"


@pytest.mark.parametrize("actor,target,allowed", [
    (TECH_MI, "T-MI-1", True), (TECH_MI, "T-RHO-1", False), (TECH_MI, "T-MULTI-1", False),
    (TECH_RHO, "T-RHO-1", True), (PLANNER, "T-RHO-1", True), (PUBLIC, "T-MI-1", False), (None, "T-MI-1", False),
])
def test_permissions_enforced_in_registry(small_kb, actor, target, allowed):
    with registry.writing(small_kb.engine) as c:
        rec = registry.get_intervention(c, target)
    edit = {**rec, "title": "nuovo"}
    if allowed:
        with registry.writing(small_kb.engine) as c:
            assert registry.update_intervention(c, actor, target, edit, rec["row_version"])["title"] == "nuovo"
    else:
        with pytest.raises(Forbidden), registry.writing(small_kb.engine) as c:
            registry.update_intervention(c, actor, target, edit, rec["row_version"])


def test_technician_cannot_move_own_record_to_other_comune(small_kb):
    with registry.writing(small_kb.engine) as c:
        rec = registry.get_intervention(c, "T-MI-1")
    with pytest.raises(Forbidden), registry.writing(small_kb.engine) as c:
        registry.update_intervention(c, TECH_MI, "T-MI-1", {**rec, "istat_codes": ["015182"]}, rec["row_version"])


def test_bulk_import_is_all_or_nothing(small_kb):
    good = {"intervention_id": "NEW-1", "title": "Nuovo", "istat_codes": "015146", "status": "in_corso"}
    bad = {"intervention_id": "NEW-2", "title": "Rotto", "istat_codes": "015146", "status": "finito", "_row": "f.csv riga 3"}
    with pytest.raises(ValidationError) as exc:
        registry.upsert_many(small_kb.engine, SystemActor(), interventions=[good, bad])
    assert "f.csv riga 3" in str(exc.value) and "'status'" in str(exc.value)
    with registry.writing(small_kb.engine) as c:
        with pytest.raises(registry.NotFound):
            registry.get_intervention(c, "NEW-1")


def test_publish_counts_multi_comune_project_once(small_kb):
    ints = small_kb.read_layer("interventions")
    assert ints["total_cost"].sum() == pytest.approx(3_500_000)
    multi = ints.set_index("intervention_id").loc["T-MULTI-1"]
    assert multi.n_comuni == 2 and len(multi.geometry.geoms) == 2
    # each placement is the comune's point on surface, inside that comune
    mun = small_kb.read_layer("municipalities").set_index("istat_code")
    for pt, code in zip(multi.geometry.geoms, ["015146", "015182"]):
        assert mun.loc[code].geometry.contains(pt)
    assert set(ints["location_precision"]) == {"comune"}
    fund = small_kb.read_layer("intervention_funding")
    assert fund.groupby("source")["amount"].sum().to_dict() == {"Bando Periferie": 500_000, "Comune": 200_000, "PNRR": 2_800_000}


def test_publish_requires_planner(small_kb):
    with pytest.raises(Forbidden):
        registry.publish(small_kb, TECH_MI)


def test_opportunity_layer_carries_nc_licence(small_kb):
    entry = small_kb.catalog_entry("opportunity_areas")
    assert "CC BY-NC" in entry["licence"]
    opp = small_kb.read_layer("opportunity_areas").set_index("area_id")
    assert opp.loc["O-MI-1", "area_m2"] == pytest.approx(500 * 400)
