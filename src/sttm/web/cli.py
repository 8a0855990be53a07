"""Commands of the portal wing: ``sttm serve`` and ``sttm remix …`` (registries, publication, users)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
remix_app = typer.Typer(help="Remix: registri delle realizzazioni e delle opportunità, pubblicazione, utenti",
                        no_args_is_help=True)
user_app = typer.Typer(help="Utenti del portale e ruoli", no_args_is_help=True)
remix_app.add_typer(user_app, name="user")

DbOption = typer.Option(None, "--db", help="knowledge base: .gpkg path or postgresql:// URL (default STTM_DB)")


def _kb(db: str | None):
    from sttm.knowledge import open_kb

    return open_kb(db)


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]Errore:[/] {exc}")
    raise typer.Exit(2)


def load_real_data(kb, pnrr: Path | None = None, degraded: Path | None = None, publish: bool = True) -> dict:
    """Load the PNRR projects and the Milano degraded areas into the registry (one transaction)
    and publish the registry to the KB layers."""
    from sttm.remix import loaders, registry

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as prog:
        t = prog.add_task("lettura dei progetti PNRR (Italia Domani, 1/3/2023)…")
        ints = loaders.pnrr_records(pnrr)
        prog.update(t, description=f"{len(ints)} progetti PNRR letti; lettura delle aree in degrado (Milano 2016)…")
        opps = loaders.degraded_area_records(degraded)
        prog.update(t, description=f"validazione e scrittura nel registro ({len(ints)} interventi, {len(opps)} aree)…")
        counts = registry.upsert_many(kb.engine, registry.SystemActor(), interventions=ints, opportunities=opps)
        versions = {}
        if publish:
            prog.update(t, description="pubblicazione negli strati del sistema delle conoscenze…")
            res = registry.publish(kb, registry.SystemActor(), loaded_by="sttm remix load")
            versions = {k: getattr(v, "version", None) for k, v in res.items()}
        prog.update(t, description="fatto")
    return {"counts": counts, "versions": versions}


@remix_app.command("load")
def remix_load(db: Optional[str] = DbOption,
               pnrr: Optional[Path] = typer.Option(None, help="CSV Italia Domani (default: dal mirror dei dati)"),
               degraded: Optional[Path] = typer.Option(None, help="GeoJSON aree in degrado Milano 2016"),
               publish: bool = typer.Option(True, help="pubblica subito gli strati")):
    """Carica i dati reali (progetti PNRR in CMM, aree in degrado di Milano) nel registro e li pubblica."""
    from sttm.remix.model import ValidationError

    try:
        out = load_real_data(_kb(db), pnrr, degraded, publish)
    except (ValidationError, FileNotFoundError) as exc:
        _fail(exc)
    c = out["counts"]
    console.print(f"registro: {c['created']} nuovi, {c['updated']} aggiornati, {c['unchanged']} invariati; "
                  f"strati pubblicati: {out['versions']}")


@remix_app.command("import")
def remix_import(path: Path = typer.Argument(..., help="CSV, GeoJSON o GeoPackage"),
                 kind: str = typer.Option("intervention", help="intervention | opportunity"),
                 db: Optional[str] = DbOption, publish: bool = typer.Option(False, help="pubblica dopo l'importazione")):
    """Importa realizzazioni o aree da file, con validazione completa (tutto o niente)."""
    from sttm.remix import loaders, registry
    from sttm.remix.model import ValidationError

    if kind not in ("intervention", "opportunity"):
        _fail(ValueError("--kind: intervention oppure opportunity"))
    kb = _kb(db)
    try:
        recs = loaders.read_user_file(path, kind)
        args = {"interventions": recs} if kind == "intervention" else {"opportunities": recs}
        counts = registry.upsert_many(kb.engine, registry.SystemActor(), **args)
        if publish:
            registry.publish(kb, registry.SystemActor(), loaded_by=f"sttm remix import {path.name}")
    except ValidationError as exc:
        console.print(f"[bold red]{path}: nessun dato importato[/]")
        for e in exc.errors[:50]:
            console.print(f"  - {e}")
        raise typer.Exit(2) from None
    console.print(f"{path.name}: {counts}")


@remix_app.command("publish")
def remix_publish(db: Optional[str] = DbOption):
    """Pubblica il registro negli strati interventions, intervention_funding, opportunity_areas."""
    from sttm.remix import registry

    res = registry.publish(_kb(db), registry.SystemActor())
    console.print({k: getattr(v, "version", None) for k, v in res.items()})


@user_app.command("add")
def user_add(username: str, role: str = typer.Option(..., help="technician | planner | admin"),
             comune: Optional[str] = typer.Option(None, help="codice ISTAT (015xxx) per i tecnici comunali"),
             full_name: Optional[str] = typer.Option(None),
             password_env: str = typer.Option("STTM_NEW_PASSWORD", help="variabile d'ambiente con la password; "
                                                                         "se assente la password è chiesta"),
             db: Optional[str] = DbOption):
    """Crea un utente del portale (password con hash Argon2id)."""
    from . import auth

    password = os.environ.get(password_env) or getpass.getpass("Password: ")
    try:
        auth.add_user(_kb(db).engine, username, password, role, comune, full_name)
    except ValueError as exc:
        _fail(exc)
    console.print(f"utente {username} creato ({auth.ROLE_LABELS[role]})")


@user_app.command("list")
def user_list(db: Optional[str] = DbOption):
    """Elenca gli utenti del portale."""
    from . import auth

    t = Table("utente", "ruolo", "comune", "attivo")
    for u in auth.list_users(_kb(db).engine):
        t.add_row(u["username"], u["role"], u["istat_code"] or "", "sì" if u["active"] else "no")
    console.print(t)


@user_app.command("disable")
def user_disable(username: str, db: Optional[str] = DbOption):
    """Disattiva un utente e chiude le sue sessioni."""
    from . import auth

    try:
        auth.set_active(_kb(db).engine, username, False)
    except KeyError:
        _fail(KeyError(f"utente {username!r} inesistente"))
    console.print(f"utente {username} disattivato")


def serve(db: Optional[str] = DbOption,
          host: str = typer.Option("127.0.0.1", help="indirizzo di ascolto"),
          port: int = typer.Option(8000, help="porta"),
          load: bool = typer.Option(True, help="se il registro Remix è vuoto, carica e pubblica i dati reali dal mirror"),
          basemap_url: Optional[str] = typer.Option(None, help="URL di tile raster XYZ facoltativo (nessuno di default)")):
    """Avvia il portale (mappa, cruscotto, registri, OGC API – Features) su http://HOST:PORT/."""
    import uvicorn

    from sttm.remix import loaders

    from .app import create_app

    kb = _kb(db)
    if load and not kb.has_layer("interventions"):
        mirror = loaders.data_mirror()
        if (mirror / loaders.PNRR_FILE).exists() and kb.has_layer("municipalities"):
            console.print("registro Remix vuoto: carico i dati reali dal mirror…")
            load_real_data(kb)
        else:
            console.print("[yellow]registro Remix vuoto e dati reali non disponibili: la mappa mostrerà solo il territorio[/]")
    kb.dispose()
    app = create_app(db, basemap_url=basemap_url)
    console.print(f"portale su http://{host}:{port}/ — OGC API su http://{host}:{port}/ogcapi")
    uvicorn.run(app, host=host, port=port, log_level="warning")


COMMANDS = {"serve": serve, "remix": remix_app}
