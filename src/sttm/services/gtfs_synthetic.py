"""A synthetic GTFS feed over an extent, for benchmarks and demonstrations only (no real timetable
of CMM is available in the data mirror: see METHODS.md). Radial-ish straight routes through the
centre, own stops every `spacing_m`, both directions, fixed headway, constant commercial speed,
times in whole minutes as in real timetables.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "f.zip"
>>> info = write_synthetic_feed(p, (500000, 5030000, 520000, 5050000), n_routes=3, stops_per_route=5)
>>> info["stops"], info["connections"] > 0
(15, True)
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd


def _hms(sec: np.ndarray) -> np.ndarray:
    sec = np.asarray(sec, dtype=np.int64)
    return np.char.add(np.char.add(np.char.add(np.char.zfill((sec // 3600).astype(str), 2), ":"),
                                   np.char.add(np.char.zfill((sec % 3600 // 60).astype(str), 2), ":")),
                       np.char.zfill((sec % 60).astype(str), 2))


def write_synthetic_feed(path: str | Path, bounds, *, n_routes: int = 100, stops_per_route: int = 20,
                         spacing_m: float = 700.0, headway_min: float = 15.0, start: str = "06:00",
                         end: str = "10:00", speed_kmh: float = 20.0, dwell_s: int = 0, seed: int = 0,
                         date_from: str = "20260101", date_to: str = "20261231") -> dict:
    """Write a GTFS zip to `path`; returns counts (stops, routes, trips, connections)."""
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    sx = (maxx - minx) / 6
    length = spacing_m * (stops_per_route - 1)
    xs, ys, sid, rows_st, trips = [], [], [], [], []
    # whole minutes, like the timetables of real feeds (ATM, Trenord publish minute times)
    hop = 60 * max(1, int(round(spacing_m / (speed_kmh / 3.6) / 60)))
    t_start = int(start[:2]) * 3600 + int(start[3:]) * 60
    t_end = int(end[:2]) * 3600 + int(end[3:]) * 60
    for r in range(n_routes):
        th = rng.uniform(0, np.pi)
        off = rng.normal(0, sx, 2)
        px = np.clip(cx + off[0] + np.cos(th) * np.linspace(-length / 2, length / 2, stops_per_route), minx, maxx)
        py = np.clip(cy + off[1] + np.sin(th) * np.linspace(-length / 2, length / 2, stops_per_route), miny, maxy)
        ids = [f"r{r}s{k}" for k in range(stops_per_route)]
        xs += px.tolist()
        ys += py.tolist()
        sid += ids
        first = t_start + 60 * int(rng.integers(0, int(headway_min)))
        for direction, seq in ((0, ids), (1, ids[::-1])):
            for n, t0 in enumerate(range(first, t_end, int(headway_min * 60))):
                tid = f"r{r}d{direction}t{n}"
                trips.append((f"R{r}", "WD", tid, direction))
                k = np.arange(len(seq))
                arr = t0 + k * (hop + dwell_s)
                rows_st.append(pd.DataFrame({"trip_id": tid, "arrival_time": _hms(arr), "departure_time": _hms(arr + dwell_s * (k > 0)),
                                             "stop_id": seq, "stop_sequence": k + 1}))
    lon, lat = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True).transform(np.array(xs), np.array(ys))
    tables = {
        "agency.txt": pd.DataFrame({"agency_id": ["SYN"], "agency_name": ["Synthetic"], "agency_url": ["https://example.org"],
                                    "agency_timezone": ["Europe/Rome"]}),
        "stops.txt": pd.DataFrame({"stop_id": sid, "stop_name": sid, "stop_lat": np.round(lat, 7), "stop_lon": np.round(lon, 7)}),
        "routes.txt": pd.DataFrame({"route_id": [f"R{r}" for r in range(n_routes)], "agency_id": "SYN",
                                    "route_short_name": [str(r) for r in range(n_routes)], "route_type": 3}),
        "trips.txt": pd.DataFrame(trips, columns=["route_id", "service_id", "trip_id", "direction_id"]),
        "stop_times.txt": pd.concat(rows_st, ignore_index=True),
        "calendar.txt": pd.DataFrame({"service_id": ["WD"], **{d: [1] for d in ("monday", "tuesday", "wednesday", "thursday", "friday")},
                                      "saturday": [0], "sunday": [0], "start_date": [date_from], "end_date": [date_to]}),
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, df in tables.items():
            buf = io.StringIO()
            df.to_csv(buf, index=False)
            z.writestr(name, buf.getvalue())
    n_conn = len(tables["stop_times.txt"]) - len(trips)
    return {"stops": len(sid), "routes": n_routes, "trips": len(trips), "connections": n_conn}
