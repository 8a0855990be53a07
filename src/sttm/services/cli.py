"""STTM 2 commands: `sttm access`, `sttm lum`, `sttm scenario`, `sttm atlas`."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
DB = typer.Option(None, "--db", help="sistema delle conoscenze: file .gpkg o URL postgresql:// (default STTM_DB)")

access_app = typer.Typer(help="STTM 2 — accessibilità ai servizi (città dei 15 minuti)", no_args_is_help=True)
lum_app = typer.Typer(help="STTM 2 — Luoghi Urbani per la Mobilità (LUM)", no_args_is_help=True)
scenario_app = typer.Typer(help="STTM 2 — scenari localizzativi e indicatori di vulnerabilità", no_args_is_help=True)
atlas_app = typer.Typer(help="STTM 2 — atlanti: servizi per comune e LUM (HTML e PDF)", no_args_is_help=True)
COMMANDS = {"access": access_app, "lum": lum_app, "scenario": scenario_app, "atlas": atlas_app}


def _kb(db):
    from sttm.config import default_db
    from sttm.knowledge import open_kb

    return open_kb(db or default_db())


def _progress():
    return Progress(TextColumn("[bold blue]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def _fail(exc: Exception):
    console.print(f"[bold red]Errore:[/] {exc}")
    raise typer.Exit(2)


@access_app.command("run")
def access_run(cell: float = typer.Option(100.0, help="lato della cella (m)"),
               network: Optional[list[Path]] = typer.Option(None, help="estratto OSM (.osm / .osm.pbf) della rete; ripetibile"),
               mode: str = typer.Option("walk", help="walk | bike"),
               weights: Optional[Path] = typer.Option(None, help="superficie per la distribuzione dasimetrica (GPKG/GeoJSON/SHP)"),
               weight_column: Optional[str] = typer.Option(None, help="colonna dei pesi (es. popolazione censuaria)"),
               gtfs: Optional[Path] = typer.Option(None, "--gtfs", help="feed GTFS (.zip o cartella): aggiunge il trasporto pubblico"),
               gtfs_date: Optional[str] = typer.Option(None, "--gtfs-date", help="giorno di servizio AAAA-MM-GG (default: il feriale con più corse)"),
               gtfs_window: Optional[str] = typer.Option(None, "--gtfs-window", help="finestra di partenza HH:MM-HH:MM (default 07:30-08:30)"),
               db: Optional[str] = DB):
    """Griglia di domanda e accessibilità per ogni categoria di servizio; scrive i layer
    demand_grid, access_cells, access_by_municipality, access_by_zone, access_by_lum.
    Con --gtfs i tempi al servizio più vicino includono il trasporto pubblico (a piedi + CSA + a piedi)."""
    from .pipeline import params, run_access, service_points

    kb = _kb(db)
    t0 = time.perf_counter()
    try:
        n_cat = service_points(kb.read_layer("services"))["category_key"].nunique()
        with _progress() as prog:
            task = prog.add_task("accessibilità per categoria",
                                 total=n_cat * ((2 if network else 1) + (1 if gtfs else 0)))
            run = run_access(kb, cell_size=cell, network_path=network or None, mode=mode, weights_path=weights,
                             weight_column=weight_column, gtfs_path=gtfs, gtfs_date=gtfs_date, gtfs_window=gtfs_window,
                             progress=lambda k: prog.update(task, advance=1, description=f"categoria {k}"))
    except Exception as exc:  # noqa: BLE001 — reported plainly to the user
        _fail(exc)
    m = run.meta
    t = Table("categoria", "t medio (min)", "popolazione entro 15'", "rapporto 2SFCA medio", title="CMM — sintesi")
    for c in run.categories:
        ev = run.cells[run.cells[f"t_{c.key}"].notna()]  # cells where the category is evaluated
        pop = ev["pop"]
        if pop.sum() <= 0:
            t.add_row(c.label, "—", "—", "—")
            continue
        tt = (ev[f"t_{c.key}"] * pop).sum() / pop.sum()
        # with public transport, "within 15'" follows t_ (walk or PT); n_ counts walk-only services
        hit = ev[f"t_{c.key}"] <= m["threshold_min"] if m.get("transit") else ev[f"n_{c.key}"] > 0
        share = pop[hit].sum() / pop.sum()
        r = (ev[f"r_{c.key}"].fillna(0) * pop).sum() / pop.sum()
        t.add_row(c.label + (" (solo " + ", ".join(c.coverage) + ")" if c.coverage else ""), f"{tt:.1f}",
                  f"{share:.1%}", f"{r:.2f} / {c.per:g}")
    console.print(t)
    console.print(f"Celle: {m['n_cells']:,} ({m['cell_size_m']:.0f} m, metodo {m['method']}); residenti {m['total_pop']:,.0f}; "
                  f"tempi: {', '.join(m['time_method'])} a {m['speed_kmh']} km/h; {time.perf_counter() - t0:.1f} s")
    if m["approximate_share_of_cells"] > 0:
        console.print(f"[yellow]Tempi APPROSSIMATI (linea d'aria × {params()['straight_line']['detour_factor']:.2f}) per "
                      f"{m['approximate_share_of_cells']:.0%} delle celle.[/]")
    console.print(m["transit_it"][:1].upper() + m["transit_it"][1:] + ".")
    if m.get("transit"):
        tr = m["transit"]
        console.print(f"  {tr['n_connections']:,} connessioni, {tr['n_origin_stops']:,} fermate di accesso, celle con "
                      f"una fermata entro l'accesso massimo: {tr['cells_with_stop_share']:.0%}; celle dove il trasporto "
                      "pubblico accorcia il tempo: " + ", ".join(f"{k} {v:.0%}" for k, v in tr["pt_better_share"].items()))
    for note in m["missing_it"]:
        console.print(f"[yellow]Dato mancante:[/] {note}")


@lum_app.command("build")
def lum_build(network: Optional[list[Path]] = typer.Option(None, help="estratto OSM pedonale per il bacino di 15 minuti; ripetibile"),
              cluster: float = typer.Option(300.0, help="fermate entro questa distanza (m) formano un solo LUM"),
              overrides: Optional[Path] = typer.Option(None, help="CSV station_id,level che forza il livello"),
              gtfs: Optional[Path] = typer.Option(None, "--gtfs", help="feed GTFS: aggiunge il bacino di 15 minuti con il trasporto pubblico (pt15)"),
              gtfs_date: Optional[str] = typer.Option(None, "--gtfs-date", help="giorno di servizio AAAA-MM-GG"),
              gtfs_window: Optional[str] = typer.Option(None, "--gtfs-window", help="finestra di partenza HH:MM-HH:MM"),
              db: Optional[str] = DB):
    """Individua i LUM (livello, perimetri 200/500 m, bacino pedonale) e ne conta popolazione,
    servizi e aree di opportunità; scrive i layer lum e lum_catchments."""
    from .pipeline import run_lum

    kb = _kb(db)
    with _progress() as prog:
        task = prog.add_task("LUM", total=1)
        try:
            table, cat, notes = run_lum(kb, network_path=network or None, cluster_m=cluster, overrides_path=overrides,
                                        gtfs_path=gtfs, gtfs_date=gtfs_date, gtfs_window=gtfs_window)
        except Exception as exc:  # noqa: BLE001
            _fail(exc)
        prog.update(task, advance=1)
    pt = "pop_pt15" in table.columns
    t = Table("livello", "LUM", "residenti entro 500 m", *(["residenti a 15' (piedi + TPL, somma)"] if pt else []))
    for lvl, g in table.groupby("level"):
        t.add_row(lvl, str(len(g)), f"{g['pop_r500'].sum():,.0f}", *([f"{g['pop_pt15'].sum():,.0f}"] if pt else []))
    console.print(t)
    for n in notes:
        console.print(f"[yellow]Nota:[/] {n}")


@lum_app.command("list")
def lum_list(db: Optional[str] = DB):
    """Elenca i LUM del sistema delle conoscenze."""
    kb = _kb(db)
    lum = kb.read_layer("lum")
    t = Table("lum_id", "nome", "comune", "livello", "residenti 500 m")
    for r in lum.itertuples():
        t.add_row(r.lum_id, r.name, str(r.municipality), r.level, f"{r.pop_r500:,.0f}")
    console.print(t)


@scenario_app.command("run")
def scenario_run(category: str = typer.Argument(..., help="categoria, es. pharmacy, school_primaria"),
                 k: int = typer.Option(3, "--k", help="numero di nuovi siti"),
                 method: str = typer.Option("mclp", help="mclp (copertura massima) | pmedian"),
                 radius: Optional[float] = typer.Option(None, help="raggio di copertura in minuti a piedi (default 15)"),
                 candidates: str = typer.Option("auto", help="auto | opportunity | lum"),
                 prefer_lum: bool = typer.Option(True, help="preferisci i candidati interni ai LUM"),
                 solver: str = typer.Option("highs", help="highs | cbc"),
                 db: Optional[str] = DB):
    """Scenario localizzativo (spopt): k nuovi siti tra le aree candidate; popolazione coperta prima/dopo."""
    from .pipeline import run_location_scenario

    kb = _kb(db)
    with _progress() as prog:
        task = prog.add_task(f"{method} {category} k={k}", total=1)
        try:
            name, chosen, s = run_location_scenario(kb, category, k, method=method, radius_min=radius,
                                                    candidates=candidates, prefer_lum=prefer_lum, solver=solver)
        except Exception as exc:  # noqa: BLE001
            _fail(exc)
        prog.update(task, advance=1)
    t = Table("sito", "nome", "in LUM", "domanda nuova entro raggio", title=f"layer {name}")
    for r in chosen.itertuples():
        t.add_row(str(r.site_id), str(r.label), "sì" if r.in_lum else "no", f"{r.demand_newly_within_radius:,.0f}")
    console.print(t)
    console.print(f"Domanda ({s['demand_column']}) coperta entro {s['radius_m']:.0f} m: prima {s['covered_before']:,.0f}, "
                  f"dopo {s['covered_after']:,.0f} su {s['total_demand']:,.0f}; distanza media {s['mean_dist_before_m']:.0f} → "
                  f"{s['mean_dist_after_m']:.0f} m")
    for n in s["notes_it"]:
        console.print(f"[yellow]Nota:[/] {n}")


@scenario_app.command("rank")
def scenario_rank(layer: str = typer.Argument(..., help="layer dei siti/proposte da confrontare"),
                  db: Optional[str] = DB):
    """Indicatori di vulnerabilità ambientale e insediativa e graduatoria delle proposte alternative."""
    from .pipeline import run_vulnerability

    kb = _kb(db)
    try:
        name, ranked, skipped = run_vulnerability(kb, layer)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    t = Table("pos.", "sito", "priorità", "vuln. ambientale", "bisogno insediativo", title=f"layer {name}")
    for r in ranked.head(30).itertuples():
        t.add_row(str(r.rank), str(r.site_id), f"{r.priority:.3f}", f"{r.env_index:.2f}", f"{r.settlement_index:.2f}")
    console.print(t)
    if skipped:
        console.print(f"[yellow]Indicatori non calcolati (dati mancanti):[/] {', '.join(skipped)}")


def _atlas(kind: str, out: Path, pdf: bool, only: Optional[list[str]], db, per_sheet: bool = False):
    from .atlas import render_atlas

    kb = _kb(db)
    t0 = time.perf_counter()
    with _progress() as prog:
        task = prog.add_task(f"atlante {kind}", total=None)

        def step(done, total, label):
            prog.update(task, total=total, completed=done, description=f"scheda {label}")

        try:
            res = render_atlas(kb, kind, out, pdf=pdf, only=only, progress=step, pdf_per_sheet=per_sheet)
        except Exception as exc:  # noqa: BLE001
            _fail(exc)
    console.print(f"{res['n_sheets']} schede in {out} ({time.perf_counter() - t0:.1f} s): indice {res['index']}"
                  + (f", PDF {res['pdf']}" if res.get("pdf") else ""))
    for n in res.get("notes_it", []):
        console.print(f"[yellow]Nota:[/] {n}")


def _atlas_command(kind: str, only_help: str, doc: str):
    def command(out: Path = typer.Option(Path(f"var/atlas/{kind}"), help="cartella di uscita"),
                pdf: bool = typer.Option(True, help="scrivi anche il PDF dell'atlante"),
                only: Optional[list[str]] = typer.Option(None, help=only_help),
                per_sheet: bool = typer.Option(False, "--pdf-per-sheet", help="anche un PDF per ogni scheda"),
                db: Optional[str] = DB):
        _atlas(kind, out, pdf, only, db, per_sheet)

    command.__doc__ = doc
    return command


atlas_app.command("comuni")(_atlas_command(
    "comuni", "solo questi comuni (nome o codice ISTAT)",
    "Atlante metropolitano dei servizi: una scheda per comune (Città centrale e poli attrattori per primi)."))
atlas_app.command("lum")(_atlas_command(
    "lum", "solo questi LUM (lum_id o comune)", "Atlante dei LUM: una scheda per LUM (metropolitani per primi)."))
