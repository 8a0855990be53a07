"""The knowledge base (sistema delle conoscenze, PTM art. 13): catalogued, versioned layers on a
GeoPackage file or on PostgreSQL+PostGIS, one schema for both. See docs/ARCHITECTURE.md."""
from .errors import KnowledgeError, LayerNotFound, LayerValidationError, VersionNotFound
from .store import KnowledgeBase, LayerDiff, LayerMeta, WriteResult, open_kb

__all__ = ["KnowledgeBase", "KnowledgeError", "LayerDiff", "LayerMeta", "LayerNotFound",
           "LayerValidationError", "VersionNotFound", "WriteResult", "open_kb"]
