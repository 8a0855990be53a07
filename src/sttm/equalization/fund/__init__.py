"""Fondo perequativo metropolitano (PTM art. 11 c.5; Relazione STTM §4.4): a double-entry,
append-only, hash-chained ledger with sections financial, real_estate, volumetric_rights,
shares_credit and the soil-consumption quota register (soil_quota)."""
from .ledger import (CMM, Ledger, LedgerRefused, Line, Posted, Posting, cause_types, contribution, conferral,
                     disbursement, ensure_schema, public_utility_categories, quota_allocation, quota_transfer, sections)
from .verify import VerifyReport, verify
from .db import engine_for

__all__ = ["CMM", "Ledger", "LedgerRefused", "Line", "Posted", "Posting", "VerifyReport", "cause_types",
           "contribution", "conferral", "disbursement", "engine_for", "ensure_schema", "public_utility_categories",
           "quota_allocation", "quota_transfer", "sections", "verify"]
