"""Public-transport travel times for STTM 2: walk → ride (Connection Scan Algorithm) → walk.

Model (parameters and sources in ``params/transit.toml``):

- the resident of a cell walks to any stop within ``max_access_m`` (straight line × detour, or the
  walking network when one is supplied), reaching it at a sampled departure time τ of the window;
- rides with earliest-arrival CSA (Dibbelt, Pajor, Strasser & Wagner 2013/2018): a connection is
  taken when its departure stop was reached no later than its departure; after each ride, one walk
  transfer to stops within ``max_transfer_m``. Changing vehicles at the same stop needs no slack
  (arrival ≤ departure), so the trip flag of the textbook CSA is implied and not stored;
- walks from the alighting stop to the nearest service of the category (≤ ``max_egress_m``).

The travel time of a cell is, for each τ, min(walk-only, PT), summarised over the τ of the window
by ``statistic`` (median by default). Rides longer than ``max_ride_min`` are ignored.

Vectorisation: one CSA pass serves every origin stop at once (the columns of a stops × origins
arrival matrix; `csa_profile` also accepts a different start time per column), one pass per
departure sample τ over the connections of [τ, τ + max_ride]. Connections are processed in groups of equal departure second:
within a group no connection can feed another (arrival > departure; groups containing
zero-duration connections are iterated to a fixed point), so each group is a handful of NumPy
operations over the matrix instead of one Python step per connection.
"""
from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd

from .engine import StraightLine
from .gtfs import Feed

INF = np.int32(2**29)  # unreachable (seconds); INF + INF still fits in int32


def transit_params() -> dict:
    with resources.files("sttm.services").joinpath("params/transit.toml").open("rb") as f:
        return tomllib.load(f)


def parse_window(text: str) -> tuple[int, int]:
    """'07:30-08:30' → (27000, 30600) seconds."""
    try:
        a, b = text.replace("–", "-").split("-")
        t = [int(p.split(":")[0]) * 3600 + int(p.split(":")[1]) * 60 for p in (a.strip(), b.strip())]
    except (ValueError, IndexError):
        raise ValueError(f"finestra oraria {text!r} non valida: usare HH:MM-HH:MM, es. 07:30-08:30") from None
    if not t[0] < t[1]:
        raise ValueError(f"finestra oraria {text!r}: l'inizio deve precedere la fine")
    return t[0], t[1]


@dataclass
class Footpaths:
    """Walk transfers between stops as CSR: stop k walks to nbr[indptr[k]:indptr[k+1]] in secs[...]."""

    indptr: np.ndarray
    nbr: np.ndarray
    secs: np.ndarray

    @classmethod
    def build(cls, n_stops: int, i, j, secs) -> "Footpaths":
        keep = i != j
        i, j, secs = np.asarray(i)[keep], np.asarray(j)[keep], np.asarray(secs)[keep]
        o = np.lexsort((j, i))
        indptr = np.concatenate([[0], np.cumsum(np.bincount(i, minlength=n_stops))]).astype(np.int64)
        return cls(indptr, j[o].astype(np.int64), np.rint(secs[o]).astype(np.int32))

    @classmethod
    def empty(cls, n_stops: int) -> "Footpaths":
        return cls(np.zeros(n_stops + 1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32))


def _expand(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each r in rows, positions indptr[r]..indptr[r+1]-1: (position, index into rows)."""
    lo, cnt = indptr[rows], indptr[rows + 1] - indptr[rows]
    tot = int(cnt.sum())
    owner = np.repeat(np.arange(len(rows)), cnt)
    pos = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(tot)
    return pos, owner


def csa_profile(dep_stop, arr_stop, dep, arr, n_stops: int, origins, t0, footpaths: Footpaths | None = None,
                t_max=None) -> np.ndarray:
    """Earliest arrival (seconds, int32; ``INF`` unreachable) at every stop for each column
    (origin stop ``origins[c]`` reached at time ``t0[c]``). Connections must be sorted by departure.
    Returns an array of shape (n_stops, len(origins))."""
    dep_stop, arr_stop = np.asarray(dep_stop, np.int64), np.asarray(arr_stop, np.int64)
    dep, arr = np.asarray(dep, np.int32), np.asarray(arr, np.int32)
    origins, t0 = np.asarray(origins, np.int64), np.asarray(t0, np.int32)
    if len(dep) and np.any(np.diff(dep) < 0):
        raise ValueError("connections must be sorted by departure time")
    ncol = len(origins)
    A = np.full((n_stops, ncol), INF, dtype=np.int32)
    A[origins, np.arange(ncol)] = t0
    fp = footpaths or Footpaths.empty(n_stops)
    first = np.searchsorted(dep, t0.min()) if ncol else len(dep)
    last = len(dep) if t_max is None else np.searchsorted(dep, t_max, side="right")
    if first >= last:
        return A
    d = dep[first:last]
    bounds = np.flatnonzero(np.diff(d)) + 1
    starts = np.concatenate([[0], bounds]) + first
    ends = np.concatenate([bounds, [len(d)]]) + first
    for s, e in zip(starts, ends):
        u, v, t, a = dep_stop[s:e], arr_stop[s:e], dep[s], arr[s:e]
        zero = bool(np.any(a == t))
        while True:
            reach = A[u] <= t                      # (g, ncol): departure stop reached in time
            rows = np.flatnonzero(reach.any(axis=1))
            if not len(rows):
                break
            new = np.where(reach[rows], a[rows, None], INF)
            tgt = v[rows]
            pos, owner = _expand(fp.indptr, tgt)
            if len(pos):
                tgt = np.concatenate([tgt, fp.nbr[pos]])
                new = np.concatenate([new, new[owner] + fp.secs[pos, None]])
            uniq, best = _min_rows_by(tgt, new)
            old = A[uniq]
            A[uniq] = np.minimum(old, best)
            # a zero-duration connection may enable another of the same second: repeat to a fixed point
            if not zero or not np.any(best < old):
                break
    return A


def _min_rows_by(keys: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unique keys, row-wise minimum of `rows` per key). Keys repeat a few times at most, so the
    reduction runs once per repetition rank (np.minimum.reduceat along axis 0 is far slower)."""
    o = np.argsort(keys, kind="stable")
    k = keys[o]
    start = np.concatenate([[True], k[1:] != k[:-1]])
    seg = np.cumsum(start) - 1
    first = np.flatnonzero(start)
    best = rows[o[first]]
    rank = np.arange(len(k)) - first[seg]
    for r in range(1, int(rank.max()) + 1 if len(k) else 0):
        m = np.flatnonzero(rank == r)
        best[seg[m]] = np.minimum(best[seg[m]], rows[o[m]])
    return k[first], best


def reduce_min_by(keys_sorted: np.ndarray, values: np.ndarray, n: int, fill) -> np.ndarray:
    """Minimum of `values` rows grouped by sorted integer `keys_sorted` into an (n, ...) array."""
    out = np.full((n,) + values.shape[1:], fill, dtype=values.dtype)
    if len(keys_sorted) == 0:
        return out
    cut = np.concatenate([[0], np.flatnonzero(np.diff(keys_sorted)) + 1])
    out[keys_sorted[cut]] = np.minimum.reduceat(values, cut, axis=0)
    return out


@dataclass
class TransitResult:
    """Per-cell PT-inclusive minutes by category key, plus what was done."""

    minutes: dict[str, np.ndarray]
    pt_better_share: dict[str, float]
    meta: dict = field(default_factory=dict)


class TransitModel:
    """A feed prepared for one date and window: connections indexed by stop, footpaths built."""

    def __init__(self, feed: Feed, date: dt.date | None = None, window: tuple[int, int] | None = None,
                 walk_cost=None, p: dict | None = None, walk_speed_kmh: float | None = None):
        self.p = p or transit_params()
        self.feed = feed
        self.date = date or feed.busiest_weekday()
        self.window = window or parse_window(self.p["departure"]["window"])
        step = int(self.p["departure"]["step_min"] * 60)
        self.taus = np.arange(self.window[0], self.window[1] + 1, step, dtype=np.int32)
        self.max_ride_s = int(self.p["limits"]["max_ride_min"] * 60)
        self.walk_cost = walk_cost or StraightLine(self.p["walk"]["detour_factor"])
        speed = walk_speed_kmh or self.p["walk"]["speed_kmh"]
        self.walk_mps = speed * 1000 / 3600
        stops = feed.stops.reset_index(drop=True)
        self.stops = stops
        self.stop_index = pd.Series(np.arange(len(stops)), index=stops["stop_id"])
        c = feed.connections(self.date, int(self.taus.min()), int(self.taus.max()) + self.max_ride_s)
        if c.empty:
            raise ValueError(f"nessuna corsa del feed {feed.source} nel giorno {self.date} tra "
                             f"{_hhmm(self.window[0])} e {_hhmm(self.window[1] + self.max_ride_s)}")
        self.conn = c
        self.cu = self.stop_index[c["dep_stop"]].to_numpy()
        self.cv = self.stop_index[c["arr_stop"]].to_numpy()
        self.cdep = c["dep"].to_numpy(np.int32)
        self.carr = c["arr"].to_numpy(np.int32)
        sx, sy = stops["x"].to_numpy(), stops["y"].to_numpy()
        pr = self.walk_cost.within(sx, sy, sx, sy, float(self.p["limits"]["max_transfer_m"]))
        self.footpaths = Footpaths.build(len(stops), pr.i, pr.j, pr.d / self.walk_mps)
        self.served = np.unique(np.concatenate([self.cu, self.cv]))

    def describe_it(self) -> str:
        return (f"feed {self.feed.source.rsplit('/', 1)[-1]}, {self.date.isoformat()}, finestra "
                f"{_hhmm(self.window[0])}–{_hhmm(self.window[1])}")

    def arrivals(self, origins: np.ndarray, chunk_cols: int | None = None):
        """Yield (sample index, origin block, arrival matrix stops × block) for every departure sample τ,
        origins chunked by memory. One τ per pass: the scan covers only [τ, τ + max_ride]."""
        chunk_cols = chunk_cols or int(self.p["limits"]["max_columns"])
        for ti, tau in enumerate(self.taus):
            for s in range(0, len(origins), chunk_cols):
                block = origins[s:s + chunk_cols]
                A = csa_profile(self.cu, self.cv, self.cdep, self.carr, len(self.stops), block,
                                np.full(len(block), tau, np.int32), self.footpaths, t_max=int(tau) + self.max_ride_s)
                yield ti, block, A

    def cell_minutes(self, cx, cy, services: dict[str, tuple[np.ndarray, np.ndarray]], walk_min: dict[str, np.ndarray],
                     progress=None) -> TransitResult:
        """min(walk-only, PT) minutes per cell and category, summarised over the departure samples.

        services: key → (x, y) of that category's services; walk_min: key → walk-only minutes per cell."""
        p = self.p
        stat = p["departure"]["statistic"]
        sx, sy = self.stops["x"].to_numpy(), self.stops["y"].to_numpy()
        acc = self.walk_cost.within(np.asarray(cx), np.asarray(cy), sx[self.served], sy[self.served],
                                    float(p["limits"]["max_access_m"]))
        a_stop = self.served[acc.j]
        origins = np.unique(a_stop)
        egress = {}
        for k, (x, y) in services.items():
            pr = self.walk_cost.within(sx, sy, np.asarray(x), np.asarray(y), float(p["limits"]["max_egress_m"]))
            e = reduce_min_by(*_sorted(pr.i, np.rint(pr.d / self.walk_mps).astype(np.int32)), len(sx), INF)
            egress[k] = e
        nt = len(self.taus)
        cap = self.max_ride_s + int(p["limits"]["max_egress_m"] / self.walk_mps) + 1
        # PT seconds from each origin stop (reached at τ) to the nearest service of each category
        from_origin = {k: np.full((len(self.stops), nt), INF, np.int32) for k in services}
        rows_of = {k: np.flatnonzero(e < INF) for k, e in egress.items()}
        for ti, block, A in self.arrivals(origins):
            for k, e in egress.items():
                rows = rows_of[k]
                if len(rows) == 0:
                    continue
                best = (A[rows] + e[rows, None]).min(axis=0) - self.taus[ti]
                from_origin[k][block, ti] = np.where(best <= cap, best, INF)
            if progress:
                progress(len(block))
        # per cell: min over reachable origin stops of (access walk + PT from that stop), per τ
        order = np.argsort(acc.i, kind="stable")
        ci = acc.i[order]
        a_sec = np.rint(acc.d[order] / self.walk_mps).astype(np.int32)
        st = a_stop[order]
        n = len(np.asarray(cx))
        minutes, better = {}, {}
        for k in services:
            pt = reduce_min_by(ci, a_sec[:, None] + from_origin[k][st], n, INF).astype(float) / 60.0
            pt[pt >= INF / 60.0] = np.inf
            w = np.asarray(walk_min[k], float)
            both = np.minimum(w[:, None], pt)
            both[np.isnan(w)] = np.nan
            summ = np.median(both, axis=1) if stat == "median" else both.mean(axis=1)
            minutes[k] = summ
            ok = np.isfinite(w)
            better[k] = float((summ[ok] < w[ok] - 1e-9).mean()) if ok.any() else 0.0
        meta = {"date": self.date.isoformat(), "window": [_hhmm(self.window[0]), _hhmm(self.window[1])],
                "departures": [_hhmm(t) for t in self.taus], "statistic": stat, "n_stops": len(self.stops),
                "n_connections": len(self.conn), "n_origin_stops": int(len(origins)),
                "cells_with_stop_share": float(np.isin(np.arange(n), acc.i).mean()) if n else 0.0,
                "feed": self.feed.source, "time_method": f"transit_csa+{self.walk_cost.describe()}",
                "notes_it": list(self.feed.notes)}
        return TransitResult(minutes=minutes, pt_better_share=better, meta=meta)


def _sorted(keys, vals):
    o = np.argsort(keys, kind="stable")
    return keys[o], vals[o]


def _hhmm(sec) -> str:
    sec = int(sec)
    return f"{sec // 3600:02d}:{sec % 3600 // 60:02d}"
