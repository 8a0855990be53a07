"""Amounts as integers: euro ↔ cents (exact, via Decimal) and Italian display."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .errors import Refused


def eur_to_cents(text, where: str = "amount") -> int:
    """'1234.56' / '1234,56' / '1.234,56' → 123456 cents; more than two decimals is an error."""
    s = str(text).strip().replace(" ", "").replace("€", "")
    if "," in s:                                   # Italian: 1.234,56
        s = s.replace(".", "").replace(",", ".")
    elif s.count(".") > 1:                         # 1.000.000
        s = s.replace(".", "")
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise Refused("amount", f"{where}: '{text}' is not an amount in euro") from None
    if not d.is_finite() or d != d.quantize(Decimal("0.01")):
        raise Refused("amount", f"{where}: '{text}' has more than two decimals")
    return int(d * 100)


def fmt_cents(cents: int) -> str:
    """123456 → '1.234,56 €'"""
    sign = "-" if cents < 0 else ""
    euros, c = divmod(abs(int(cents)), 100)
    return f"{sign}{euros:,}".replace(",", ".") + f",{c:02d} €"


def fmt_m2(m2: int) -> str:
    return f"{int(m2):,}".replace(",", ".") + " m²"


def fmt_amount(value: int, unit: str) -> str:
    return fmt_cents(value) if unit == "EUR_cent" else fmt_m2(value)
