"""Public-transport accessibility: CSA earliest arrivals worked by hand on the tiny feed, equality
with a brute-force time-expanded graph (NetworkX Dijkstra), cell times, the pipeline and the CLI."""
import datetime as dt
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from shapely.geometry import Point, box
from typer.testing import CliRunner

from sttm.knowledge import LayerMeta, open_kb
from sttm.services.cli import access_app
from sttm.services.gtfs import read_gtfs
from sttm.services.pipeline import ServicesRunError, run_access, run_lum
from sttm.services.transit import INF, Footpaths, TransitModel, csa_profile, parse_window

FEED = Path(__file__).parent / "fixtures" / "gtfs_tiny"
WED = dt.date(2026, 12, 9)


def hms(h, m, s=0):
    return h * 3600 + m * 60 + s


@pytest.fixture(scope="module")
def model():
    return TransitModel(read_gtfs(FEED), date=WED, window=(hms(7, 30), hms(7, 35)),
                        p={**_p(), "departure": {**_p()["departure"], "step_min": 5}})


def _p():
    from sttm.services.transit import transit_params
    return transit_params()


def test_csa_hand_worked_tiny_feed(model):
    ix = model.stop_index
    A = csa_profile(model.cu, model.cv, model.cdep, model.carr, len(model.stops), [ix["A"], ix["A"]],
                    [hms(7, 30), hms(7, 35)], model.footpaths)
    got = {s: A[ix[s]].tolist() for s in "ABCDEF"}
    # B→D is 100 m: × 1.3 detour at 1.25 m/s = 104 s of walking transfer
    assert got["A"] == [hms(7, 30), hms(7, 35)]
    assert got["B"] == [hms(7, 36), hms(7, 51)]          # t2's B time is interpolated (07:51)
    assert got["C"] == [hms(7, 42), hms(7, 57)]
    assert got["D"] == [hms(7, 37, 44), hms(7, 52, 44)]
    assert got["E"] == [hms(7, 46), hms(8, 13)]          # u1 caught; from 07:35 u2 (07:50) is missed → u3
    assert got["F"] == [hms(7, 55), int(INF)]            # frequency trips 07:30/07:40/07:50 only


def test_service_day_rules():
    feed = read_gtfs(FEED)
    assert feed.service_ids_on(WED) == {"WD"}
    assert feed.service_ids_on(dt.date(2026, 12, 8)) == set()       # removed by calendar_dates
    assert feed.service_ids_on(dt.date(2026, 12, 12)) == {"SAT"}
    assert feed.busiest_weekday().weekday() < 5
    c = feed.connections(WED, 0, 10**6)
    assert "t9" not in set(c["trip"]) and (c["route_id"] == "L3").sum() == 3   # 3 expanded C→F departures
    assert TransitModel(read_gtfs(FEED), date=dt.date(2026, 12, 12), window=(hms(6, 50), hms(7, 10))).conn["trip"].tolist() == ["t9"]


def time_expanded_earliest(dep_stop, arr_stop, dep, arr, fp: dict, origin, tau, n_stops):
    """Brute force: the time-expanded graph of the timetable, shortest paths with NetworkX."""
    g = nx.DiGraph()
    deps_at = {}
    for c in range(len(dep)):
        deps_at.setdefault(dep_stop[c], []).append((dep[c], c))
    for s, lst in deps_at.items():
        lst.sort()
        for (t1, c1), (t2, c2) in zip(lst, lst[1:]):
            g.add_edge(("D", c1), ("D", c2), weight=t2 - t1)

    def board(node, stop, t):  # wait at `stop` from time t for the first departure
        for td, c in deps_at.get(stop, []):
            if td >= t:
                g.add_edge(node, ("D", c), weight=td - t)
                return

    for c in range(len(dep)):
        g.add_edge(("D", c), ("R", c), weight=arr[c] - dep[c])
        board(("R", c), arr_stop[c], arr[c])
        for w, secs in fp.get(arr_stop[c], []):
            g.add_edge(("R", c), ("F", c, w), weight=secs)
            board(("F", c, w), w, arr[c] + secs)
    g.add_node("src")
    board("src", origin, tau)
    dist = nx.single_source_dijkstra_path_length(g, "src")
    best = np.full(n_stops, INF, dtype=np.int64)
    best[origin] = tau
    for node, d in dist.items():
        if node == "src" or node[0] == "D":
            continue
        stop = arr_stop[node[1]] if node[0] == "R" else node[2]
        best[stop] = min(best[stop], tau + d)
    return best


def random_timetable(rng, n_stops=14, n_routes=5, trips_per_route=6):
    xs = rng.uniform(0, 3000, n_stops)
    ys = rng.uniform(0, 3000, n_stops)
    rows = []
    for r in range(n_routes):
        path = rng.choice(n_stops, size=rng.integers(3, 7), replace=False)
        hops = rng.integers(0, 4, size=len(path) - 1) * 60  # minute resolution, zero-duration hops too
        for k in range(trips_per_route):
            t = hms(7, 0) + int(rng.integers(0, 90)) * 60
            for a, b, h in zip(path, path[1:], hops):
                rows.append((a, b, t, t + h))
                t += h + int(rng.integers(0, 2)) * 60
    c = np.array(sorted(rows, key=lambda r: (r[2], r[3])))
    d = np.hypot(xs[:, None] - xs[None, :], ys[:, None] - ys[None, :])
    i, j = np.nonzero((d <= 700) & (d > 0))
    secs = np.rint(d[i, j] / 1.25).astype(int)
    return c, i, j, secs, n_stops


@pytest.mark.parametrize("seed", range(6))
def test_csa_equals_time_expanded_dijkstra(seed):
    rng = np.random.default_rng(seed)
    c, i, j, secs, n = random_timetable(rng)
    fp = Footpaths.build(n, i, j, secs)
    fpd = {}
    for a, b, s in zip(i, j, secs):
        fpd.setdefault(a, []).append((b, int(s)))
    origins = np.repeat(np.arange(n), 3)
    taus = np.tile([hms(7, 0), hms(7, 20), hms(7, 45)], n)
    A = csa_profile(c[:, 0], c[:, 1], c[:, 2], c[:, 3], n, origins, taus, fp)
    for col, (o, tau) in enumerate(zip(origins, taus)):
        ref = time_expanded_earliest(c[:, 0], c[:, 1], c[:, 2], c[:, 3], fpd, o, tau, n)
        assert A[:, col].tolist() == ref.tolist(), (seed, o, tau)
    assert (A < INF).sum() > 2 * len(origins)  # the random timetables do route somewhere


def test_csa_rejects_unsorted_connections():
    with pytest.raises(ValueError, match="sorted"):
        csa_profile([0, 1], [1, 2], [100, 50], [110, 60], 3, [0], [0])


def test_cell_minutes_hand_worked(model):
    st = model.stops.set_index("stop_id")
    ax, ay = st.loc["A", "x"], st.loc["A", "y"]
    ex, ey = st.loc["E", "x"], st.loc["E", "y"]
    cx, cy = np.array([ax, ax + 400, ax - 5000]), np.array([ay, ay, ay])
    walk = np.hypot(cx - ex, cy - ey) * 1.3 / 75.0  # walk-only minutes at 4.5 km/h
    res = model.cell_minutes(cx, cy, {"hospital": (np.array([ex]), np.array([ey]))}, {"hospital": walk})
    # from A: departing 07:30 → E 07:46 (16'), departing 07:35 → E 08:13 (38'); median of two = 27'
    # 400 m east of A: + 400 × 1.3 / 75 = 6.93' of access walk to A; 5 km west: no stop within 800 m
    assert res.minutes["hospital"].tolist() == pytest.approx([27.0, 400 * 1.3 / 75 + 27.0, walk[2]])
    assert res.meta["departures"] == ["07:30", "07:35"]
    assert res.pt_better_share["hospital"] == pytest.approx(2 / 3)


def test_parse_window_errors():
    assert parse_window("07:30-08:30") == (hms(7, 30), hms(8, 30))
    for bad in ("7.30-8.30", "08:30-07:30", "07:30"):
        with pytest.raises(ValueError, match="finestra"):
            parse_window(bad)


# ---- pipeline and CLI on a small knowledge base around the tiny feed --------------------------------
X0, Y0 = 515000, 5035000
META = LayerMeta(title="test", source="hand-made", licence="CC0", vintage="2026")


@pytest.fixture()
def kb_path(tmp_path):
    path = str(tmp_path / "kb.gpkg")
    kb = open_kb(path)
    mun = gpd.GeoDataFrame({
        "istat_code": ["015001", "015002"], "name": ["Alfa", "Beta"], "cadastral_code": ["A001", "A002"],
        "area_km2": [6.0, 6.0], "residents_anpr_2025": [3000, 1000], "residents_istat_2021": [3000, 1000],
        "under12_istat_2021": [300, 100], "density_per_km2": [500.0, 166.0], "zone": [None, None], "role": [None, None],
        "geometry": [box(X0 - 500, Y0 - 500, X0 + 2500, Y0 + 3500), box(X0 + 2500, Y0 - 500, X0 + 5500, Y0 + 3500)]},
        crs="EPSG:32632")
    kb.write_layer("municipalities", mun, META, key="istat_code")
    svc = gpd.GeoDataFrame({
        "service_id": ["h1", "p1"], "category": ["hospital", "pharmacy"], "subcategory": [None, None],
        "name": ["Ospedale E", "Farmacia"], "capacity": [None, None], "istat_code": ["015001", "015002"],
        "source": ["t", "t"], "geometry": [Point(X0 + 2100, Y0 + 3000), Point(X0 + 4000, Y0)]}, crs="EPSG:32632")
    kb.write_layer("services", svc, META, key="service_id")
    st = gpd.GeoDataFrame({
        "station_id": ["rail:E"], "name": ["OSPEDALE E"], "mode": ["rail"], "lines": [None], "operator": ["RFI"],
        "istat_code": ["015001"], "in_cmm": [True], "interchange_with": [None], "sources": ["t"],
        "geometry": [Point(X0 + 2100, Y0 + 3000)]}, crs="EPSG:32632")
    kb.write_layer("stations", st, META, key="station_id")
    return path


def test_run_access_with_gtfs(kb_path):
    kb = open_kb(kb_path)
    walk_only = run_access(kb, cell_size=250)
    assert "non modellato" in walk_only.meta["transit_it"]
    run = run_access(kb, cell_size=250, gtfs_path=FEED, gtfs_date="2026-12-09", gtfs_window="07:30-07:35")
    c = run.cells
    assert (c["tw_hospital"] == walk_only.cells["t_hospital"].to_numpy()).all()
    assert (c["t_hospital"] <= c["tw_hospital"] + 1e-9).all() and (c["t_hospital"] < c["tw_hospital"]).any()
    assert (c["n_hospital"] == walk_only.cells["n_hospital"].to_numpy()).all()   # counts stay walk-only
    assert run.meta["transit_it"] == "trasporto pubblico: incluso (feed gtfs_tiny, 2026-12-09, finestra 07:30–07:35)"
    assert not any("GTFS" in m for m in run.meta["missing_it"])
    desc = open_kb(kb_path).catalog_entry("access_cells")["description"]
    assert "trasporto pubblico: incluso" in desc
    with pytest.raises(ServicesRunError, match="walk"):
        run_access(kb, cell_size=250, gtfs_path=FEED, mode="bike")
    with pytest.raises(ServicesRunError, match="fuori dal periodo"):
        run_access(kb, cell_size=250, gtfs_path=FEED, gtfs_date="2030-01-01")


def test_cli_access_run_with_gtfs(kb_path, tmp_path):
    import typer

    app = typer.Typer()
    app.add_typer(access_app, name="access")
    runner = CliRunner()
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in FEED.glob("*.txt"):
        if f.name != "stops.txt":
            (bad / f.name).write_text(f.read_text())
    r = runner.invoke(app, ["access", "run", "--cell", "250", "--gtfs", str(bad), "--db", kb_path])
    assert r.exit_code == 2 and "stops.txt: file obbligatorio mancante" in r.output
    assert not open_kb(kb_path).has_layer("access_cells")  # a bad feed writes nothing
    r = runner.invoke(app, ["access", "run", "--cell", "250", "--gtfs", str(FEED), "--gtfs-date", "2026-12-09",
                            "--gtfs-window", "07:30-08:00", "--db", kb_path])
    assert r.exit_code == 0, r.output
    assert "Trasporto pubblico: incluso (feed gtfs_tiny, 2026-12-09, finestra 07:30–08:00)" in r.output
    assert "non modellato" not in r.output
    assert open_kb(kb_path).has_layer("access_cells")


def test_walk_legs_on_a_network():
    """With a walking network, access, transfer and egress legs follow the streets (Manhattan grid
    here: B→D 100 m = 80 s instead of 104 s in straight-line mode)."""
    from sttm.services.engine import NetworkCost
    from sttm.services.network import grid_network

    net = grid_network(71, 91, spacing=100.0, x0=X0 - 1000, y0=Y0 - 4000)
    m = TransitModel(read_gtfs(FEED), date=WED, window=(hms(7, 30), hms(7, 35)), walk_cost=NetworkCost(net),
                     p={**_p(), "departure": {**_p()["departure"], "step_min": 5}})
    ix = m.stop_index
    A = csa_profile(m.cu, m.cv, m.cdep, m.carr, len(m.stops), [ix["A"]], [hms(7, 30)], m.footpaths)
    assert A[ix["D"], 0] == hms(7, 37, 20) and A[ix["E"], 0] == hms(7, 46)
    ex, ey = m.stops.set_index("stop_id").loc["E", ["x", "y"]]
    res = m.cell_minutes(np.array([X0, X0 + 400.0]), np.array([Y0, Y0]), {"hospital": (np.array([ex]), np.array([ey]))},
                         {"hospital": np.array([100.0, 100.0])})
    assert res.minutes["hospital"].tolist() == pytest.approx([27.0, 27.0 + 400 / 75], abs=0.02)
    assert res.meta["time_method"] == "transit_csa+network_walk"


def test_lum_public_transport_catchment(kb_path):
    """pt15 perimeter of the LUM at E with a single departure at 07:37: from the cell of D one waits
    1 minute for u1 (07:38) and rides 8 → 9 minutes, so cells within 6 minutes' walk of D (346 m in
    straight line × 1.3) join the perimeter although E is 3 km away; A (u3 only, 36 minutes) does not."""
    kb = open_kb(kb_path)
    run_access(kb, cell_size=100)
    table, cat, notes = run_lum(kb, gtfs_path=FEED, gtfs_date="2026-12-09", gtfs_window="07:37-07:38")
    pt = cat[cat["kind"] == "pt15"].set_index("lum_id").geometry
    assert list(pt.index) == ["lum_rail_e"]
    g = pt.iloc[0]
    assert g.contains(Point(X0 + 2150, Y0 + 50)) and g.contains(Point(X0 + 2150, Y0 + 250))  # around D
    assert not g.contains(Point(X0 + 2150, Y0 + 550))                                          # 7.4' from D
    assert g.contains(Point(X0 + 2150, Y0 + 3050)) and not g.contains(Point(X0 + 50, Y0 + 50))  # E yes, A no
    lum = kb.read_layer("lum").set_index("lum_id")
    assert lum.loc["lum_rail_e", "pop_pt15"] > lum.loc["lum_rail_e", "pop_r500"]
    assert any("trasporto pubblico: incluso" in n for n in notes)
    _, _, notes = run_lum(kb)
    assert any("non modellato" in n for n in notes)
