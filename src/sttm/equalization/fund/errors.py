"""The refusal every fund/procedure rule raises: a machine-readable code and a clear message."""
from __future__ import annotations


class Refused(ValueError):
    """An operation refused by a rule; nothing was written."""

    def __init__(self, code: str, message: str):
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
