"""OGC API – Features: landing, conformance, collections, paging, bbox (both CRSs), crs, filters."""

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point, box

from sttm.knowledge import LayerMeta, open_kb
from sttm.web.ogcapi import CRS84, EPSG32632

N = 700


@pytest.fixture
def synth_kb(kb_path):
    """Add a layer of N random points and polygons around Milano (EPSG:32632)."""
    rng = np.random.default_rng(42)
    x = rng.uniform(495_000, 535_000, N)
    y = rng.uniform(5_020_000, 5_050_000, N)
    geoms = [Point(a, b) if i % 3 else box(a, b, a + rng.uniform(50, 3000), b + rng.uniform(50, 3000))
             for i, (a, b) in enumerate(zip(x, y))]
    gdf = gpd.GeoDataFrame({"fid_key": [f"f{i:04d}" for i in range(N)], "cls": [f"c{i % 4}" for i in range(N)],
                            "value": np.arange(N) * 1.5}, geometry=geoms, crs="EPSG:32632")
    kb = open_kb(str(kb_path))
    kb.write_layer("synthetic", gdf, LayerMeta(title="Sintetico", licence="CC0"), key="fid_key", loaded_by="test")
    kb.dispose()
    return gdf


def _all_pages(client, url):
    ids, pages, seen_matched = [], 0, set()
    while url:
        r = client.get(url)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/geo+json")
        fc = r.json()
        assert fc["numberReturned"] == len(fc["features"])
        seen_matched.add(fc["numberMatched"])
        ids += [f["id"] for f in fc["features"]]
        nxt = [link["href"] for link in fc["links"] if link["rel"] == "next"]
        if pages:
            assert any(link["rel"] == "prev" for link in fc["links"])
        url = nxt[0] if nxt else None
        pages += 1
    assert len(seen_matched) == 1
    return ids, pages, seen_matched.pop()


def test_landing_conformance_collections(client):
    land = client.get("/ogcapi").json()
    rels = {link["rel"] for link in land["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    conf = client.get("/ogcapi/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conf
    cols = {c["id"]: c for c in client.get("/ogcapi/collections").json()["collections"]}
    assert {"municipalities", "stations", "services", "interventions", "opportunity_areas"} <= set(cols)
    c = cols["interventions"]
    assert c["storageCrs"] == EPSG32632 and CRS84 in c["crs"]
    assert any(link["rel"] == "items" for link in c["links"])
    bbox = c["extent"]["spatial"]["bbox"][0]
    assert 8.9 < bbox[0] < bbox[2] < 9.3 and 45.3 < bbox[1] < bbox[3] < 45.5
    api = client.get("/api").json()
    assert api["openapi"].startswith("3.0") and "/ogcapi/collections/{collectionId}/items" in api["paths"]


def test_paging_covers_every_feature_once(client, synth_kb):
    ids, pages, matched = _all_pages(client, "/ogcapi/collections/synthetic/items?limit=100")
    assert matched == N and len(ids) == N and len(set(ids)) == N and pages == 7
    r = client.get("/ogcapi/collections/synthetic/items?limit=10&offset=695").json()
    assert r["numberReturned"] == 5 and not any(link["rel"] == "next" for link in r["links"])
    assert [f["id"] for f in r["features"]] == ids[695:]


@pytest.mark.parametrize("bbox_crs", [None, EPSG32632])
def test_bbox_matches_brute_force(client, synth_kb, bbox_crs):
    if bbox_crs is None:
        qbox = (9.05, 45.40, 9.25, 45.52)
        to84 = Transformer.from_crs(32632, "OGC:CRS84", always_xy=True)
        geoms = shapely.transform(synth_kb.geometry.values, lambda c: np.column_stack(to84.transform(c[:, 0], c[:, 1])))
        url = "/ogcapi/collections/synthetic/items?limit=37&bbox=" + ",".join(map(str, qbox))
    else:
        qbox = (505_000, 5_025_000, 520_000, 5_040_000)
        geoms = synth_kb.geometry.values
        url = "/ogcapi/collections/synthetic/items?limit=37&bbox-crs=" + bbox_crs + "&bbox=" + ",".join(map(str, qbox))
    expected = set(synth_kb["fid_key"][shapely.intersects(geoms, box(*qbox))])
    assert 50 < len(expected) < N  # the query is selective and non-trivial
    ids, _, matched = _all_pages(client, url)
    assert set(ids) == expected and matched == len(expected) == len(ids)


def test_crs_and_coordinates(client, synth_kb):
    pt = synth_kb.iloc[1]
    utm = client.get(f"/ogcapi/collections/synthetic/items/{pt.fid_key}?crs={EPSG32632}")
    assert utm.headers["content-crs"] == f"<{EPSG32632}>"
    x, y = utm.json()["geometry"]["coordinates"]
    assert (x, y) == pytest.approx((pt.geometry.x, pt.geometry.y), abs=0.01)
    lonlat = client.get(f"/ogcapi/collections/synthetic/items/{pt.fid_key}").json()["geometry"]["coordinates"]
    ref = Transformer.from_crs(32632, 4326, always_xy=True).transform(pt.geometry.x, pt.geometry.y)
    assert lonlat == pytest.approx(list(ref), abs=1e-6)
    assert client.get("/ogcapi/collections/synthetic/items?crs=EPSG:3857").status_code == 400


def test_property_filters_and_errors(client, synth_kb):
    r = client.get("/ogcapi/collections/synthetic/items?cls=c2&limit=1000").json()
    assert r["numberMatched"] == (synth_kb["cls"] == "c2").sum()
    assert all(f["properties"]["cls"] == "c2" for f in r["features"])
    assert client.get("/ogcapi/collections/synthetic/items?value=3").json()["numberMatched"] == 1
    assert client.get("/ogcapi/collections/synthetic/items?nonexistent=1").status_code == 400
    assert client.get("/ogcapi/collections/synthetic/items?limit=0").status_code == 400
    capped = client.get("/ogcapi/collections/synthetic/items?limit=50000").json()  # capped, not an error
    assert capped["numberReturned"] == N
    assert client.get("/ogcapi/collections/synthetic/items?bbox=1,2,3").status_code == 400
    assert client.get("/ogcapi/collections/nope/items").status_code == 404
    assert client.get("/ogcapi/collections/synthetic/items/zzz").status_code == 404


def test_new_version_is_served_after_write(client, kb_path, synth_kb):
    assert client.get("/ogcapi/collections/synthetic/items?limit=1").json()["numberMatched"] == N
    kb = open_kb(str(kb_path))
    kb.write_layer("synthetic", synth_kb.iloc[:10], LayerMeta(title="Sintetico"), key="fid_key", loaded_by="test")
    kb.dispose()
    assert client.get("/ogcapi/collections/synthetic/items?limit=1").json()["numberMatched"] == 10


def test_interventions_layer_licence_and_placement(client):
    cols = {c["id"]: c for c in client.get("/ogcapi/collections").json()["collections"]}
    assert "CC BY-NC" in cols["opportunity_areas"]["license"]
    multi = client.get("/ogcapi/collections/interventions/items/T-MULTI-1").json()
    assert multi["geometry"]["type"] == "MultiPoint" and len(multi["geometry"]["coordinates"]) == 2
    assert multi["properties"]["location_precision"] == "comune"
