"""The `sttm` command line. Foundation commands (`data`, `kb`) live here; each wing registers its
own commands through ``sttm.<wing>.cli.COMMANDS`` (see docs/ARCHITECTURE.md)."""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .config import default_db
from .reports.render import it_number

app = typer.Typer(help="sttm — Strategie Tematico-Territoriali Metropolitane, Città metropolitana di Milano",
                  no_args_is_help=True, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Registro degli open data: elenco, scaricamento, verifica", no_args_is_help=True)
kb_app = typer.Typer(help="Sistema delle conoscenze: costruzione, catalogo, versioni, import/export",
                     no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(kb_app, name="kb")
console = Console()

DbOption = typer.Option(None, "--db", help="knowledge base: a .gpkg path or a postgresql:// URL (default: STTM_DB "
                                           "or var/sttm.gpkg)")

#: wings that contribute commands; a wing not written yet is simply absent
WING_CLI_MODULES = ["sttm.web.cli", "sttm.services.cli", "sttm.sustainability.cli",
                    "sttm.production.cli", "sttm.equalization.cli", "sttm.procedures.cli"]


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]Errore:[/] {exc}")
    raise typer.Exit(2)


def _kb(db: str | None):
    from .knowledge import open_kb
    return open_kb(db or default_db())


# ------------------------------------------------------------------ data
@data_app.command("list")
def data_list():
    """Elenca i dataset del registro con origine, licenza e annata."""
    from . import opendata
    t = Table("id", "titolo", "licenza", "annata", "file")
    for ds in opendata.datasets().values():
        t.add_row(ds.id, ds.title, ds.licence, ds.vintage, str(len(ds.paths)))
    console.print(t)


@data_app.command("verify")
def data_verify(ids: list[str] = typer.Argument(None, help="dataset ids (default: all)"),
                mirror: Optional[Path] = typer.Option(None, help="mirror folder (default STTM_DATA_MIRROR)")):
    """Verifica presenza e checksum sha256 dei file (dal mirror o dalla cache)."""
    from . import opendata
    bad = 0
    for ds_id in ids or list(opendata.datasets()):
        try:
            paths = opendata.resolve(ds_id, mirror=mirror)
            console.print(f"[green]ok[/] {ds_id}: {', '.join(str(p) for p in paths)}")
        except opendata.DatasetError as exc:
            bad += 1
            console.print(f"[red]ERRORE[/] {exc}")
    if bad:
        raise typer.Exit(1)


@data_app.command("fetch")
def data_fetch(ids: list[str] = typer.Argument(None, help="dataset ids (default: all)"),
               mirror: Optional[Path] = typer.Option(None)):
    """Procura i file: dal mirror se presente, altrimenti li scarica dall'origine nella cache."""
    from . import opendata
    bad = 0
    for ds_id in ids or list(opendata.datasets()):
        try:
            opendata.resolve(ds_id, mirror=mirror, download=True)
            console.print(f"[green]ok[/] {ds_id}")
        except opendata.DatasetError as exc:
            bad += 1
            console.print(f"[red]ERRORE[/] {exc}")
    if bad:
        raise typer.Exit(1)


# ------------------------------------------------------------------ kb
@kb_app.command("build")
def kb_build(db: Optional[str] = DbOption,
             zones: Optional[Path] = typer.Option(None, help="CSV com_istat_code,zona_omogenea replacing the staged "
                                                             "(partial) zone membership"),
             roles: Optional[Path] = typer.Option(None, help="CSV istat_code,role (central_city|attractor_pole)"),
             mirror: Optional[Path] = typer.Option(None, help="data mirror folder (default STTM_DATA_MIRROR)"),
             force: bool = typer.Option(False, help="rebuild even if the inputs did not change")):
    """Costruisce il sistema delle conoscenze dagli open data (una transazione per strato)."""
    from .territory import build_territory
    try:
        kb = _kb(db)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task("strati del territorio", total=8)
            report = build_territory(kb, zones_csv=zones, roles_csv=roles, mirror=mirror, force=force,
                                     progress=lambda name: progress.update(task, advance=1, description=name))
    except Exception as exc:  # noqa: BLE001 - every failure is reported, and the KB is untouched
        _fail(exc)
    console.print(f"Caricati (nuova versione): {', '.join(report.loaded) or '—'}")
    console.print(f"Invariati: {', '.join(report.unchanged) or '—'}")
    console.print(f"Sistema delle conoscenze: {kb}")


@kb_app.command("layers")
def kb_layers(db: Optional[str] = DbOption):
    """Catalogo: strati con titolo, fonte, licenza, annata, versione e numero di oggetti."""
    kb = _kb(db)
    t = Table("strato", "titolo", "oggetti", "versione", "fonte", "licenza", "aggiornato", "da")
    for e in kb.layers():
        t.add_row(e["name"], e["title"], str(e["feature_count"]), str(e["current_version"]), e["source"],
                  e["licence"], str(e["updated_at"])[:19], e["loaded_by"])
    console.print(t)


@kb_app.command("info")
def kb_info(db: Optional[str] = DbOption, layer: Optional[str] = typer.Argument(None),
            as_json: bool = typer.Option(False, "--json")):
    """Riepilogo del sistema delle conoscenze (o la scheda di catalogo di uno strato)."""
    from .territory import territory_summary
    kb = _kb(db)
    if layer:
        try:
            e = kb.catalog_entry(layer)
        except Exception as exc:  # noqa: BLE001
            _fail(exc)
        e = {k: (str(v) if not isinstance(v, (int, float, type(None))) else v) for k, v in e.items()}
        e["schema"] = json.loads(e.pop("schema_json"))
        console.print_json(json.dumps(e, ensure_ascii=False, default=str))
        return
    entries = kb.layers()
    summary = territory_summary(kb) if kb.has_layer("municipalities") else {}
    if as_json:
        print(json.dumps({"backend": kb.backend, "layers": {e["name"]: e["feature_count"] for e in entries},
                          "territory": summary}, ensure_ascii=False, indent=1))
        return
    console.print(f"[bold]Sistema delle conoscenze[/] — {kb}")
    t = Table("strato", "oggetti", "versione", "CRS", "aggiornato")
    for e in entries:
        t.add_row(e["name"], it_number(e["feature_count"]), str(e["current_version"]),
                  e["crs"] or "(tabella)", str(e["updated_at"])[:19])
    console.print(t)
    if summary:
        fmt = it_number
        console.print(f"Comuni: {summary['municipalities']}   Residenti ANPR 2025: {fmt(summary['residents_anpr_2025'])}"
                      f"   di cui Milano: {fmt(summary['milano_residents'])}")
        console.print(f"Zone omogenee: {summary['zone_assigned']} comuni assegnati, "
                      f"[bold yellow]{summary['zone_unassigned']} non assegnati[/] (appartenenza non nota: "
                      f"fornire un CSV con `sttm kb build --zones FILE`) — "
                      + ", ".join(f"{k} {v}" for k, v in summary["zones"].items()))
        console.print("Ruoli policentrici: " + ", ".join(f"{k} {v}" for k, v in summary["roles"].items())
                      + " (poli attrattori PROVVISORI, da verificare con PTM art. 25)")
        if "stations" in summary:
            s = summary["stations"]
            console.print(f"Stazioni: {s['total']} (in CMM {s['in_cmm']}; ferrovia {s.get('rail', 0)}, "
                          f"metropolitana {s.get('metro', 0)})")
        if "services" in summary:
            console.print("Servizi: " + ", ".join(f"{k} {v}" for k, v in summary["services"].items())
                          + " (impianti sportivi solo Comune di Milano)")


@kb_app.command("history")
def kb_history(layer: str, db: Optional[str] = DbOption):
    """Versioni di uno strato."""
    kb = _kb(db)
    try:
        h = kb.history(layer)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    t = Table("versione", "creata", "da", "oggetti", "aggiunti", "rimossi", "modificati", "nota")
    for _, r in h.iterrows():
        t.add_row(str(r["version"]), str(r["created_at"])[:19], r["loaded_by"], str(r["feature_count"]),
                  str(r["added"]), str(r["removed"]), str(r["changed"]), r["note"])
    console.print(t)


@kb_app.command("diff")
def kb_diff(layer: str, v1: int, v2: int, db: Optional[str] = DbOption):
    """Oggetti aggiunti, rimossi e modificati tra due versioni (per chiave stabile)."""
    kb = _kb(db)
    try:
        d = kb.diff(layer, v1, v2)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    console.print(f"[bold]{layer}[/] v{v1} → v{v2}: {len(d.added)} aggiunti, {len(d.removed)} rimossi, "
                  f"{len(d.changed)} modificati")
    for k in d.added:
        console.print(f"  [green]+ {k}[/]")
    for k in d.removed:
        console.print(f"  [red]- {k}[/]")
    for k, fields in d.changed.items():
        console.print(f"  [yellow]~ {k}[/] ({', '.join(fields)})")


@kb_app.command("export")
def kb_export(layer: str, path: Path, db: Optional[str] = DbOption,
              version: Optional[int] = typer.Option(None), crs: Optional[str] = typer.Option(None)):
    """Esporta uno strato in GeoPackage, GeoJSON, CSV o GeoParquet (dall'estensione del file)."""
    from .knowledge.io import export_layer
    try:
        out = export_layer(_kb(db), layer, path, version=version, crs=crs)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    console.print(f"Scritto {out}")


@kb_app.command("import")
def kb_import(path: Path, layer: str, key: str = typer.Option(..., help="campo chiave stabile"),
              db: Optional[str] = DbOption, title: Optional[str] = typer.Option(None),
              licence: str = typer.Option("", help="licenza dei dati"), vintage: str = typer.Option(""),
              source_layer: Optional[str] = typer.Option(None, help="strato nel file (GeoPackage con più strati)"),
              x: Optional[str] = typer.Option(None, help="CSV: colonna X/longitudine"),
              y: Optional[str] = typer.Option(None, help="CSV: colonna Y/latitudine"),
              crs: Optional[str] = typer.Option(None, help="CRS se il file non lo dichiara, es. EPSG:32632")):
    """Importa un file dell'utente (GeoPackage, GeoJSON, Shapefile zip, CSV con coordinate) in uno strato."""
    from .knowledge.io import import_file
    try:
        res = import_file(_kb(db), path, layer, key=key, title=title, licence=licence, vintage=vintage,
                          source_layer=source_layer, x=x, y=y, crs=crs)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    if res.changed:
        console.print(f"Strato {layer}: versione {res.version} ({len(res.diff.added)} aggiunti, "
                      f"{len(res.diff.removed)} rimossi, {len(res.diff.changed)} modificati)")
    else:
        console.print(f"Strato {layer}: contenuto invariato (versione {res.version})")


@kb_app.command("map")
def kb_map(layer: str, scale: str = typer.Option("comune", help="comune | zona | cmm"),
           value: Optional[str] = typer.Option(None, help="numeric column to sum (default: count features)"),
           where: list[str] = typer.Option([], help="filter column=value (repeatable)"),
           version: Optional[int] = typer.Option(None, help="a past version of the layer"),
           out: Optional[Path] = typer.Option(None, help="write the map: .svg, .html or .pdf"),
           db: Optional[str] = DbOption):
    """Mappa dinamica di uno strato per comune, zona omogenea o CMM (conteggi, somme, per 1.000 ab.)."""
    from .knowledge.scales import at_scale, choropleth_svg, per_municipality
    try:
        filters = dict(w.split("=", 1) for w in where)
        table = at_scale(per_municipality(_kb(db), layer, value=value, version=version, where=filters), scale)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    column = "value_sum" if value else "count"
    t = Table("unità", "oggetti", *(["somma " + value] if value else []), "per 1.000 ab.")
    for _, r in table.sort_values(column, ascending=False).head(40).iterrows():
        t.add_row(str(r["unit"]), str(r["count"]), *([f"{r['value_sum']:,.1f}"] if value else []),
                  f"{r['per_1000']:.2f}")
    console.print(t)
    if out:
        title = f"{layer} — {'somma di ' + value if value else 'numero di oggetti'} per {scale}"
        svg = choropleth_svg(table, column, title)
        if out.suffix.lower() == ".svg":
            out.write_text(svg, encoding="utf-8")
        else:
            from .reports import render_html, write_pdf
            html = render_html("sttm.reports", "map_sheet.html.j2", {"title": title, "svg": svg, "layer": layer,
                                                                        "scale": scale, "version": version})
            if out.suffix.lower() == ".pdf":
                write_pdf(html, out)
            else:
                out.write_text(html, encoding="utf-8")
        console.print(f"Scritto {out}")


# ------------------------------------------------------------------ wings
def _register_wings() -> None:
    for mod_name in WING_CLI_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name and (mod_name == exc.name or mod_name.startswith(exc.name + ".")):
                continue  # the wing is not there (yet)
            raise
        for name, sub in getattr(mod, "COMMANDS", {}).items():
            if isinstance(sub, typer.Typer):
                app.add_typer(sub, name=name)
            else:
                app.command(name)(sub)


def main() -> None:
    _register_wings()
    app()


if __name__ == "__main__":
    sys.exit(main())
