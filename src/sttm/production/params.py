"""Parameter tables of the production wing.

Every coefficient, threshold, weight and rule lives in a CSV/TOML file under ``data/`` with
its reference and status (``legal`` = fixed by a norm, ``proposed`` = proposed value to be
confirmed in the STTM 3 norm, ``indicative``/``placeholder``/``proxy`` = to calibrate).
A user can pass their own copy of any table (same columns) to override it.
"""
from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from .errors import ProductionInputError

DATA = resources.files(__package__) / "data"

_REQUIRED = {
    "taxonomy": ["category", "label_it"],
    "size_classes": ["size_class", "label_it", "min_m2", "max_m2", "reference"],
    "source_classes": ["source", "source_class", "category", "productive"],
    "ateco_map": ["ateco_prefix", "category"],
    "pole_rules": ["rule_id", "group", "label_it", "field", "op", "value", "unit", "reference", "status"],
    "constraints": ["constraint_id", "kind", "label_it", "source", "buffer_m", "reference", "status"],
    "suitability_weights": ["criterion", "label_it", "field", "weight", "method", "worst", "best", "reference"],
    "evaluation_criteria": ["criterion_id", "group", "label_it", "field", "kind", "min_op", "min_value",
                            "worst", "best", "weight", "reference", "status"],
    "grades": ["grade", "min_score", "label_it"],
    "freight_rates": ["category", "trips_per_1000m2_day", "heavy_share", "light_share", "working_days",
                      "reference", "status"],
}
OPS = {">=", "<=", ">", "<", "==", "!="}


def table(name: str, path: str | Path | None = None) -> pd.DataFrame:
    """Return parameter table ``name`` (packaged default, or the user's file at ``path``)."""
    if path is None:
        return _packaged(name).copy()
    return _validate(name, pd.read_csv(path, dtype=str, keep_default_na=False), str(path))


@lru_cache(maxsize=None)
def _packaged(name: str) -> pd.DataFrame:
    with (DATA / f"{name}.csv").open(encoding="utf-8") as fh:
        return _validate(name, pd.read_csv(fh, dtype=str, keep_default_na=False), f"{name}.csv")


def _validate(name: str, df: pd.DataFrame, source: str) -> pd.DataFrame:
    missing = [c for c in _REQUIRED.get(name, []) if c not in df.columns]
    if missing:
        raise ProductionInputError(f"tabella parametri {name}: colonne mancanti {missing}", source=source)
    for col in ("value", "weight", "buffer_m", "trips_per_1000m2_day", "heavy_share", "light_share",
                "working_days", "min_score"):
        if col in df.columns:
            bad = [i + 2 for i, v in enumerate(df[col]) if v != "" and _num(v) is None]
            if bad:
                raise ProductionInputError(f"tabella {name}: valori non numerici", source=source,
                                           field=col, rows=bad)
    if "op" in df.columns:
        bad = [i + 2 for i, v in enumerate(df["op"]) if v not in OPS]
        if bad:
            raise ProductionInputError(f"tabella {name}: operatore non valido (ammessi {sorted(OPS)})",
                                       source=source, field="op", rows=bad)
    if "reference" in df.columns:
        bad = [i + 2 for i, v in enumerate(df["reference"]) if not str(v).strip()]
        if bad:
            raise ProductionInputError(f"tabella {name}: ogni valore deve citare un riferimento",
                                       source=source, field="reference", rows=bad)
    return df


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


@lru_cache(maxsize=None)
def _scalars() -> dict:
    with (DATA / "params.toml").open("rb") as fh:
        return tomllib.load(fh)


def scalar(name: str) -> float:
    """A scalar parameter from ``params.toml`` (its reference is in the same entry)."""
    return float(_scalars()[name]["value"])


def scalar_entry(name: str) -> dict:
    return dict(_scalars()[name])


def categories() -> list[str]:
    return list(_packaged("taxonomy")["category"])


def category_label(cat: str) -> str:
    t = _packaged("taxonomy").set_index("category")["label_it"]
    return str(t.get(cat, cat))
