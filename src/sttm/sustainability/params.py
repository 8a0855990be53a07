"""Rule parameters of the norm sheets, each with its source and status.

The values live in ``data/params.toml``. A parameter is a table with ``value``, ``unit``,
``source`` and ``status`` (see the file head for the status vocabulary). Users override any
value with a TOML file of the same shape, or a flat mapping ``{"invariance.min_volume_m3_ha.A": 750}``;
an overridden parameter is recorded with status ``user_override``.
"""
from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

__all__ = ["Param", "Params", "load_params", "ParamError"]


class ParamError(ValueError):
    """A parameter file or override is malformed."""


@dataclass(frozen=True)
class Param:
    key: str
    value: Any
    unit: str
    source: str
    status: str
    note: str = ""


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Param]:
    out: dict[str, Param] = {}
    for k, v in tree.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, Mapping) and "value" in v:
            for field in ("source", "status"):
                if field not in v:
                    raise ParamError(f"parameter {key!r}: missing {field!r}")
            out[key] = Param(key, v["value"], str(v.get("unit", "")), str(v["source"]),
                             str(v["status"]), str(v.get("note", "")))
        elif isinstance(v, Mapping):
            out.update(_flatten(v, key))
        else:
            raise ParamError(f"parameter {key!r}: expected a table with value/source/status")
    return out


class Params:
    """Flat, dotted-key view of the parameter file."""

    def __init__(self, items: dict[str, Param]):
        self._items = items

    def __getitem__(self, key: str) -> Any:
        try:
            return self._items[key].value
        except KeyError:
            raise ParamError(f"unknown parameter {key!r}") from None

    def get(self, key: str, default: Any = None) -> Any:
        p = self._items.get(key)
        return default if p is None else p.value

    def param(self, key: str) -> Param:
        if key not in self._items:
            raise ParamError(f"unknown parameter {key!r}")
        return self._items[key]

    def section(self, prefix: str) -> dict[str, Any]:
        """Values under ``prefix.`` keyed by the remaining key (e.g. class letters)."""
        p = prefix + "."
        return {k[len(p):]: v.value for k, v in self._items.items() if k.startswith(p)}

    def items(self):
        return self._items.items()

    def with_overrides(self, overrides: Mapping[str, Any], source: str = "user") -> "Params":
        items = dict(self._items)
        for key, value in overrides.items():
            if key not in items:
                raise ParamError(f"override of unknown parameter {key!r} (known: see data/params.toml)")
            old = items[key]
            if isinstance(old.value, (int, float)) and not isinstance(old.value, bool):
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise ParamError(f"override {key!r}: {value!r} is not a number") from None
            items[key] = Param(key, value, old.unit, f"{source} (default was {old.value!r}: {old.source})",
                               "user_override", old.note)
        return Params(items)


def load_params(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Params:
    """Load the packaged parameters, then apply an override TOML file and/or a flat mapping."""
    text = resources.files("sttm.sustainability").joinpath("data/params.toml").read_bytes()
    params = Params(_flatten(tomllib.loads(text.decode("utf-8"))))
    if path is not None:
        path = Path(path)
        try:
            tree = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ParamError(f"{path}: {exc}") from exc
        flat = {}
        for key, p in _flatten_loose(tree).items():
            flat[key] = p
        params = params.with_overrides(flat, source=str(path))
    if overrides:
        params = params.with_overrides(overrides)
    return params


def _flatten_loose(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Override files may give either ``key = 1`` or ``[key] value = 1``."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, Mapping) and "value" in v:
            out[key] = v["value"]
        elif isinstance(v, Mapping):
            out.update(_flatten_loose(v, key))
        else:
            out[key] = v
    return out


def copy_params(p: Params) -> Params:
    return Params(copy.copy(p._items))
