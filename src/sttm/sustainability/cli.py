"""``sttm nbs …`` — STTM 1: NBS catalogue, norm sheets (floods & drought, heat island), raster engine."""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

nbs_app = typer.Typer(help="STTM 1 – soluzioni basate sulla natura: catalogo NBS, schede norma (alluvioni e "
                           "siccità; isola di calore), motore raster (deflusso SCS-CN, raffrescamento urbano)",
                      no_args_is_help=True)
COMMANDS = {"nbs": nbs_app}
console = Console()
DbOption = typer.Option(None, "--db", help="sistema delle conoscenze (.gpkg o postgresql://), default STTM_DB")
ParamsOption = typer.Option(None, "--params", help="file TOML che sostituisce parametri (stesse chiavi di "
                                                   "data/params.toml)")


def _kb(db):
    from sttm.config import default_db
    from sttm.knowledge import open_kb
    return open_kb(db or default_db())


def _run(fn):
    from sttm.knowledge import KnowledgeError

    from .catalogue import CatalogueError
    from .hydrology import HydrologyError
    from .kb import ContextError
    from .params import ParamError
    from .raster import RasterInputError
    from .surfaces import SiteInputError
    try:
        return fn()
    except (SiteInputError, HydrologyError, RasterInputError, CatalogueError, ParamError, ContextError,
            KnowledgeError) as exc:
        console.print(f"[bold red]Errore nei dati in ingresso:[/] {escape(str(exc))}")
        raise typer.Exit(2)


@nbs_app.command("catalogue")
def catalogue_cmd(sheet: Optional[str] = typer.Option(None, help="flood | heat"),
                  sources: bool = typer.Option(False, "--sources", help="mostra ogni valore con fonte e stato"),
                  csv: Optional[Path] = typer.Option(None, "--csv", help="esporta la tabella lunga in CSV")):
    """Catalogo delle NBS con i parametri delle schede (e la fonte di ogni valore)."""
    from .catalogue import load_catalogue

    cat = _run(load_catalogue)
    if csv:
        cat.table.to_csv(csv, index=False)
        console.print(f"[green]scritto[/] {csv}")
        return
    if sources:
        t = Table("NBS", "parametro", "valore", "unità", "fonte", "stato")
        for _, r in cat.table.iterrows():
            if sheet and sheet not in cat[r["nbs_id"]].sheets:
                continue
            t.add_row(r["nbs_id"], r["parameter"], r["value"], r["unit"], r["source"], r["status"])
        console.print(t)
        return
    t = Table("id", "nome", "tipo", "φ", "CN A/B/C/D", "invaso mm", "infiltr. mm/h", "ombra", "albedo", "Kc",
              "€/m²", title="Catalogo NBS — STTM 1")
    for n in cat.values():
        if sheet and sheet not in n.sheets:
            continue
        v = n.params
        t.add_row(n.nbs_id, n.name_it, n.kind, f"{v['runoff_coeff']:.2f}",
                  "/".join(f"{v['cn_' + g]:.0f}" for g in "ABCD"), f"{v['storage_depth_mm']:.0f}",
                  f"{v['infiltration_rate_mm_h']:.0f}", f"{v['shade']:.2f}", f"{v['albedo']:.2f}",
                  f"{v['kc']:.2f}", f"{v['cost_eur_m2']:.0f}")
    console.print(t)


@nbs_app.command("params")
def params_cmd(params: Optional[Path] = ParamsOption):
    """Parametri delle regole con valore, fonte e stato (verificato, secondario, non verificato…)."""
    from .params import load_params

    p = _run(lambda: load_params(params))
    t = Table("chiave", "valore", "unità", "stato", "fonte")
    for k, v in p.items():
        style = "yellow" if v.status in ("unverified", "user_override") else None
        t.add_row(k, str(v.value), v.unit, v.status, v.source, style=style)
    console.print(t)


@nbs_app.command("example")
def example_cmd(sheet: str = typer.Argument(..., help="flood | heat")):
    """Stampa un file di esempio per descrivere un intervento (TOML)."""
    from .siteio import EXAMPLES

    if sheet not in EXAMPLES:
        console.print("[red]usa flood oppure heat[/]")
        raise typer.Exit(2)
    typer.echo(EXAMPLES[sheet])


def _sheet(kind: str, site_file: Path, db, params_file, html, pdf, save, as_json, sheet_id):
    from .flood import evaluate_flood
    from .heat import evaluate_heat
    from .kb import save_sheet, site_context
    from .params import load_params
    from .report import render_sheet, write_sheet_pdf
    from .siteio import flood_site, heat_site, read_site_file

    def go():
        d = read_site_file(site_file)
        params = load_params(params_file)
        kb = None
        ctx = {}
        if d.get("istat_code") or save:
            kb = _kb(db)
        if d.get("istat_code"):
            ctx = site_context(kb, d["istat_code"])
        if kind == "flood":
            site, notes = flood_site(d, ctx, str(site_file))
            result = evaluate_flood(site, params)
        else:
            site, notes = heat_site(d, ctx, str(site_file))
            result = evaluate_heat(site, params)
        return kb, result, notes

    kb, result, notes = _run(go)
    if as_json:
        typer.echo(json.dumps(result, indent=1, default=str))
    else:
        _print_sheet(result, notes)
    if html:
        html.write_text(render_sheet(result, notes), encoding="utf-8")
        console.print(f"[green]scritto[/] {html}")
    if pdf:
        with console.status("PDF…"):
            write_sheet_pdf(result, pdf, notes)
        console.print(f"[green]scritto[/] {pdf}")
    if save:
        wr = _run(lambda: save_sheet(kb, result, sheet_id))
        console.print(f"[green]scritto[/] nbs_sheets versione {wr.version}" + ("" if wr.changed else " (invariato)"))


def _print_sheet(r: dict, notes: list[str]) -> None:
    console.rule(f"Scheda {'alluvioni e siccità' if r['sheet'] == 'flood' else 'isola di calore'} — {r['site']['name']}")
    for n in notes:
        console.print(f"[cyan]nota[/] {escape(n)}")
    t = Table("grandezza", "ante", "post")
    s1, s3 = r["step1"], r["step3"]
    if r["sheet"] == "flood":
        inv = s3["invariance"]
        t.add_row("impermeabilizzazione", f"{s1['imperviousness_before']:.0%}", f"{s3['imperviousness_after']:.0%}")
        t.add_row(f"deflusso SCS-CN ({s3['design_storm_mm']:.1f} mm) m³", f"{s3['runoff_cn_before_m3']:.1f}",
                  f"{s3['runoff_cn_net_after_m3']:.1f}")
        t.add_row("deflusso φ m³", f"{s3['runoff_phi_before_m3']:.1f}", f"{s3['runoff_phi_after_m3']:.1f}")
        t.add_row("ricarica falda m³/anno", f"{s3['recharge_before_m3_yr']:.0f}", f"{s3['recharge_after_m3_yr']:.0f}")
        t.add_row("RIE", f"{s3['rie_before']:.2f}", f"{s3['rie_after']:.2f}")
        t.add_row(f"invarianza: richiesto (classe {s1['criticality_class']}) / garantito m³",
                  f"{inv['required_m3']:.1f}", f"{s3['provided_m3']:.1f}")
    else:
        t.add_row("CC", f"{s1['cc_before']:.3f}", f"{s3['cc_after']:.3f}")
        t.add_row("HMI", f"{s1['hm_before']:.3f}", f"{s3['hm_after']:.3f}")
        t.add_row("T aria °C", f"{s1['t_air_before']:.2f}", f"{s3['t_air_after']:.2f}")
        t.add_row("chioma", f"{s1['canopy_share_before']:.0%}", f"{s3['canopy_share_after']:.0%}")
    console.print(t)
    console.print(f"[bold]{escape(r['verdict']['text_it'])}[/]")


@nbs_app.command("context")
def context_cmd(db: Optional[str] = DbOption, params: Optional[Path] = ParamsOption,
                save: bool = typer.Option(False, "--save", help="scrive il layer nbs_flood_context"),
                csv: Optional[Path] = typer.Option(None, "--csv")):
    """Contesto della scheda 1 per tutti i comuni: classe, LSPP, volume di invarianza per ha impermeabile."""
    from .kb import flood_context_by_municipality, save_flood_context
    from .params import load_params

    kb = _kb(db)
    gdf = _run(lambda: flood_context_by_municipality(kb, load_params(params)))
    t = Table("comune", "classe", "h(1h) mm", "D_w h", "sole piogge m³/ha", "minimo m³/ha", "richiesto m³/ha",
              "pericolosità", title="Invarianza idraulica per ettaro impermeabile (T da parametri)")
    for _, r in gdf.sort_values("required_m3_ha", ascending=False).head(20).iterrows():
        f = (lambda v, d=1: "—" if v is None or v != v else f"{v:.{d}f}")
        t.add_row(r["name"], str(r["criticality_class"]), f(r["h_1h_mm"]), f(r["critical_duration_h"], 2),
                  f(r["rainfall_curve_m3_ha"], 0), f(r["min_volume_m3_ha"], 0), f(r["required_m3_ha"], 0),
                  r["flood_hazard_class"])
    console.print(t)
    n_missing = int((~gdf["lspp_complete"].astype(bool)).sum())
    console.print(f"{len(gdf)} comuni; {n_missing} senza LSPP completa (parametri imputati nella fonte: vanno "
                  "inseriti a mano nella scheda)")
    if csv:
        gdf.drop(columns="geometry").to_csv(csv, index=False)
        console.print(f"[green]scritto[/] {csv}")
    if save:
        wr = _run(lambda: save_flood_context(kb, gdf))
        console.print(f"[green]scritto[/] nbs_flood_context versione {wr.version}" + ("" if wr.changed else " (invariato)"))


SaveOpt = typer.Option(False, "--save", help="scrive l'esito nel sistema delle conoscenze (layer nbs_sheets)")


@nbs_app.command("flood")
def flood_cmd(site_file: Path = typer.Argument(..., help="descrizione dell'intervento (TOML/JSON; vedi "
                                                          "`sttm nbs example flood`)"),
              db: Optional[str] = DbOption, params: Optional[Path] = ParamsOption,
              html: Optional[Path] = typer.Option(None, help="rapporto HTML"),
              pdf: Optional[Path] = typer.Option(None, help="rapporto PDF"),
              save: bool = SaveOpt, as_json: bool = typer.Option(False, "--json"),
              sheet_id: Optional[str] = typer.Option(None, help="identificativo della scheda")):
    """Scheda norma 1: alluvioni e siccità (invarianza idraulica, deflusso, ricarica, RIE)."""
    _sheet("flood", site_file, db, params, html, pdf, save, as_json, sheet_id)


@nbs_app.command("heat")
def heat_cmd(site_file: Path = typer.Argument(..., help="descrizione dell'intervento (TOML/JSON; vedi "
                                                         "`sttm nbs example heat`)"),
             db: Optional[str] = DbOption, params: Optional[Path] = ParamsOption,
             html: Optional[Path] = typer.Option(None), pdf: Optional[Path] = typer.Option(None),
             save: bool = SaveOpt, as_json: bool = typer.Option(False, "--json"),
             sheet_id: Optional[str] = typer.Option(None)):
    """Scheda norma 2: isola di calore (metodo InVEST Urban Cooling, chioma necessaria per l'obiettivo)."""
    _sheet("heat", site_file, db, params, html, pdf, save, as_json, sheet_id)


def _raster_common(out: Path | None, save: bool, db, run_id, model, grid, arrays, stats, inputs, write):
    from .kb import save_raster_results, zonal_by_municipality
    from .raster import write_geotiff

    if out:
        out.mkdir(parents=True, exist_ok=True)
        for name in write:
            write_geotiff(out / f"{name}.tif", arrays[name], grid)
        console.print(f"[green]scritti[/] {', '.join(n + '.tif' for n in write)} in {out}")
    if save:
        kb = _kb(db)
        table = _run(lambda: zonal_by_municipality(kb, grid, arrays, stats))
        wr = _run(lambda: save_raster_results(kb, run_id, model, table, inputs))
        console.print(f"[green]scritto[/] nbs_raster_results versione {wr.version}: {len(table)} comuni")
        t = Table("comune", *[f"{k} ({v})" for k, v in stats.items()])
        for _, r in table.head(15).iterrows():
            t.add_row(r["municipality"], *[f"{r[f'{k}_{v}']:.3f}" if r[f"{k}_{v}"] is not None else "—"
                                          for k, v in stats.items()])
        console.print(t)


@nbs_app.command("runoff")
def runoff_cmd(lulc: Path = typer.Argument(..., help="uso del suolo: raster .tif o vettoriale DUSAF (GPKG/SHP)"),
               field: str = typer.Option("COD_TOT", help="campo del codice (se vettoriale)"),
               cell: float = typer.Option(10.0, help="passo della griglia in m (se vettoriale)"),
               rain_mm: float = typer.Option(..., "--rain-mm", help="pioggia di progetto (mm)"),
               soil: Optional[Path] = typer.Option(None, help="raster dei gruppi idrologici 1–4 (A–D)"),
               soil_group: str = typer.Option("B", help="gruppo unico se manca il raster"),
               table: str = typer.Option("dusaf", help="dusaf | generic | tabella CSV (lucode, cn_a…cn_d)"),
               out: Optional[Path] = typer.Option(None, help="cartella per i GeoTIFF di uscita"),
               save: bool = typer.Option(False, "--save", help="statistiche per comune nel sistema delle conoscenze"),
               db: Optional[str] = DbOption):
    """Deflusso e ritenzione SCS-CN su raster (metodo InVEST Urban Flood Risk Mitigation)."""
    from .raster import curve_number_runoff, load_landcover_table, read_landcover, read_raster

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as pr:
        task = pr.add_task("lettura raster", total=None)
        grid = _run(lambda: read_landcover(lulc, field, cell))
        sg = _run(lambda: read_raster(soil)) if soil else soil_group
        tb = _run(lambda: load_landcover_table(table))
        pr.update(task, description="deflusso SCS-CN")
        res = _run(lambda: curve_number_runoff(grid, sg, tb, rain_mm))
    console.print(f"deflusso totale {res['total_runoff_m3']:,.0f} m³, ritenzione {res['total_retention_m3']:,.0f} m³")
    run_id = f"runoff-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
    _raster_common(out, save, db, run_id, "scs_cn_runoff", grid, res,
                   {"runoff_m3": "sum", "retention_m3": "sum", "q_mm": "mean"},
                   {"lulc": str(lulc), "soil": str(soil or soil_group), "table": table, "rain_mm": rain_mm},
                   ["cn", "q_mm", "runoff_m3", "retention_index", "retention_m3"])


@nbs_app.command("cooling")
def cooling_cmd(lulc: Path = typer.Argument(..., help="uso del suolo: raster .tif o vettoriale DUSAF (GPKG/SHP)"),
                field: str = typer.Option("COD_TOT", help="campo del codice (se vettoriale)"),
                cell: float = typer.Option(10.0, help="passo della griglia in m (se vettoriale)"),
                t_ref: Optional[float] = typer.Option(None, help="temperatura rurale di riferimento °C"),
                uhi_max: Optional[float] = typer.Option(None, help="intensità massima dell'isola di calore °C"),
                et0: Optional[Path] = typer.Option(None, help="raster ET0 allineato (altrimenti uniforme)"),
                cooling_distance: Optional[float] = typer.Option(None, help="distanza di raffrescamento dei parchi m"),
                mixing_radius: Optional[float] = typer.Option(None, help="raggio di miscelazione dell'aria m"),
                table: str = typer.Option("dusaf", help="dusaf | generic | tabella CSV"),
                out: Optional[Path] = typer.Option(None), save: bool = typer.Option(False, "--save"),
                db: Optional[str] = DbOption, params: Optional[Path] = ParamsOption):
    """Modello di raffrescamento urbano su raster (metodo InVEST Urban Cooling): CC, HMI, T aria."""
    from .params import load_params
    from .raster import load_landcover_table, read_landcover, read_raster, urban_cooling

    p = _run(lambda: load_params(params))
    args = dict(t_ref=t_ref if t_ref is not None else p["ucm.t_ref_c"],
                uhi_max=uhi_max if uhi_max is not None else p["ucm.uhi_max_c"],
                green_area_cooling_distance=cooling_distance or p["ucm.green_area_cooling_distance_m"],
                t_air_average_radius=mixing_radius or p["ucm.t_air_average_radius_m"])
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as pr:
        task = pr.add_task("lettura raster", total=None)
        grid = _run(lambda: read_landcover(lulc, field, cell))
        e = _run(lambda: read_raster(et0)) if et0 else None
        tb = _run(lambda: load_landcover_table(table))
        pr.update(task, description="raffrescamento (convoluzioni FFT)")
        res = _run(lambda: urban_cooling(grid, tb, et0=e, weights=(p["ucm.cc_weight_shade"], p["ucm.cc_weight_albedo"],
                                                                   p["ucm.cc_weight_eti"]),
                                         green_area_min_m2=p["ucm.green_area_min_ha"] * 1e4, **args))
    import numpy as np
    console.print(f"HMI medio {np.nanmean(res['hm']):.3f}; T aria media {np.nanmean(res['t_air']):.2f} °C "
                  f"(min {np.nanmin(res['t_air']):.2f}, max {np.nanmax(res['t_air']):.2f})")
    run_id = f"cooling-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
    _raster_common(out, save, db, run_id, "urban_cooling", grid, res,
                   {"cc": "mean", "hm": "mean", "t_air": "mean"},
                   {"lulc": str(lulc), "table": table, "et0": str(et0) if et0 else "uniforme", **args},
                   ["cc", "hm", "t_air"])
