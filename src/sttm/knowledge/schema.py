"""The knowledge base's own bookkeeping tables, identical on both backends (portable types only)."""
from __future__ import annotations

from sqlalchemy import (Column, DateTime, Float, Index, Integer, LargeBinary, MetaData, Table,
                        Text)

metadata = MetaData()

#: One row per layer: what it is, where it comes from, and its current version.
catalog = Table(
    "kb_catalog", metadata,
    Column("name", Text, primary_key=True),
    Column("kind", Text, nullable=False),          # "features" | "attributes"
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("source", Text, nullable=False, default=""),  # dataset id(s) or "user import: <file>"
    Column("licence", Text, nullable=False, default=""),
    Column("vintage", Text, nullable=False, default=""),
    Column("crs", Text, nullable=True),
    Column("geometry_type", Text, nullable=True),
    Column("key_field", Text, nullable=False),
    Column("min_x", Float), Column("min_y", Float), Column("max_x", Float), Column("max_y", Float),
    Column("feature_count", Integer, nullable=False),
    Column("current_version", Integer, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("input_fingerprint", Text, nullable=True),  # lets `kb build` skip unchanged inputs
    Column("schema_json", Text, nullable=False),
    Column("extra_json", Text, nullable=False, default="{}"),
    Column("updated_at", DateTime, nullable=False),
    Column("loaded_by", Text, nullable=False),
)

#: One row per version of a layer.
versions = Table(
    "kb_versions", metadata,
    Column("layer", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("created_at", DateTime, nullable=False),
    Column("loaded_by", Text, nullable=False),
    Column("source", Text, nullable=False, default=""),
    Column("feature_count", Integer, nullable=False),
    Column("added", Integer, nullable=False),
    Column("removed", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("schema_json", Text, nullable=False),
    Column("note", Text, nullable=False, default=""),
)

#: Feature history as validity intervals: a feature state is valid for versions [v_from, v_to).
#: Unchanged features are stored once, however many versions they live through.
feature_versions = Table(
    "kb_feature_versions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("layer", Text, nullable=False),
    Column("fkey", Text, nullable=False),
    Column("v_from", Integer, nullable=False),
    Column("v_to", Integer, nullable=True),
    Column("fhash", Text, nullable=False),
    Column("props", Text, nullable=False),
    Column("geom_wkb", LargeBinary, nullable=True),
    Index("ix_kb_fv_layer_open", "layer", "v_to"),
    Index("ix_kb_fv_layer_key", "layer", "fkey"),
)

#: Append-only trail of every change made through the knowledge base.
audit = Table(
    "kb_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("layer", Text, nullable=True),
    Column("version", Integer, nullable=True),
    Column("detail", Text, nullable=False, default="{}"),
)
