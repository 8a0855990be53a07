import csv

import pytest

from sttm.remix import loaders, registry
from sttm.remix.registry import SystemActor

COLS = ["submisura_code", "cup", "codice_locale_progetto", "com_istat_code", "comune_loc", "n_localizzazioni_totali",
        "missione", "componente", "misura_descr", "submisura_descr", "titolo_progetto", "sintesi_progetto", "stato_cup",
        "fin_pnrr", "fin_comune", "fin_da_reperire", "fin_totale", "soggetto_attuatore"]


def _write(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLS)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in COLS})


def test_pnrr_multi_localisation_is_one_record(tmp_path, empty_kb):
    base = {"submisura_code": "M5C2I2.02.03", "missione": "M5", "componente": "M5C2", "stato_cup": "Attivo",
            "submisura_descr": "PUI", "fin_pnrr": "300", "fin_comune": "100", "fin_totale": "400"}
    rows = [
        {**base, "cup": "J41B21000000001", "codice_locale_progetto": "P1", "com_istat_code": "015146", "n_localizzazioni_totali": "2", "titolo_progetto": "Uno"},
        {**base, "cup": "J41B21000000001", "codice_locale_progetto": "P1", "com_istat_code": "015182", "n_localizzazioni_totali": "2", "titolo_progetto": "Uno"},
        {**base, "cup": "J41B21000000002", "codice_locale_progetto": "P2", "com_istat_code": "015002", "n_localizzazioni_totali": "1",
         "titolo_progetto": "Due", "stato_cup": "Chiuso", "fin_pnrr": "50", "fin_comune": "0", "fin_da_reperire": "25", "fin_totale": "75"},
        {**base, "cup": "J41B21000000003", "codice_locale_progetto": "P3", "com_istat_code": "", "comune_loc": "TUTTI I COMUNI",
         "n_localizzazioni_totali": "38", "titolo_progetto": "Tre", "missione": "M1", "componente": "M1C1"},
    ]
    path = tmp_path / "pnrr.csv"
    _write(path, rows)
    recs = loaders.pnrr_records(path)
    assert len(recs) == 3
    one = next(r for r in recs if r["title"] == "Uno")
    assert one["istat_codes"] == ["015146", "015182"] and one["total_cost"] == 400
    assert {f["source"]: f["amount"] for f in one["funding"]} == {"PNRR": 300, "Comune": 100}
    assert one["domains"] == ["sociale", "abitativo"]
    two = next(r for r in recs if r["title"] == "Due")
    assert two["status"] == "completato"
    three = next(r for r in recs if r["title"] == "Tre")
    assert three["location_precision"] == "metropolitan" and three["domains"] == ["digitale"]
    registry.upsert_many(empty_kb.engine, SystemActor(), interventions=recs)
    registry.publish(empty_kb, SystemActor())
    ints = empty_kb.read_layer("interventions")
    assert ints["total_cost"].sum() == 400 + 75 + 400  # each project once
    assert ints.set_index("intervention_id").loc["PNRR-J41B21000000003-P3", "location_precision"] == "metropolitan"
    # idempotent re-import
    assert registry.upsert_many(empty_kb.engine, SystemActor(), interventions=recs)["unchanged"] == 3


def test_user_csv_import_with_lonlat_and_funding(tmp_path, empty_kb):
    p = tmp_path / "interventi.csv"
    p.write_text("intervention_id,title,istat_codes,status,lon,lat,funding_PNRR,funding_Comune\n"
                 "U1,Piazza,015146,in_corso,9.19,45.46,100,50\n")
    recs = loaders.read_user_file(p, "intervention")
    assert recs[0]["_row"] == "interventi.csv riga 2"
    registry.upsert_many(empty_kb.engine, SystemActor(), interventions=recs)
    with empty_kb.engine.begin() as c:
        rec = registry.get_intervention(c, "U1")
    assert rec["location_precision"] == "exact"
    assert sorted((f["source"], f["amount"]) for f in rec["funding"]) == [("Comune", 50.0), ("PNRR", 100.0)]


def test_unknown_format_is_refused(tmp_path):
    p = tmp_path / "x.xlsx"
    p.write_text("x")
    with pytest.raises(loaders.ValidationError, match="formato non supportato"):
        loaders.read_user_file(p, "intervention")


@pytest.mark.realdata
def test_real_pnrr_and_degraded_areas(mirror):
    # the session fixture skips (fails in CI) only when there is no mirror at all; a mirror without
    # the PNRR extract is a broken mirror and must fail here, not skip
    assert (mirror / loaders.PNRR_FILE).is_file(), f"{mirror / loaders.PNRR_FILE} missing from the data mirror"
    assert (mirror / loaders.DEGRADED_FILE).is_file(), f"{mirror / loaders.DEGRADED_FILE} missing from the data mirror"
    assert loaders.data_mirror().resolve() == mirror.resolve()  # the loaders read the same mirror
    recs = loaders.pnrr_records()
    assert len(recs) == 1942  # distinct CUP + Codice Locale Progetto (SOURCES.md §10)
    total_pnrr = sum(f["amount"] for r in recs for f in r["funding"] if f["source"] == "PNRR")
    assert 1.6e9 < total_pnrr < 1.9e9  # "about 1.73 bn EUR" over distinct projects
    areas = loaders.degraded_area_records()
    assert len(areas) == 192 and len({a["area_id"] for a in areas}) == 192
    assert all("CC BY-NC" in a["licence"] for a in areas)


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg"])
def test_geojson_and_gpkg_import_of_polygons(tmp_path, empty_kb, suffix):
    import geopandas as gpd
    from shapely.geometry import box

    from remix_fixtures import X0, Y0

    utm = gpd.GeoDataFrame({"area_id": ["P1"], "name": ["Ex fabbrica"], "kind": ["brownfield"], "istat_code": ["015182"],
                            "ownership": ["privata"]},
                           geometry=[box(X0 + 6000, Y0 + 1000, X0 + 6100, Y0 + 1050)], crs="EPSG:32632")
    path = tmp_path / f"aree{suffix}"
    utm.to_crs("EPSG:4326").to_file(path)
    recs = loaders.read_user_file(path, "opportunity")
    registry.upsert_many(empty_kb.engine, SystemActor(), opportunities=recs)
    registry.publish(empty_kb, SystemActor())
    opp = empty_kb.read_layer("opportunity_areas").set_index("area_id")
    assert opp.loc["P1", "area_m2"] == pytest.approx(100 * 50, rel=1e-3)  # reprojected back to EPSG:32632
    assert opp.loc["P1", "comune"] == "Rho" and opp.loc["P1", "ownership"] == "privata"
