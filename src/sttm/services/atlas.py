"""The two STTM 2 atlases (Relazione generale §3.2.3): the *Atlante metropolitano dei servizi*
(one sheet per comune, Città centrale and poli urbani attrattori first) and the *Atlante dei LUM*
(one sheet per LUM, metropolitan level first). HTML per sheet plus one PDF per atlas; maps are
inline SVG drawn by sttm (`sttm.reports.svg_map`), no external tiles.

Sheet contexts are built from knowledge-base layers only (`municipalities`, `services`, `hazard`,
`access_by_municipality`, `access_cells`, `lum`, `lum_catchments`, `access_by_lum`,
`opportunity_areas` when present); `sttm access run` and `sttm lum build` must have run.
"""
from __future__ import annotations

import json

import html as _html
import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .pipeline import MISSING_IT, category_specs, params, service_points

ROLE_IT = {"central_city": "Città centrale", "attractor_pole": "Polo urbano attrattore"}
LEVEL_IT = {"metropolitano": "LUM metropolitano", "sovracomunale": "LUM sovracomunale"}
CAT_COLOURS = {"school": "#0066cc", "hospital": "#c02020", "pharmacy": "#00875a", "sport": "#a66300"}
SCORE_CLASSES = [(0.2, "#d7301f"), (0.4, "#fc8d59"), (0.6, "#fdcc8a"), (0.8, "#a1d99b"), (1.01, "#31a354")]
# Services that drive regeneration near the LUM (Relazione generale §3.2.2, "Tipologie di servizio trainanti")
LUM_GUIDANCE = {
    "metropolitano": ["università e formazione superiore", "servizi sanitari e di cura della persona",
                      "spazi della cultura", "servizi alle imprese e formazione continua", "mobilità condivisa (bici, monopattini)"],
    "sovracomunale": ["scuole superiori e asili", "servizi sanitari e familiari", "spazi per associazioni",
                      "aree verdi attrezzate", "mobilità condivisa (bici, monopattini)"],
}


class AtlasInputError(RuntimeError):
    pass


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(s).lower()).strip("-")


def _score_colour(v: float) -> str:
    if not np.isfinite(v):
        return "#e6e9ed"
    return next(c for lim, c in SCORE_CLASSES if v < lim)


def bar_chart(rows: list[tuple[str, float, float | None]], width: int = 330, title: str = "") -> str:
    """Horizontal bars: (label, value 0–1, reference 0–1 or None drawn as a tick). Inline SVG."""
    bar_h, gap, left = 13, 5, 150
    h = len(rows) * (bar_h + gap) + 24
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" font-family="DejaVu Sans, Arial" '
           f'font-size="8.5" role="img" aria-label="{_html.escape(title)}">']
    span = width - left - 40
    for i, (label, v, ref) in enumerate(rows):
        y = 4 + i * (bar_h + gap)
        out.append(f'<text x="{left - 4}" y="{y + 10}" text-anchor="end" fill="#17324d">{_html.escape(label)}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{span}" height="{bar_h}" fill="#eef2f6"/>')
        if v is not None and np.isfinite(v):
            out.append(f'<rect x="{left}" y="{y}" width="{span * max(0, min(1, v)):.1f}" height="{bar_h}" fill="#0066cc"/>')
            out.append(f'<text x="{left + span + 3}" y="{y + 10}" fill="#17324d">{100 * v:.0f}%</text>')
        else:
            out.append(f'<text x="{left + 4}" y="{y + 10}" fill="#5c6f82">n.d.</text>')
        if ref is not None and np.isfinite(ref):
            xr = left + span * max(0, min(1, ref))
            out.append(f'<line x1="{xr:.1f}" x2="{xr:.1f}" y1="{y - 2}" y2="{y + bar_h + 2}" stroke="#c02020" stroke-width="2"/>')
    yl = len(rows) * (bar_h + gap) + 16
    out.append(f'<rect x="{left}" y="{yl - 8}" width="10" height="8" fill="#0066cc"/><text x="{left + 14}" y="{yl}">'
               f'valore locale</text><line x1="{left + 90}" x2="{left + 90}" y1="{yl - 9}" y2="{yl + 1}" stroke="#c02020" '
               f'stroke-width="2"/><text x="{left + 95}" y="{yl}">media CMM</text>')
    out.append("</svg>")
    return "".join(out)


@dataclass
class AtlasData:
    mun: gpd.GeoDataFrame
    acc: pd.DataFrame
    svc: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    blocks: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    lum: gpd.GeoDataFrame | None
    catch: gpd.GeoDataFrame | None
    acc_lum: pd.DataFrame | None
    opp: gpd.GeoDataFrame | None
    hazard: pd.DataFrame | None
    cats: list
    cmm: dict
    notes: list[str]
    approx_note: str
    demand_note: str = ""


def load_atlas_data(kb) -> AtlasData:
    for need, cmd in (("access_by_municipality", "sttm access run"), ("access_cells", "sttm access run"),
                      ("demand_grid", "sttm access run")):
        if not kb.has_layer(need):
            raise AtlasInputError(f"layer {need!r} assente: eseguire prima `{cmd}`")
    mun = kb.read_layer("municipalities")
    acc = pd.DataFrame(kb.read_layer("access_by_municipality").drop(columns="geometry"))
    svcp = service_points(kb.read_layer("services"))
    svc = gpd.GeoDataFrame(svcp, geometry=shapely.points(svcp["x"], svcp["y"]), crs="EPSG:32632")
    stations = kb.read_layer("stations")
    grid = kb.read_layer("demand_grid")
    cells = kb.read_layer("access_cells")[["cell_id", "score_15", "approximate", "time_method"]]
    cells = grid.merge(cells, on="cell_id")
    c = shapely.get_coordinates(shapely.centroid(cells.geometry.values))
    bs = 500.0
    b = pd.DataFrame({"bx": np.floor(c[:, 0] / bs), "by": np.floor(c[:, 1] / bs), "pop": cells["pop"].to_numpy(),
                      "sw": cells["score_15"].fillna(0).to_numpy() * cells["pop"].to_numpy()})
    b = b.groupby(["bx", "by"], as_index=False).sum()
    b = b[b["pop"] > 0]
    blocks = gpd.GeoDataFrame({"score": b["sw"] / b["pop"]},
                              geometry=shapely.box(b["bx"] * bs, b["by"] * bs, (b["bx"] + 1) * bs, (b["by"] + 1) * bs),
                              crs="EPSG:32632")
    blocks["fill"] = [_score_colour(v) for v in blocks["score"]]
    notes = []
    lum = kb.read_layer("lum") if kb.has_layer("lum") else None
    catch = kb.read_layer("lum_catchments") if kb.has_layer("lum_catchments") else None
    if lum is None:
        notes.append("LUM non ancora calcolati: eseguire `sttm lum build`")
    acc_lum = pd.DataFrame(kb.read_layer("access_by_lum")) if kb.has_layer("access_by_lum") else None
    opp = kb.read_layer("opportunity_areas") if kb.has_layer("opportunity_areas") else None
    if opp is not None and opp.crs is not None and opp.crs.to_epsg() != 32632:
        opp = opp.to_crs("EPSG:32632")
    if opp is None:
        notes.append(MISSING_IT["opportunity_areas"])
    hazard = pd.DataFrame(kb.read_layer("hazard")) if kb.has_layer("hazard") else None
    cats = category_specs(svcp["category_key"].unique(), params())
    pop = cells["pop"].to_numpy(float)
    cmm = {"pop": float(pop.sum()), "score_15": float(np.nansum(cells["score_15"] * pop) / pop.sum())}
    acc_cells = kb.read_layer("access_cells")
    for cs in cats:
        t = acc_cells[f"t_{cs.key}"].to_numpy(float)
        ev = np.isfinite(t)
        cmm[f"share_{cs.key}"] = float(pop[ev & (acc_cells[f"n_{cs.key}"].to_numpy() > 0)].sum() / pop[ev].sum()) if ev.any() else np.nan
        cmm[f"t_{cs.key}"] = float((t[ev] * pop[ev]).sum() / pop[ev].sum()) if ev.any() else np.nan
        r = acc_cells[f"r_{cs.key}"].to_numpy(float)
        cmm[f"r_{cs.key}"] = float((r[ev] * pop[ev]).sum() / pop[ev].sum()) if ev.any() else np.nan
    approx = cells["approximate"].mean()
    p = params()
    approx_note = (f"Tempi a piedi ({p['modes']['walk']['speed_kmh']} km/h) calcolati in linea d'aria × "
                   f"{p['straight_line']['detour_factor']:.2f} (fattore di deviazione): valori APPROSSIMATI."
                   if approx > 0.5 else "Tempi calcolati sulla rete pedonale fornita.")
    # public transport: what the accessibility run used, as recorded in the layer's metadata
    transit = json.loads(kb.catalog_entry("access_cells")["extra_json"]).get(
        "transit_it") or "trasporto pubblico: non modellato (nessun feed GTFS fornito)"
    approx_note += " " + transit[:1].upper() + transit[1:].rstrip(".") + "."
    if (cells["method"].astype(str) == "uniform").all():
        demand_note = ("La popolazione è distribuita uniformemente sul territorio comunale (griglia 100 m): nei comuni con "
                       "ampie aree agricole le quote a 15 minuti risultano sottostimate; fornire la superficie "
                       "dell'urbanizzato (es. DUSAF) con `sttm access run --weights` per una distribuzione dasimetrica.")
    else:
        demand_note = "La popolazione è distribuita sulla superficie fornita (metodo dasimetrico, griglia 100 m)."
    return AtlasData(mun, acc, svc, stations, blocks, cells, lum, catch, acc_lum, opp, hazard, cats, cmm, notes,
                     approx_note, demand_note)


def _fit_bbox(bbox, width: int, height: int, n_labels: int):
    """Widen or heighten `bbox` to the drawing area's aspect (svg_map puts a legend of 16 px per
    labelled layer under the map), so that what is clipped for drawing fills the map."""
    draw_h = height - (16 * n_labels + (8 if n_labels else 0))
    minx, miny, maxx, maxy = bbox
    cx, cy, w, h = (minx + maxx) / 2, (miny + maxy) / 2, maxx - minx, maxy - miny
    aspect = width / draw_h
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)



def _svc_layers(svc, MapLayer):
    out = []
    for cat, col in CAT_COLOURS.items():
        d = svc[svc["category"] == cat]
        label = {"school": "scuole", "hospital": "ospedali", "pharmacy": "farmacie", "sport": "impianti sportivi"}[cat]
        out.append(MapLayer(d[["geometry"]], label=label, fill=col, stroke="#fff", stroke_width=0.4, radius=2.6))
    return out


def _map_comune(d: AtlasData, row) -> str:
    from sttm.reports import MapLayer, svg_map

    geom = row.geometry
    minx, miny, maxx, maxy = geom.bounds
    pad = max(maxx - minx, maxy - miny) * 0.08
    bbox = _fit_bbox((minx - pad, miny - pad, maxx + pad, maxy + pad), 680, 470, 8 + (d.opp is not None))
    view = shapely.box(*bbox)

    def clip(g):
        return g.iloc[g.sindex.query(view, predicate="intersects")]

    layers = [
        MapLayer(clip(d.blocks)[["geometry", "fill"]], label="quota di categorie a 15' (blocchi 500 m)", fill="#fdcc8a",
                 stroke="none", stroke_width=0, fill_column="fill", opacity=0.85),
        MapLayer(clip(d.mun)[["geometry", "name"]].clip(view), stroke="#5c6f82", stroke_width=0.8, text_column="name",
                 font_size=7.5),
        MapLayer(gpd.GeoDataFrame(geometry=[geom.boundary], crs="EPSG:32632").clip(view), label="confine comunale",
                 stroke="#17324d", stroke_width=2.2),
    ]
    if d.opp is not None:
        layers.append(MapLayer(clip(d.opp)[["geometry"]], label="aree di opportunità", fill="#7b3294", stroke="#7b3294", opacity=0.6))
    if d.catch is not None:
        layers.append(MapLayer(clip(d.catch[d.catch["kind"] == "r500"])[["geometry"]], label="LUM (raggio 500 m)",
                               fill="none", stroke="#004080", stroke_width=1.2))
    layers += _svc_layers(clip(d.svc), MapLayer)
    layers.append(MapLayer(clip(d.stations)[["geometry"]], label="stazioni e fermate metro", fill="#fff", stroke="#17324d",
                           stroke_width=1.4, radius=3.5))
    return svg_map(layers, width=680, height=470, bbox=bbox, title=f"Mappa di {row['name']}")


def _map_lum(d: AtlasData, row) -> str:
    from sttm.reports import MapLayer, svg_map

    c = row.geometry.centroid
    r = 900.0
    bbox = _fit_bbox((c.x - r, c.y - r, c.x + r, c.y + r), 680, 430, 9 + (d.opp is not None))
    view = shapely.box(*bbox)

    def clip(g):
        return g.iloc[g.sindex.query(view, predicate="intersects")]

    cells = clip(d.cells)
    cells = cells.assign(fill=[_score_colour(v) for v in cells["score_15"]])
    mine = d.catch[d.catch["lum_id"] == row.lum_id]
    layers = [MapLayer(cells[["geometry", "fill"]], label="quota di categorie a 15' (celle 100 m)", fill="#fdcc8a",
                       stroke="none", stroke_width=0, fill_column="fill", opacity=0.8),
              MapLayer(clip(d.mun)[["geometry"]].clip(view), label="confini comunali", stroke="#5c6f82", stroke_width=1.0)]
    if d.opp is not None:
        layers.append(MapLayer(clip(d.opp)[["geometry"]], label="aree di opportunità", fill="#7b3294", stroke="#7b3294", opacity=0.6))
    for kind, lab, w in (("walk15", "bacino pedonale 15'", 1.6), ("r500", "raggio 500 m", 1.4), ("r200", "raggio 200 m", 1.0)):
        m = mine[mine["kind"] == kind]
        if len(m):
            layers.append(MapLayer(m[["geometry"]], label=lab, stroke="#004080", stroke_width=w))
    layers += _svc_layers(clip(d.svc), MapLayer)
    layers.append(MapLayer(clip(d.stations)[["geometry"]], label="stazioni e fermate metro", fill="#fff", stroke="#17324d",
                           stroke_width=1.4, radius=4))
    own = d.stations[d.stations["station_id"].astype(str).isin(str(row.station_ids).split(";"))]
    own = gpd.GeoDataFrame({"name": own["name"].str.title()}, geometry=own.geometry.translate(0, 60), crs=own.crs)
    layers.append(MapLayer(own, stroke="none", fill="none", radius=0, text_column="name", font_size=9))
    return svg_map(layers, width=680, height=430, bbox=bbox, title=f"Mappa del LUM {row['name']}")


def _it(v: float, decimals: int = 0) -> str:
    """Italian decimal comma (thousands with a dot)."""
    return f"{v:,.{decimals}f}".replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")


def _fmt_pct(v):
    return "—" if v is None or not np.isfinite(v) else f"{_it(100 * v)}%"


def comune_context(d: AtlasData, istat: str) -> dict:
    row = d.mun[d.mun["istat_code"] == istat].iloc[0]
    a = d.acc[d.acc["istat_code"] == istat]
    a = a.iloc[0] if len(a) else None
    svc = d.svc[d.svc["istat_code"] == istat]
    rows, bars = [], []
    for cs in d.cats:
        n = int((svc["category_key"] == cs.key).sum())
        share = a[f"share_{cs.key}"] if a is not None else np.nan
        label = cs.label + (" (dati solo per Milano)" if cs.coverage == ("015146",) else
                             f" (dati solo per {', '.join(cs.coverage)})" if cs.coverage else "")
        rows.append({"label": label, "n": n, "t": a[f"t_{cs.key}"] if a is not None else np.nan,
                     "share": share, "cmm_share": d.cmm[f"share_{cs.key}"], "r": a[f"r_{cs.key}"] if a is not None else np.nan,
                     "cmm_r": d.cmm[f"r_{cs.key}"], "per": cs.per, "note": cs.note, "scale": cs.scale})
        bars.append((cs.label[:28], share, d.cmm[f"share_{cs.key}"]))
    lums = []
    if d.lum is not None:
        for lr in d.lum[d.lum["istat_code"] == istat].itertuples():
            lums.append({"lum_id": lr.lum_id, "name": lr.name, "level": LEVEL_IT.get(lr.level, lr.level),
                         "pop500": getattr(lr, "pop_r500", np.nan), "n_st": lr.n_stations})
    opp = None
    if d.opp is not None:
        o = d.opp.iloc[d.opp.sindex.query(row.geometry, predicate="intersects")]
        o = o[o.geometry.intersects(row.geometry)]
        area = o.geometry.intersection(row.geometry).area
        if "area_m2" in o.columns:  # areas registered as points carry their surface
            area = area.where(o.geom_type != "Point", pd.to_numeric(o["area_m2"], errors="coerce").fillna(0))
        opp = {"n": len(o), "ha": float(area.sum() / 1e4) if area.sum() > 0 else None,
               "kinds": o["kind"].value_counts().to_dict() if "kind" in o.columns else {}}
    hz = None
    if d.hazard is not None:
        h = d.hazard[d.hazard["istat_code"] == istat]
        if len(h):
            hz = {"flood_pop_high": h["flood_pop_high"].iloc[0], "flood_pop_high_pct": h["flood_pop_high_pct"].iloc[0],
                  "flood_area_high_km2": h["flood_area_high_km2"].iloc[0]}
    guidance = _guidance_comune(row, rows, lums, hz, a, d)
    under = row.get("under12_istat_2021")
    return {"kind": "comune", "id": istat, "slug": _slug(f"{istat}-{row['name']}"), "title": row["name"],
            "row": row, "role_it": ROLE_IT.get(row.get("role"), "—"), "zone": row.get("zone") or "non assegnata",
            "under12_share": under / row["residents_istat_2021"] if under and row["residents_istat_2021"] else None,
            "demand_note": d.demand_note,
            "score": a["score_15"] if a is not None else np.nan, "cmm": d.cmm, "rows": rows, "lums": lums, "opp": opp,
            "hazard": hz, "guidance": guidance, "map_svg": _map_comune(d, row),
            "chart_svg": bar_chart(bars, title="Quota di residenti a 15 minuti"), "approx_note": d.approx_note,
            "notes": d.notes}


def _guidance_comune(row, rows, lums, hz, a, d) -> list[str]:
    g = []
    if row.get("role") == "central_city":
        g.append("Città centrale (PTM art. 24): sede dei servizi di rango metropolitano; rafforzare l'accessibilità "
                 "dalle zone omogenee con il trasporto pubblico.")
    elif row.get("role") == "attractor_pole":
        g.append("Polo urbano attrattore (PTM art. 25): luogo preferenziale per i servizi di area vasta al servizio "
                 "dei comuni della zona omogenea.")
    weak = [r for r in rows if np.isfinite(r["share"]) and np.isfinite(r["cmm_share"]) and r["share"] < r["cmm_share"] - 0.10]
    for r in sorted((r for r in weak if r["scale"] == "locale"), key=lambda r: r["share"] - r["cmm_share"])[:4]:
        g.append(f"{r['label']}: {_fmt_pct(r['share'])} dei residenti a 15 minuti a piedi, contro {_fmt_pct(r['cmm_share'])} "
                 "della media metropolitana — carenza da considerare nel Piano dei Servizi.")
    supra = [r for r in weak if r["scale"] == "sovracomunale"]
    if supra:
        g.append("Servizi di rango sovracomunale meno raggiungibili a piedi della media ("
                 + ", ".join(f"{r['label']} {_fmt_pct(r['share'])} contro {_fmt_pct(r['cmm_share'])}" for r in supra)
                 + "): verificarne l'accessibilità con il trasporto pubblico e la localizzazione nei LUM.")
    for r in rows:
        if r["per"] == 1 and np.isfinite(r["r"]) and np.isfinite(r["cmm_r"]) and r["r"] < 0.75 * r["cmm_r"]:
            g.append(f"{r['label']}: offerta per bambino (2SFCA {_it(r['r'], 2)}) sotto il 75% della media CMM "
                     f"({_it(r['cmm_r'], 2)}).")
    if lums:
        names = ", ".join(x["name"] for x in lums)
        g.append(f"Localizzare i nuovi servizi sovracomunali preferibilmente nei LUM ({names}), privilegiando le aree "
                 "della rigenerazione entro 500 m dalle fermate (PTM art. 26, 35).")
    else:
        g.append("Nessun LUM nel comune: i servizi sovracomunali vanno orientati verso i LUM e i poli vicini.")
    if hz is not None and hz["flood_pop_high_pct"] and hz["flood_pop_high_pct"] >= 1:
        g.append(f"{_it(hz['flood_pop_high_pct'], 1)}% dei residenti in aree a pericolosità idraulica elevata (ISPRA 2020): "
                 "escludere tali aree dalle nuove localizzazioni di servizi.")
    return g


def lum_context(d: AtlasData, lum_id: str) -> dict:
    row = d.lum[d.lum["lum_id"] == lum_id].iloc[0]
    contents = []
    for kind, lab in (("r200", "entro 200 m"), ("r500", "entro 500 m"), ("walk15", "bacino 15' a piedi")):
        v = row.get(f"pop_{kind}")
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            continue
        contents.append({"label": lab, "residents": v, "under12": row.get(f"under12_{kind}"),
                         "opp_n": row.get(f"opp_n_{kind}"), "opp_ha": (row.get(f"opp_m2_{kind}") or 0) / 1e4})
    svc_rows, bars = [], []
    al = None
    if d.acc_lum is not None:
        x = d.acc_lum[d.acc_lum["lum_id"] == lum_id]
        al = x.iloc[0] if len(x) else None
    for cs in d.cats:
        share = al[f"share_{cs.key}"] if al is not None else np.nan
        svc_rows.append({"label": cs.label, "n200": row.get(f"svc_{cs.key}_r200", 0), "n500": row.get(f"svc_{cs.key}_r500", 0),
                         "t": al[f"t_{cs.key}"] if al is not None else np.nan, "share": share,
                         "cmm_share": d.cmm[f"share_{cs.key}"]})
        bars.append((cs.label[:28], share, d.cmm[f"share_{cs.key}"]))
    st_ids = str(row["station_ids"]).split(";")
    st = d.stations[d.stations["station_id"].astype(str).isin(st_ids)]
    guidance = [f"{LEVEL_IT.get(row['level'], row['level'])} ({row['level_rule']})."]
    guidance.append("Servizi trainanti da privilegiare (Relazione STTM §3.2.2): " + ", ".join(LUM_GUIDANCE.get(row["level"], [])) + ".")
    weak = [r for r in svc_rows if np.isfinite(r["share"]) and r["share"] < 0.5]
    if weak:
        guidance.append("Servizi quotidiani poco accessibili dall'intorno (meno del 50% dei residenti entro 500 m li raggiunge "
                        "in 15 minuti): " + ", ".join(r["label"] for r in weak) + ".")
    if d.opp is None:
        guidance.append("Aree di opportunità non ancora nel sistema delle conoscenze: individuarle (aree dismesse, ambiti "
                        "di trasformazione PGT, aree art. 8bis LR 12/2005) entro 500 m dalle fermate.")
    elif contents and (contents[min(1, len(contents) - 1)]["opp_n"] or 0) > 0:
        guidance.append("Aree di opportunità entro 500 m: sede preferenziale dei nuovi servizi.")
    return {"kind": "lum", "id": lum_id, "slug": _slug(lum_id), "title": f"LUM {row['name']}", "row": row,
            "level_it": LEVEL_IT.get(row["level"], row["level"]), "stations": st[["name", "mode", "lines", "operator"]].to_dict("records"),
            "contents": contents, "svc_rows": svc_rows, "demand_note": d.demand_note, "score": al["score_15"] if al is not None else np.nan,
            "cmm": d.cmm, "guidance": guidance, "map_svg": _map_lum(d, row),
            "chart_svg": bar_chart(bars, title="Quota di residenti a 15 minuti"), "approx_note": d.approx_note,
            "has_walk": any(c["label"].startswith("bacino") for c in contents),
            "notes": d.notes + ([] if (d.catch is not None and (d.catch["kind"] == "walk15").any()) else
                                ["bacino pedonale di 15 minuti non disponibile: nessuna rete pedonale fornita"])}


def sheet_order(d: AtlasData, kind: str, only: list[str] | None = None) -> list[str]:
    if kind == "comuni":
        m = d.mun.assign(o=d.mun["role"].map({"central_city": 0, "attractor_pole": 1}).fillna(2))
        m = m.sort_values(["o", "name"])
        ids = m["istat_code"].tolist()
        if only:
            want = {s.lower() for s in only}
            ids = [i for i, n in zip(m["istat_code"], m["name"]) if i in want or n.lower() in want]
        return ids
    if d.lum is None:
        raise AtlasInputError("layer 'lum' assente: eseguire prima `sttm lum build`")
    l = d.lum.assign(o=d.lum["level"].map({"metropolitano": 0, "sovracomunale": 1}).fillna(2)).sort_values(["o", "municipality", "name"])
    ids = l["lum_id"].tolist()
    if only:
        want = {s.lower() for s in only}
        ids = [i for i, mname in zip(l["lum_id"], l["municipality"]) if i in want or str(mname).lower() in want]
    return ids


def render_sheet(ctx: dict, standalone: bool = True) -> str:
    from sttm.reports import render_html

    return render_html("sttm.services", "atlas_sheet.html.j2", {"s": ctx, "title": ctx["title"]})


def render_atlas(kb, kind: str, out: Path, *, pdf: bool = True, only=None, progress=None,
                 pdf_per_sheet: bool = False) -> dict:
    """Write one HTML per sheet, an index and (optionally) the whole atlas as one PDF and/or one PDF
    per sheet."""
    from sttm.reports import render_html, write_pdf

    if kind not in ("comuni", "lum"):
        raise AtlasInputError(f"atlante {kind!r}: usare 'comuni' o 'lum'")
    d = load_atlas_data(kb)
    ids = sheet_order(d, kind, only)
    if not ids:
        raise AtlasInputError("nessuna scheda da produrre (filtro --only senza corrispondenze?)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctxs = []
    for i, sid in enumerate(ids):
        ctx = comune_context(d, sid) if kind == "comuni" else lum_context(d, sid)
        sheet_html = render_sheet(ctx)
        (out / f"{ctx['slug']}.html").write_text(sheet_html, encoding="utf-8")
        if pdf_per_sheet:
            write_pdf(sheet_html, out / f"{ctx['slug']}.pdf")
        ctxs.append(ctx)
        if progress:
            progress(i + 1, len(ids), ctx["title"])
    title = "Atlante metropolitano dei servizi" if kind == "comuni" else "Atlante dei LUM"
    index = out / "index.html"
    index.write_text(render_html("sttm.services", "atlas_index.html.j2",
                                 {"title": title, "sheets": ctxs, "kind": kind, "notes": d.notes,
                                  "pdf_links": pdf_per_sheet}), encoding="utf-8")
    res = {"n_sheets": len(ctxs), "index": str(index), "notes_it": d.notes}
    if pdf:
        book = render_html("sttm.services", "atlas_book.html.j2", {"title": title, "sheets": ctxs, "kind": kind})
        pdf_path = out / f"atlante_{kind}.pdf"
        write_pdf(book, pdf_path)
        res["pdf"] = str(pdf_path)
    return res
