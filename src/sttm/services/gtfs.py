"""GTFS reader for the public-transport accessibility of STTM 2 (sttm.services.transit).

Reads a static GTFS feed (a .zip or a folder of .txt files): stops, routes, trips, stop_times,
calendar and/or calendar_dates, frequencies when present. Every problem found is reported with the
file, the field and the row (row = line number in the file, header = line 1), all of them at once,
and nothing is returned from a bad feed.

Why our own reader (pandas) rather than a GTFS library: partridge (1.1.2, 2023) and gtfs-kit (13.x)
were considered. Neither reports bad rows by file/field/line (partridge reads leniently; gtfs-kit
pulls a large dependency set for mapping we do not need), and both would still need our own checks;
the parsing itself is a few pandas calls.

>>> parse_times(pd.Series(["07:30:00", "7:05:09", "25:00:00", ""])).tolist()[:3]
[27000.0, 25509.0, 90000.0]
"""
from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED = {
    "stops.txt": ["stop_id", "stop_lat", "stop_lon"],
    "routes.txt": ["route_id", "route_type"],
    "trips.txt": ["route_id", "service_id", "trip_id"],
    "stop_times.txt": ["trip_id", "stop_id", "stop_sequence", "arrival_time", "departure_time"],
}
OPTIONAL = {
    "calendar.txt": ["service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                     "start_date", "end_date"],
    "calendar_dates.txt": ["service_id", "date", "exception_type"],
    "frequencies.txt": ["trip_id", "start_time", "end_time", "headway_secs"],
}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MAX_LISTED = 20


@dataclass(frozen=True)
class Issue:
    file: str
    field: str | None
    row: int | None  # line number in the file (header = 1)
    message: str

    def __str__(self) -> str:
        where = self.file + (f", campo {self.field}" if self.field else "") + (f", riga {self.row}" if self.row else "")
        return f"{where}: {self.message}"


class GTFSError(ValueError):
    """The feed is not usable; `issues` lists every problem found (file, field, row)."""

    def __init__(self, source: str, issues: list[Issue]):
        self.source = source
        self.issues = issues
        more = f"\n… e altri {len(issues) - MAX_LISTED} problemi" if len(issues) > MAX_LISTED else ""
        super().__init__(f"feed GTFS {source} non valido ({len(issues)} problemi):\n"
                         + "\n".join(f"- {i}" for i in issues[:MAX_LISTED]) + more)


def parse_times(s: pd.Series) -> pd.Series:
    """GTFS times H:MM:SS / HH:MM:SS (hours may exceed 24) → seconds after midnight; '' → NaN; bad → -1."""
    s = s.fillna("").astype(str).str.strip()
    m = s.str.extract(r"^(\d{1,3}):([0-5]\d):([0-5]\d)$")
    sec = m[0].astype(float) * 3600 + m[1].astype(float) * 60 + m[2].astype(float)
    bad = (s != "") & sec.isna()
    return sec.mask(bad, -1.0)


def _dates(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    d = pd.to_datetime(s.astype(str).str.strip(), format="%Y%m%d", errors="coerce")
    return d, d.isna()


@dataclass
class Feed:
    """A validated feed. Stop coordinates are in EPSG:32632 (`x`, `y`); times are seconds after
    midnight of the service day."""

    source: str
    stops: pd.DataFrame        # stop_id, stop_name, x, y (routable stops only: location_type 0/empty)
    routes: pd.DataFrame
    trips: pd.DataFrame
    stop_times: pd.DataFrame   # trip_id, stop_id, stop_sequence, arr, dep (seconds, interpolated)
    calendar: pd.DataFrame | None
    calendar_dates: pd.DataFrame | None
    frequencies: pd.DataFrame | None
    notes: list[str] = field(default_factory=list)

    # ---- service days -------------------------------------------------------------------------
    def date_range(self) -> tuple[dt.date, dt.date]:
        ds = []
        if self.calendar is not None and len(self.calendar):
            ds += [self.calendar["start_date"].min(), self.calendar["end_date"].max()]
        if self.calendar_dates is not None and len(self.calendar_dates):
            ds += [self.calendar_dates["date"].min(), self.calendar_dates["date"].max()]
        return min(ds).date(), max(ds).date()

    def service_ids_on(self, date: dt.date) -> set[str]:
        """Services active on `date`: calendar weekday within its range, then calendar_dates
        exceptions (1 = added, 2 = removed)."""
        ts = pd.Timestamp(date)
        active: set[str] = set()
        if self.calendar is not None and len(self.calendar):
            c = self.calendar
            on = (c[WEEKDAYS[ts.weekday()]] == 1) & (c["start_date"] <= ts) & (c["end_date"] >= ts)
            active |= set(c.loc[on, "service_id"])
        if self.calendar_dates is not None and len(self.calendar_dates):
            cd = self.calendar_dates[self.calendar_dates["date"] == ts]
            active |= set(cd.loc[cd["exception_type"] == 1, "service_id"])
            active -= set(cd.loc[cd["exception_type"] == 2, "service_id"])
        return active

    def busiest_weekday(self) -> dt.date:
        """The Monday–Friday date of the feed period with the most trips (ties: the earliest); only the
        first year of the period is scanned (feeds declaring calendars until 2099 exist)."""
        start, end = self.date_range()
        end = min(end, start + dt.timedelta(days=366))
        per_service = self.trips.groupby("service_id").size()
        best, best_n = None, -1
        d = start
        while d <= end:
            if d.weekday() < 5:
                n = int(per_service.reindex(list(self.service_ids_on(d))).fillna(0).sum())
                if n > best_n:
                    best, best_n = d, n
            d += dt.timedelta(days=1)
        if best is None:
            raise GTFSError(self.source, [Issue("calendar.txt", None, None, "nessun giorno feriale nel periodo del feed")])
        return best

    # ---- connections --------------------------------------------------------------------------
    def connections(self, date: dt.date, t_from: float, t_to: float) -> pd.DataFrame:
        """Elementary connections (one vehicle between two consecutive stops) of the trips active on
        `date` departing in [t_from, t_to] seconds, frequency-based trips expanded. Columns:
        dep_stop, arr_stop (stop_id), dep, arr (seconds), trip (instance id), route_id; sorted by dep."""
        sids = self.service_ids_on(date)
        trips = self.trips[self.trips["service_id"].isin(sids)]
        st = self.stop_times[self.stop_times["trip_id"].isin(set(trips["trip_id"]))]
        st = st.sort_values(["trip_id", "stop_sequence"], kind="stable")
        freq = self.frequencies
        if freq is not None and len(freq):
            fq = freq[freq["trip_id"].isin(set(trips["trip_id"]))]
            templ = st[st["trip_id"].isin(set(fq["trip_id"]))]
            st = st[~st["trip_id"].isin(set(fq["trip_id"]))]
            parts = [st]
            first = templ.groupby("trip_id")["dep"].transform("min")
            templ = templ.assign(off_arr=templ["arr"] - first, off_dep=templ["dep"] - first)
            for r in fq.itertuples(index=False):
                tt = templ[templ["trip_id"] == r.trip_id]
                for k, start in enumerate(np.arange(r.start_time, r.end_time, r.headway_secs)):
                    parts.append(tt.assign(trip_id=f"{r.trip_id}#f{int(r.start_time)}_{k}",
                                           arr=start + tt["off_arr"], dep=start + tt["off_dep"]))
            st = pd.concat(parts, ignore_index=True)[["trip_id", "stop_id", "stop_sequence", "arr", "dep"]]
            st = st.sort_values(["trip_id", "stop_sequence"], kind="stable")
        trip = st["trip_id"].to_numpy()
        same = trip[1:] == trip[:-1]
        c = pd.DataFrame({"dep_stop": st["stop_id"].to_numpy()[:-1][same], "arr_stop": st["stop_id"].to_numpy()[1:][same],
                          "dep": st["dep"].to_numpy()[:-1][same], "arr": st["arr"].to_numpy()[1:][same],
                          "trip": trip[:-1][same]})
        c = c[(c["dep"] >= t_from) & (c["dep"] <= t_to)]
        base = c["trip"].str.split("#f", n=1).str[0]
        c["route_id"] = base.map(dict(zip(self.trips["trip_id"], self.trips["route_id"])))
        return c.sort_values(["dep", "arr"], kind="stable").reset_index(drop=True)


# ---- reading --------------------------------------------------------------------------------------
def _open_tables(path: Path) -> dict[str, pd.DataFrame]:
    """All .txt tables of the feed as string DataFrames (zip, possibly with one inner folder, or folder)."""
    def read(buf) -> pd.DataFrame:
        return pd.read_csv(buf, dtype=str, keep_default_na=False, encoding="utf-8-sig", skipinitialspace=True)

    out = {}
    if path.is_dir():
        for f in path.glob("*.txt"):
            out[f.name] = read(f)
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                base = name.rsplit("/", 1)[-1]
                if base.endswith(".txt") and base not in out:
                    out[base] = read(io.BytesIO(z.read(name)))
    else:
        raise GTFSError(str(path), [Issue(path.name, None, None, "né un file .zip né una cartella GTFS")])
    for df in out.values():
        df.columns = [c.strip() for c in df.columns]
    return out


def _rows(mask: pd.Series) -> list[int]:
    return (np.flatnonzero(mask.to_numpy()) + 2).tolist()


def read_gtfs(path: str | Path, transformer=None) -> Feed:
    """Read and validate a GTFS feed. Raises :class:`GTFSError` listing every problem (file, field, row)."""
    path = Path(path)
    if not path.exists():
        raise GTFSError(str(path), [Issue(path.name, None, None, "file o cartella inesistente")])
    t = _open_tables(path)
    issues: list[Issue] = []

    def bad(file, fld, mask, msg):
        for r in _rows(mask)[:MAX_LISTED]:
            issues.append(Issue(file, fld, r, msg))

    for f, cols in REQUIRED.items():
        if f not in t:
            issues.append(Issue(f, None, None, "file obbligatorio mancante"))
    if "calendar.txt" not in t and "calendar_dates.txt" not in t:
        issues.append(Issue("calendar.txt", None, None, "mancano sia calendar.txt sia calendar_dates.txt"))
    for f, cols in {**REQUIRED, **OPTIONAL}.items():
        if f in t:
            for c in cols:
                if c not in t[f].columns:
                    issues.append(Issue(f, c, None, "colonna obbligatoria mancante"))
    if issues:
        raise GTFSError(str(path), issues)

    stops, routes, trips, st = t["stops.txt"], t["routes.txt"], t["trips.txt"], t["stop_times.txt"]
    for f, key in (("stops.txt", "stop_id"), ("routes.txt", "route_id"), ("trips.txt", "trip_id")):
        df = t[f]
        bad(f, key, df[key].str.strip() == "", "identificativo vuoto")
        bad(f, key, df[key].duplicated(), "identificativo duplicato")
    lat = pd.to_numeric(stops["stop_lat"], errors="coerce")
    lon = pd.to_numeric(stops["stop_lon"], errors="coerce")
    ltype = stops["location_type"].replace("", "0") if "location_type" in stops else pd.Series("0", index=stops.index)
    routable = ltype.isin(["0"])
    bad("stops.txt", "stop_lat", routable & ~lat.between(-90, 90), "latitudine mancante o non valida")
    bad("stops.txt", "stop_lon", routable & ~lon.between(-180, 180), "longitudine mancante o non valida")
    bad("routes.txt", "route_type", pd.to_numeric(routes["route_type"], errors="coerce").isna(), "route_type non numerico")
    bad("trips.txt", "route_id", ~trips["route_id"].isin(set(routes["route_id"])), "route_id sconosciuto in routes.txt")

    service_known = set()
    cal = cd = fq = None
    if "calendar.txt" in t:
        cal = t["calendar.txt"].copy()
        for d in WEEKDAYS:
            bad("calendar.txt", d, ~cal[d].str.strip().isin(["0", "1"]), "valore diverso da 0/1")
            cal[d] = pd.to_numeric(cal[d], errors="coerce")
        for d in ("start_date", "end_date"):
            cal[d], nat = _dates(cal[d])
            bad("calendar.txt", d, nat, "data non nel formato AAAAMMGG")
        service_known |= set(cal["service_id"])
    if "calendar_dates.txt" in t:
        cd = t["calendar_dates.txt"].copy()
        cd["date"], nat = _dates(cd["date"])
        bad("calendar_dates.txt", "date", nat, "data non nel formato AAAAMMGG")
        bad("calendar_dates.txt", "exception_type", ~cd["exception_type"].str.strip().isin(["1", "2"]),
            "exception_type diverso da 1/2")
        cd["exception_type"] = pd.to_numeric(cd["exception_type"], errors="coerce")
        service_known |= set(cd["service_id"])
    bad("trips.txt", "service_id", ~trips["service_id"].isin(service_known),
        "service_id assente da calendar.txt e calendar_dates.txt")

    bad("stop_times.txt", "trip_id", ~st["trip_id"].isin(set(trips["trip_id"])), "trip_id sconosciuto in trips.txt")
    bad("stop_times.txt", "stop_id", ~st["stop_id"].isin(set(stops["stop_id"])), "stop_id sconosciuto in stops.txt")
    seq = pd.to_numeric(st["stop_sequence"], errors="coerce")
    bad("stop_times.txt", "stop_sequence", seq.isna() | (seq < 0) | (seq != seq.round()), "stop_sequence non intero ≥ 0")
    arr, dep = parse_times(st["arrival_time"]), parse_times(st["departure_time"])
    bad("stop_times.txt", "arrival_time", arr == -1, "orario non nel formato HH:MM:SS")
    bad("stop_times.txt", "departure_time", dep == -1, "orario non nel formato HH:MM:SS")
    if "frequencies.txt" in t:
        fq = t["frequencies.txt"].copy()
        bad("frequencies.txt", "trip_id", ~fq["trip_id"].isin(set(trips["trip_id"])), "trip_id sconosciuto in trips.txt")
        for c in ("start_time", "end_time"):
            fq[c] = parse_times(fq[c])
            bad("frequencies.txt", c, fq[c].isna() | (fq[c] < 0), "orario non nel formato HH:MM:SS")
        fq["headway_secs"] = pd.to_numeric(fq["headway_secs"], errors="coerce")
        bad("frequencies.txt", "headway_secs", ~(fq["headway_secs"] > 0), "headway_secs non positivo")
    if issues:
        raise GTFSError(str(path), issues)

    # times: arrival/departure fill each other; non-timepoints interpolated linearly along the trip
    st = st.assign(stop_sequence=seq.astype(np.int64), arr=arr.fillna(dep), dep=dep.fillna(arr), line=np.arange(len(st)) + 2)
    st = st.sort_values(["trip_id", "stop_sequence"], kind="stable")
    bad("stop_times.txt", "stop_sequence", st.duplicated(["trip_id", "stop_sequence"]).sort_index(),
        "stop_sequence ripetuto nella stessa corsa")
    g = st.groupby("trip_id", sort=False)
    ends = (g.cumcount() == 0) | (g.cumcount(ascending=False) == 0)
    missing_end = ends & st["arr"].isna()
    for r in st.loc[missing_end, "line"].head(MAX_LISTED):
        issues.append(Issue("stop_times.txt", "arrival_time", int(r), "prima/ultima fermata della corsa senza orario"))
    prev_dep = g["dep"].ffill().groupby(st["trip_id"], sort=False).shift()  # last known departure before each stop
    back = (st["dep"] < st["arr"]) | (st["arr"] < prev_dep)
    for r in st.loc[back, "line"].head(MAX_LISTED):
        issues.append(Issue("stop_times.txt", "arrival_time", int(r), "orario precedente a quello della fermata prima"))
    if issues:
        raise GTFSError(str(path), sorted(issues, key=lambda i: (i.file, i.row or 0)))
    pos = g.cumcount().astype(float)
    for c in ("arr", "dep"):
        known = st[c].notna()
        if not known.all():  # linear on the position along the trip (no shape distances), vectorised
            kp = pos.where(known)
            p0, p1 = kp.groupby(st["trip_id"]).ffill(), kp.groupby(st["trip_id"]).bfill()
            t0, t1 = st[c].groupby(st["trip_id"]).ffill(), st[c].groupby(st["trip_id"]).bfill()
            frac = ((pos - p0) / (p1 - p0)).fillna(0.0)
            st[c] = st[c].fillna(t0 + frac * (t1 - t0))

    if transformer is None:
        from pyproj import Transformer

        transformer = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    rs = stops[routable]
    x, y = transformer.transform(lon[routable].to_numpy(), lat[routable].to_numpy())
    stops_out = pd.DataFrame({"stop_id": rs["stop_id"].to_numpy(),
                              "stop_name": rs["stop_name"].to_numpy() if "stop_name" in rs else rs["stop_id"].to_numpy(),
                              "x": x, "y": y})
    unroutable = set(st["stop_id"]) - set(stops_out["stop_id"])
    if unroutable:
        bad("stop_times.txt", "stop_id", st["stop_id"].isin(unroutable).sort_index(),
            "la fermata è una stazione/ingresso (location_type ≠ 0): stop_times deve usare le banchine")
        raise GTFSError(str(path), issues)
    notes = []
    if fq is not None and len(fq):
        notes.append(f"{fq['trip_id'].nunique()} corse a frequenza espanse in corse esplicite (frequencies.txt)")
    return Feed(source=str(path), stops=stops_out, routes=routes, trips=trips,
                stop_times=st[["trip_id", "stop_id", "stop_sequence", "arr", "dep"]].reset_index(drop=True),
                calendar=cal, calendar_dates=cd, frequencies=fq, notes=notes)
