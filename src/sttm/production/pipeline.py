"""Orchestration on the knowledge base: the same calls serve the CLI, the portal and the tests.

Layers read (when present): ``municipalities``, ``stations``, ``services``, ``hazard``,
``opportunity_areas`` and the production wing's own layers. Layers written:

=========================== ============= ====================================================
layer                        key           content
=========================== ============= ====================================================
``productive_areas``         area_id       taxonomy, size, comune, firms, accessibility
``production_brownfields``   bf_id         brownfields / areas under transformation (DUSAF, OSM)
``production_sensitive``     sens_id       residential polygons (sensitive uses) from DUSAF/OSM
``production_roads``         road_id       primary road network (OSM or user lines)
``production_junctions``     junction_id   motorway junctions
``production_constraints``   constraint_id exclusion / attention polygons (dissolved, buffered)
``production_land_status``   land_id       excluded / attention / eligible land per comune
``productive_poles``         pole_id       agglomerations of areas: pole verdict with the reason
``production_sites``         site_id       candidate sites: constraints, factors, suitability
``production_proposals``     proposal_id   evaluation (total, grade) and freight of proposals
=========================== ============= ====================================================
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from . import accessibility, constraints, evaluation, freight, importers, params, poles, suitability
from .errors import ProductionInputError

CRS = "EPSG:32632"
WING = "sttm production"


@dataclass
class Report:
    """What a step wrote, and what it could not use (said plainly to the user)."""
    written: dict = field(default_factory=dict)      # layer -> (version, changed, n)
    not_used: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _meta(title, description, source="utente + sistema delle conoscenze", vintage=""):
    from sttm.knowledge import LayerMeta
    return LayerMeta(title=title, description=description, source=source,
                     licence="secondo le fonti in ingresso", vintage=vintage)


def _write(kb, rep: Report, name: str, gdf, key: str, title: str, description: str, source: str = ""):
    res = kb.write_layer(name, gdf, _meta(title, description, source or "sttm production"), key=key,
                         loaded_by=WING)
    rep.written[name] = (res.version, res.changed, len(gdf))
    return res


def read_optional(kb, name: str, rep: Report | None = None, why: str = ""):
    if kb.has_layer(name):
        df = kb.read_layer(name)
        if len(df):
            return df
    if rep is not None:
        rep.not_used.append(f"strato '{name}' assente o vuoto nel sistema delle conoscenze" + (f": {why}" if why else ""))
    return None


def access_inputs(kb, rep: Report, areas=None, *, roads=None, junctions=None,
                  residential=None, pt_stops=None) -> accessibility.AccessInputs:
    """Everything accessibility can use from the KB (or given: layers of an import not yet written);
    missing layers are reported."""
    if roads is None:
        roads = read_optional(kb, "production_roads", rep,
                              "distanza dalla rete stradale primaria non calcolata (fornire --osm o --roads)")
    if junctions is None:
        junctions = read_optional(kb, "production_junctions", rep,
                                  "distanza dagli svincoli autostradali non calcolata (fornire --osm o --junctions)")
    stations = read_optional(kb, "stations", rep, "accessibilità ferroviaria e forza lavoro non calcolate")
    services = read_optional(kb, "services", rep, "servizi vicini e fasce dalle scuole non calcolati")
    mun = read_optional(kb, "municipalities", rep, "comune e forza lavoro non calcolati")
    sens = sensitive_uses(kb, services, residential)
    if sens is None:
        rep.not_used.append("nessun uso sensibile (residenze, scuole): distanza dagli usi sensibili non calcolata")
    if areas is None:
        areas = read_optional(kb, "productive_areas")
    terminals = accessibility.rail_terminals_from_areas(areas)
    if terminals is None:
        rep.not_used.append("nessun terminal intermodale (categoria intermodal_terminal): accessibilità "
                            "ferroviaria merci non calcolata")
    if pt_stops is None:
        pt_stops = read_optional(kb, "production_pt_stops", rep,
                                 "fermate TPL su gomma non fornite (--pt-stops): si contano solo stazioni "
                                 "ferroviarie e metropolitane")
    return accessibility.AccessInputs(roads=roads, junctions=junctions, stations=stations, services=services,
                                      municipalities=mun, sensitive=sens, rail_terminals=terminals,
                                      pt_stops=pt_stops)


def sensitive_uses(kb, services=None, residential=None):
    parts = []
    res = residential if residential is not None else read_optional(kb, "production_sensitive")
    if res is not None:
        parts.append(res[["geometry"]])
    if services is not None:
        parts.append(services.loc[services["category"] == "school", ["geometry"]])
    parts = [p for p in parts if len(p)]
    if not parts:
        return None
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=CRS)


# ----------------------------------------------------------------------------- import
def run_import(kb, *, pgt=None, pgt_class=None, pgt_id=None, pgt_name=None, dusaf=None, dusaf_code="COD_TOT",
               osm=None, firms=None, firms_crs=None, roads=None, junctions=None, pt_stops=None, class_map=None,
               progress=None) -> Report:
    """Import the user's sources, harmonise, add accessibility and write the layers (all or nothing:
    every input is read and validated before the first write)."""
    rep = Report()
    tick = progress or (lambda msg: None)
    sources, brown, resid = [], [], []
    road_l, junc_l = None, None
    if pgt:
        if not pgt_class:
            raise ProductionInputError("indicare il campo della classe di zona PGT (--pgt-class)", source=str(pgt))
        tick("PGT")
        sources.append(importers.import_pgt(pgt, pgt_class, id_field=pgt_id, name_field=pgt_name,
                                            user_map=class_map))
    else:
        rep.not_used.append("PGT: nessun file di zone produttive fornito (--pgt)")
    if dusaf:
        tick("DUSAF")
        d = importers.import_dusaf(dusaf, code_field=dusaf_code, user_map=class_map)
        sources.append(d.productive)
        brown.append(d.brownfields)
        resid.append(d.residential)
    else:
        rep.not_used.append("DUSAF: nessun file di uso del suolo fornito (--dusaf)")
    if osm:
        tick("OSM")
        o = importers.read_osm(osm)
        sources.append(o.productive)
        brown.append(o.brownfields)
        resid.append(o.residential)
        road_l, junc_l = o.roads, o.junctions
        rep.notes += o.warnings
    else:
        rep.not_used.append("OSM: nessun estratto .osm/.osm.pbf fornito (--osm)")
    if roads:
        road_l = importers.read_vector(roads)
    if junctions:
        junc_l = importers.read_vector(junctions)
    stops_l = None
    if pt_stops:
        stops_l = importers.read_vector(pt_stops).reset_index(drop=True)
        bad = ~stops_l.geom_type.isin(["Point", "MultiPoint"])
        if bad.any():
            raise ProductionInputError("le fermate TPL devono essere punti", source=str(pt_stops), field="geometry",
                                       rows=[int(i) for i in np.flatnonzero(bad.to_numpy())])
        stops_l = gpd.GeoDataFrame({"stop_id": [f"s{i + 1}" for i in range(len(stops_l))]},
                                   geometry=stops_l.geometry.to_numpy(), crs=CRS)
    firm_pts = None
    if firms:
        tick("imprese")
        firm_pts = importers.import_firms(firms, crs=firms_crs)
    else:
        rep.not_used.append("imprese: nessun CSV fornito (--firms): addetti e affinamento delle categorie non calcolati")
    if not sources:
        raise ProductionInputError("nessuna fonte di aree produttive: fornire almeno uno tra --pgt, --dusaf, --osm")
    mun = read_optional(kb, "municipalities", rep, "comune delle aree non assegnato")
    tick("armonizzazione")
    areas = importers.build_productive_areas(sources, firms=firm_pts, municipalities=mun)
    if firm_pts is not None:
        outside = len(firm_pts) - int(areas["n_firms"].sum())
        rep.notes.append(f"imprese: {len(firm_pts)} lette, {outside} fuori dalle aree produttive "
                         f"({int(firm_pts['category'].isna().sum())} con ATECO non produttivo)")
    layers = {}
    if road_l is not None and len(road_l):
        road_l = road_l.reset_index(drop=True)
        road_l["road_id"] = road_l["osm_id"] if "osm_id" in road_l else [f"r{i + 1}" for i in range(len(road_l))]
        keep = [c for c in ("road_id", "highway", "ref", "geometry") if c in road_l]
        layers["production_roads"] = (road_l[keep], "road_id", "Rete stradale primaria",
                                      "Autostrade, strade extraurbane principali e primarie (OSM highway=motorway/"
                                      "trunk/primary o layer dell'utente)")
    if junc_l is not None and len(junc_l):
        junc_l = junc_l.reset_index(drop=True)
        junc_l["junction_id"] = junc_l["osm_id"] if "osm_id" in junc_l else [f"j{i + 1}" for i in range(len(junc_l))]
        keep = [c for c in ("junction_id", "name", "ref", "geometry") if c in junc_l]
        layers["production_junctions"] = (junc_l[keep], "junction_id", "Svincoli autostradali",
                                          "OSM highway=motorway_junction o layer dell'utente")
    b = [x for x in brown if x is not None and len(x)]
    if b:
        bf = pd.concat(b, ignore_index=True)
        bf["bf_id"] = bf["source"] + ":" + bf["source_id"].astype(str)
        layers["production_brownfields"] = (gpd.GeoDataFrame(bf[["bf_id", "source", "source_class", "geometry"]],
                                                             geometry="geometry", crs=CRS), "bf_id",
                                            "Aree dismesse e in trasformazione",
                                            "DUSAF 133/134 e OSM landuse=brownfield")
    r = [x for x in resid if x is not None and len(x)]
    if r:
        rs = pd.concat(r, ignore_index=True)
        rs["sens_id"] = [f"res{i + 1}" for i in range(len(rs))]
        rs["use"] = "residential"
        layers["production_sensitive"] = (gpd.GeoDataFrame(rs[["sens_id", "use", "source", "geometry"]],
                                                           geometry="geometry", crs=CRS), "sens_id",
                                          "Usi sensibili: residenze", "DUSAF 11x e OSM landuse=residential")
    if stops_l is not None and len(stops_l):
        layers["production_pt_stops"] = (stops_l, "stop_id", "Fermate del trasporto pubblico su gomma",
                                         "Fermate bus/tram fornite dall'utente (es. ATM, AgenziaTPL)")
    tick("accessibilità")
    acc = access_inputs(kb, rep, areas, roads=layers.get("production_roads", (None,))[0],
                        junctions=layers.get("production_junctions", (None,))[0],
                        residential=layers.get("production_sensitive", (None,))[0],
                        pt_stops=layers.get("production_pt_stops", (None,))[0])
    areas = accessibility.compute(areas, acc)
    # everything is computed and validated above: only now the layers are written
    given = {"PGT": pgt, "DUSAF": dusaf, "OSM": osm, "imprese": firms, "strade": roads, "svincoli": junctions,
             "fermate": pt_stops}
    source = "; ".join(f"{k}: {Path(v).name}" for k, v in given.items() if v) + \
        "; sistema delle conoscenze: municipalities, stations, services"
    layers["productive_areas"] = (areas, "area_id", "Aree produttive e logistiche (STTM 3)",
                                  "Aree produttive importate da PGT/DUSAF/OSM nella tassonomia STTM 3, con "
                                  "dimensione, comune, imprese e accessibilità (rete primaria, ferrovia, TPL)")
    # one transaction for every layer of the import: all of them, or none
    results = kb.write_layers([(name, gdf, _meta(title, desc, source), key)
                               for name, (gdf, key, title, desc) in layers.items()], loaded_by=WING)
    for res, (gdf, *_rest) in zip(results, layers.values()):
        rep.written[res.layer] = (res.version, res.changed, len(gdf))
    return rep


# ----------------------------------------------------------------------------- constraints
def run_constraints(kb, user_layers: dict[str, str], *, study_layer: str = "municipalities") -> Report:
    rep = Report()
    table = params.table("constraints")
    unknown = sorted(set(user_layers) - set(table["constraint_id"]))
    if unknown:
        raise ProductionInputError(f"strati di vincolo sconosciuti {unknown} (ammessi "
                                   f"{list(table['constraint_id'])})", field="--layer")
    avail = {cid: importers.read_vector(path) for cid, path in user_layers.items()}
    services = read_optional(kb, "services", rep)
    hazard = read_optional(kb, "hazard", rep)
    mun = read_optional(kb, "municipalities", rep)
    resid = read_optional(kb, "production_sensitive")
    cs = constraints.build(avail, services=services, hazard=hazard, municipalities=mun, residential=resid)
    rep.not_used += [f"vincolo non disponibile: {m}" for m in cs.missing]
    rep.notes += cs.notes
    study = read_optional(kb, study_layer)
    if study is None:
        raise ProductionInputError(f"serve lo strato '{study_layer}' nel sistema delle conoscenze (sttm kb build)")
    land = constraints.classify_land(study, cs)
    source = "; ".join(f"{k}: {Path(v).name}" for k, v in user_layers.items()) or "nessuno strato dell'utente"
    source += "; sistema delle conoscenze: services, hazard, municipalities, production_sensitive"
    _write(kb, rep, "production_constraints", cs.layers, "constraint_id",
           "Aree di esclusione e di attenzione (STTM 3)",
           "Inversione pianificatoria: vincoli forniti dall'utente o derivati dal sistema delle conoscenze, "
           "con fasce di rispetto", source)
    _write(kb, rep, "production_land_status", land, "land_id", "Territorio escluso / di attenzione / idoneo",
           "Esito della sovrapposizione dei vincoli per comune (STTM 3)")
    return rep


def load_constraints(kb) -> constraints.ConstraintSet:
    lay = read_optional(kb, "production_constraints")
    if lay is None:
        return constraints.ConstraintSet(constraints.build({}).layers.iloc[0:0],
                                         missing=["tutti: eseguire prima 'sttm production constraints'"])
    return constraints.ConstraintSet(lay)


# ----------------------------------------------------------------------------- poles
def run_poles(kb, rules_path=None, gap_m: float | None = None) -> tuple[Report, gpd.GeoDataFrame]:
    """Group the productive areas into agglomerations and apply the pole rule table to each."""
    rep = Report()
    areas = read_optional(kb, "productive_areas")
    if areas is None:
        raise ProductionInputError("nessuna area produttiva: eseguire prima 'sttm production import'")
    clusters = poles.cluster(areas, gap_m)
    mun = read_optional(kb, "municipalities")
    clusters = importers.assign_municipality(clusters, mun)
    clusters = accessibility.compute(clusters, access_inputs(kb, rep, areas))
    cs = load_constraints(kb)
    rep.not_used += [f"vincoli: {m}" for m in cs.missing]
    share = constraints.flood_share_by_comune(read_optional(kb, "hazard", rep), mun)
    clusters["flood_high_share"] = clusters["istat_code"].map(share).astype(float)
    clusters = constraints.overlay_sites(clusters, cs)
    clusters["size_class"] = importers.size_class(clusters["area_m2"].to_numpy())
    rules = params.table("pole_rules", rules_path) if rules_path else None
    out = poles.recognise(clusters, rules)
    cols = ["pole_id", "members", "n_members", "name", "category", "category_label", "istat_code", "comune",
            "n_comuni", "area_m2", "area_ha", "size_class", "n_firms", "employees", "dist_primary_road_m",
            "dist_motorway_junction_m", "dist_rail_station_m", "pt_stops_800m", "services_1km", "workforce_pt",
            "flood_high_share", "excluded_share", "excluded_by", "attention_by", "verdict", "verdict_label",
            "failed_rules", "reason", "geometry"]
    out = gpd.GeoDataFrame(out[cols], geometry="geometry", crs=CRS)
    rep.notes.append(f"{len(areas)} aree produttive raggruppate in {len(out)} agglomerati "
                     f"(distanza massima {poles_gap(gap_m):g} m)")
    _write(kb, rep, "productive_poles", out, "pole_id", "Poli produttivi di rilevanza sovracomunale (STTM 3)",
           "Esito del riconoscimento per ogni agglomerato di aree produttive esistenti, con la motivazione "
           "(tabella regole pole_rules.csv)")
    return rep, out


def poles_gap(gap_m):
    return params.scalar("pole_cluster_gap_m") if gap_m is None else float(gap_m)


# ----------------------------------------------------------------------------- sites
def run_sites(kb, sites_path, *, id_field=None, name_field=None, grid_path=None, res=25.0) -> tuple[Report, gpd.GeoDataFrame]:
    rep = Report()
    sites = importers.read_vector(sites_path)
    sites = importers._polygons_only(sites.reset_index(drop=True), str(sites_path))
    ids = importers._ids(sites, id_field, str(sites_path))
    sites = gpd.GeoDataFrame({"site_id": ids,
                              "name": sites[name_field].astype(str).to_numpy() if name_field else ids,
                              "brownfield": sites["brownfield"].astype(bool).to_numpy() if "brownfield" in sites
                              else False}, geometry=sites.geometry.to_numpy(), crs=CRS)
    out, rep = assess(kb, sites, rep)
    _write(kb, rep, "production_sites", out, "site_id", "Siti candidati: idoneità (STTM 3)",
           "Esclusione/attenzione e punteggio di idoneità con i pesi di suitability_weights.csv")
    if grid_path:
        g = grid(kb, rep, res)
        g.write(str(grid_path))
        rep.notes.append(f"griglia {res:g} m scritta in {grid_path}: " +
                         ", ".join(f"{k} {v:,.0f}" for k, v in g.stats(res).items()))
    return rep, out


def _brownfields(kb, rep):
    parts = []
    for name in ("production_brownfields", "opportunity_areas"):
        df = read_optional(kb, name, rep, "criterio rigenerazione senza questa fonte")
        if df is not None and hasattr(df, "geometry"):
            parts.append(df[["geometry"]])
    if not parts:
        return None
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=CRS)


def assess(kb, sites: gpd.GeoDataFrame, rep: Report):
    cs = load_constraints(kb)
    rep.not_used += [f"vincoli: {m}" for m in cs.missing]
    acc = access_inputs(kb, rep)
    out = suitability.assess_sites(sites, cs, acc, brownfields=_brownfields(kb, rep),
                                   productive=read_optional(kb, "productive_areas"))
    out = importers.assign_municipality(out, acc.municipalities)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=CRS), rep


def grid(kb, rep: Report, res: float = 25.0) -> suitability.Grid:
    mun = read_optional(kb, "municipalities")
    if mun is None:
        raise ProductionInputError("serve lo strato 'municipalities' (sttm kb build)")
    return suitability.grid(mun, load_constraints(kb), access_inputs(kb, rep), res=res,
                            brownfields=_brownfields(kb, rep), productive=read_optional(kb, "productive_areas"))


# ----------------------------------------------------------------------------- proposals
def run_proposal(kb, proposal_path, *, write=True):
    """Evaluate a proposal file; if it names a site polygon, its suitability too; freight estimate."""
    rep = Report()
    p = evaluation.load_proposal(proposal_path)
    ev = evaluation.evaluate(p)
    fr = freight.truck_trips(float(p["gfa_m2"]), p["category"], route_shares=p.get("route_shares"))
    site = None
    if p.get("site"):
        sg = importers.read_vector(p["site"])
        sg = importers._polygons_only(sg.reset_index(drop=True), p["site"])
        sites = gpd.GeoDataFrame({"site_id": [str(p["id"])], "name": [p["name"]],
                                  "brownfield": [bool(p.get("brownfield", False))]},
                                 geometry=[sg.geometry.union_all()], crs=CRS)
        site, rep = assess(kb, sites, rep)
        site = site.iloc[0]
    else:
        rep.not_used.append("la proposta non indica il poligono del sito ('site'): idoneità localizzativa non valutata")
    verdict = "respinta" if (site is not None and site["verdict"] == "respinta") else (
        "non conforme" if not ev.compliant else "ammissibile")
    if write:
        row = {"proposal_id": str(p["id"]), "name": p["name"], "category": p["category"],
               "gfa_m2": float(p["gfa_m2"]), "site_area_m2": float(p["site_area_m2"]),
               "total": ev.total, "grade": ev.grade, "compliant": ev.compliant,
               "non_compliance": " | ".join(ev.non_compliance), "heavy_trucks_day": fr.heavy_per_day,
               "heavy_trucks_year": fr.heavy_per_year, "suitability": None if site is None else site["suitability"],
               "site_verdict": None if site is None else site["verdict"],
               "site_reason": None if site is None else site["reason"], "verdict": verdict,
               "criteria_json": json.dumps({r.criterion_id: r.value for r in ev.rows}, default=str)}
        df = pd.DataFrame([row])
        if kb.has_layer("production_proposals"):
            old = kb.read_layer("production_proposals")
            df = pd.concat([old[old["proposal_id"] != row["proposal_id"]], df], ignore_index=True)
        _write(kb, rep, "production_proposals", df, "proposal_id", "Proposte insediative valutate (STTM 3)",
               "Tabelle di valutazione (sostenibilità, innovazione), standard minimi, voto finale, stima merci")
    return rep, p, ev, fr, site, verdict
