"""The Bilancio delle diffusività territoriali as an Italian document (HTML and PDF), built from
the RECORDED balance (what was decided on), not from a recomputation."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import select

from .externalities import COLUMNS
from .model import ACT_KINDS
from .params import LEVEL_IT, BalanceParams
from .relevance import INDICATOR_IT
from .store import (allocation_lines, ensure_schema, forecasts, load_balance_row, matrix, proposals,
                    resource_lines)
from .territory import Territory

PHYSICAL_COLUMNS = ["land_take_free_soil_m2", "new_impervious_m2", "vkm_day", "co2_t_year", "nox_kg_year",
                    "pm10_kg_year", "runoff_m3_event", "heat_exposed_ha", "service_demand_users"]
MONEY_COLUMNS = ["es_loss_eur_year", "service_demand_eur_year", "burden_eur_year", "jobs_filled",
                 "benefit_eur_year", "net_burden_eur_year"]
MAIN_COLUMNS = PHYSICAL_COLUMNS + MONEY_COLUMNS


class ReportError(LookupError):
    pass


@dataclass
class StoredBalance:
    balance: dict
    proposal: dict
    forecasts: list[dict]
    matrix: pd.DataFrame
    resources: list[dict]
    allocation: list[dict]

    @property
    def affected(self) -> list[dict]:
        return json.loads(self.balance["affected_json"])

    @property
    def explanation(self) -> dict:
        return json.loads(self.balance["explanation_json"])


def load_balance(kb, balance_id: str) -> StoredBalance:
    ensure_schema(kb)
    with kb.engine.connect() as conn:
        b = load_balance_row(conn, balance_id)
        if b is None:
            raise ReportError(f"balance {balance_id!r} not found (see `sttm balance list`)")
        p = dict(conn.execute(select(proposals).where(proposals.c.proposal_id == b["proposal_id"])).mappings().one())
        fc = [dict(r) for r in conn.execute(select(forecasts).where(forecasts.c.proposal_id == b["proposal_id"])).mappings()]
        mx = pd.DataFrame(conn.execute(select(matrix.c.istat_code, matrix.c.externality, matrix.c.value)
                                       .where(matrix.c.balance_id == balance_id)).all(),
                          columns=["istat_code", "externality", "value"])
        res = [dict(r) for r in conn.execute(select(resource_lines).where(resource_lines.c.balance_id == balance_id)
                                             .order_by(resource_lines.c.line_no)).mappings()]
        al = [dict(r) for r in conn.execute(select(allocation_lines).where(allocation_lines.c.balance_id == balance_id)
                                            .order_by(allocation_lines.c.line_no)).mappings()]
    wide = mx.pivot(index="istat_code", columns="externality", values="value") if len(mx) else pd.DataFrame()
    wide = wide.reindex(columns=[c[0] for c in COLUMNS]).fillna(0.0)
    return StoredBalance(b, p, fc, wide, res, al)


def _maps(sb: StoredBalance, t: Territory) -> tuple[str, str]:
    from sttm.reports import MapLayer, svg_map
    host = sb.proposal["istat_code"]
    affected = {a["istat_code"] for a in sb.affected}
    m = t.munis[["istat_code", "name", "geometry"]].copy()
    nb = sb.matrix["net_burden_eur_year"] if "net_burden_eur_year" in sb.matrix else pd.Series(dtype=float)
    vmax = max([nb.get(c, 0.0) for c in affected] + [1.0])

    def colour(code: str) -> str:
        if code == host:
            return "#7fb2e5"
        if code in affected:
            v = max(nb.get(code, 0.0), 0.0) / vmax
            return ["#fde0c5", "#facba6", "#f59e72", "#e4694b", "#c0392b"][min(int(v * 5), 4)]
        return "#ffffff"
    m["fill"] = [colour(c) for c in m["istat_code"]]
    m["label"] = [n if (c in affected or c == host) else "" for c, n in zip(m["istat_code"], m["name"])]
    sites = gpd.GeoDataFrame(geometry=[shapely.from_wkt(f["geometry_wkt"]) for f in sb.forecasts], crs=32632)
    sites_pt = gpd.GeoDataFrame(geometry=sites.centroid, crs=32632)
    layers = [MapLayer(m, fill_column="fill", stroke="#8aa0b5", stroke_width=0.4),
              MapLayer(m.iloc[0:0], label="Comune proponente", fill="#7fb2e5"),
              MapLayer(m.iloc[0:0], label="Comuni investiti (colore ∝ onere netto)", fill="#e4694b"),
              MapLayer(sites_pt, label="Previsione", fill="#c02020", stroke="#c02020", radius=3.5)]
    overview = svg_map(layers, 560, 440, title="Comuni investiti dalle esternalità")
    zoom_codes = affected | {host}
    zb = m[m["istat_code"].isin(zoom_codes)].total_bounds
    zoom = svg_map([MapLayer(m, fill_column="fill", stroke="#5c6f82", stroke_width=0.6, text_column="label", font_size=7),
                    MapLayer(sites, label="Area della previsione", fill="#c02020", stroke="#800000", opacity=0.8)],
                   560, 400, bbox=tuple(zb), title="Dettaglio")
    return overview, zoom


def report_context(sb: StoredBalance, t: Territory, params: BalanceParams) -> dict:
    host = sb.proposal["istat_code"]
    names = dict(zip(t.codes, t.names))
    rows_codes = [host] + [a["istat_code"] for a in sb.affected]
    mat = sb.matrix.reindex(rows_codes).fillna(0.0)
    others = sb.matrix.drop(index=[c for c in rows_codes if c in sb.matrix.index], errors="ignore")
    col_meta = {c[0]: c for c in COLUMNS}
    matrix_rows = [{"code": c, "name": names.get(c, c), "host": c == host,
                    "values": [mat.at[c, k] for k in MAIN_COLUMNS]} for c in rows_codes]
    if len(others):
        matrix_rows.append({"code": "", "name": f"Altri {len(others)} Comuni", "host": False,
                            "values": [others[k].sum() for k in MAIN_COLUMNS]})
    matrix_rows.append({"code": "", "name": "Totale CMM", "host": False, "total": True,
                        "values": [sb.matrix[k].sum() if k in sb.matrix else 0 for k in MAIN_COLUMNS]})
    overview, zoom = _maps(sb, t)
    total = int(sb.balance["total_resources_cents"])
    unconfirmed = params.to_confirm() if params.sha256 == sb.balance["params_sha256"] else []
    return {
        "title": "Bilancio delle diffusività territoriali",
        "b": sb.balance, "p": sb.proposal, "act_kind_it": ACT_KINDS.get(sb.proposal["act_kind"], sb.proposal["act_kind"]),
        "host_name": names.get(host, host), "forecasts": sb.forecasts, "functions": params.functions,
        "relevance_it": LEVEL_IT[sb.balance["relevance"]], "relevance": sb.balance["relevance"],
        "lines": sb.explanation["lines"], "explanation": sb.explanation["text"], "indicator_it": INDICATOR_IT,
        "level_it": LEVEL_IT, "affected": sb.affected,
        "column_groups": [
            ("Esternalità fisiche", [(k, col_meta[k][1], col_meta[k][2]) for k in PHYSICAL_COLUMNS], 0),
            ("Costi e benefici monetizzati", [(k, col_meta[k][1], col_meta[k][2]) for k in MONEY_COLUMNS],
             len(PHYSICAL_COLUMNS))],
        "matrix_rows": matrix_rows,
        "resources": sb.resources, "allocation": sb.allocation,
        "total_eur": total / 100, "alloc_sum_eur": sum(a["amount_cents"] for a in sb.allocation) / 100,
        "exact": sum(a["amount_cents"] for a in sb.allocation) == total,
        "assumptions": json.loads(sb.balance["assumptions_json"]), "unconfirmed": unconfirmed,
        "params_changed": params.sha256 != sb.balance["params_sha256"],
        "map_overview": overview, "map_zoom": zoom,
        "resource_rules": {r["id"]: r for r in params["resources"]},
    }


def render_balance_html(kb, balance_id: str, t: Territory, params: BalanceParams) -> str:
    from sttm.reports import render_html
    sb = load_balance(kb, balance_id)
    return render_html("sttm.equalization", "balance_report.html.j2", report_context(sb, t, params))


def write_balance_report(kb, balance_id: str, out_dir: str | Path, t: Territory, params: BalanceParams,
                         pdf: bool = True) -> dict[str, Path]:
    """Write ``<balance_id>.html``, ``.pdf`` and the full matrix ``<balance_id>_matrice.csv``."""
    from sttm.reports import write_pdf
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html = render_balance_html(kb, balance_id, t, params)
    paths = {"html": out / f"{balance_id}.html"}
    paths["html"].write_text(html, encoding="utf-8")
    sb = load_balance(kb, balance_id)
    csv = sb.matrix.copy()
    csv.insert(0, "comune", [dict(zip(t.codes, t.names)).get(c, c) for c in csv.index])
    paths["csv"] = out / f"{balance_id}_matrice.csv"
    csv.to_csv(paths["csv"], float_format="%.3f")
    if pdf:
        paths["pdf"] = write_pdf(html, out / f"{balance_id}.pdf")
    return paths
