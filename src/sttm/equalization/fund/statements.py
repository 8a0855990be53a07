"""Statements of the fund: for one comune (its own accounts) or for CMM (everything)."""
from __future__ import annotations

from datetime import datetime, timezone

from .ledger import Ledger, sections
from .verify import verify
from .money import fmt_amount


def statement(ledger: Ledger, comune: str | None = None, *, limit: int = 500, check: bool = True) -> dict:
    """The data of a statement; ``comune=None`` is CMM's full view. ``limit``: the most recent
    postings listed; ``check``: recompute the whole chain (``verify``) rather than show its head."""
    secs = sections()
    bal = [dict(r, unit=secs[r["section"]]["unit"], label=secs[r["section"]]["label_it"],
                shown=fmt_amount(r["balance"], secs[r["section"]]["unit"]))
           for r in ledger.balances() if comune is None or r["comune"] == comune]
    by_comune = [dict(r, unit=secs[r["section"]]["unit"],
                      debit_s=fmt_amount(r["debit"], secs[r["section"]]["unit"]),
                      credit_s=fmt_amount(r["credit"], secs[r["section"]]["unit"]),
                      net_s=fmt_amount(r["net"], secs[r["section"]]["unit"]))
                 for r in ledger.balances_by("comune", comune=comune)]
    # Movements touching the comune: contributions credited by it, disbursements to it, quotas.
    moves = []
    for p in ledger.postings(comune=comune, last=limit):
        for ln in p["lines"]:
            if comune is not None and ln["comune"] != comune:
                continue
            if ln["account"].startswith("source:") or ln["account"].startswith("quota:"):
                continue
            unit = secs[ln["section"]]["unit"]
            moves.append(dict(seq=p["seq"], ts=p["ts"][:19].replace("T", " "), kind=p["kind"], cause=f"{p['cause_type']} "
                              f"{p['cause_ref']}", section=ln["section"], account=ln["account"], amount=ln["amount"],
                              shown=fmt_amount(ln["amount"], unit), author=p["author"], hash=p["hash"][:12]))
    rep = verify(ledger.engine) if check else None
    seq, h = ledger.head()
    return dict(comune=comune, balances=bal, by_comune=by_comune, moves=moves, head_seq=seq, head_hash=h,
                checked=check, verified=rep.ok if rep else None, verify_errors=rep.errors if rep else [], generated=datetime.now(timezone.utc).isoformat()[:19],
                sections=secs)


def statement_html(ledger: Ledger, comune: str | None = None, *, check: bool = True) -> str:
    from sttm.reports import render_html
    data = statement(ledger, comune, check=check)
    name = None
    if comune:
        try:
            from sttm.knowledge import open_kb  # noqa: F401 - the name of the comune when the KB knows it
            import sqlalchemy as sa
            with ledger.engine.connect() as conn:
                name = conn.execute(sa.text("SELECT name FROM municipalities WHERE istat_code = :c"),
                                    {"c": comune}).scalar()
        except Exception:  # noqa: BLE001 - no territory layer: the code is enough
            name = None
    title = f"Estratto conto del Fondo perequativo — {name or ''} {comune}".strip() if comune else \
        "Fondo perequativo metropolitano — situazione generale"
    return render_html("sttm.equalization.fund", "fund_statement.html.j2", dict(title=title, name=name, **data))
