"""GTFS reader: the tiny hand-made feed read from a folder and a zip; bad feeds rejected with the
file, the field and the row (line number, header = 1) of every problem."""
import shutil
import zipfile
from pathlib import Path

import pytest

from sttm.services.gtfs import GTFSError, parse_times, read_gtfs

FEED = Path(__file__).parent / "fixtures" / "gtfs_tiny"


def feed_copy(tmp_path, edits: dict[str, callable] | None = None, drop=()):
    d = tmp_path / "feed"
    shutil.copytree(FEED, d)
    for name in drop:
        (d / name).unlink()
    for name, fn in (edits or {}).items():
        p = d / name
        p.write_text(fn(p.read_text()))
    return d


def issues_of(path):
    with pytest.raises(GTFSError) as e:
        read_gtfs(path)
    return [(i.file, i.field, i.row) for i in e.value.issues], str(e.value)


def test_read_folder_and_zip_agree(tmp_path):
    a = read_gtfs(FEED)
    z = tmp_path / "feed.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in FEED.glob("*.txt"):
            zf.write(f, f"inner/{f.name}")  # feeds zipped with a folder inside are accepted
    b = read_gtfs(z)
    assert a.stops.equals(b.stops) and a.stop_times.equals(b.stop_times)
    assert list(a.stops["stop_id"]) == list("ABCDEF")      # the station S (location_type 1) is not routable
    st = a.stop_times.set_index(["trip_id", "stop_id"])
    assert st.loc[("t2", "B"), "arr"] == 7 * 3600 + 51 * 60  # interpolated between 07:45 and 07:57
    assert st.loc[("u3", "D"), "dep"] == 8 * 3600 + 5 * 60   # "8:05:00" is a valid GTFS time
    assert a.notes and "frequenza" in a.notes[0]


def test_parse_times():
    s = parse_times(__import__("pandas").Series(["00:00:00", "23:59:59", "26:10:00", "7:5:00", "07:60:00", "x", ""]))
    assert s.tolist()[:3] == [0.0, 86399.0, 94200.0]
    assert s.tolist()[3:6] == [-1.0, -1.0, -1.0] and s.isna().tolist()[6]


def test_missing_files(tmp_path):
    got, msg = issues_of(feed_copy(tmp_path, drop=("stops.txt", "calendar.txt", "calendar_dates.txt")))
    assert ("stops.txt", None, None) in got and ("calendar.txt", None, None) in got
    assert "stops.txt: file obbligatorio mancante" in msg


def test_missing_column(tmp_path):
    got, msg = issues_of(feed_copy(tmp_path, {"trips.txt": lambda t: t.replace("route_id,service_id", "route,service_id")}))
    assert ("trips.txt", "route_id", None) in got and "colonna obbligatoria mancante" in msg


def test_unknown_stop_and_bad_time_name_their_rows(tmp_path):
    def edit(t):
        lines = t.splitlines()
        lines[3] = lines[3].replace(",C,", ",Z,")           # line 4: t1 at an unknown stop
        lines[6] = lines[6].replace("07:57:00,07:57:00", "7.57,07:57:00")  # line 7: bad arrival time
        return "\n".join(lines) + "\n"

    got, msg = issues_of(feed_copy(tmp_path, {"stop_times.txt": edit}))
    assert ("stop_times.txt", "stop_id", 4) in got
    assert ("stop_times.txt", "arrival_time", 7) in got
    assert "stop_times.txt, campo stop_id, riga 4: stop_id sconosciuto in stops.txt" in msg
    assert len(got) == 2  # all problems reported at once, nothing else


def test_duplicates_dates_and_references(tmp_path):
    got, _ = issues_of(feed_copy(tmp_path, {
        "stops.txt": lambda t: t + t.splitlines()[1] + "\n",                       # A again, line 9
        "calendar.txt": lambda t: t.replace("20261231", "2026-12-31"),
        "trips.txt": lambda t: t.replace("L2,WD,u1", "L9,XX,u1"),
        "calendar_dates.txt": lambda t: t.replace("20261208,2", "20261208,3")}))
    assert ("stops.txt", "stop_id", 9) in got
    assert ("calendar.txt", "end_date", 2) in got and ("calendar.txt", "end_date", 3) in got
    assert ("trips.txt", "route_id", 5) in got and ("trips.txt", "service_id", 5) in got
    assert ("calendar_dates.txt", "exception_type", 2) in got


def test_time_order_and_missing_end_times(tmp_path):
    got, msg = issues_of(feed_copy(tmp_path, {"stop_times.txt": lambda t: t.replace(
        "t1,07:42:00,07:42:00,C,3", "t1,07:35:00,07:35:00,C,3").replace("u3,08:13:00,08:13:00", "u3,,")}))
    assert ("stop_times.txt", "arrival_time", 4) in got      # 07:35 after B at 07:36
    assert ("stop_times.txt", "arrival_time", 15) in got     # last stop of u3 without a time
    assert "prima/ultima fermata" in msg


def test_stop_times_at_a_station_rejected(tmp_path):
    got, msg = issues_of(feed_copy(tmp_path, {"stop_times.txt": lambda t: t.replace("f1,00:05:00,00:05:00,F", "f1,00:05:00,00:05:00,S")}))
    assert got == [("stop_times.txt", "stop_id", 17)] and "location_type" in msg


def test_not_a_feed(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n")
    got, _ = issues_of(p)
    assert got == [("x.csv", None, None)]
    got, _ = issues_of(tmp_path / "none.zip")
    assert got == [("none.zip", None, None)]


def test_service_days_equal_partridge(tmp_path):
    """Peer check: the services active on each day of the feed period, and the busiest date, equal
    partridge's (read_service_ids_by_date / read_busiest_date) on the same feed."""
    import datetime as dt

    ptg = pytest.importorskip("partridge")
    path = feed_copy(tmp_path, {"calendar_dates.txt": lambda t: t + "SAT,20261209,1\nWD,20260105,2\n"})
    feed = read_gtfs(path)
    theirs = ptg.read_service_ids_by_date(str(path))
    start, end = feed.date_range()
    d, n = start, 0
    while d <= end:
        assert feed.service_ids_on(d) == set(theirs.get(d, frozenset())), d
        n += bool(theirs.get(d))
        d += dt.timedelta(days=1)
    assert n == len(theirs) == 261 + 52 - 2  # 2026: weekdays + Saturdays, two weekdays removed (12-08, 01-05)
    assert feed.busiest_weekday() == ptg.read_busiest_date(str(path))[0]
