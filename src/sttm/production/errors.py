"""Errors raised by the production wing: always name the file, field and row."""
from ..errors import InputError


class ProductionInputError(InputError):
    """Bad user input (missing CRS, unknown class, duplicate areas, missing field...), in Italian,
    naming several rows at once; an ``InputError`` like every other bad-input error of sttm."""

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None,
                 rows: list | None = None):
        self.source, self.field, self.rows = source, field, list(rows or [])
        where = []
        if source:
            where.append(f"file/layer {source!r}")
        if field:
            where.append(f"campo {field!r}")
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:10])
            more = f" (+{len(self.rows) - 10})" if len(self.rows) > 10 else ""
            where.append(f"righe {shown}{more}")
        self.problem, self.row = message, self.rows[0] if self.rows else None
        ValueError.__init__(self, message + (" [" + "; ".join(where) + "]" if where else ""))
