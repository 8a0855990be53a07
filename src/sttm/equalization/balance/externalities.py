"""The externality model: one forecast (or a whole proposal) → matrix comune × externality.

Every quantity is a plain formula of the parameter file (``params/balance.toml``); the
docstrings of the helpers give the formula, the report repeats it in Italian.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString

from .model import Forecast, Proposal, ProposalError
from .params import BalanceParams
from . import wings
from .territory import Territory

OUTSIDE_CMM_TOLERANCE = 0.05     # share of a forecast's area allowed outside the coarse ISTAT limits

# matrix columns: (name, Italian label, unit, sign) ; sign -1 burden, +1 benefit, 0 indicator
COLUMNS: list[tuple[str, str, str, int]] = [
    ("land_take_free_soil_m2", "Consumo di suolo libero", "m²", -1),
    ("new_impervious_m2", "Nuova impermeabilizzazione", "m²", -1),
    ("car_trips_day", "Spostamenti auto attratti/generati", "viaggi/giorno", 0),
    ("truck_trips_day", "Spostamenti mezzi pesanti", "viaggi/giorno", 0),
    ("vkm_day", "Percorrenze sulla rete comunale", "veic·km/giorno", -1),
    ("co2_t_year", "Emissioni CO₂", "t/anno", -1),
    ("nox_kg_year", "Emissioni NOx", "kg/anno", -1),
    ("pm10_kg_year", "Emissioni PM10", "kg/anno", -1),
    ("es_loss_eur_year", "Perdita di servizi ecosistemici", "€/anno", -1),
    ("runoff_m3_event", "Deflusso aggiuntivo (T=50 anni, 1 h)", "m³/evento", -1),
    ("heat_exposed_ha", "Area esposta a isola di calore", "ha", -1),
    ("service_demand_users", "Nuovi utenti di servizi comunali", "utenti", -1),
    ("service_demand_eur_year", "Costo della domanda di servizi", "€/anno", -1),
    ("jobs_filled", "Posti di lavoro occupati da residenti", "addetti", 1),
    ("burden_eur_year", "Costi esterni monetizzati", "€/anno", -1),
    ("benefit_eur_year", "Benefici monetizzati", "€/anno", 1),
    ("net_burden_eur_year", "Onere netto", "€/anno", -1),
]
COLUMN_NAMES = [c[0] for c in COLUMNS]


@dataclass
class ForecastIndicators:
    forecast_id: str
    function: str
    floor_area_m2: float
    land_take_free_soil_m2: float
    new_impervious_m2: float
    car_trips_day: float
    truck_trips_day: float
    vehicle_trips_day: float
    residents: float
    jobs: float
    contribution_base_eur: float
    host_share: float                 # share of the forecast's area in the adopting comune
    comuni_touched: list[str]         # comuni the geometry lies in
    trips_declared: bool
    truck_source: str = ""            # where the truck trips come from (declared, STTM 3, parameter file)
    service_methods: dict = field(default_factory=dict)   # service category -> method (see wings.py)


def check_against_territory(p: Proposal, t: Territory, source: str | None = None) -> None:
    """Unknown comune, geometry outside CMM, forecast not in the adopting comune → ProposalError."""
    if p.istat_code not in t._idx:
        raise ProposalError("act.istat_code", f"unknown comune {p.istat_code!r}: not one of the {t.n} comuni of CMM", source)
    host = t.geoms[t.index_of(p.istat_code)]
    for i, f in enumerate(p.forecasts):
        a = f.geometry.area
        inside = shapely.intersection(f.geometry, t.cmm).area
        if inside < a * (1 - OUTSIDE_CMM_TOLERANCE):
            raise ProposalError(f"forecasts[{i}].geometry",
                                f"{(a - inside) / a:.0%} of forecast {f.forecast_id!r} lies outside the Città metropolitana di Milano "
                                f"(tolerance {OUTSIDE_CMM_TOLERANCE:.0%}); check the CRS (lon/lat expected unless 'crs' is given)", source)
        if shapely.intersection(f.geometry, host).area <= 0:
            raise ProposalError(f"forecasts[{i}].geometry",
                                f"forecast {f.forecast_id!r} does not lie in the adopting comune {p.istat_code}", source)
    for i, m in enumerate(p.measures):
        if m.istat_code and m.istat_code not in t._idx:
            raise ProposalError(f"measures[{i}].istat_code", f"unknown comune {m.istat_code!r}", source)


def _area_shares(geom, t: Territory) -> tuple[np.ndarray, np.ndarray]:
    idx = t.tree.query(geom, predicate="intersects")
    areas = shapely.area(shapely.intersection(t.geoms[idx], geom))
    keep = areas > 0
    idx, areas = idx[keep], areas[keep]
    return idx, areas / areas.sum()


def _gravity(weights: np.ndarray, d_km: np.ndarray, L: float) -> np.ndarray:
    """share_j = W_j · exp(−d_j/L) / Σ W_k · exp(−d_k/L)   (zeros if Σ = 0)."""
    w = weights * np.exp(-d_km / L)
    s = w.sum()
    return w / s if s > 0 else w


def _line_lengths(origin: tuple[float, float], t: Territory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Straight lines from origin to every comune's representative point, split by comune.

    Returns (dest_idx, muni_idx, length_km) for every (destination, crossed comune) pair."""
    lines = shapely.linestrings([[origin, tuple(p)] for p in t.points])
    li, mi = t.tree.query(lines, predicate="intersects")
    lengths = shapely.length(shapely.intersection(lines[li], t.geoms[mi])) / 1000.0
    return li, mi, lengths


def _spread_adjacent(local: np.ndarray, t: Territory, local_share: float) -> np.ndarray:
    """Keep ``local_share`` of each comune's value, give the rest to its neighbours by border length."""
    out = local * local_share
    for i in np.nonzero(local)[0]:
        nb = t.adjacency.get(int(i), [])
        tot = sum(L for _, L in nb)
        if not nb or tot <= 0:
            out[i] += local[i] * (1 - local_share)
            continue
        for j, L in nb:
            out[j] += local[i] * (1 - local_share) * L / tot
    return out


def design_rainfall_mm(row: pd.Series, T: float, D: float) -> float:
    """ARPA Lombardia LSPP: h = a1 · w_T · D^n, w_T = ε + α/κ · (1 − (ln(T/(T−1)))^κ).

    The growth factor is STTM 1's own (``sttm.sustainability.hydrology.gev_growth_factor``), so the
    balance and the floods & drought sheets use the same design rainfall."""
    a1, n, al, k, eps = (float(row[c]) for c in ("a1", "n", "alpha", "kappa", "epsilon"))
    try:
        from sttm.sustainability.hydrology import gev_growth_factor
        wT = gev_growth_factor(T, al, k, eps)
    except ImportError:                                   # STTM 1 wing absent: same formula
        wT = eps + al / k * (1 - math.log(T / (T - 1)) ** k)
    return a1 * wT * (D ** n if D != 1.0 else 1.0)


def forecast_indicators(f: Forecast, p: Proposal, t: Territory, params: BalanceParams) -> ForecastIndicators:
    tg = params["trip_generation"][f.function]
    declared = f.car_trips_per_day is not None or f.truck_trips_per_day is not None
    car = f.car_trips_per_day if f.car_trips_per_day is not None else f.floor_area_m2 / 100 * tg["car_per_100m2"]
    if f.truck_trips_per_day is not None:
        truck, truck_src = f.truck_trips_per_day, "dichiarati dal Comune"
    else:
        sttm3 = wings.truck_trips(f.function, f.floor_area_m2, params, np.array([1.0]), np.array([p.istat_code]))
        if sttm3 is not None:
            truck, truck_src = sttm3[0], sttm3[2]
        else:
            truck = f.floor_area_m2 / 100 * tg["truck_per_100m2"]
            truck_src = f"file parametri (trip_generation.{f.function}.truck_per_100m2)"
    d = params["defaults"]
    if f.residents is not None:
        res = f.residents
    else:
        per = d["m2_per_resident"].get(f.function)
        res = f.floor_area_m2 / per if per else 0.0
    if f.jobs is not None:
        jobs = f.jobs
    else:
        per = d["m2_per_job"][f.function]
        jobs = f.floor_area_m2 / per if per else 0.0
    base = f.construction_contribution_eur if f.construction_contribution_eur is not None \
        else f.floor_area_m2 * d["contribution_eur_per_m2"][f.function]
    idx, shares = _area_shares(f.geometry, t)
    host_i = t.index_of(p.istat_code)
    host_share = float(shares[idx == host_i].sum()) if len(idx) else 0.0
    return ForecastIndicators(
        forecast_id=f.forecast_id, function=f.function, floor_area_m2=f.floor_area_m2,
        land_take_free_soil_m2=f.land_take_free_soil_m2, new_impervious_m2=f.new_impervious_m2,
        car_trips_day=float(car), truck_trips_day=float(truck), vehicle_trips_day=float(car + truck),
        residents=float(res), jobs=float(jobs), contribution_base_eur=float(base), host_share=host_share,
        comuni_touched=[str(t.codes[i]) for i in idx], trips_declared=declared, truck_source=truck_src)


def forecast_matrix(f: Forecast, ind: ForecastIndicators, p: Proposal, t: Territory,
                    params: BalanceParams) -> pd.DataFrame:
    """The matrix comune × externality of one forecast (rows: all comuni of CMM)."""
    n = t.n
    cols = {c: np.zeros(n) for c in COLUMN_NAMES}
    dist = params["distribution"]
    dmin, circ = float(dist["min_distance_km"]), float(dist["circuity"])
    L_car, L_truck = dist["mean_trip_km"][f.function]
    days = float(params["trip_generation"][f.function]["days_per_year"])

    # -- where the forecast lies: soil, imperviousness
    idx, shares = _area_shares(f.geometry, t)
    cols["land_take_free_soil_m2"][idx] = ind.land_take_free_soil_m2 * shares
    cols["new_impervious_m2"][idx] = ind.new_impervious_m2 * shares

    # -- trips: gravity over residents with exponential decay
    c = f.geometry.centroid
    origin = (c.x, c.y)
    d_km = np.maximum(np.hypot(t.points[:, 0] - c.x, t.points[:, 1] - c.y) / 1000.0, dmin)
    car_share = _gravity(t.residents, d_km, L_car)
    truck_share = _gravity(t.residents, d_km, L_truck)
    car_j, truck_j = ind.car_trips_day * car_share, ind.truck_trips_day * truck_share
    if ind.truck_source.startswith("STTM 3"):     # STTM 3 spreads its own heavy trips over the route shares
        truck_j = wings.truck_trips(f.function, f.floor_area_m2, params, truck_share, t.codes)[1]
    cols["car_trips_day"] += car_j
    cols["truck_trips_day"] += truck_j

    # -- vehicle-km along the straight line to each destination, split by crossed comune
    li, mi, lk = _line_lengths(origin, t)
    trips_j = car_j + truck_j
    veh = np.zeros(n)
    car_vkm, truck_vkm = np.zeros(n), np.zeros(n)
    np.add.at(car_vkm, mi, car_j[li] * lk * circ)
    np.add.at(truck_vkm, mi, truck_j[li] * lk * circ)
    # trips shorter than dmin: the missing length is run in the destination comune
    straight = np.hypot(t.points[:, 0] - c.x, t.points[:, 1] - c.y) / 1000.0
    extra = np.maximum(dmin - straight, 0.0) * circ
    car_vkm += car_j * extra
    truck_vkm += truck_j * extra
    veh = car_vkm + truck_vkm
    cols["vkm_day"] += veh
    ef = params["emission_factors"]
    cols["co2_t_year"] += (car_vkm * ef["car"]["co2_g_vkm"] + truck_vkm * ef["truck"]["co2_g_vkm"]) * days / 1e6
    cols["nox_kg_year"] += (car_vkm * ef["car"]["nox_g_vkm"] + truck_vkm * ef["truck"]["nox_g_vkm"]) * days / 1e3
    cols["pm10_kg_year"] += (car_vkm * ef["car"]["pm10_g_vkm"] + truck_vkm * ef["truck"]["pm10_g_vkm"]) * days / 1e3

    # -- ecosystem services lost
    es = params["ecosystem_services"]
    if ind.land_take_free_soil_m2 > 0:
        val = float(es["eur_per_ha_year"].get(f.former_cover, 0.0))
        local = cols["land_take_free_soil_m2"] / 1e4 * val
        cols["es_loss_eur_year"] += _spread_adjacent(local, t, float(es["local_share"]))

    # -- runoff (RR 7/2017, LSPP of the comune where the surface is sealed)
    ro = params["runoff"]
    if ind.new_impervious_m2 > 0:
        lspp = t.lspp
        med = lspp[["a1", "alpha", "kappa", "epsilon"]].astype(float).median()
        local = np.zeros(n)
        for i in idx:
            row = lspp.iloc[i].copy()
            for k in ("a1", "alpha", "kappa", "epsilon"):
                if pd.isna(row[k]):
                    row[k] = med[k]
            if pd.isna(row["a1"]):
                continue
            row["n"] = 0.0 if pd.isna(row["n"]) else row["n"]
            h = design_rainfall_mm(row, float(ro["return_period_years"]), float(ro["duration_hours"]))
            local[i] = cols["new_impervious_m2"][i] * (ro["phi_impervious"] - ro["phi_pervious"]) * h / 1000.0
        cols["runoff_m3_event"] += _spread_adjacent(local, t, float(ro["local_share"]))

    # -- heat: buffer around the sealed site, weighted by the impervious fraction
    if ind.new_impervious_m2 > 0:
        frac = min(ind.new_impervious_m2 / f.geometry.area, 1.0)
        buf = f.geometry.buffer(float(params["heat"]["buffer_m"]))
        bi = t.tree.query(buf, predicate="intersects")
        cols["heat_exposed_ha"][bi] += shapely.area(shapely.intersection(t.geoms[bi], buf)) / 1e4 * frac

    # -- demand on services
    host_i = t.index_of(p.istat_code)
    for cat, sd in params["service_demand"].items():
        if ind.residents <= 0:
            continue
        upr = t.under12_share[host_i] if sd["users_per_resident"] == "under12_share" else float(sd["users_per_resident"])
        got = wings.service_users(cat, sd, ind.residents * upr, f.geometry, host_i, t, d_km)
        if got is None:
            continue
        users, ind.service_methods[cat] = got
        cols["service_demand_users"] += users
        cols["service_demand_eur_year"] += users * float(sd["eur_per_user_year"])

    # -- benefits: jobs filled by residents (commuting gravity)
    b = params["benefits"]
    if ind.jobs > 0:
        cols["jobs_filled"] += ind.jobs * _gravity(t.residents, d_km, float(b["mean_commute_km"]))
    cols["benefit_eur_year"] = cols["jobs_filled"] * float(b["eur_per_job_year"])

    dc = params["damage_costs"]
    cols["burden_eur_year"] = (cols["co2_t_year"] * dc["co2_eur_per_t"] + cols["nox_kg_year"] * dc["nox_eur_per_kg"]
                               + cols["pm10_kg_year"] * dc["pm10_eur_per_kg"] + cols["es_loss_eur_year"]
                               + cols["runoff_m3_event"] * float(ro["eur_per_m3"])
                               + cols["heat_exposed_ha"] * float(params["heat"]["eur_per_ha"])
                               + cols["service_demand_eur_year"])
    cols["net_burden_eur_year"] = cols["burden_eur_year"] - cols["benefit_eur_year"]
    return pd.DataFrame(cols, index=pd.Index(t.codes, name="istat_code"))


def proposal_matrix(p: Proposal, t: Territory, params: BalanceParams
                    ) -> tuple[pd.DataFrame, list[ForecastIndicators]]:
    """Sum of the forecast matrices (all 133 comuni as rows) and the per-forecast indicators."""
    total = None
    inds = []
    for f in p.forecasts:
        ind = forecast_indicators(f, p, t, params)
        m = forecast_matrix(f, ind, p, t, params)
        total = m if total is None else total + m
        inds.append(ind)
    total.insert(0, "name", t.names)
    return total, inds


def source_notes(inds: list[ForecastIndicators]) -> list[str]:
    """Which source each forecast's truck trips and service demand came from (Italian)."""
    out = []
    for ind in inds:
        out.append(f"Previsione {ind.forecast_id}: spostamenti di mezzi pesanti {ind.truck_source}.")
        for cat, m in sorted(ind.service_methods.items()):
            out.append(f"Previsione {ind.forecast_id}: domanda di servizi '{cat}' ripartita con {wings.METHOD_IT[m]}.")
    return out


def assumptions(params: BalanceParams, t: Territory) -> list[str]:
    """The stated assumptions/uncertainties of a balance (Italian, for the report)."""
    d = params["distribution"]
    out = [
        "Gli spostamenti sono distribuiti sui Comuni con un modello gravitazionale (residenti ANPR 2025, "
        "decadimento esponenziale con la distanza in linea d'aria; lunghezza media per funzione nel file parametri).",
        f"Le percorrenze seguono la retta sito–Comune di destinazione, ripartita tra i Comuni attraversati, "
        f"moltiplicata per il fattore di tortuosità {str(d['circuity']).replace('.', ',')} (manca il grafo stradale nella base di conoscenza).",
        d["restricted_to"],
        "I valori dei servizi ecosistemici e i costi esterni sono ordini di grandezza (incertezza ±50%): "
        "servono a ripartire le risorse, non a stimare danni.",
        "Il deflusso è calcolato con i parametri LSPP ARPA del Comune (RR 7/2017); dove mancano è usata la mediana CMM.",
        params["runoff"]["spread_note"],
    ]
    return out + list(t.notes)
