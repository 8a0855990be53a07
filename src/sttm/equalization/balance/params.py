"""Loading and checking the versioned parameter file of the diffusion balance."""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PARAMS = Path(__file__).resolve().parents[1] / "params" / "balance.toml"

LEVELS = ("none", "supra", "metropolitan")
LEVEL_IT = {"none": "nessuna", "supra": "sovracomunale", "metropolitan": "metropolitana"}


class ParamsError(ValueError):
    """The parameter file is inconsistent (names the file and the key)."""


@dataclass(frozen=True)
class BalanceParams:
    """The parsed parameter file plus its identity (version and SHA-256)."""

    data: dict[str, Any]
    path: str
    sha256: str

    @property
    def version(self) -> str:
        return str(self.data["version"])

    @property
    def functions(self) -> dict[str, str]:
        return dict(self.data["functions"])

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def to_confirm(self) -> list[tuple[str, str]]:
        """Every (key, source) whose status is ``to_confirm``, for the report's warning box."""
        out: list[tuple[str, str]] = []

        def walk(prefix: str, node: Any) -> None:
            if isinstance(node, dict):
                for k, v in node.items():
                    if k.endswith("status") and v == "to_confirm":
                        src = node.get("source") or node.get(k.replace("status", "source")) \
                            or node.get("reference") or node.get("legal_reference") or ""
                        out.append((prefix.rstrip("."), str(src)))
                    else:
                        walk(f"{prefix}{k}.", v)
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    name = v.get("id", i) if isinstance(v, dict) else i
                    walk(f"{prefix.rstrip('.')}[{name}].", v)

        walk("", self.data)
        return out

    def with_overrides(self, overrides: dict[str, Any]) -> "BalanceParams":
        """A copy with dotted-key overrides, e.g. ``{"allocation.fund_share_metropolitan": 0.1}``.

        List entries are addressed by id: ``"resources[lr12_art43_c2bis].rate"``."""
        import copy
        data = copy.deepcopy(self.data)
        for dotted, value in overrides.items():
            node: Any = data
            parts = dotted.split(".")
            for part in parts[:-1]:
                node = _step(node, part, dotted)
            last = parts[-1]
            if "[" in last:
                raise ParamsError(f"override {dotted!r}: last component must be a key")
            if last not in node:
                raise ParamsError(f"override {dotted!r}: unknown key {last!r}")
            node[last] = value
        h = hashlib.sha256(repr(sorted(overrides.items())).encode() + self.sha256.encode()).hexdigest()
        out = BalanceParams(data=data, path=self.path + " (+overrides)", sha256=h)
        validate_params(out)
        return out


def _step(node: Any, part: str, dotted: str) -> Any:
    if "[" in part:
        key, ident = part[:-1].split("[", 1)
        for item in node[key]:
            if str(item.get("id")) == ident:
                return item
        raise ParamsError(f"override {dotted!r}: no entry with id {ident!r} in {key!r}")
    if part not in node:
        raise ParamsError(f"override {dotted!r}: unknown key {part!r}")
    return node[part]


def load_params(path: str | Path | None = None) -> BalanceParams:
    """Read and validate the parameter file (default: the packaged ``params/balance.toml``)."""
    p = Path(path) if path else DEFAULT_PARAMS
    raw = p.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ParamsError(f"{p}: not valid TOML: {exc}") from exc
    params = BalanceParams(data=data, path=str(p), sha256=hashlib.sha256(raw).hexdigest())
    validate_params(params)
    return params


def validate_params(params: BalanceParams) -> None:
    d, where = params.data, params.path
    for key in ("version", "functions", "trip_generation", "distribution", "emission_factors",
                "ecosystem_services", "runoff", "heat", "service_demand", "defaults", "benefits",
                "damage_costs", "resources", "allocation", "deadlines", "threshold", "affected_rule",
                "hazard", "external"):
        if key not in d:
            raise ParamsError(f"{where}: missing section {key!r}")
    for fn in d["functions"]:
        if fn not in d["trip_generation"]:
            raise ParamsError(f"{where}: trip_generation.{fn} missing")
        if fn not in d["distribution"]["mean_trip_km"]:
            raise ParamsError(f"{where}: distribution.mean_trip_km.{fn} missing")
        for sub in ("m2_per_job", "contribution_eur_per_m2"):
            if fn not in d["defaults"][sub]:
                raise ParamsError(f"{where}: defaults.{sub}.{fn} missing")
    for i, t in enumerate(d["threshold"]):
        for k in ("id", "scope", "indicator", "function", "supra", "metropolitan", "reference"):
            if k not in t:
                raise ParamsError(f"{where}: threshold[{i}] missing {k!r}")
        if t["scope"] not in ("forecast", "proposal"):
            raise ParamsError(f"{where}: threshold {t['id']}: scope must be forecast|proposal")
        if not t["metropolitan"] >= t["supra"] >= 0:
            raise ParamsError(f"{where}: threshold {t['id']}: need metropolitan ≥ supra ≥ 0")
    for r in d["resources"]:
        if not 0 <= float(r["rate"]) <= 1:
            raise ParamsError(f"{where}: resources {r['id']}: rate {r['rate']} outside [0, 1]")
        if r["applies_when"] not in ("always", "agricultural_land_take", "free_soil_take"):
            raise ParamsError(f"{where}: resources {r['id']}: unknown applies_when {r['applies_when']!r}")
    a = d["allocation"]
    for k in ("fund_share_metropolitan", "fund_share_supra"):
        if not 0 <= float(a[k]) <= 1:
            raise ParamsError(f"{where}: allocation.{k} outside [0, 1]")
    if not 0 <= float(d["ecosystem_services"]["local_share"]) <= 1:
        raise ParamsError(f"{where}: ecosystem_services.local_share outside [0, 1]")
