"""The open-data registry: every dataset verifies; missing or altered files are named precisely."""
from __future__ import annotations

import shutil

import pytest

from sttm import opendata


@pytest.mark.realdata
def test_every_registered_dataset_verifies(mirror):
    for ds_id in opendata.datasets():
        paths = opendata.resolve(ds_id, mirror=mirror)
        assert all(p.is_file() for p in paths)


def test_missing_file_names_dataset_and_places(tmp_path, monkeypatch):
    monkeypatch.setenv("STTM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(opendata.DatasetError) as err:
        opendata.resolve("anpr_residents_2025", mirror=tmp_path / "vuoto")
    msg = str(err.value)
    assert "anpr_residents_2025" in msg and str(tmp_path / "vuoto") in msg and "sttm data fetch" in msg


@pytest.mark.realdata
def test_checksum_mismatch_is_an_error(tmp_path, mirror):
    ds = opendata.get("zone_omogenee")
    fake = tmp_path / "mirror"
    (fake / ds.paths[0]).parent.mkdir(parents=True)
    shutil.copy(mirror / ds.paths[0], fake / ds.paths[0])
    with open(fake / ds.paths[0], "a") as f:
        f.write("015999,Inventato,Nord Milano\n")
    with pytest.raises(opendata.DatasetError, match="checksum mismatch"):
        opendata.resolve("zone_omogenee", mirror=fake)


def test_registry_entries_are_complete():
    for ds in opendata.datasets().values():
        assert ds.title and ds.licence and ds.vintage and ds.loader
        assert len(ds.paths) == len(ds.sha256) and all(len(s) == 64 for s in ds.sha256)
        assert hasattr(opendata.loaders, ds.loader)


def test_fetch_downloads_into_the_cache_and_verifies(tmp_path, monkeypatch):
    """Where a network exists, `sttm data fetch` downloads from the origin into the cache and checks
    the sha256; a corrupted download is refused by name. A file:// origin stands in for the network."""
    import dataclasses

    from typer.testing import CliRunner

    from sttm.cli import app
    upstream = tmp_path / "upstream" / "residenti.csv"
    upstream.parent.mkdir()
    upstream.write_text("COD_ISTAT_COMUNE,RESIDENTI\n015146,1399632\n")
    fake = dataclasses.replace(opendata.get("anpr_residents_2025"), paths=("population/residenti.csv",),
                               sha256=(opendata.registry.sha256_of(upstream),), origin=upstream.as_uri())
    monkeypatch.setattr(opendata.registry, "datasets", lambda: {"anpr_residents_2025": fake})
    monkeypatch.setenv("STTM_CACHE", str(tmp_path / "cache"))
    res = CliRunner().invoke(app, ["data", "fetch", "anpr_residents_2025", "--mirror", str(tmp_path / "none")])
    assert res.exit_code == 0, res.output
    cached = tmp_path / "cache" / "population" / "residenti.csv"
    assert cached.read_text() == upstream.read_text()
    df = opendata.load("anpr_residents_2025", mirror=tmp_path / "none")
    assert df.to_dict("records") == [{"istat_code": "015146", "residents_anpr_2025": 1399632}]
    cached.write_text("COD_ISTAT_COMUNE,RESIDENTI\n015146,1\n")  # tampered copy
    res = CliRunner().invoke(app, ["data", "verify", "anpr_residents_2025", "--mirror", str(tmp_path / "none")])
    assert res.exit_code == 1 and "checksum mismatch" in res.output
