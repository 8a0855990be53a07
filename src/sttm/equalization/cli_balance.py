"""`sttm balance …`: Bilancio delle diffusività territoriali, conferenza e accordo territoriale.

Register with ``COMMANDS`` (see docs/ARCHITECTURE.md)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ..reports.render import it_number

app = typer.Typer(help="Bilancio delle diffusività territoriali (PTM art. 10): calcolo, registrazione, "
                       "documento, conferenza di concertazione e accordo territoriale", no_args_is_help=True)
conf_app = typer.Typer(help="Conferenza consultiva di concertazione", no_args_is_help=True)
agr_app = typer.Typer(help="Accordo territoriale", no_args_is_help=True)
app.add_typer(conf_app, name="conference")
app.add_typer(agr_app, name="agreement")
console = Console()

DbOpt = typer.Option(None, "--db", help="base di conoscenza: file .gpkg o URL postgresql:// (default: STTM_DB)")
ParamsOpt = typer.Option(None, "--params", help="file dei parametri (default: params/balance.toml)")
ActorOpt = typer.Option("cli", "--actor", help="chi registra l'atto (utente o ufficio)")
DateOpt = typer.Option(None, "--date", help="data dell'atto YYYY-MM-DD (default: oggi)")


def _kb(db):
    from sttm.config import default_db
    from sttm.knowledge import open_kb
    return open_kb(db or default_db())


def _params(path):
    from .balance import load_params
    return load_params(path)


def _guard(fn, *a, **kw):
    from .balance import ParamsError, ProposalError, TerritoryError
    from .balance.conference import WorkflowError
    from .balance.report import ReportError
    try:
        return fn(*a, **kw)
    except (ProposalError, WorkflowError, TerritoryError, ParamsError, ReportError) as exc:
        from rich.markup import escape
        console.print(f"[bold red]Errore:[/] {escape(str(exc))}")
        console.print("[dim]Nulla è stato registrato.[/]")
        raise typer.Exit(2)


def _eur(cents: int) -> str:
    return "€ " + it_number(cents / 100, 2)


def _print_result(r, ids: str = "") -> None:
    from .balance.params import LEVEL_IT
    console.print(f"[bold]{r.proposal.title}[/] — Comune {r.proposal.istat_code} {ids}")
    colour = {"none": "green", "supra": "yellow", "metropolitan": "red"}[r.relevance.level]
    console.print(f"Rilevanza: [bold {colour}]{LEVEL_IT[r.relevance.level]}[/]")
    for line in r.relevance.explain():
        console.print(f"  • {line}")
    t = Table("destinatario", "voce", "importo", title=f"Allocazione di {_eur(r.total_resources_cents)}")
    for a in r.allocation:
        t.add_row(a.recipient, a.label, _eur(a.amount_cents))
    console.print(t)


@app.command("compute")
def compute(file: Path = typer.Argument(..., help="proposta (JSON/GeoJSON)"), db: Optional[str] = DbOpt,
            params: Optional[Path] = ParamsOpt):
    """Calcola il bilancio di una proposta senza registrarlo."""
    from .balance import Territory, compute_balance, parse_proposal
    p = _params(params)
    kb = _kb(db)
    prop = _guard(parse_proposal, file, p.functions, source=str(file))
    r = _guard(compute_balance, prop, _guard(Territory.from_kb, kb), p, source=str(file))
    _print_result(r, "(non registrato)")


@app.command("import")
def import_(file: Path = typer.Argument(..., help="proposta (JSON/GeoJSON)"), db: Optional[str] = DbOpt,
            params: Optional[Path] = ParamsOpt, actor: str = ActorOpt):
    """Importa una proposta, calcola e registra il bilancio (una sola transazione)."""
    from .balance.importer import import_proposal
    pid, bid, r = _guard(import_proposal, _kb(db), file, _params(params), actor)
    _print_result(r, f"— proposta {pid}, bilancio [bold]{bid}[/]")


@app.command("recompute")
def recompute_(proposal_id: str, db: Optional[str] = DbOpt, params: Optional[Path] = ParamsOpt, actor: str = ActorOpt):
    """Ricalcola una proposta registrata con i parametri correnti (nuovo bilancio; i precedenti restano)."""
    from .balance.importer import recompute
    bid, r = _guard(recompute, _kb(db), proposal_id, _params(params), actor)
    _print_result(r, f"— nuovo bilancio [bold]{bid}[/]")


@app.command("list")
def list_(db: Optional[str] = DbOpt):
    """Elenca i bilanci registrati."""
    from .balance.store import list_balances
    t = Table("bilancio", "Comune", "atto", "titolo", "rilevanza", "risorse", "calcolato")
    for b in list_balances(_kb(db)):
        t.add_row(b["balance_id"], b["istat_code"], b["act_kind"], b["title"], b["relevance"],
                  _eur(b["total_resources_cents"]), b["computed_at"])
    console.print(t)


@app.command("show")
def show(balance_id: str, db: Optional[str] = DbOpt):
    """Mostra motivazione e allocazione di un bilancio registrato."""
    from .balance.report import load_balance
    sb = _guard(load_balance, _kb(db), balance_id)
    console.print(f"[bold]{balance_id}[/] — rilevanza {sb.balance['relevance']} — parametri {sb.balance['params_version']}")
    for line in sb.explanation["text"]:
        console.print(f"  • {line}")
    t = Table("destinatario", "voce", "importo")
    for a in sb.allocation:
        t.add_row(a["recipient"], a["label"], _eur(a["amount_cents"]))
    console.print(t)


@app.command("report")
def report(balance_id: str, out: Path = typer.Option(Path("var/reports/balance"), "--out", help="cartella di uscita"),
           pdf: bool = typer.Option(True, "--pdf/--no-pdf"), db: Optional[str] = DbOpt, params: Optional[Path] = ParamsOpt):
    """Scrive il documento del Bilancio (HTML, PDF) e la matrice completa (CSV)."""
    from .balance import Territory
    from .balance.report import write_balance_report
    kb = _kb(db)
    paths = _guard(write_balance_report, kb, balance_id, out, _guard(Territory.from_kb, kb), _params(params), pdf=pdf)
    for k, v in paths.items():
        console.print(f"{k.upper()}: {v}")


@app.command("params")
def params_(params: Optional[Path] = ParamsOpt):
    """Versione del file dei parametri e valori da confermare."""
    p = _guard(_params, params)
    console.print(f"{p.path}\nversione {p.version} — SHA-256 {p.sha256}")
    t = Table("parametro da confermare", "fonte")
    for k, src in p.to_confirm():
        t.add_row(k, src)
    console.print(t)


@app.command("deadlines")
def deadlines_(db: Optional[str] = DbOpt, today: Optional[str] = typer.Option(None, "--today")):
    """Scadenze di conferenze e accordi aperti, con i Comuni inadempienti."""
    from .balance.conference import deadlines
    t = Table("atto", "fase", "scadenza", "in attesa", "scaduti")
    for d in deadlines(_kb(db), dt.date.fromisoformat(today) if today else None):
        t.add_row(d["record"], d["step"], d["due_on"], ", ".join(d["pending"]), ", ".join(d["overdue"]))
    console.print(t)


@app.command("verify")
def verify_(record_id: str, db: Optional[str] = DbOpt):
    """Verifica la catena di hash di una conferenza (CC-…) o di un accordo (AT-…)."""
    from .balance.conference import verify
    problems = verify(_kb(db), record_id)
    if problems:
        for p in problems:
            console.print(f"[red]{p}[/]")
        raise typer.Exit(1)
    console.print(f"{record_id}: catena integra")


@conf_app.command("open")
def conf_open(balance_id: str, db: Optional[str] = DbOpt, params: Optional[Path] = ParamsOpt,
              actor: str = ActorOpt, date: Optional[str] = DateOpt):
    """CMM convoca la conferenza e invita il Comune proponente e i Comuni investiti."""
    from .balance.conference import open_conference
    st = _guard(open_conference, _kb(db), balance_id, _params(params), actor, on=date)
    console.print(f"Conferenza [bold]{st.conference_id}[/] aperta; invitati: {', '.join(st.invited)}; "
                  f"posizioni entro il {st.positions_due}")


@conf_app.command("position")
def conf_position(conference_id: str, istat_code: str,
                  stance: str = typer.Option(..., help="favourable | favourable_with_conditions | contrary"),
                  text: str = typer.Option("", "--text"), db: Optional[str] = DbOpt, actor: str = ActorOpt,
                  date: Optional[str] = DateOpt):
    """Registra la posizione di un Comune invitato."""
    from .balance.conference import record_position
    st = _guard(record_position, _kb(db), conference_id, istat_code, stance, text, actor, on=date)
    console.print(f"Posizioni ricevute {len(st.positions)}/{len(st.invited)}")


@conf_app.command("observe")
def conf_observe(conference_id: str, by: str = typer.Option(..., help="codice ISTAT o CMM"),
                 text: str = typer.Option(..., "--text"), db: Optional[str] = DbOpt, actor: str = ActorOpt,
                 date: Optional[str] = DateOpt):
    """Registra un'osservazione."""
    from .balance.conference import record_observation
    st = _guard(record_observation, _kb(db), conference_id, by, text, actor, on=date)
    console.print(f"Osservazioni: {len(st.observations)}")


@conf_app.command("close")
def conf_close(conference_id: str, outcome: str = typer.Option(..., help="agreement | no_agreement"),
               db: Optional[str] = DbOpt, actor: str = ActorOpt, date: Optional[str] = DateOpt):
    """Chiude la conferenza."""
    from .balance.conference import close_conference
    st = _guard(close_conference, _kb(db), conference_id, outcome, actor, on=date)
    console.print(f"Conferenza {st.conference_id} chiusa: {st.outcome}")


@agr_app.command("draft")
def agr_draft(conference_id: str, db: Optional[str] = DbOpt, params: Optional[Path] = ParamsOpt,
              actor: str = ActorOpt, date: Optional[str] = DateOpt,
              comuni_to_fund: bool = typer.Option(False, "--fondo-comuni",
                                                  help="le quote dei comuni sono custodite nel Fondo perequativo")):
    """Redige l'Accordo territoriale dal bilancio (allocazioni, obblighi, scadenze)."""
    from .balance.conference import draft_agreement
    a = _guard(draft_agreement, _kb(db), conference_id, _params(params), actor, on=date,
               post_comuni_to_fund=comuni_to_fund)
    console.print(f"Accordo [bold]{a.agreement_id}[/]: firmatari {', '.join(a.signatories)}; firme entro il {a.signature_due}")


@agr_app.command("sign")
def agr_sign(agreement_id: str, signatory: str, db: Optional[str] = DbOpt, actor: str = ActorOpt,
             date: Optional[str] = DateOpt):
    """Registra la sottoscrizione di un firmatario (codice ISTAT o CMM)."""
    from .balance.conference import sign_agreement
    a = _guard(sign_agreement, _kb(db), agreement_id, signatory, actor, on=date)
    console.print(f"Firme {len(a.signed)}/{len(a.signatories)}; mancano: {', '.join(a.missing()) or '—'}")


@agr_app.command("outcome")
def agr_outcome(agreement_id: str, note: str = typer.Option("", "--note"), db: Optional[str] = DbOpt,
                actor: str = ActorOpt, date: Optional[str] = DateOpt):
    """Registra l'esito dell'accordo per il parere di compatibilità con il PTM."""
    from .balance.conference import record_outcome
    a = _guard(record_outcome, _kb(db), agreement_id, actor, note, on=date)
    console.print(f"Esito: [bold]{a.status}[/]" + (" — quote registrate nel Fondo perequativo"
                                                    if a.status == "concluded" else ""))


@agr_app.command("fund")
def agr_fund(agreement_id: str, db: Optional[str] = DbOpt, actor: str = ActorOpt):
    """Registra nel Fondo le quote di un accordo già concluso (idempotente: non registra due volte)."""
    from .balance.fund_bridge import post_concluded
    posted = _guard(post_concluded, _kb(db), agreement_id, actor)
    console.print(f"{len(posted)} registrazioni nel Fondo" if posted else "Nulla da registrare: già nel Fondo")


COMMANDS = {"balance": app}
