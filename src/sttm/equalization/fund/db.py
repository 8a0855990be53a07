"""Engine for the fund and the procedures: the knowledge base's engine when the foundation is
there, otherwise any SQLAlchemy URL (``sqlite:///x.gpkg``, ``postgresql+psycopg://…``) or path."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine

_ENGINES: dict[str, Engine] = {}


def to_url(db: str) -> str:
    return db if "://" in db else f"sqlite:///{Path(db).resolve()}"


def engine_for(db: str | None = None) -> Engine:
    """``db``: URL or .gpkg path; default ``STTM_DB`` / var/sttm.gpkg (through ``open_kb`` when available)."""
    from sttm import config
    db = db or config.default_db()
    if db in _ENGINES:
        return _ENGINES[db]
    engine = None
    if "://" not in db:
        try:
            from sttm.knowledge import open_kb          # the foundation, when it has landed
        except ImportError:
            open_kb = None
        if open_kb is not None:
            try:
                engine = open_kb(db).engine
            except Exception:                           # noqa: BLE001 - KB not built yet: plain file
                engine = None
    if engine is None:
        url = to_url(db)
        if url.startswith("sqlite"):
            Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True) if "///" in url else None
            engine = create_engine(url, connect_args={"timeout": 60})
        else:
            engine = create_engine(url, pool_pre_ping=True)
    _ENGINES[db] = engine
    return engine
