"""CLI of the equalization wing: ``sttm fund …`` (ledger), ``sttm adhesion …`` (cases a–d),
``sttm call …`` (annual call, art. 14). Merges ``cli_balance.COMMANDS`` when that module exists."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()
fund_app = typer.Typer(help="Fondo perequativo metropolitano: registrazioni, saldi, estratti conto, verifica",
                       no_args_is_help=True)
adhesion_app = typer.Typer(help="Adesione alle STTM e al Fondo (casi a–d, Relazione §4.5)", no_args_is_help=True)
call_app = typer.Typer(help="Avviso annuale (art. 14 NdA PTM): proposte, graduatoria, assegnazione", no_args_is_help=True)

DB = typer.Option(None, "--db", help="knowledge base: .gpkg path or SQLAlchemy URL (default STTM_DB / var/sttm.gpkg)")
AUTHOR = typer.Option(None, "--author", help="autore (default STTM_USER / USER)")
ROLE = typer.Option("cmm", "--role", help="'cmm' oppure 'comune:<istat>'")


def _engine(db):
    from sttm.equalization.fund import engine_for
    return engine_for(db)


def _author(a):
    from sttm.config import current_user
    return a or current_user()


def _ledger(db):
    from sttm.equalization.fund import Ledger
    return _run(lambda: Ledger(_engine(db)))


def _run(fn):
    """Runs ``fn``; a refusal (any rule) is printed in Italian context and exits 2, nothing written."""
    from sttm.equalization.fund.errors import Refused
    try:
        return fn()
    except Refused as exc:
        console.print(f"[bold red]Rifiutato[/] ({exc.code}): {exc.message}")
        raise typer.Exit(2)
    except RuntimeError as exc:               # e.g. tables of an older layout
        console.print(f"[bold red]Errore:[/] {exc}")
        raise typer.Exit(2)


# ----------------------------------------------------------------------------------------- fund
@fund_app.command("init")
def fund_init(db: Optional[str] = DB):
    """Crea le tabelle del Fondo, delle adesioni e dell'avviso (idempotente)."""
    from sttm.procedures import adhesion, annual_call
    eng = _engine(db)
    _ledger(db)
    adhesion.ensure_schema(eng)
    annual_call.ensure_schema(eng)
    console.print(f"[green]ok[/] tabelle del Fondo pronte in {eng.url.render_as_string(hide_password=True)}")


@fund_app.command("contribute")
def fund_contribute(amount: str = typer.Argument(..., help="importo in euro, es. 25000,00"),
                    source: str = typer.Option(..., help="origine: contributi_aggiuntivi, tax_share, developer, "
                                                         "region, state, eu, cmm_own…"),
                    comune: Optional[str] = typer.Option(None, help="Comune che conferisce (ISTAT)"),
                    cause_type: str = typer.Option("contribution", help="tipo di causa (vedi fund/data/causes.csv)"),
                    cause_ref: str = typer.Option(..., help="riferimento dell'atto"),
                    section: str = typer.Option("financial", help="financial | shares_credit"),
                    author: Optional[str] = AUTHOR, role: str = ROLE, db: Optional[str] = DB):
    """Registra un'entrata nel Fondo."""
    from sttm.equalization.fund import contribution
    from sttm.equalization.fund.money import eur_to_cents

    def go():
        p = contribution(eur_to_cents(amount), source=source, comune=comune, cause_type=cause_type,
                         cause_ref=cause_ref, author=_author(author), author_role=role, section=section)
        return _ledger(db).post(p)
    r = _run(go)
    console.print(f"[green]registrato[/] n. {r.seq} impronta {r.hash[:16]}…")


@fund_app.command("disburse")
def fund_disburse(amount: str = typer.Argument(..., help="importo in euro"),
                  category: str = typer.Option(..., help="categoria di pubblica utilità (sttm fund categories)"),
                  beneficiary: Optional[str] = typer.Option(None, help="Comune beneficiario (ISTAT)"),
                  cause_type: str = typer.Option("call_decision"), cause_ref: str = typer.Option(...),
                  author: Optional[str] = AUTHOR, role: str = ROLE, db: Optional[str] = DB):
    """Eroga dal Fondo a un'opera o servizio di pubblica utilità (solo CMM)."""
    from sttm.equalization.fund import disbursement
    from sttm.equalization.fund.money import eur_to_cents
    r = _run(lambda: _ledger(db).post(disbursement(eur_to_cents(amount), category=category, beneficiary=beneficiary,
                                                   cause_type=cause_type, cause_ref=cause_ref,
                                                   author=_author(author), author_role=role)))
    console.print(f"[green]registrato[/] n. {r.seq} impronta {r.hash[:16]}…")


@fund_app.command("confer")
def fund_confer(asset_id: str = typer.Option(...), section: str = typer.Option("real_estate",
                help="real_estate | volumetric_rights | shares_credit"),
                value: str = typer.Option(..., help="euro (immobili, titoli) o m² (diritti volumetrici)"),
                description: str = typer.Option(...), condition: str = typer.Option("n.d."),
                availability: str = typer.Option("disponibile"), comune: Optional[str] = typer.Option(None),
                cause_ref: str = typer.Option(...), author: Optional[str] = AUTHOR, role: str = ROLE,
                db: Optional[str] = DB):
    """Conferisce al Fondo un immobile, diritti volumetrici o titoli (registro dei beni + registrazione)."""
    from sttm.equalization.fund import sections
    from sttm.equalization.fund.money import eur_to_cents

    def go():
        unit = sections()[section]["unit"] if section in sections() else "EUR_cent"
        v = eur_to_cents(value) if unit == "EUR_cent" else int(value)
        return _ledger(db).register_asset(asset_id=asset_id, section=section, comune=comune, description=description,
                                          value=v, condition=condition, availability=availability,
                                          author=_author(author), author_role=role, cause_ref=cause_ref)
    r = _run(go)
    console.print(f"[green]conferito[/] {asset_id}: registrazione n. {r.seq}")


@fund_app.command("quota-allocate")
def fund_quota_allocate(m2: int = typer.Argument(..., help="m² di quota di consumo di suolo"),
                        comune: str = typer.Option(...), cause_ref: str = typer.Option(...),
                        author: Optional[str] = AUTHOR, role: str = ROLE, db: Optional[str] = DB):
    """Iscrive nel registro la quota di consumo di suolo di un Comune (solo CMM)."""
    from sttm.equalization.fund import quota_allocation
    r = _run(lambda: _ledger(db).post(quota_allocation(m2, comune=comune, cause_ref=cause_ref, author=_author(author),
                                                       author_role=role)))
    console.print(f"[green]registrato[/] n. {r.seq}")


@fund_app.command("quota-transfer")
def fund_quota_transfer(m2: int = typer.Argument(...), from_comune: str = typer.Option(..., "--from"),
                        to_comune: str = typer.Option(..., "--to"), cause_ref: str = typer.Option(...),
                        section: str = typer.Option("soil_quota", help="soil_quota | volumetric_rights"),
                        author: Optional[str] = AUTHOR, role: str = ROLE, db: Optional[str] = DB):
    """Scambio di quote di consumo di suolo (o diritti volumetrici) tra due Comuni aderenti."""
    from sttm.equalization.fund import quota_transfer
    r = _run(lambda: _ledger(db).post(quota_transfer(m2, from_comune=from_comune, to_comune=to_comune,
                                                     cause_ref=cause_ref, author=_author(author), author_role=role,
                                                     section=section)))
    console.print(f"[green]registrato[/] n. {r.seq}")


@fund_app.command("balance")
def fund_balance(section: Optional[str] = typer.Option(None), comune: Optional[str] = typer.Option(None),
                 by: str = typer.Option("account", help="account | section | comune | cause"),
                 as_json: bool = typer.Option(False, "--json"), db: Optional[str] = DB):
    """Saldi per conto, sezione, Comune o causa."""
    from sttm.equalization.fund import sections
    from sttm.equalization.fund.money import fmt_amount
    led = _ledger(db)
    if by == "account" and not comune:
        rows = [dict(r, debit=None, credit=None, net=r["balance"]) for r in led.balances(section)]
    else:
        rows = led.balances_by(by, section=section, comune=comune)
    if as_json:
        console.print_json(json.dumps(rows))
        return
    keys = [k for k in rows[0] if k not in ("debit", "credit", "net", "balance")] if rows else []
    t = Table(*keys, "dare", "avere", "saldo/netto")
    for r in rows:
        unit = sections()[r["section"]]["unit"]
        f = lambda v: "" if v is None else fmt_amount(v, unit)  # noqa: E731
        t.add_row(*[str(r[k] or "—") for k in keys], f(r["debit"]), f(r["credit"]), f(r["net"]))
    console.print(t)


@fund_app.command("statement")
def fund_statement(comune: Optional[str] = typer.Option(None, help="ISTAT del Comune (assente: vista CMM completa)"),
                   html: Optional[Path] = typer.Option(None), pdf: Optional[Path] = typer.Option(None),
                   db: Optional[str] = DB):
    """Estratto conto (HTML/PDF) di un Comune o dell'intero Fondo."""
    from sttm.equalization.fund.statements import statement, statement_html
    led = _ledger(db)
    if html or pdf:
        _write_doc(statement_html(led, comune), html, pdf)
        return
    s = statement(led, comune)
    t = Table("sezione", "conto", "saldo", title=f"Saldi {comune or 'CMM'}")
    for b in s["balances"]:
        t.add_row(b["section"], b["account"], b["shown"])
    console.print(t)
    console.print(f"{len(s['moves'])} movimenti; catena {'verificata' if s['verified'] else 'NON verificata'}")


@fund_app.command("postings")
def fund_postings(comune: Optional[str] = typer.Option(None), limit: int = typer.Option(50),
                  db: Optional[str] = DB):
    """Ultime registrazioni (con righe)."""
    rows = _ledger(db).postings(comune=comune)[-limit:]
    t = Table("n.", "data", "operazione", "causa", "autore", "righe", "impronta")
    for p in rows:
        t.add_row(str(p["seq"]), p["ts"][:19], p["kind"], f"{p['cause_type']} {p['cause_ref']}", p["author"],
                  "; ".join(f"{ln['section']}:{ln['account']} {ln['amount']:+d}" for ln in p["lines"]), p["hash"][:12])
    console.print(t)


@fund_app.command("verify")
def fund_verify(workers: int = typer.Option(1, help="processi che verificano tratti della catena"),
                db: Optional[str] = DB):
    """Ricalcola la catena delle impronte, la partita doppia e i saldi. Esce con 1 se qualcosa non torna."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from sttm.equalization.fund import verify
    eng = _engine(db)
    _ledger(db)
    with Progress(SpinnerColumn(), TextColumn("verifica della catena…"), TimeElapsedColumn(), console=console) as pr:
        pr.add_task("verify", total=None)
        rep = verify(eng, workers=workers)
    if rep.ok:
        console.print(f"[green]ok[/] {rep.n_postings} registrazioni, {rep.n_lines} righe verificate in "
                      f"{rep.seconds:.2f} s ({rep.workers} processi)")
        return
    console.print(f"[bold red]VERIFICA FALLITA[/] ({rep.n_postings} registrazioni):")
    for e in rep.errors:
        console.print(f"  - {e}")
    raise typer.Exit(1)


@fund_app.command("categories")
def fund_categories():
    """Categorie di pubblica utilità ammesse alle erogazioni, con base normativa."""
    from sttm.equalization.fund import public_utility_categories
    t = Table("codice", "categoria", "base normativa", "stato")
    for c in public_utility_categories().values():
        t.add_row(c["code"], c["label_it"], c["legal_basis"], c["status"])
    console.print(t)


@fund_app.command("assets")
def fund_assets(db: Optional[str] = DB):
    """Registro dei beni conferiti (stato corrente)."""
    t = Table("bene", "sezione", "Comune", "descrizione", "valore", "condizione", "disponibilità")
    for a in _ledger(db).assets():
        t.add_row(a["asset_id"], a["section"], a["comune"] or "—", a["description"], str(a["value"]), a["condition"],
                  a["availability"])
    console.print(t)


# ------------------------------------------------------------------------------------- adhesion
@adhesion_app.command("cases")
def adhesion_cases(case: Optional[str] = typer.Argument(None, help="a | b | c | d")):
    """I casi di adesione con procedura, riferimenti, oneri e vantaggi (dalla tabella della Relazione)."""
    from sttm.procedures import adhesion
    cat = adhesion.catalogue()
    for cid, c in cat["cases"].items():
        if case and cid != case:
            continue
        console.rule(f"Caso {cid}) {c['title']}")
        console.print("[bold]Procedura:[/] " + " → ".join(f"{s['id']}" + (" (se dovuto)" if "condition" in s else "")
                                                         for s in c["steps"]))
        console.print("[bold]Rif. normativi:[/] " + "; ".join(c["legal_refs"]))
        for o in c["obligations"]:
            console.print(f"  [yellow]onere[/] {o}: {cat['obligations'][o]['label']}")
        for a in c["advantages"]:
            console.print(f"  [green]vantaggio[/] {a}: {cat['advantages'][a]['label']}")
        if c.get("note"):
            console.print(f"  [dim]nota: {c['note']}[/]")


@adhesion_app.command("open")
def adhesion_open(istat: str, case: str, strategies: str = typer.Option("sttm1,sttm2,sttm3"),
                  subject: str = typer.Option(""), author: Optional[str] = AUTHOR, db: Optional[str] = DB):
    """Apre un procedimento di adesione per un Comune nel caso indicato."""
    from sttm.procedures import adhesion
    aid = _run(lambda: adhesion.open_adhesion(_engine(db), istat, case, author=_author(author),
                                              strategies=[s for s in strategies.split(",") if s], subject=subject))
    console.print(f"[green]aperta[/] adesione {aid}")


@adhesion_app.command("step")
def adhesion_step(adhesion_id: str, step: str, act_ref: str = typer.Option(..., help="estremi dell'atto"),
                  act_date: Optional[str] = typer.Option(None, help="AAAA-MM-GG"),
                  commit: list[str] = typer.Option([], help="impegno: codice=testo (ripetibile)"),
                  not_due: bool = typer.Option(False, help="passo condizionato non dovuto (solo CMM)"),
                  note: str = typer.Option(""), author: Optional[str] = AUTHOR, role: str = ROLE,
                  db: Optional[str] = DB):
    """Registra un atto che fa avanzare l'adesione (richiesta, delibera con impegni, accordo…)."""
    from sttm.procedures import adhesion
    commitments = {}
    for c in commit:
        k, _, v = c.partition("=")
        commitments[k.strip()] = v.strip()
    st = _run(lambda: adhesion.record_step(_engine(db), adhesion_id, step, act_ref=act_ref, act_date=act_date,
                                           commitments=commitments, note=note, author=_author(author),
                                           author_role=role, status_="not_due" if not_due else "done"))
    _print_status(st)


def _print_status(st):
    t = Table("passo", "stato", "atto", title=f"Adesione {st.adhesion_id} — Comune {st.istat_code}, caso {st.case_id}")
    for s in st.steps:
        t.add_row(s["id"], s["status"], s["act_ref"] or "")
    console.print(t)
    console.print(f"vantaggi attivi: {', '.join(st.advantages) or 'nessuno'}; prossimi passi: "
                  f"{', '.join(st.next_steps) or '—'}")


@adhesion_app.command("status")
def adhesion_status(istat: str, db: Optional[str] = DB):
    """Adesioni di un Comune, passi e vantaggi."""
    from sttm.procedures import adhesion
    sts = adhesion.adhesions_of(_engine(db), istat)
    if not sts:
        console.print(f"Il Comune {istat} non ha procedimenti di adesione.")
    for st in sts:
        _print_status(st)


@adhesion_app.command("verify")
def adhesion_verify(db: Optional[str] = DB):
    """Ricalcola la catena delle impronte degli atti di adesione. Esce con 1 se qualcosa non torna."""
    from sttm.procedures import adhesion
    errors = adhesion.verify_events(_engine(db))
    if not errors:
        console.print("[green]ok[/] catena degli atti di adesione integra")
        return
    console.print("[bold red]VERIFICA FALLITA[/]")
    for e in errors:
        console.print(f"  - {e}")
    raise typer.Exit(1)


@adhesion_app.command("check")
def adhesion_check(istat: str, advantage: str, db: Optional[str] = DB):
    """Il Comune può esercitare il vantaggio? Esce con 0 (sì) o 1 (no)."""
    from sttm.procedures import adhesion
    ok = _run(lambda: adhesion.has_right(_engine(db), istat, advantage))
    console.print(f"{istat} {advantage}: {'[green]sì[/]' if ok else '[red]no[/]'}")
    raise typer.Exit(0 if ok else 1)


# ----------------------------------------------------------------------------------------- call
@call_app.command("criteria")
def call_criteria():
    """Tabella dei criteri di coerenza alle STTM (art. 19) e regole di graduatoria."""
    from sttm.procedures import annual_call
    t = Table("criterio", "peso", "punteggio", "fonte", "stato")
    for c in annual_call.criteria().values():
        t.add_row(c["criterion"], str(c["weight"]), c["scoring"], c["source"], c["status"])
    console.print(t)
    r = annual_call.rules()
    console.print(f"soglia minima {r['min_score']}; assegnazione '{r['allocation']}'; parità: {', '.join(r['tie_rule'])}")


@call_app.command("open")
def call_open(call_id: str, year: int = typer.Option(...), budget: str = typer.Option(..., help="euro"),
              title: str = typer.Option(""), author: Optional[str] = AUTHOR, role: str = ROLE, db: Optional[str] = DB):
    """Pubblica l'avviso annuale con la sua dotazione."""
    from sttm.equalization.fund.money import eur_to_cents
    from sttm.procedures import annual_call
    _run(lambda: annual_call.open_call(_engine(db), call_id, year=year, budget=eur_to_cents(budget),
                                       author=_author(author), author_role=role, title=title))
    console.print(f"[green]aperto[/] avviso {call_id}")


@call_app.command("submit")
def call_submit(call_id: str, csv_file: Path, author: Optional[str] = AUTHOR, role: str = ROLE,
                db: Optional[str] = DB):
    """Presenta le proposte da un CSV (tutte o nessuna); con colonne wkt o lon/lat i criteri di
    localizzazione (LUM, Rete Verde, aree di rigenerazione) sono calcolati sugli strati del KB, e il
    criterio indicatori dagli strati STTM 1–3 presenti (nbs_sheets, access_by_municipality, production_sites)."""
    from sttm.procedures import annual_call
    proposals = _run(lambda: annual_call.read_proposals_csv(csv_file))
    if proposals:
        try:
            from sttm.knowledge import open_kb
            from sttm.config import default_db
            proposals, notes = annual_call.locate_from_kb(open_kb(db or default_db()), proposals)
            for note in notes:
                console.print(f"[yellow]nota:[/] {note}")
        except ImportError:
            console.print("[yellow]nota:[/] knowledge base non disponibile: valgono le dichiarazioni dei Comuni")
    n = _run(lambda: annual_call.submit(_engine(db), call_id, proposals, author=_author(author), author_role=role))
    console.print(f"[green]presentate[/] {n} proposte all'avviso {call_id}")


def _print_ranking(ranking, budget=None):
    from sttm.equalization.fund.money import fmt_cents
    t = Table("pos.", "proposta", "Comune", "punteggio", "richiesto", "assegnato", "esito", "motivo")
    for r in sorted(ranking, key=lambda r: (r.rank is None, r.rank or 0)):
        t.add_row(str(r.rank or "—"), r.proposal.proposal_id, r.proposal.istat_code, f"{float(r.score):.3f}",
                  fmt_cents(r.proposal.requested), fmt_cents(r.granted), r.outcome, r.reason)
    console.print(t)
    if budget is not None:
        used = sum(r.granted for r in ranking)
        console.print(f"dotazione utilizzabile {fmt_cents(budget)}, assegnati {fmt_cents(used)}")


def _write_doc(page: str, html: Optional[Path], pdf: Optional[Path]) -> None:
    if html:
        html.write_text(page, encoding="utf-8")
        console.print(f"[green]scritto[/] {html}")
    if pdf:
        from sttm.reports import write_pdf
        write_pdf(page, pdf)
        console.print(f"[green]scritto[/] {pdf}")


@call_app.command("rank")
def call_rank(call_id: str, html: Optional[Path] = typer.Option(None), pdf: Optional[Path] = typer.Option(None),
              db: Optional[str] = DB):
    """Graduatoria e assegnazione simulate (nulla viene registrato)."""
    from sttm.procedures import annual_call
    ranking, budget = _run(lambda: annual_call.preview(_engine(db), call_id))
    _print_ranking(ranking, budget)
    if html or pdf:
        _write_doc(annual_call.ranking_html(_engine(db), call_id, ranking, budget), html, pdf)


@call_app.command("decide")
def call_decide(call_id: str, author: Optional[str] = AUTHOR, role: str = ROLE, db: Optional[str] = DB):
    """Approva graduatoria e assegnazione, registrando le erogazioni nel Fondo (solo CMM, una volta)."""
    from sttm.procedures import annual_call
    ranking = _run(lambda: annual_call.decide(_engine(db), call_id, author=_author(author), author_role=role))
    _print_ranking(ranking)


@call_app.command("show")
def call_show(call_id: str, html: Optional[Path] = typer.Option(None), pdf: Optional[Path] = typer.Option(None),
              db: Optional[str] = DB):
    """Decisioni registrate di un avviso (anche come documento HTML/PDF)."""
    from sttm.equalization.fund.money import fmt_cents
    from sttm.procedures import annual_call
    rows = _run(lambda: annual_call.decisions_of(_engine(db), call_id))
    t = Table("pos.", "proposta", "punteggio", "assegnato", "esito", "registrazione")
    for r in rows:
        t.add_row(str(r["rank"] or "—"), r["proposal_id"], f"{r['score_milli'] / 1000:.3f}", fmt_cents(r["granted"]),
                  r["outcome"], str(r["posting_seq"] or ""))
    console.print(t if rows else f"L'avviso {call_id} non è ancora deciso.")
    if rows and (html or pdf):
        _write_doc(annual_call.ranking_html(_engine(db), call_id), html, pdf)


COMMANDS: dict[str, typer.Typer] = {"fund": fund_app, "adhesion": adhesion_app, "call": call_app}

def _merge_balance_commands() -> None:
    """Adds the diffusion-balance commands (sttm.equalization.cli_balance) when that module exists."""
    import importlib.util
    import warnings
    if importlib.util.find_spec("sttm.equalization.cli_balance") is None:
        return
    try:
        from sttm.equalization.cli_balance import COMMANDS as balance_commands
    except Exception as exc:  # noqa: BLE001 - a broken sibling must not take the fund commands down
        warnings.warn(f"sttm.equalization.cli_balance not loaded: {exc!r}")
        return
    for name, sub in balance_commands.items():
        COMMANDS.setdefault(name, sub)


_merge_balance_commands()
