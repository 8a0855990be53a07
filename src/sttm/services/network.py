"""Walking/cycling networks: import from OpenStreetMap (.osm / .osm.pbf, via pyosmium) and a compact
graph (node coordinates in EPSG:32632 + undirected edges with lengths in metres) that the
accessibility engine routes on with SciPy's sparse-graph Dijkstra.

>>> net = Network.from_edges(x=[0, 100, 100], y=[0, 0, 100], u=[0, 1], v=[1, 2])
>>> net.n_nodes, float(net.length.sum())
(3, 200.0)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

# OSM highway values usable on foot / by bicycle. Motorways and trunk roads are excluded for both;
# `access=no|private` and `foot=no` / `bicycle=no` remove a way.
WALK_HIGHWAYS = {
    "footway", "pedestrian", "path", "steps", "living_street", "residential", "service", "unclassified",
    "tertiary", "tertiary_link", "secondary", "secondary_link", "primary", "primary_link", "track",
    "cycleway", "road", "crossing", "corridor", "bridleway",
}
BIKE_HIGHWAYS = {
    "cycleway", "living_street", "residential", "service", "unclassified", "tertiary", "tertiary_link",
    "secondary", "secondary_link", "primary", "primary_link", "track", "road", "path",
}
BIKE_ON_FOOTWAY = {"yes", "designated", "permissive"}


class NetworkImportError(ValueError):
    """The OSM file could not be turned into a routable network."""


@dataclass
class Network:
    """Undirected graph with node coordinates (EPSG:32632, metres) and edge lengths (metres)."""

    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    mode: str = "walk"
    source: str = ""
    _csr: sparse.csr_matrix | None = field(default=None, repr=False)
    _tree: cKDTree | None = field(default=None, repr=False)
    _main: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_edges(cls, x, y, u, v, length=None, mode: str = "walk", source: str = "") -> "Network":
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        u = np.asarray(u, dtype=np.int64)
        v = np.asarray(v, dtype=np.int64)
        if len(x) != len(y):
            raise NetworkImportError("x and y have different lengths")
        if len(u) != len(v):
            raise NetworkImportError("u and v have different lengths")
        if len(u) and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= len(x)):
            raise NetworkImportError("edge endpoint outside the node arrays")
        if length is None:
            length = np.hypot(x[u] - x[v], y[u] - y[v])
        length = np.asarray(length, dtype=float)
        if np.any(~np.isfinite(length)) or np.any(length < 0):
            raise NetworkImportError("edge lengths must be finite and non-negative")
        keep = u != v
        return cls(x=x, y=y, u=u[keep], v=v[keep], length=length[keep], mode=mode, source=source)

    @property
    def n_nodes(self) -> int:
        return len(self.x)

    @property
    def n_edges(self) -> int:
        return len(self.u)

    def csr(self) -> sparse.csr_matrix:
        """Symmetric adjacency (n×n) with the shortest parallel edge kept; zero lengths → 1e-9 m
        (SciPy would otherwise read an explicit zero as a missing edge)."""
        if self._csr is None:
            n = self.n_nodes
            i = np.concatenate([self.u, self.v])
            j = np.concatenate([self.v, self.u])
            w = np.maximum(np.concatenate([self.length, self.length]), 1e-9)
            order = np.lexsort((w, j, i))
            i, j, w = i[order], j[order], w[order]
            first = np.ones(len(i), dtype=bool)
            first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
            self._csr = sparse.csr_matrix((w[first], (i[first], j[first])), shape=(n, n))
        return self._csr

    def main_component(self) -> np.ndarray:
        """Indices of the nodes in the largest connected component (where points are snapped)."""
        if self._main is None:
            _, labels = csgraph.connected_components(self.csr(), directed=False)
            counts = np.bincount(labels)
            self._main = np.flatnonzero(labels == counts.argmax())
        return self._main

    def snap(self, px, py) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node of the largest component for each point: (node index, distance in m)."""
        main = self.main_component()
        if self._tree is None:
            self._tree = cKDTree(np.column_stack([self.x[main], self.y[main]]))
        d, k = self._tree.query(np.column_stack([np.asarray(px, float), np.asarray(py, float)]))
        return main[k], d

    def to_networkx(self):
        """The same graph as a networkx.Graph (for cross-checks), edge attribute `length`."""
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(range(self.n_nodes))
        coo = self.csr().tocoo()
        g.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()), weight="length")
        return g

    def edges_gdf(self):
        """Edges as a GeoDataFrame (EPSG:32632) for writing to the knowledge base or drawing."""
        import geopandas as gpd
        import shapely

        coords = np.stack([np.column_stack([self.x[self.u], self.y[self.u]]),
                           np.column_stack([self.x[self.v], self.y[self.v]])], axis=1)
        geom = shapely.linestrings(coords)
        return gpd.GeoDataFrame({"edge_id": np.arange(self.n_edges), "u": self.u, "v": self.v,
                                 "length_m": self.length, "mode": self.mode},
                                geometry=geom, crs="EPSG:32632")


def _way_usable(tags: dict, mode: str) -> bool:
    hw = tags.get("highway")
    if hw is None:
        return False
    if tags.get("access") in {"no", "private"} or tags.get("area") == "yes":
        return False
    if mode == "walk":
        if tags.get("foot") == "no":
            return False
        return hw in WALK_HIGHWAYS or tags.get("foot") in {"yes", "designated"}
    if mode == "bike":
        if tags.get("bicycle") in {"no", "dismount"} and hw != "cycleway":
            return False
        if hw in {"footway", "pedestrian"}:
            return tags.get("bicycle") in BIKE_ON_FOOTWAY
        return hw in BIKE_HIGHWAYS or tags.get("bicycle") in {"yes", "designated"}
    raise ValueError(f"unknown mode {mode!r}: use 'walk' or 'bike'")


def read_osm(path: str | Path | list, mode: str = "walk") -> Network:
    """Build a walking (`mode="walk"`) or cycling (`mode="bike"`) network from one OSM file or a
    list of them (merged on OSM node ids, e.g. separately extracted sidewalks and crossings).

    Reads .osm (XML, including Overpass `out geom` answers whose way nodes carry their
    coordinates inline) and .osm.pbf with pyosmium. Every way vertex becomes a node, every
    consecutive pair an edge (length measured in EPSG:32632). One-way tags are ignored: walking
    and (conservatively) cycling are treated as two-way.
    """
    import osmium
    from pyproj import Transformer

    paths = [Path(p) for p in (path if isinstance(path, (list, tuple)) else [path])]
    for p_ in paths:
        if not p_.exists():
            raise NetworkImportError(f"{p_}: file not found")
    path = paths[0] if len(paths) == 1 else "; ".join(str(p_) for p_ in paths)
    if mode not in {"walk", "bike"}:
        raise ValueError(f"unknown mode {mode!r}: use 'walk' or 'bike'")

    refs: list[np.ndarray] = []
    inline: dict[int, tuple[float, float]] = {}

    class Ways(osmium.SimpleHandler):
        def way(self, w):
            tags = {t.k: t.v for t in w.tags}
            if not _way_usable(tags, mode):
                return
            ids = []
            for n in w.nodes:
                ids.append(n.ref)
                loc = n.location
                if loc.valid():
                    inline[n.ref] = (loc.lon, loc.lat)
            if len(ids) >= 2:
                refs.append(np.asarray(ids, dtype=np.int64))

    for p_ in paths:
        try:
            Ways().apply_file(str(p_))
        except RuntimeError as exc:  # libosmium parse errors
            raise NetworkImportError(f"{p_}: not a readable OSM file ({exc})") from exc
    if not refs:
        raise NetworkImportError(f"{path}: no way usable for mode {mode!r} (highway=* tags)")

    all_ids = np.unique(np.concatenate(refs))
    missing = set(all_ids.tolist()) - inline.keys()
    if missing:
        class Nodes(osmium.SimpleHandler):
            def node(self, n):
                if n.id in missing:
                    inline[n.id] = (n.location.lon, n.location.lat)

        for p_ in paths:
            Nodes().apply_file(str(p_))
        still = missing - inline.keys()
        if still:
            raise NetworkImportError(
                f"{path}: {len(still)} way nodes have no coordinates (e.g. node {next(iter(still))}); "
                "the extract is incomplete")

    lonlat = np.array([inline[i] for i in all_ids.tolist()], dtype=float)
    tr = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    x, y = tr.transform(lonlat[:, 0], lonlat[:, 1])
    u_parts, v_parts = [], []
    for r in refs:
        idx = np.searchsorted(all_ids, r)
        u_parts.append(idx[:-1])
        v_parts.append(idx[1:])
    u = np.concatenate(u_parts)
    v = np.concatenate(v_parts)
    return Network.from_edges(x, y, u, v, mode=mode, source=str(path))


def grid_network(nx_: int, ny_: int, spacing: float = 50.0, x0: float = 500_000.0, y0: float = 5_030_000.0,
                 jitter: float = 0.0, seed: int = 0, mode: str = "walk") -> Network:
    """A synthetic street grid (nx_ × ny_ nodes), optionally jittered, for tests and benchmarks."""
    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(nx_), np.arange(ny_), indexing="xy")
    x = x0 + ii.ravel() * spacing + (rng.uniform(-jitter, jitter, ii.size) if jitter else 0)
    y = y0 + jj.ravel() * spacing + (rng.uniform(-jitter, jitter, ii.size) if jitter else 0)
    idx = np.arange(nx_ * ny_).reshape(ny_, nx_)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return Network.from_edges(x, y, u, v, mode=mode, source=f"synthetic grid {nx_}x{ny_} @ {spacing} m")
