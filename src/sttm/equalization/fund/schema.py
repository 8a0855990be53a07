"""Tables of the metropolitan equalization fund (SQLAlchemy Core, portable types only).

Amounts are signed integers in the section's unit (EUR cents or m²): positive = debit,
negative = credit. Nothing here is ever updated or deleted except the two caches
``fund_chain_head`` (tip of the hash chain, also the lock that serialises writers) and
``fund_balances`` (running balances, re-derived and checked by ``verify``).
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Column, ForeignKeyConstraint, Integer, MetaData, PrimaryKeyConstraint,
                        String, Table, Text)

from .chain import head_table

metadata = MetaData()

chain_head = head_table("fund_chain_head", metadata)

postings = Table(
    "fund_postings", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("posting_uid", String(36), nullable=False, unique=True),
    Column("ts", String(40), nullable=False),
    Column("author", String(120), nullable=False),
    Column("author_role", String(40), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("cause_type", String(40), nullable=False),
    Column("cause_ref", String(200), nullable=False),
    Column("memo", Text, nullable=False),
    Column("n_lines", Integer, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    sqlite_with_rowid=False,      # clustered on seq: verify reads the chain in one sequential scan
)

lines = Table(
    "fund_lines", metadata,
    Column("seq", BigInteger, nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("section", String(32), nullable=False),
    Column("account", String(120), nullable=False),
    Column("comune", String(6), nullable=True),
    Column("amount", BigInteger, nullable=False),
    PrimaryKeyConstraint("seq", "line_no"),
    ForeignKeyConstraint(["seq"], ["fund_postings.seq"]),
    sqlite_with_rowid=False,
)

balances = Table(
    "fund_balances", metadata,
    Column("section", String(32), nullable=False),
    Column("account", String(120), nullable=False),
    Column("comune", String(6), nullable=True),
    Column("balance", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    PrimaryKeyConstraint("section", "account"),
    sqlite_with_rowid=False,
)

# Registry of conferred non-fungible goods (properties, titles, rights): one row per state change,
# the value itself lives in the ledger (section real_estate / shares_credit / volumetric_rights).
assets = Table(
    "fund_assets", metadata,
    Column("asset_id", String(80), nullable=False),
    Column("version", Integer, nullable=False),
    Column("seq", BigInteger, nullable=True),          # posting that changed it, if any
    Column("section", String(32), nullable=False),
    Column("comune", String(6), nullable=True),
    Column("description", Text, nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("condition", String(80), nullable=False),
    Column("availability", String(80), nullable=False),
    Column("ts", String(40), nullable=False),
    Column("author", String(120), nullable=False),
    PrimaryKeyConstraint("asset_id", "version"),
)
