"""Errors shared by every wing: bad input is named precisely (file, field, row)."""
from __future__ import annotations


class InputError(ValueError):
    """Bad input: the message names the file or layer, the field and the row (1-based)."""

    def __init__(self, source: str, problem: str, *, field: str | None = None, row: object | None = None):
        self.source, self.problem, self.field, self.row = source, problem, field, row
        where = [f"'{source}'"]
        if field is not None:
            where.append(f"field '{field}'")
        if row is not None:
            where.append(f"row {row}")
        super().__init__(f"{', '.join(where)}: {problem}")
