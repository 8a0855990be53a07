"""Real data: PNRR projects and Milano degraded areas loaded into a KB built from ../shared/data."""

import shutil

import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient

from sttm.knowledge import open_kb
from sttm.remix import loaders, registry
from sttm.remix.registry import SystemActor

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def remix_kb(real_kb_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("remixreal") / "sttm.gpkg"
    shutil.copy(real_kb_path, path)
    kb = open_kb(str(path))
    registry.upsert_many(kb.engine, SystemActor(), interventions=loaders.pnrr_records(),
                         opportunities=loaders.degraded_area_records())
    registry.publish(kb, SystemActor())
    yield kb
    kb.dispose()


def test_pnrr_totals_count_each_project_once(remix_kb, mirror):
    raw = pd.read_csv(mirror / loaders.PNRR_FILE, dtype={"com_istat_code": str})
    projects = raw.drop_duplicates(["cup", "codice_locale_progetto"])
    ints = remix_kb.read_layer("interventions")
    assert len(ints) == len(projects) == 1942
    assert ints["total_cost"].sum() == pytest.approx(projects["fin_totale"].sum(), rel=1e-9)
    naive = raw["fin_totale"].sum()  # summing localisation rows double-counts multi-comune projects
    assert naive > ints["total_cost"].sum()


def test_every_placement_is_inside_its_comuni(remix_kb):
    ints = remix_kb.read_layer("interventions")
    mun = remix_kb.read_layer("municipalities").set_index("istat_code")
    at_comune = ints[ints["location_precision"] == "comune"]
    assert len(at_comune) > 1900
    for geom, codes in zip(at_comune.geometry, at_comune["istat_codes"]):
        pts = list(geom.geoms)
        cs = codes.split(";")
        assert len(pts) == len(cs)
        assert all(mun.loc[c].geometry.contains(p) for p, c in zip(pts, cs))
    metro = ints[ints["location_precision"] == "metropolitan"]
    assert len(metro) >= 1 and all(shapely.contains(mun.geometry.union_all(), g) for g in metro.geometry)


def test_degraded_areas_layer_and_licence(remix_kb):
    opp = remix_kb.read_layer("opportunity_areas")
    assert len(opp) == 192 and set(opp["istat_code"]) == {"015146"}
    assert "CC BY-NC" in remix_kb.catalog_entry("opportunity_areas")["licence"]


def test_portal_serves_real_layers(remix_kb):
    from sttm.web.app import create_app

    app = create_app(remix_kb.url)
    with TestClient(app) as client:
        assert client.get("/ogcapi/collections/municipalities/items?limit=1").json()["numberMatched"] == 133
        assert client.get("/ogcapi/collections/interventions/items?limit=1").json()["numberMatched"] == 1942
        st = client.get("/ogcapi/collections/stations/items?limit=1").json()["numberMatched"]
        sv = client.get("/ogcapi/collections/services/items?limit=1").json()["numberMatched"]
        assert st > 70 and sv > 1000
        page = client.get("/mappa").text
        for layer in ("municipalities", "stations", "services", "interventions", "opportunity_areas"):
            assert f'data-layer="{layer}"' in page
        dash = client.get("/cruscotto")
        assert dash.status_code == 200 and "Milano" in dash.text
    app.state.kb.dispose()
