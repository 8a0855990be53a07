"""The open-data registry: which public datasets sttm uses, where they come from, under which
licence, and how to get a verified local copy (a mirror folder, or a download cache)."""
from __future__ import annotations

import hashlib
import tomllib
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..config import cache_dir, data_mirror


class DatasetError(Exception):
    """A dataset could not be had or did not verify; the message names it and where we looked."""


@dataclass(frozen=True)
class Dataset:
    id: str
    title: str
    paths: tuple[str, ...]      # relative to a mirror folder
    sha256: tuple[str, ...]
    origin: str                 # public download address ("" = mirror only)
    licence: str
    vintage: str
    section: str                # section of SOURCES.md with the provenance
    loader: str                 # name of a function in sttm.opendata.loaders

    def origin_of(self, rel: str) -> str:
        if not self.origin:
            return ""
        return self.origin if self.origin.endswith(Path(rel).name) else self.origin + Path(rel).name


@lru_cache(maxsize=1)
def datasets() -> dict[str, Dataset]:
    raw = tomllib.loads(resources.files(__package__).joinpath("datasets.toml").read_text(encoding="utf-8"))
    out = {}
    for ds_id, d in raw.items():
        paths = tuple(d["paths"]) if "paths" in d else (d["path"],)
        sums = tuple(d["sha256"]) if isinstance(d["sha256"], list) else (d["sha256"],)
        out[ds_id] = Dataset(ds_id, d["title"], paths, sums, d.get("origin", ""), d["licence"], d["vintage"],
                             str(d.get("section", "")), d["loader"])
    return out


def get(ds_id: str) -> Dataset:
    try:
        return datasets()[ds_id]
    except KeyError:
        raise DatasetError(f"unknown dataset '{ds_id}' (known: {', '.join(sorted(datasets()))})") from None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _candidates(rel: str, mirror: Path | None) -> list[Path]:
    places = []
    if mirror is not None:
        places.append(mirror / rel)
    places.append(cache_dir() / rel)
    return places


def resolve(ds_id: str, *, mirror: Path | None = None, download: bool = False, verify: bool = True) -> list[Path]:
    """Local, verified paths of a dataset's files: from the mirror, else the cache, else (when
    ``download``) fetched from its public origin into the cache."""
    ds = get(ds_id)
    mirror = mirror if mirror is not None else data_mirror()
    found = []
    for rel, expected in zip(ds.paths, ds.sha256):
        places = _candidates(rel, mirror)
        path = next((p for p in places if p.is_file()), None)
        if path is None and download and ds.origin_of(rel):
            path = cache_dir() / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".part")
            try:
                urllib.request.urlretrieve(ds.origin_of(rel), tmp)
            except OSError as exc:
                raise DatasetError(f"dataset '{ds_id}': download of {ds.origin_of(rel)} failed: {exc}") from exc
            tmp.replace(path)
        if path is None:
            how = f"; it can be downloaded from {ds.origin_of(rel)} with `sttm data fetch {ds_id}`" \
                if ds.origin_of(rel) else "; it is only available from a mirror (set STTM_DATA_MIRROR)"
            raise DatasetError(f"dataset '{ds_id}': file {rel} not found (looked in: "
                               f"{', '.join(str(p) for p in places)}){how}")
        if verify:
            got = sha256_of(path)
            if got != expected:
                raise DatasetError(f"dataset '{ds_id}': checksum mismatch for {path}: expected sha256 "
                                   f"{expected}, got {got} (the file changed or is corrupt)")
        found.append(path)
    return found


def fingerprint(ds_ids: list[str], extra: str = "") -> str:
    """A digest of the registered content of some datasets (their sha256s) plus a code version:
    equal fingerprints mean a layer built from them would come out the same."""
    h = hashlib.sha256(extra.encode())
    for ds_id in sorted(ds_ids):
        for s in get(ds_id).sha256:
            h.update(s.encode())
    return h.hexdigest()


def load(ds_id: str, **kw):
    """The dataset as a tidy (Geo)DataFrame in EPSG:32632, through its registered loader."""
    from . import loaders
    ds = get(ds_id)
    return getattr(loaders, ds.loader)(resolve(ds_id, **kw))
