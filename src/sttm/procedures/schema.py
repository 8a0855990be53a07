"""Tables of the procedures (SQLAlchemy Core, portable types). Insert-only."""
from __future__ import annotations

from sqlalchemy import (BigInteger, Column, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text,
                        UniqueConstraint)

from sttm.equalization.fund.chain import head_table

metadata = MetaData()

adhesions = Table(
    "adhesion_records", metadata,
    Column("adhesion_id", String(36), primary_key=True),
    Column("istat_code", String(6), nullable=False, index=True),
    Column("case_id", String(2), nullable=False),
    Column("strategies", String(40), nullable=False),
    Column("subject", Text, nullable=False),
    Column("opened_at", String(40), nullable=False),
    Column("opened_by", String(120), nullable=False),
)

# Adhesion events are hash-chained like the fund's postings (``adhesion.verify_events``); the
# head row is the tip of the chain and the lock that serialises writers.
adhesion_head = head_table("adhesion_chain_head", metadata)

adhesion_events = Table(
    "adhesion_events", metadata,
    Column("event_id", BigInteger, primary_key=True, autoincrement=False),   # chain sequence
    Column("adhesion_id", String(36), nullable=False, index=True),
    Column("step_id", String(40), nullable=False),
    Column("status", String(10), nullable=False),          # done | not_due
    Column("act_ref", String(200), nullable=False),
    Column("act_date", String(10), nullable=True),
    Column("author", String(120), nullable=False),
    Column("author_role", String(40), nullable=False),
    Column("ts", String(40), nullable=False),
    Column("note", Text, nullable=False),
    Column("commitments", Text, nullable=False),           # JSON object
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("adhesion_id", "step_id", name="uq_adhesion_step"),
)

calls = Table(
    "call_calls", metadata,
    Column("call_id", String(40), primary_key=True),
    Column("year", Integer, nullable=False),
    Column("budget", BigInteger, nullable=False),          # EUR cents
    Column("title", Text, nullable=False),
    Column("weights", Text, nullable=False),               # JSON snapshot of the weight table
    Column("opened_at", String(40), nullable=False),
    Column("opened_by", String(120), nullable=False),
)

proposals = Table(
    "call_proposals", metadata,
    Column("proposal_id", String(60), nullable=False),
    Column("call_id", String(40), nullable=False),
    Column("istat_code", String(6), nullable=False),
    Column("title", Text, nullable=False),
    Column("kind", String(20), nullable=False),             # intervention | building
    Column("category", String(40), nullable=False),         # public-utility category of the fund
    Column("strategies", String(40), nullable=False),       # e.g. "sttm1,sttm2"
    Column("cost", BigInteger, nullable=False),             # EUR cents
    Column("requested", BigInteger, nullable=False),        # EUR cents
    Column("cofunding", BigInteger, nullable=False),        # EUR cents
    Column("lum_level", Integer, nullable=False),           # 0 = outside any LUM, else 1..3
    Column("in_green_network", Integer, nullable=False),
    Column("in_regeneration_area", Integer, nullable=False),
    Column("indicator_score", Integer, nullable=True),      # 0..1000 (‰), NULL = not available
    Column("location_source", String(20), nullable=False),  # declared | kb | kb+declared
    Column("geometry_wkt", Text, nullable=True),            # EPSG:32632
    Column("submitted_at", String(40), nullable=False),
    Column("submitted_by", String(120), nullable=False),
    PrimaryKeyConstraint("call_id", "proposal_id"),
)

decisions = Table(
    "call_decisions", metadata,
    Column("call_id", String(40), nullable=False),
    Column("proposal_id", String(60), nullable=False),
    Column("rank", Integer, nullable=True),
    Column("score_milli", BigInteger, nullable=False),       # score × 1000, rounded half-even, display only
    Column("granted", BigInteger, nullable=False),           # EUR cents
    Column("outcome", String(20), nullable=False),           # funded | not_funded | excluded
    Column("reason", Text, nullable=False),
    Column("posting_seq", BigInteger, nullable=True),
    Column("decided_at", String(40), nullable=False),
    Column("decided_by", String(120), nullable=False),
    PrimaryKeyConstraint("call_id", "proposal_id"),
)
