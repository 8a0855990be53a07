"""``sttm production …`` — STTM 3: productive areas, poles, exclusion/suitability, evaluation, reports."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import ProductionInputError

production_app = typer.Typer(help="STTM 3 – spazi della produzione e della logistica: aree produttive, poli "
                                  "sovracomunali, esclusione e idoneità, tabelle di valutazione, rapporti",
                             no_args_is_help=True)
COMMANDS = {"production": production_app}
console = Console()
DbOption = typer.Option(None, "--db", help="sistema delle conoscenze (.gpkg o postgresql://), default STTM_DB")


def _kb(db):
    from sttm.config import default_db
    from sttm.knowledge import open_kb
    return open_kb(db or default_db())


def _run(fn):
    try:
        return fn()
    except ProductionInputError as exc:
        console.print(f"[bold red]Errore nei dati in ingresso:[/] {escape(str(exc))}")
        raise typer.Exit(2)
    except Exception as exc:
        from sttm.knowledge import KnowledgeError
        if isinstance(exc, KnowledgeError):
            console.print(f"[bold red]Errore del sistema delle conoscenze:[/] {escape(str(exc))}")
            raise typer.Exit(2)
        raise


def _print_report(rep) -> None:
    for name, (ver, changed, n) in rep.written.items():
        state = f"versione {ver}" if changed else f"invariato (versione {ver})"
        console.print(f"[green]scritto[/] {name}: {n} elementi, {state}")
    for n in rep.notes:
        console.print(f"[cyan]nota[/] {escape(n)}")
    if rep.not_used:
        console.print("[bold yellow]Non utilizzato (dati mancanti):[/]")
        for m in dict.fromkeys(rep.not_used):
            console.print(f"  [yellow]•[/] {escape(m)}")


def _progress():
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                    transient=True)


@production_app.command("import")
def import_cmd(pgt: Optional[Path] = typer.Option(None, help="zone produttive del PGT (GPKG/GeoJSON/SHP zip)"),
               pgt_class: Optional[str] = typer.Option(None, help="campo della classe di zona PGT"),
               pgt_id: Optional[str] = typer.Option(None, help="campo identificativo PGT"),
               pgt_name: Optional[str] = typer.Option(None, help="campo nome PGT"),
               dusaf: Optional[Path] = typer.Option(None, help="uso del suolo DUSAF (GPKG/SHP zip)"),
               dusaf_code: str = typer.Option("COD_TOT", help="campo del codice DUSAF"),
               osm: Optional[Path] = typer.Option(None, help="estratto OpenStreetMap .osm o .osm.pbf"),
               firms: Optional[Path] = typer.Option(None, help="CSV imprese: firm_id, ateco, employees, lon/lat"),
               firms_crs: Optional[str] = typer.Option(None, help="CRS delle colonne x/y del CSV imprese"),
               roads: Optional[Path] = typer.Option(None, help="rete stradale primaria (linee)"),
               junctions: Optional[Path] = typer.Option(None, help="svincoli autostradali (punti)"),
               pt_stops: Optional[Path] = typer.Option(None, help="fermate bus/tram (punti, es. ATM tpl_fermate)"),
               class_map: Optional[Path] = typer.Option(None, help="tabella di corrispondenza classi → tassonomia"),
               db: Optional[str] = DbOption):
    """Importa le aree produttive (PGT, DUSAF, OSM, imprese) nella tassonomia STTM 3 e ne calcola l'accessibilità."""
    from . import pipeline
    kb = _kb(db)
    with _progress() as prog:
        task = prog.add_task("importazione", total=None)
        rep = _run(lambda: pipeline.run_import(
            kb, pgt=pgt, pgt_class=pgt_class, pgt_id=pgt_id, pgt_name=pgt_name, dusaf=dusaf, dusaf_code=dusaf_code,
            osm=osm, firms=firms, firms_crs=firms_crs, roads=roads, junctions=junctions, pt_stops=pt_stops,
            class_map=class_map,
            progress=lambda m: prog.update(task, description=f"importazione: {m}")))
    _print_report(rep)
    areas = kb.read_layer("productive_areas")
    t = Table("categoria", "aree", "ettari")
    for cat, grp in areas.groupby("category_label"):
        t.add_row(cat, str(len(grp)), f"{grp['area_ha'].sum():,.1f}")
    console.print(t)


@production_app.command("constraints")
def constraints_cmd(layer: list[str] = typer.Option([], "--layer", help="ID=FILE, es. strategic_farmland=aas.gpkg "
                                                                     "(ID da 'sttm production params constraints')"),
                    db: Optional[str] = DbOption):
    """Costruisce aree di esclusione e di attenzione e la mappa esclusa / attenzione / idonea."""
    from . import pipeline
    pairs = {}
    for item in layer:
        if "=" not in item:
            console.print(f"[red]--layer atteso nella forma ID=FILE, trovato {item!r}[/]")
            raise typer.Exit(2)
        k, v = item.split("=", 1)
        pairs[k.strip()] = v.strip()
    kb = _kb(db)
    with _progress() as prog:
        prog.add_task("sovrapposizione dei vincoli", total=None)
        rep = _run(lambda: pipeline.run_constraints(kb, pairs))
    _print_report(rep)
    land = kb.read_layer("production_land_status")
    t = Table("stato", "km²")
    for st, grp in land.groupby("status_label"):
        t.add_row(st, f"{grp['area_m2'].sum() / 1e6:,.2f}")
    console.print(t)


@production_app.command("poles")
def poles_cmd(rules: Optional[Path] = typer.Option(None, help="tabella regole alternativa (stesse colonne di "
                                                               "pole_rules.csv)"),
              gap: Optional[float] = typer.Option(None, help="distanza (m) entro cui aree vicine formano un unico "
                                                             "agglomerato (default params.toml pole_cluster_gap_m)"),
              db: Optional[str] = DbOption):
    """Riconosce i poli produttivi di rilevanza sovracomunale con la motivazione di ogni esito."""
    from . import pipeline
    kb = _kb(db)
    rep, out = _run(lambda: pipeline.run_poles(kb, rules, gap))
    _print_report(rep)
    t = Table("agglomerato", "aree", "comune", "ha", "esito", "regole non soddisfatte")
    for _, r in out.sort_values("area_ha", ascending=False).head(30).iterrows():
        t.add_row(str(r["pole_id"]), str(r["n_members"]), str(r["comune"]), f"{r['area_ha']:,.1f}", r["verdict_label"],
                  r["failed_rules"] or "—")
    console.print(t)


@production_app.command("sites")
def sites_cmd(sites: Path = typer.Argument(..., help="siti candidati (poligoni; colonna opzionale 'brownfield')"),
              id_field: Optional[str] = typer.Option(None, help="campo identificativo"),
              name_field: Optional[str] = typer.Option(None, help="campo nome"),
              grid: Optional[Path] = typer.Option(None, help="scrive anche la griglia di idoneità (GeoTIFF)"),
              res: float = typer.Option(25.0, help="risoluzione della griglia in metri"),
              db: Optional[str] = DbOption):
    """Idoneità dei siti candidati (ed eventualmente di tutto il territorio su griglia)."""
    from . import pipeline
    kb = _kb(db)
    with _progress() as prog:
        prog.add_task("idoneità", total=None)
        rep, out = _run(lambda: pipeline.run_sites(kb, sites, id_field=id_field, name_field=name_field,
                                                   grid_path=grid, res=res))
    _print_report(rep)
    t = Table("sito", "comune", "idoneità", "classe", "motivazione")
    for _, r in out.iterrows():
        t.add_row(str(r["site_id"]), str(r["comune"]), "—" if r["suitability"] != r["suitability"]
                  else f"{r['suitability']:.1f}", r["suitability_label"], r["reason"])
    console.print(t)


@production_app.command("evaluate")
def evaluate_cmd(proposal: Path = typer.Argument(..., help="proposta insediativa (TOML)"),
                 db: Optional[str] = DbOption):
    """Tabelle di valutazione di una proposta: standard minimi, punteggio, voto, stima dei mezzi pesanti."""
    from . import pipeline
    kb = _kb(db)
    rep, p, ev, fr, site, verdict = _run(lambda: pipeline.run_proposal(kb, proposal))
    _print_report(rep)
    t = Table("criterio", "valore", "minimo", "conforme", "punteggio", "peso")
    for r in ev.rows:
        t.add_row(f"{r.criterion_id} {r.label}", str(r.value), r.minimum or "—",
                  {True: "sì", False: "NO", None: "—"}[r.compliant], f"{r.score:.2f}", f"{r.weight:g}")
    console.print(t)
    console.print(f"Punteggio {ev.total:.2f}/100 – voto [bold]{ev.grade}[/] ({ev.grade_label})")
    for nc in ev.non_compliance:
        console.print(f"[red]non conforme:[/] {escape(nc)}")
    console.print(f"Mezzi pesanti: {fr.heavy_per_day:,.1f}/giorno, {fr.heavy_per_year:,.0f}/anno "
                  f"(stima {fr.status}: {fr.reference})")
    if site is not None:
        console.print(f"Sito: {escape(site['reason'])}")
    console.print(f"Esito: [bold]{verdict}[/]")


@production_app.command("freight")
def freight_cmd(gfa: float = typer.Option(..., help="superficie lorda di pavimento (m²)"),
                category: str = typer.Option(..., help="categoria della tassonomia"),
                route: list[str] = typer.Option([], help="ISTAT=QUOTA dei mezzi pesanti per comune attraversato")):
    """Stima dei viaggi di mezzi pesanti generati (usata dal bilancio delle diffusività)."""
    from .freight import truck_trips
    shares = {}
    for item in route:
        k, _, v = item.partition("=")
        shares[k] = float(v)
    fr = _run(lambda: truck_trips(gfa, category, route_shares=shares or None))
    for k, v in fr.as_dict().items():
        console.print(f"{k}: {v}")


@production_app.command("params")
def params_cmd(name: str = typer.Argument("pole_rules", help="taxonomy, source_classes, ateco_map, pole_rules, "
                                                             "constraints, suitability_weights, evaluation_criteria, "
                                                             "grades, freight_rates, size_classes")):
    """Mostra una tabella di parametri con i riferimenti e lo stato di ogni valore."""
    from . import params
    df = _run(lambda: params.table(name))
    first = df.columns[0]
    for _, r in df.iterrows():   # one block per row: the tables are too wide for a terminal
        console.print(f"[bold]{escape(str(r[first]))}[/]")
        for col in df.columns[1:]:
            if str(r[col]):
                console.print(f"  {col}: {escape(str(r[col]))}")


@production_app.command("report")
def report_cmd(kind: str = typer.Argument(..., help="pole | site | proposal"),
               ref: str = typer.Argument(..., help="pole_id del polo, site_id del sito, o file TOML della proposta"),
               out: Path = typer.Option(..., "--out", help="file .html o .pdf"),
               db: Optional[str] = DbOption):
    """Rapporto in italiano (HTML o PDF) per un polo, un sito candidato o una proposta."""
    from . import reports
    kb = _kb(db)
    fn = {"pole": reports.pole_report, "site": reports.site_report, "proposal": reports.proposal_report}.get(kind)
    if fn is None:
        console.print("[red]tipo di rapporto: pole, site o proposal[/]")
        raise typer.Exit(2)
    html = _run(lambda: fn(kb, ref))
    path = reports.save(html, out)
    console.print(f"[green]rapporto scritto[/] {path}")
