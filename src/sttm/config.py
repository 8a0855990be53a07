"""Settings read from the environment, in one place so every entry point agrees.

- ``STTM_DB``: knowledge-base location: a ``.gpkg`` path (embedded store, the default
  ``var/sttm.gpkg``) or a SQLAlchemy URL ``postgresql+psycopg://…`` (PostGIS store).
- ``STTM_DATA_MIRROR``: folder holding a mirror of the public datasets (default: ``../shared/data``
  beside the project checkout, when present).
- ``STTM_CACHE``: where downloaded datasets are kept when a network exists.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def default_db() -> str:
    return os.environ.get("STTM_DB") or str(PROJECT_ROOT / "var" / "sttm.gpkg")


def data_mirror() -> Path | None:
    env = os.environ.get("STTM_DATA_MIRROR")
    if env:
        return Path(env)
    candidate = PROJECT_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def cache_dir() -> Path:
    return Path(os.environ.get("STTM_CACHE") or (PROJECT_ROOT / "var" / "cache"))


def current_user() -> str:
    """Who is loading: recorded in the catalog and the audit trail."""
    return os.environ.get("STTM_USER") or os.environ.get("USER") or "sttm"
