"""Italian reports (HTML and PDF) for a pole, a candidate site and a proposal.

Rendered with the shared :mod:`sttm.reports` helpers (base template, WeasyPrint, inline SVG maps).
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from sttm.reports import MapLayer, render_html, svg_map, write_pdf

from . import params, pipeline, poles, suitability
from .errors import ProductionInputError

PKG = "sttm.production"


def _map(kb, geom, title: str, radius: float = 3000.0) -> str:
    minx, miny, maxx, maxy = geom.buffer(radius).bounds
    bbox = (minx, miny, maxx, maxy)
    layers = []

    def add(name, **kw):
        df = pipeline.read_optional(kb, name)
        if df is not None and hasattr(df, "geometry"):
            df = df.cx[minx:maxx, miny:maxy]
            if len(df):
                layers.append(MapLayer(df, **kw))
                return df
        return None

    add("municipalities", label="Confini comunali", stroke="#5c6f82", stroke_width=0.8)
    cons = pipeline.read_optional(kb, "production_constraints")
    if cons is not None and len(cons):
        for kind, fill, label in (("exclusion", "#d9364f", "Aree di esclusione"),
                                  ("attention", "#f0a020", "Aree di attenzione")):
            sub = cons[cons["kind"] == kind]
            if len(sub):
                layers.append(MapLayer(sub, label=label, fill=fill, stroke="none", opacity=0.35))
    add("productive_areas", label="Aree produttive", fill="#9aa7b4", stroke="#5c6f82", opacity=0.8)
    add("production_roads", label="Rete stradale primaria", stroke="#a0522d", stroke_width=1.6)
    layers.append(MapLayer(gpd.GeoDataFrame(geometry=[geom], crs="EPSG:32632"), label=title, fill="#0066cc",
                           stroke="#004080", stroke_width=1.5, opacity=0.85))
    st = add("stations", label="Stazioni", fill="#ffffff", stroke="#004080", radius=3)
    del st
    add("production_junctions", label="Svincoli autostradali", fill="#a0522d", stroke="#ffffff", radius=4)
    return svg_map(layers, width=640, height=520, bbox=bbox, title=title)


def _row(kb, layer: str, key: str, value: str):
    df = pipeline.read_optional(kb, layer)
    if df is None:
        raise ProductionInputError(f"strato '{layer}' assente: eseguire prima il comando che lo produce")
    if key not in df.columns:
        raise ProductionInputError(f"lo strato '{layer}' non ha il campo {key!r}: rieseguire il comando che lo produce")
    hit = df[df[key].astype(str) == str(value)]
    if hit.empty:
        raise ProductionInputError(f"{key} {value!r} non trovato nello strato '{layer}'", field=key)
    return hit.iloc[0]


def pole_report(kb, pole_id: str) -> str:
    r = _row(kb, "productive_poles", "pole_id", pole_id)
    ev = poles.evaluate_area(r)
    return render_html(PKG, "pole.html.j2", {
        "title": f"Polo produttivo – {r['name'] or r['pole_id']}", "a": r, "ev": ev,
        "map_svg": _map(kb, r.geometry, "Area produttiva"),
        "rules_status": params.table("pole_rules")[["rule_id", "reference", "status", "note"]].to_dict("records")})


def site_report(kb, site_id: str) -> str:
    r = _row(kb, "production_sites", "site_id", site_id)
    w = suitability.weights()
    crit = []
    for _, c in w.iterrows():
        s = r.get(f"s_{c['criterion']}")
        crit.append({"label": c["label_it"], "value": r.get(c["field"]), "unit": c.get("unit", ""),
                     "worst": c["worst"], "best": c["best"], "weight": c["weight"],
                     "score": None if s is None or s != s else float(s), "reference": c["reference"]})
    return render_html(PKG, "site.html.j2", {"title": f"Sito candidato – {r['name']}", "s": r, "crit": crit,
                                             "map_svg": _map(kb, r.geometry, "Sito candidato")})


def proposal_report(kb, proposal_path: str) -> str:
    rep, p, ev, fr, site, verdict = pipeline.run_proposal(kb, proposal_path, write=False)
    return render_html(PKG, "proposal.html.j2", {
        "title": f"Proposta insediativa – {p['name']}", "p": p, "ev": ev, "fr": fr, "site": site,
        "verdict": verdict, "not_used": list(dict.fromkeys(rep.not_used)),
        "category_label": params.category_label(p["category"]),
        "map_svg": _map(kb, site.geometry, "Sito della proposta") if site is not None else None})


def save(html: str, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".pdf":
        return write_pdf(html, out)
    out.write_text(html, encoding="utf-8")
    return out
