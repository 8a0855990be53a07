"""Networks and the accessibility engine: hand-worked cases and peer libraries on the same input."""
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from sttm.services.engine import CategorySpec, NetworkCost, Pairs, StraightLine, accessibility, aggregate, two_step_fca
from sttm.services.network import Network, NetworkImportError, grid_network, read_osm

FIX = Path(__file__).parent / "fixtures"


def line_network():
    # 0 --100-- 1 --100-- 2 --100-- 3,  plus a shortcut 0 --250-- 3 and a parallel longer 1–2 edge
    x = [0, 100, 200, 300]
    y = [0, 0, 0, 0]
    return Network.from_edges(x, y, u=[0, 1, 2, 0, 1], v=[1, 2, 3, 3, 2], length=[100, 100, 100, 250, 180])


def test_hand_worked_nearest_and_within():
    net = line_network()
    cost = NetworkCost(net)
    # origins on nodes 0..3, one service on node 3
    d = cost.nearest(net.x, net.y, np.array([300.0]), np.array([0.0]))
    assert d.tolist() == pytest.approx([250.0, 200.0, 100.0, 0.0], abs=1e-9)  # shortcut beats 0-1-2-3 (300); parallel 180 ignored
    # service off the network, 30 m north of node 1: leg 30 m added; origin 10 m south of node 2
    d = cost.nearest(np.array([200.0]), np.array([-10.0]), np.array([100.0]), np.array([30.0]))
    assert d.tolist() == pytest.approx([10 + 100 + 30])
    p = cost.within(net.x, net.y, np.array([300.0]), np.array([0.0]), max_m=200)
    got = sorted(zip(p.i.tolist(), p.d.tolist()))
    assert got == [(1, 200.0), (2, 100.0), (3, 0.0)]


def test_straight_line_hand_worked():
    sl = StraightLine(detour_factor=1.2)
    ox, oy = np.array([0.0, 1000.0]), np.array([0.0, 0.0])
    dx, dy = np.array([300.0, 400.0, 1000.0]), np.array([400.0, 0.0, 0.0])
    assert sl.nearest(ox, oy, dx, dy).tolist() == pytest.approx([400 * 1.2, 0.0])
    p = sl.within(ox, oy, dx, dy, max_m=600)  # crow-fly radius 500
    assert sorted(zip(p.i.tolist(), p.j.tolist())) == [(0, 0), (0, 1), (1, 2)]
    with pytest.raises(ValueError):
        StraightLine(0.9)


def random_network(seed=1):
    net = grid_network(25, 20, spacing=60, jitter=15, seed=seed)
    rng = np.random.default_rng(seed)
    keep = rng.random(net.n_edges) > 0.2  # drop 20% of the streets
    return Network.from_edges(net.x, net.y, net.u[keep], net.v[keep])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nearest_equals_networkx(seed):
    net = random_network(seed)
    rng = np.random.default_rng(seed + 10)
    main = net.main_component()
    dest_nodes = rng.choice(main, 7, replace=False)
    cost = NetworkCost(net)
    ours = cost.nearest(net.x[main], net.y[main], net.x[dest_nodes], net.y[dest_nodes])
    g = net.to_networkx()
    ref = nx.multi_source_dijkstra_path_length(g, set(dest_nodes.tolist()), weight="length")
    assert ours == pytest.approx(np.array([ref[n] for n in main.tolist()]), rel=1e-12, abs=1e-9)


def test_within_equals_networkx():
    net = random_network(4)
    rng = np.random.default_rng(5)
    main = net.main_component()
    dest_nodes = rng.choice(main, 5, replace=False)
    cost = NetworkCost(net, chunk=2)
    p = cost.within(net.x[main], net.y[main], net.x[dest_nodes], net.y[dest_nodes], max_m=400)
    g = net.to_networkx()
    ours = {(int(main[i]), int(j)): d for i, j, d in zip(p.i, p.j, p.d)}
    ref = {}
    for j, s in enumerate(dest_nodes.tolist()):
        for n, d in nx.single_source_dijkstra_path_length(g, s, cutoff=400, weight="length").items():
            ref[(n, j)] = d
    assert ours.keys() == ref.keys()
    assert [ours[k] for k in ref] == pytest.approx([ref[k] for k in ref])


def test_two_step_fca_hand_worked():
    # two facilities (supply 10 and 5), three cells (pop 100, 50, 50)
    # F0 reaches cells 0,1 -> R0 = 10/150; F1 reaches cells 1,2 -> R1 = 5/100
    pairs = Pairs(np.array([0, 1, 1, 2]), np.array([0, 0, 1, 1]), np.array([1.0, 2, 3, 4]))
    a = two_step_fca(pairs, np.array([100.0, 50, 50]), np.array([10.0, 5]))
    assert a.tolist() == pytest.approx([10 / 150, 10 / 150 + 5 / 100, 5 / 100])
    # a tighter catchment drops the 4 m pair: R1 = 5/50
    a = two_step_fca(pairs, np.array([100.0, 50, 50]), np.array([10.0, 5]), max_cost=3)
    assert a.tolist() == pytest.approx([10 / 150, 10 / 150 + 5 / 50, 0.0])


def test_two_step_fca_equals_pysal_access():
    from access import Access

    rng = np.random.default_rng(7)
    n_d, n_s = 60, 9
    pts_d = rng.uniform(0, 3000, (n_d, 2))
    pts_s = rng.uniform(0, 3000, (n_s, 2))
    pairs = StraightLine(1.3).within(pts_d[:, 0], pts_d[:, 1], pts_s[:, 0], pts_s[:, 1], max_m=1500)
    demand = rng.integers(10, 500, n_d).astype(float)
    supply = rng.integers(1, 40, n_s).astype(float)
    ours = two_step_fca(pairs, demand, supply, max_cost=1200)

    ddf = pd.DataFrame({"pop": demand}, index=pd.Index(range(n_d), name="geoid"))
    sdf = pd.DataFrame({"cap": supply}, index=pd.Index(range(n_s), name="geoid"))
    cdf = pairs.to_frame()
    A = Access(demand_df=ddf, demand_value="pop", supply_df=sdf, supply_value="cap",
               cost_df=cdf, cost_origin="origin", cost_dest="dest", cost_name="cost")
    ref = A.two_stage_fca(name="2sfca", max_cost=1200, normalize=False).iloc[:, 0]
    ref = ref.reindex(range(n_d)).fillna(0.0).to_numpy()
    assert np.count_nonzero(ours) > n_d // 2
    assert ours == pytest.approx(ref, rel=1e-12)


def test_accessibility_and_aggregate_hand_worked():
    cells = pd.DataFrame({"x": [0.0, 1000, 3000], "y": [0.0, 0, 0], "pop": [100.0, 100, 200],
                          "under12": [10.0, 20, 30], "istat_code": ["A", "A", "B"]})
    services = pd.DataFrame({"x": [0.0, 2900], "y": [0.0, 0], "category_key": ["pharmacy", "school_primaria"],
                             "capacity": [np.nan, 60]})
    cats = [CategorySpec("pharmacy", "Farmacia", per=10000), CategorySpec("school_primaria", "Primaria",
            demand="under12", supply="capacity", per=1), CategorySpec("hospital", "Ospedale")]
    # straight line ×1.0 at 6 km/h: 100 m/min, 15 min = 1500 m
    acc = accessibility(cells, services, StraightLine(1.0), speed_kmh=6.0, categories=cats)
    assert acc["t_pharmacy"].tolist() == pytest.approx([0, 10, 30])
    assert acc["n_pharmacy"].tolist() == [1, 1, 0]
    assert acc["t_school_primaria"].tolist() == pytest.approx([29, 19, 1])
    assert acc["n_school_primaria"].tolist() == [0, 0, 1]
    # pharmacy reaches cells 0,1 (pop 200): 1/200*10000 = 50 per 10,000
    assert acc["r_pharmacy"].tolist() == pytest.approx([50, 50, 0])
    assert acc["r_school_primaria"].tolist() == pytest.approx([0, 0, 2.0])  # 60 places / 30 children
    assert acc["score_15"].tolist() == pytest.approx([0.5, 0.5, 0.5])  # hospital has no supply: not counted
    assert acc["approximate"].all()
    agg = aggregate(cells, acc, "istat_code", cats).set_index("istat_code")
    assert agg.loc["A", "t_pharmacy"] == pytest.approx(5.0)
    assert agg.loc["A", "share_pharmacy"] == 1.0 and agg.loc["B", "share_pharmacy"] == 0.0
    assert agg.loc["A", "pop"] == 200 and agg.loc["B", "under12"] == 30


def test_network_and_straight_line_agree_on_a_straight_street():
    # a single straight street: network distance = crow-fly distance
    net = Network.from_edges(np.arange(0, 1001, 100.0), np.zeros(11), u=np.arange(10), v=np.arange(1, 11))
    o = np.arange(0, 1001, 100.0)
    a = NetworkCost(net).nearest(o, np.zeros(11), np.array([1000.0]), np.array([0.0]))
    b = StraightLine(1.0).nearest(o, np.zeros(11), np.array([1000.0]), np.array([0.0]))
    assert a == pytest.approx(b)


def test_read_hand_made_osm_walk_and_bike():
    walk = read_osm(FIX / "tiny.osm", mode="walk")
    # usable for walking: 1-2, 2-3, 2-4, 4-7 (cycleway), 1-8 (footway); not motorway, private, river
    assert walk.n_edges == 5 and walk.n_nodes == 6
    lengths = sorted(walk.length.tolist())
    # 0.001° latitude ≈ 111.1 m; 0.001° longitude at 45.46° ≈ 78.1 m
    assert lengths[-3:] == pytest.approx([111.2, 111.2, 111.2], abs=0.5)
    assert lengths[:2] == pytest.approx([78.1, 111.2], abs=0.5)
    bike = read_osm(FIX / "tiny.osm", mode="bike")
    assert bike.n_edges == 4  # the footway with bicycle=no is gone
    # routing on the imported graph: OSM node 1 to OSM node 4 = 111.2 (1→2) + 78.1 (2→4)
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    x1, y1 = tr.transform(9.1900, 45.4600)
    x4, y4 = tr.transform(9.1910, 45.4610)
    d = NetworkCost(walk).nearest(np.array([x1]), np.array([y1]), np.array([x4]), np.array([y4]))
    assert d[0] == pytest.approx(111.2 + 78.1, abs=1.0)


def test_read_osm_errors(tmp_path):
    with pytest.raises(NetworkImportError, match="not found"):
        read_osm(tmp_path / "nope.osm")
    empty = tmp_path / "empty.osm"
    empty.write_text('<?xml version="1.0"?><osm version="0.6"><node id="1" lat="45" lon="9" version="1"/></osm>')
    with pytest.raises(NetworkImportError, match="no way usable"):
        read_osm(empty)
    broken = tmp_path / "broken.osm"
    broken.write_text('<?xml version="1.0"?><osm version="0.6"><way id="1" version="1"><nd ref="1"/><nd ref="2"/>'
                      '<tag k="highway" v="footway"/></way></osm>')
    with pytest.raises(NetworkImportError, match="no coordinates"):
        read_osm(broken)
    with pytest.raises(ValueError):
        read_osm(FIX / "tiny.osm", mode="car")


@pytest.mark.realdata
def test_read_real_overpass_crossings(mirror):
    path = mirror / "network" / "osm_milano_footway_crossing_overpass_2022-02-14.osm"
    net = read_osm(path, mode="walk")
    assert net.n_nodes > 20_000 and net.n_edges > 20_000  # 6,496 ways / 29,093 node refs
    # Milano, in UTM 32N
    assert 505_000 < np.median(net.x) < 525_000 and 5_025_000 < np.median(net.y) < 5_045_000
    assert np.median(net.length) < 30  # crossings are short


def test_capacity_fallbacks_and_partial_coverage():
    cells = pd.DataFrame({"x": [0.0, 1000], "y": [0.0, 0], "pop": [100.0, 100], "under12": [10.0, 10],
                          "istat_code": ["015146", "015002"]})
    services = pd.DataFrame({"x": [0.0, 1000, 0], "y": [0.0, 0, 0], "category_key": ["cfp", "primaria", "sport"],
                             "capacity": [np.nan, np.nan, np.nan]})
    cats = [CategorySpec("cfp", "CFP", supply="capacity", per=1, catchment_min=5), CategorySpec("primaria", "P", supply="capacity"),
            CategorySpec("sport", "Sport", coverage=("015146",))]
    acc = accessibility(cells, services, StraightLine(1.0), speed_kmh=6.0, categories=cats, threshold_min=5)
    # no capacity known: each structure counts 1 -> cfp reaches cell 0 only (500 m): 1/100
    assert acc["r_cfp"].tolist() == pytest.approx([0.01, 0.0])
    assert any("cfp: capacità assente" in n for n in acc.attrs["notes_it"])
    # sport evaluated only in Milano (015146): the other cell is empty, not "unreached"
    assert np.isnan(acc.loc[1, "t_sport"]) and acc.loc[0, "t_sport"] == 0
    # cell 0 reaches cfp and sport but not primaria (1000 m > 500 m); cell 1 reaches primaria only, sport not counted
    assert acc["score_15"].tolist() == pytest.approx([2 / 3, 1 / 2])
    agg = aggregate(cells, acc, "istat_code", cats).set_index("istat_code")
    assert np.isnan(agg.loc["015002", "share_sport"]) and agg.loc["015146", "share_sport"] == 1.0


@pytest.mark.realdata
def test_read_real_sidewalks_and_crossings_merged(mirror):
    paths = [mirror / "network" / "osm_milano_footway_sidewalk_overpass_2021-04-29.osm",
             mirror / "network" / "osm_milano_footway_crossing_overpass_2022-02-14.osm"]
    a, b = read_osm(paths[0]), read_osm(paths[1])
    both = read_osm(paths)
    # merged on OSM node ids: crossings share their end nodes with sidewalks
    assert both.n_edges == a.n_edges + b.n_edges
    assert both.n_nodes < a.n_nodes + b.n_nodes
    assert len(both.main_component()) > max(len(a.main_component()), len(b.main_component()))
