"""Accessibility engine: distances to services, counts within a threshold, 15-minute score and
two-step floating catchment (2SFCA) supply-to-demand ratios.

Two cost models share one interface (all distances in metres of travel):

- :class:`StraightLine` — Euclidean distance × a detour factor (no network supplied: results are
  APPROXIMATE and flagged so);
- :class:`NetworkCost` — shortest paths on a :class:`~sttm.services.network.Network` with SciPy's
  sparse-graph Dijkstra, plus the straight access legs from each point to its snapped node.

>>> import numpy as np
>>> sl = StraightLine(detour_factor=1.5)
>>> sl.nearest(np.array([0.0]), np.array([0.0]), np.array([300.0, 40.0]), np.array([400.0, 30.0])).tolist()
[75.0]
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from .network import Network


@dataclass
class Pairs:
    """Sparse origin–destination pairs within a maximum distance: origin index, destination index, metres."""

    i: np.ndarray
    j: np.ndarray
    d: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"origin": self.i, "dest": self.j, "cost": self.d})


class StraightLine:
    """Euclidean distance multiplied by a detour factor (network distance ≈ factor × crow-fly)."""

    approximate = True

    def __init__(self, detour_factor: float = 1.3):
        if not detour_factor >= 1.0:
            raise ValueError(f"detour_factor must be ≥ 1 (got {detour_factor})")
        self.detour_factor = float(detour_factor)

    def describe(self) -> str:
        return f"straight_line_x{self.detour_factor:.2f}"

    def nearest(self, ox, oy, dx, dy) -> np.ndarray:
        if len(dx) == 0:
            return np.full(len(ox), np.inf)
        d, _ = cKDTree(np.column_stack([dx, dy])).query(np.column_stack([ox, oy]))
        return d * self.detour_factor

    def within(self, ox, oy, dx, dy, max_m: float) -> Pairs:
        if len(dx) == 0 or len(ox) == 0:
            e = np.array([], dtype=np.int64)
            return Pairs(e, e, np.array([], dtype=float))
        to = cKDTree(np.column_stack([ox, oy]))
        td = cKDTree(np.column_stack([dx, dy]))
        m = to.sparse_distance_matrix(td, max_m / self.detour_factor, output_type="ndarray")
        # output_type="ndarray" keeps pairs at zero distance too
        i, j, d = m["i"].astype(np.int64), m["j"].astype(np.int64), m["v"] * self.detour_factor
        return Pairs(i, j, d)


class NetworkCost:
    """Shortest-path distance on a network; each point reaches its nearest node of the main component
    by a straight leg, whose length is added (origin leg + network path + destination leg)."""

    approximate = False

    def __init__(self, network: Network, chunk: int = 32):
        self.network = network
        self.chunk = chunk

    def describe(self) -> str:
        return f"network_{self.network.mode}"

    def _augmented(self, nodes: np.ndarray, legs: np.ndarray) -> sparse.csr_matrix:
        """Graph plus a virtual super-source (index n) joined to `nodes` by edges of length `legs`."""
        g = self.network.csr()
        n = g.shape[0]
        best = pd.Series(legs).groupby(nodes).min()
        # every super-edge carries +1 m (an explicit zero would read as "no edge"); callers subtract it
        extra = sparse.csr_matrix((best.to_numpy() + 1.0, (np.zeros(len(best), dtype=np.int64),
                                   best.index.to_numpy())), shape=(1, n + 1))
        return sparse.vstack([sparse.hstack([g, sparse.csr_matrix((n, 1))]), extra]).tocsr()

    def nearest(self, ox, oy, dx, dy) -> np.ndarray:
        if len(dx) == 0:
            return np.full(len(ox), np.inf)
        dn, dl = self.network.snap(dx, dy)
        on, ol = self.network.snap(ox, oy)
        g = self._augmented(dn, dl)
        dist = csgraph.dijkstra(g, directed=True, indices=g.shape[0] - 1) - 1.0
        return dist[on] + ol

    def node_distances(self, dx, dy, max_m: float | None = None) -> np.ndarray:
        """Distance from each node to the nearest destination (legs included), for node-level queries."""
        dn, dl = self.network.snap(dx, dy)
        g = self._augmented(dn, dl)
        kw = {} if max_m is None else {"limit": max_m + 1.0}
        return csgraph.dijkstra(g, directed=True, indices=g.shape[0] - 1, **kw)[:-1] - 1.0

    def within(self, ox, oy, dx, dy, max_m: float) -> Pairs:
        if len(dx) == 0 or len(ox) == 0:
            e = np.array([], dtype=np.int64)
            return Pairs(e, e, np.array([], dtype=float))
        g = self.network.csr()
        dn, dl = self.network.snap(dx, dy)
        on, ol = self.network.snap(ox, oy)
        # origins grouped by node: node k holds origins order[indptr[k]:indptr[k + 1]]
        order = np.argsort(on, kind="stable")
        indptr = np.concatenate([[0], np.cumsum(np.bincount(on, minlength=g.shape[0]))])
        out_i, out_j, out_d = [], [], []
        ud, inv = np.unique(dn, return_inverse=True)
        dests_of = pd.Series(np.arange(len(dn))).groupby(inv).apply(list).to_dict()
        for start in range(0, len(ud), self.chunk):
            block = ud[start:start + self.chunk]
            dist = csgraph.dijkstra(g, directed=True, indices=block, limit=max_m)
            for b in range(len(block)):
                row = dist[b]
                reach_nodes = np.flatnonzero(row <= max_m)
                lo = indptr[reach_nodes]
                cnt = indptr[reach_nodes + 1] - lo
                tot = int(cnt.sum())
                if tot == 0:
                    continue
                # all origin positions of the reached nodes, without a Python loop
                idx = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(tot)
                oi = order[idx]
                base = row[on[oi]] + ol[oi]
                for jj in dests_of[start + b]:
                    tot_d = base + dl[jj]
                    ok = tot_d <= max_m
                    out_i.append(oi[ok])
                    out_j.append(np.full(int(ok.sum()), jj, dtype=np.int64))
                    out_d.append(tot_d[ok])
        if not out_i:
            e = np.array([], dtype=np.int64)
            return Pairs(e, e, np.array([], dtype=float))
        return Pairs(np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d))


def two_step_fca(pairs: Pairs, demand: np.ndarray, supply: np.ndarray, max_cost: float | None = None) -> np.ndarray:
    """Classic 2SFCA (Luo & Wang 2003): R_j = S_j / Σ_{i: c_ij ≤ d0} P_i, A_i = Σ_{j: c_ij ≤ d0} R_j.

    A facility that no demand reaches (Σ P = 0) contributes nothing. Returns A_i for every origin.
    """
    i, j, d = pairs.i, pairs.j, pairs.d
    if max_cost is not None:
        keep = d <= max_cost
        i, j = i[keep], j[keep]
    demand = np.asarray(demand, dtype=float)
    supply = np.asarray(supply, dtype=float)
    pop_in_catch = np.bincount(j, weights=demand[i], minlength=len(supply))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(pop_in_catch > 0, supply / pop_in_catch, 0.0)
    return np.bincount(i, weights=r[j], minlength=len(demand))


@dataclass
class CategorySpec:
    key: str
    label: str
    demand: str = "pop"
    supply: str = "count"
    per: float = 1.0
    catchment_min: float = 15.0
    note: str = ""
    coverage: tuple[str, ...] | None = None  # istat codes where the data is complete (None = everywhere)
    scale: str = "locale"  # locale | sovracomunale (params/accessibility.toml)


def accessibility(cells: pd.DataFrame, services: pd.DataFrame, cost, speed_kmh: float,
                  categories: list[CategorySpec], threshold_min: float = 15.0, progress=None) -> pd.DataFrame:
    """Per-cell accessibility for each category.

    cells: columns `x`, `y` (EPSG:32632 m), `pop`, and every demand column a category names.
    services: columns `x`, `y`, `category_key`, and `capacity` where a category's supply is capacity.
    Returns, per category key k: `t_<k>` minutes to the nearest, `n_<k>` services within
    `threshold_min`, `r_<k>` 2SFCA ratio × `per`; and `score_15` = share of categories (with at
    least one service) having one within the threshold.
    """
    m_per_min = speed_kmh * 1000.0 / 60.0
    out = pd.DataFrame(index=cells.index)
    ox, oy = cells["x"].to_numpy(float), cells["y"].to_numpy(float)
    reached = []
    notes: list[str] = []
    for spec in categories:
        s = services[services["category_key"] == spec.key]
        dx, dy = s["x"].to_numpy(float), s["y"].to_numpy(float)
        if len(s) == 0:
            out[f"t_{spec.key}"] = np.nan
            out[f"n_{spec.key}"] = 0
            out[f"r_{spec.key}"] = np.nan
            if progress:
                progress(spec.key)
            continue
        near_m = cost.nearest(ox, oy, dx, dy)
        t = near_m / m_per_min
        thr_m = threshold_min * m_per_min
        catch_m = spec.catchment_min * m_per_min
        pairs = cost.within(ox, oy, dx, dy, max(thr_m, catch_m))
        in_thr = pairs.d <= thr_m
        n = np.bincount(pairs.i[in_thr], minlength=len(cells)).astype(np.int64)
        sup = np.ones(len(s))
        if spec.supply == "capacity":
            cap = pd.to_numeric(s["capacity"], errors="coerce").to_numpy(float) if "capacity" in s else np.full(len(s), np.nan)
            known = np.isfinite(cap) & (cap > 0)
            if not known.any():
                notes.append(f"{spec.key}: capacità assente o nulla per tutte le {len(s)} strutture — ogni struttura conta 1")
            else:
                if not known.all():
                    med = float(np.median(cap[known]))
                    notes.append(f"{spec.key}: capacità mancante per {int((~known).sum())} strutture su {len(s)} — "
                                 f"attribuita la mediana ({med:.0f})")
                    cap = np.where(known, cap, med)
                sup = cap
        dem = cells[spec.demand].to_numpy(float)
        r = two_step_fca(pairs, dem, sup, max_cost=catch_m) * spec.per
        hit = (n > 0).astype(float)
        if spec.coverage is not None and "istat_code" in cells.columns:
            inside = cells["istat_code"].astype(str).isin(spec.coverage).to_numpy()
            t, r = np.where(inside, t, np.nan), np.where(inside, r, np.nan)
            hit = np.where(inside, hit, np.nan)
            notes.append(f"{spec.key}: dati completi solo per {', '.join(spec.coverage)} — altrove non valutato (vuoto)")
        out[f"t_{spec.key}"] = t
        out[f"n_{spec.key}"] = n
        out[f"r_{spec.key}"] = r
        reached.append(hit)
        if progress:
            progress(spec.key)
    if reached:
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # cells where no category is evaluated
            out["score_15"] = np.nanmean(np.vstack(reached), axis=0)
    else:
        out["score_15"] = np.nan
    out["approximate"] = bool(cost.approximate)
    out["time_method"] = cost.describe()
    out.attrs["notes_it"] = notes
    return out


def aggregate(cells: pd.DataFrame, acc: pd.DataFrame, by: str, categories: list[CategorySpec],
              threshold_min: float = 15.0) -> pd.DataFrame:
    """Population-weighted summary of per-cell accessibility by a grouping column of `cells`.

    For each category: `t_<k>` mean minutes to the nearest (population-weighted), `share_<k>`
    share of residents with one within the threshold, `r_<k>` population-weighted mean 2SFCA ratio.
    Plus `pop`, `under12` (when present) and `score_15` (population-weighted).
    """
    df = pd.concat([cells[[by, "pop"] + (["under12"] if "under12" in cells else [])], acc], axis=1)
    df = df[df[by].notna()]
    w = df["pop"].to_numpy(float)
    g = df[by].to_numpy()
    keys, inv = np.unique(g.astype(str), return_inverse=True)
    res = pd.DataFrame({by: keys})
    wsum = np.bincount(inv, weights=w, minlength=len(keys))
    res["pop"] = wsum
    if "under12" in df:
        res["under12"] = np.bincount(inv, weights=df["under12"].to_numpy(float), minlength=len(keys))

    def wmean(col):
        v = df[col].to_numpy(float)
        ok = np.isfinite(v)
        num = np.bincount(inv[ok], weights=(v * w)[ok], minlength=len(keys))
        den = np.bincount(inv[ok], weights=w[ok], minlength=len(keys))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / den, np.nan)

    for spec in categories:
        k = spec.key
        res[f"t_{k}"] = wmean(f"t_{k}")
        hit = (df[f"n_{k}"].to_numpy() > 0).astype(float)
        ev = np.isfinite(df[f"t_{k}"].to_numpy(float))  # cells where the category is evaluated
        den = np.bincount(inv[ev], weights=w[ev], minlength=len(keys))
        with np.errstate(divide="ignore", invalid="ignore"):
            res[f"share_{k}"] = np.where(den > 0, np.bincount(inv[ev], weights=(hit * w)[ev], minlength=len(keys)) / den,
                                         np.nan)
        res[f"r_{k}"] = wmean(f"r_{k}")
    res["score_15"] = wmean("score_15")
    return res
