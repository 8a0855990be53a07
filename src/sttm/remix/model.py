"""Data model of the Remix registries: interventions (realizations) and opportunity areas.

Records are plain dicts validated against the field specs below; validation returns every
problem found (naming row and field) and never partially accepts a batch.

>>> errs = validate_intervention({"intervention_id": "X1", "title": "Parco", "istat_codes": "015146",
...                               "status": "in_corso"}, row=1)
>>> errs
[]
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

ISTAT_RE = re.compile(r"^015\d{3}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CUP_RE = re.compile(r"^[A-Z0-9]{15}$")


@lru_cache(maxsize=1)
def vocabularies() -> dict[str, dict[str, str]]:
    """Controlled vocabularies (code -> Italian label) from ``data/vocabularies.toml``."""
    text = resources.files("sttm.remix").joinpath("data/vocabularies.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def label(vocab: str, code: str | None) -> str:
    if code is None:
        return ""
    return vocabularies().get(vocab, {}).get(code, code)


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "str" | "float" | "int" | "date" | "list" | "bool"
    required: bool = False
    vocab: str | None = None
    label: str = ""


INTERVENTION_FIELDS: tuple[Field, ...] = (
    Field("intervention_id", "str", True, label="Identificativo"),
    Field("title", "str", True, label="Titolo"),
    Field("description", "str", label="Descrizione"),
    Field("istat_codes", "list", True, label="Comuni (codici ISTAT)"),
    Field("status", "str", True, vocab="status", label="Stato"),
    Field("start_date", "date", label="Data di inizio"),
    Field("end_date", "date", label="Data di fine"),
    Field("domains", "list", vocab="domain", label="Ambiti di ricaduta"),
    Field("total_cost", "float", label="Costo totale (EUR)"),
    Field("cup", "str", label="Codice CUP"),
    Field("programme", "str", label="Programma / misura"),
    Field("implementing_body", "str", label="Soggetto attuatore"),
    Field("n_locations_total", "int", label="Localizzazioni totali del progetto"),
    Field("source", "str", label="Fonte del dato"),
)

OPPORTUNITY_FIELDS: tuple[Field, ...] = (
    Field("area_id", "str", True, label="Identificativo"),
    Field("name", "str", True, label="Denominazione"),
    Field("kind", "str", True, vocab="opportunity_kind", label="Tipo di opportunità"),
    Field("istat_code", "str", True, label="Comune (codice ISTAT)"),
    Field("area_m2", "float", label="Superficie (m²)"),
    Field("ownership", "str", label="Proprietà"),
    Field("current_use", "str", label="Uso attuale"),
    Field("condition", "str", label="Condizione"),
    Field("constraints", "str", label="Vincoli"),
    Field("address", "str", label="Indirizzo"),
    Field("source", "str", label="Fonte del dato"),
    Field("licence", "str", label="Licenza"),
)

FUNDING_FIELDS: tuple[Field, ...] = (
    Field("intervention_id", "str", True),
    Field("source", "str", True, vocab="funding_source", label="Fonte di finanziamento"),
    Field("programme", "str", label="Programma"),
    Field("amount", "float", True, label="Importo (EUR)"),
)


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def split_list(v: Any) -> list[str]:
    """'a; b;c' -> ['a', 'b', 'c']; lists pass through."""
    if _blank(v):
        return []
    if isinstance(v, (list, tuple)):
        return [str(x).strip() for x in v if str(x).strip()]
    return [p.strip() for p in str(v).replace(",", ";").split(";") if p.strip()]


def normalise(record: dict[str, Any], fields: tuple[Field, ...], row: int | str = "?") -> tuple[dict[str, Any], list[str]]:
    """Coerce a raw record to the field types; return (clean record, errors)."""
    out: dict[str, Any] = {}
    errors: list[str] = []
    for f in fields:
        raw = record.get(f.name)
        if _blank(raw) or (f.kind == "list" and not split_list(raw)):
            if f.required:
                errors.append(f"riga {row}, campo '{f.name}': obbligatorio")
            out[f.name] = [] if f.kind == "list" else None
            continue
        try:
            if f.kind == "str":
                val: Any = str(raw).strip()
            elif f.kind == "float":
                val = float(str(raw).replace(",", ".")) if isinstance(raw, str) else float(raw)
                if not math.isfinite(val) or val < 0:
                    raise ValueError("deve essere un numero finito ≥ 0")
            elif f.kind == "int":
                val = int(float(raw))
                if val < 0:
                    raise ValueError("deve essere ≥ 0")
            elif f.kind == "date":
                val = str(raw).strip()[:10]
                if not DATE_RE.match(val):
                    raise ValueError("data attesa nel formato AAAA-MM-GG")
            elif f.kind == "list":
                val = split_list(raw)
            elif f.kind == "bool":
                val = str(raw).strip().lower() in {"1", "true", "si", "sì", "yes"}
            else:  # pragma: no cover - spec error
                raise AssertionError(f.kind)
        except (TypeError, ValueError) as exc:
            msg = str(exc) if "atteso" in str(exc) or "deve" in str(exc) else f"valore non valido {raw!r}"
            errors.append(f"riga {row}, campo '{f.name}': {msg}")
            out[f.name] = None
            continue
        if f.vocab:
            allowed = vocabularies()[f.vocab]
            vals = val if isinstance(val, list) else [val]
            bad = [v for v in vals if v not in allowed]
            if bad:
                errors.append(f"riga {row}, campo '{f.name}': valore {bad[0]!r} non ammesso (ammessi: {', '.join(allowed)})")
        out[f.name] = val
    return out, errors


def validate_intervention(record: dict[str, Any], row: int | str = "?") -> list[str]:
    clean, errors = normalise(record, INTERVENTION_FIELDS, row)
    if record.get("location_precision") == "metropolitan":  # province-wide: no single comune
        errors = [e for e in errors if "'istat_codes': obbligatorio" not in e]
    elif record.get("location_precision") not in (None, "", "comune", "exact"):
        errors.append(f"riga {row}, campo 'location_precision': valore {record.get('location_precision')!r} non ammesso")
    for code in clean.get("istat_codes") or []:
        if not ISTAT_RE.match(code):
            errors.append(f"riga {row}, campo 'istat_codes': {code!r} non è un codice ISTAT di un comune CMM (015xxx)")
    if clean.get("cup") and not CUP_RE.match(clean["cup"]):
        errors.append(f"riga {row}, campo 'cup': {clean['cup']!r} non è un CUP (15 caratteri alfanumerici)")
    if clean.get("start_date") and clean.get("end_date") and clean["end_date"] < clean["start_date"]:
        errors.append(f"riga {row}, campo 'end_date': precede la data di inizio")
    return errors


def validate_opportunity(record: dict[str, Any], row: int | str = "?") -> list[str]:
    clean, errors = normalise(record, OPPORTUNITY_FIELDS, row)
    code = clean.get("istat_code")
    if code and not ISTAT_RE.match(code):
        errors.append(f"riga {row}, campo 'istat_code': {code!r} non è un codice ISTAT di un comune CMM (015xxx)")
    return errors


class ValidationError(ValueError):
    """A batch or a record failed validation; ``errors`` lists every problem."""

    def __init__(self, errors: list[str], where: str = ""):
        self.errors = errors
        head = f"{where}: " if where else ""
        more = f" (e altri {len(errors) - 20})" if len(errors) > 20 else ""
        super().__init__(head + "; ".join(errors[:20]) + more)
