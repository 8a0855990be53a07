"""Errors of the knowledge base: each names the layer (or file), the field and the row at fault."""
from __future__ import annotations

from ..errors import InputError


class KnowledgeError(Exception):
    """Base class: something the user can act on, said in one sentence."""


class LayerValidationError(InputError, KnowledgeError):
    """A layer (or a user file) failed validation; nothing was written."""


class LayerNotFound(KnowledgeError):
    def __init__(self, name: str, available: list[str] | None = None):
        hint = f" (layers: {', '.join(sorted(available))})" if available else ""
        super().__init__(f"layer '{name}' is not in the knowledge base{hint}")
        self.name = name


class VersionNotFound(KnowledgeError):
    pass
