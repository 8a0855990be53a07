"""The territory model of CMM, built from the open-data registry into the knowledge base.

Each ``build_*`` function is pure (tables in, table out) so it can be tested on small inputs;
``build_territory`` wires them to the registry and the knowledge base, skipping layers whose
inputs have not changed since the last build.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import ANALYSIS_EPSG, opendata
from ..errors import InputError
from ..knowledge import KnowledgeBase, LayerMeta

#: bump when a builder's logic changes, so `kb build` recomputes the layers even if data did not change
BUILD_VERSION = "territory-3"  # 3: licence notes in Italian (metadata only)

#: adjacency: two comuni border each other when at least MIN_SHARED_BORDER_M of one's boundary runs
#: within the tolerance of the other. The tolerance is larger across the provincial boundary because
#: the ISTAT/Openpolis files were simplified one province at a time, so their edges do not coincide.
ADJ_TOLERANCE_SAME_FILE_M = 25.0
ADJ_TOLERANCE_CROSS_PROVINCE_M = 300.0
MIN_SHARED_BORDER_M = 100.0
#: stations of different sources closer than this with a matching name are one station
STATION_MERGE_M = 400.0
#: stations of different modes within this distance are an interchange
INTERCHANGE_M = 300.0


def _norm(name: str) -> str:
    s = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().upper()
    s = re.sub(r"\b(MI|MILANO|STAZIONE|FS|FN|FNM|P\.?TA|PTA)\b", " ", s.replace("-", " ").replace(".", ". "))
    return re.sub(r"[^A-Z0-9]+", "", s)


# ---------------------------------------------------------------- municipalities
def load_roles(path: Path | None = None) -> pd.DataFrame:
    src = path or resources.files(__package__).joinpath("params/polycentric_roles.csv")
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    for col in ("istat_code", "role"):
        if col not in df.columns:
            raise InputError(str(src), "missing column", field=col)
    bad = ~df["role"].isin(["central_city", "attractor_pole"])
    if bad.any():
        pos = int(np.argmax(bad.to_numpy()))
        raise InputError(str(src), f"role must be central_city or attractor_pole, not {df['role'].iloc[pos]!r}",
                         field="role", row=pos + 2)
    df["istat_code"] = [opendata.loaders.istat_code(v, str(src), "istat_code", i + 2)
                        for i, v in enumerate(df["istat_code"])]
    if "status" not in df.columns:
        df["status"] = "user-supplied"
    return df


def build_municipalities(limits: gpd.GeoDataFrame, anpr: pd.DataFrame, under12: pd.DataFrame,
                         zones: pd.DataFrame, roles: pd.DataFrame, *, zones_source: str = "zone membership",
                         roles_source: str = "roles") -> gpd.GeoDataFrame:
    """One row per comune of CMM, keyed by ISTAT code. Every other table must name only these comuni."""
    codes = set(limits["istat_code"])
    for table, label in ((anpr, "ANPR residents"), (under12, "ISTAT 2021 population"),
                         (zones, zones_source), (roles, roles_source)):
        unknown = sorted(set(table["istat_code"]) - codes)
        if unknown:
            row = int(np.flatnonzero(table["istat_code"].to_numpy() == unknown[0])[0]) + 2
            raise InputError(label, f"unknown ISTAT code {unknown[0]} (not one of the {len(codes)} comuni of CMM)",
                             field="istat_code", row=row)
    for table, label in ((anpr, "ANPR residents"), (under12, "ISTAT 2021 population")):
        missing = sorted(codes - set(table["istat_code"]))
        if missing:
            raise InputError(label, f"no row for comune {missing[0]} (and {len(missing) - 1} more)",
                             field="istat_code")
    m = limits[["istat_code", "name", "cadastral_code", "geometry"]].copy()
    m = m.merge(anpr, on="istat_code", how="left").merge(under12, on="istat_code", how="left")
    m = m.merge(zones[["istat_code", "zone"]], on="istat_code", how="left")
    m = m.merge(roles[["istat_code", "role"]], on="istat_code", how="left")
    m["area_km2"] = m.geometry.area / 1e6
    m["density_per_km2"] = m["residents_anpr_2025"] / m["area_km2"]
    m["zone"] = m["zone"].astype(object).where(m["zone"].notna(), None)
    m["role"] = m["role"].astype(object).where(m["role"].notna(), None)
    cols = ["istat_code", "name", "cadastral_code", "area_km2", "residents_anpr_2025", "residents_istat_2021",
            "under12_istat_2021", "density_per_km2", "zone", "role", "geometry"]
    m = gpd.GeoDataFrame(m[cols], geometry="geometry", crs=ANALYSIS_EPSG)
    m["geometry"] = shapely.force_2d(m.geometry.to_numpy())
    return m.sort_values("istat_code").reset_index(drop=True)


def build_zones(municipalities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Zones with a known membership, dissolved from their comuni (unassigned comuni are left out)."""
    assigned = municipalities[municipalities["zone"].notna()]
    z = assigned.dissolve(by="zone", aggfunc={"istat_code": "count", "residents_anpr_2025": "sum"})
    z = z.rename(columns={"istat_code": "n_municipalities"}).reset_index()
    z["geometry"] = shapely.make_valid(z.geometry.to_numpy())
    return z[["zone", "n_municipalities", "residents_anpr_2025", "geometry"]]


# ---------------------------------------------------------------- adjacency
def build_adjacency(cmm: gpd.GeoDataFrame, neighbours: gpd.GeoDataFrame) -> pd.DataFrame:
    """Which comuni border which: pairs (a in CMM, b in CMM or a neighbouring province), with the
    length of shared border. See the tolerance constants above for the rule."""
    allm = pd.concat([cmm.assign(_cmm=True), neighbours.assign(_cmm=False)], ignore_index=True)
    geoms = allm.geometry.to_numpy()
    boundaries = shapely.boundary(geoms)
    tree = shapely.STRtree(geoms)
    rows = []
    for i in np.flatnonzero(allm["_cmm"].to_numpy()):
        cand = tree.query(geoms[i], predicate="dwithin", distance=ADJ_TOLERANCE_CROSS_PROVINCE_M)
        for j in cand:
            if j == i or (allm["_cmm"].iat[j] and j < i):
                continue  # each CMM pair once
            cross = allm["_cmm"].iat[j] is False or not allm["_cmm"].iat[j]
            tol = ADJ_TOLERANCE_CROSS_PROVINCE_M if cross else ADJ_TOLERANCE_SAME_FILE_M
            near = shapely.line_merge(shapely.intersection(boundaries[i], shapely.buffer(boundaries[j], tol)))
            # each stretch overshoots by the tolerance at both ends (where it turns away from the border)
            shared = sum(max(0.0, float(shapely.length(part)) - 2 * tol) for part in shapely.get_parts(near))
            if shared >= MIN_SHARED_BORDER_M:
                a, b = allm["istat_code"].iat[i], allm["istat_code"].iat[j]
                rows.append({"pair_id": f"{a}-{b}", "istat_a": a, "istat_b": b,
                             "border_m": round(float(shared), 1), "cross_province": bool(cross)})
    return pd.DataFrame(rows).sort_values("pair_id").reset_index(drop=True)


# ---------------------------------------------------------------- stations
def build_stations(rail: gpd.GeoDataFrame, rail_milano: gpd.GeoDataFrame, metro: gpd.GeoDataFrame,
                   cmm: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rail and metro stations, de-duplicated across sources, with operator and lines where known.

    Rail stations come from ViaggiaTreno (RFI and Ferrovienord); the Comune di Milano list (ds80)
    adds the operator and is merged when a station of matching name lies within STATION_MERGE_M.
    Two ViaggiaTreno records of one name within STATION_MERGE_M are one station.
    """
    rail = rail.copy()
    rail["norm"] = rail["name"].map(_norm)
    rail["sources"] = "viaggiatreno"
    keep = np.ones(len(rail), dtype=bool)
    g = rail.geometry.to_numpy()
    for i in range(len(rail)):
        if not keep[i]:
            continue
        for j in range(i + 1, len(rail)):
            if keep[j] and rail["norm"].iat[j] == rail["norm"].iat[i] and g[i].distance(g[j]) < STATION_MERGE_M:
                keep[j] = False
    rail = rail[keep].reset_index(drop=True)
    rail["operator"] = rail["operator"].astype(object)
    extra = []
    rg = rail.geometry.to_numpy()
    for _, s in rail_milano.iterrows():
        d = shapely.distance(rg, s.geometry)
        n = _norm(s["name"])
        candidates = [k for k in np.argsort(d)[:5] if d[k] < STATION_MERGE_M
                      and (n in rail["norm"].iat[k] or rail["norm"].iat[k] in n or d[k] < 150)]
        if candidates:
            k = candidates[0]
            rail.at[k, "operator"] = s["operator"]
            rail.at[k, "sources"] = "viaggiatreno+ds80"
        else:
            extra.append({"source_id": s["source_id"], "name": s["name"], "mode": "rail", "lines": None,
                          "operator": s["operator"], "sources": "ds80", "geometry": s.geometry})
    if extra:
        rail = pd.concat([rail, gpd.GeoDataFrame(extra, crs=ANALYSIS_EPSG)], ignore_index=True)
    metro = metro.assign(sources="atm_metro")
    st = gpd.GeoDataFrame(pd.concat([rail.drop(columns="norm"), metro], ignore_index=True), crs=ANALYSIS_EPSG)
    st["station_id"] = st["mode"] + ":" + st["source_id"].str.split(":").str[-1]
    joined = gpd.sjoin(st[["geometry"]], cmm[["istat_code", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    st["istat_code"] = joined["istat_code"].astype(object).where(joined["istat_code"].notna(), None)
    st["in_cmm"] = st["istat_code"].notna()
    # interchanges: stations of the other mode close by (e.g. a metro stop at a rail station)
    sg = st.geometry.to_numpy()
    tree = shapely.STRtree(sg)
    inter = []
    for i in range(len(st)):
        near = tree.query(sg[i], predicate="dwithin", distance=INTERCHANGE_M)
        names = sorted({st["name"].iat[j] for j in near if st["mode"].iat[j] != st["mode"].iat[i]})
        inter.append("; ".join(names) if names else None)
    st["interchange_with"] = inter
    cols = ["station_id", "name", "mode", "lines", "operator", "istat_code", "in_cmm", "interchange_with",
            "sources", "geometry"]
    return st[cols].sort_values("station_id").reset_index(drop=True)


# ---------------------------------------------------------------- services
def build_services(frames: list[gpd.GeoDataFrame], cmm: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Schools, hospitals, pharmacies and sports facilities in one layer, each with its comune
    (point-in-polygon on the CMM limits where the source gives none). Points outside CMM are dropped."""
    s = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=ANALYSIS_EPSG)
    joined = gpd.sjoin(s[["geometry"]], cmm[["istat_code", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    pip = joined["istat_code"]
    s["istat_code"] = s["istat_code"].where(s["istat_code"].notna(), pip)
    s = s[s["istat_code"].notna()].copy()
    s["capacity"] = s["capacity"].astype("Int64")
    return s.sort_values("service_id").reset_index(drop=True)


# ---------------------------------------------------------------- orchestration
@dataclass
class LayerSpec:
    name: str
    key: str
    meta: Callable[[], LayerMeta]
    inputs: list[str]
    build: Callable[[dict], pd.DataFrame]
    extra_inputs: list[Path] = field(default_factory=list)


@dataclass
class BuildReport:
    loaded: list[str] = field(default_factory=list)     # layers written as a new version
    unchanged: list[str] = field(default_factory=list)  # inputs and content identical: nothing done
    notes: list[str] = field(default_factory=list)


def _meta(ds_ids: list[str], title: str, description: str, **extra) -> LayerMeta:
    dss = [opendata.get(d) for d in ds_ids]
    return LayerMeta(title=title, description=description, source=", ".join(ds_ids),
                     licence="; ".join(dict.fromkeys(f"{d.id}: {d.licence}" for d in dss)),
                     vintage="; ".join(dict.fromkeys(f"{d.id}: {d.vintage}" for d in dss)), extra=extra)


def build_territory(kb: KnowledgeBase, *, zones_csv: Path | None = None, roles_csv: Path | None = None,
                    mirror: Path | None = None, progress: Callable[[str], None] | None = None,
                    force: bool = False) -> BuildReport:
    """Build (or refresh) the territory layers. Layers whose inputs are unchanged are skipped
    (fingerprint of the registered checksums, user files and BUILD_VERSION)."""
    report = BuildReport()
    cache: dict = {}

    def data(ds_id):
        if ds_id not in cache:
            cache[ds_id] = opendata.load(ds_id, mirror=mirror)
        return cache[ds_id]

    def zones_table():
        if zones_csv is not None:
            return opendata.loaders.zone_membership([Path(zones_csv)])
        return data("zone_omogenee")

    roles = load_roles(roles_csv)

    def municipalities(_=None):
        if "municipalities" not in cache:
            cache["municipalities"] = build_municipalities(
                data("istat_limits_cmm"), data("anpr_residents_2025"), data("istat_under12_2021"), zones_table(),
                roles, zones_source=str(zones_csv or "zone_omogenee"), roles_source=str(roles_csv or "roles"))
        return cache["municipalities"]

    zones_ds = [] if zones_csv else ["zone_omogenee"]
    mun_inputs = ["istat_limits_cmm", "anpr_residents_2025", "istat_under12_2021", *zones_ds]
    user_files = [Path(p) for p in (zones_csv, roles_csv) if p]
    roles_note = ("roles: user file " + str(roles_csv)) if roles_csv else \
        "polycentric roles: Milano central city; attractor poles PROVISIONAL (to be checked against PTM art. 25)"
    specs = [
        LayerSpec("municipalities", "istat_code",
                  lambda: _meta(mun_inputs, "Comuni della Città metropolitana di Milano",
                                "133 comuni: codice ISTAT, residenti ANPR 2025, popolazione e under 12 ISTAT 2021, "
                                "densità, zona omogenea (vuota = non assegnata), ruolo policentrico. " + roles_note,
                                roles_status=roles_note, zones_source=str(zones_csv or "zone_omogenee")),
                  mun_inputs, municipalities, user_files),
        LayerSpec("zones", "zone",
                  lambda: _meta(mun_inputs, "Zone omogenee (solo quelle con appartenenza nota)",
                                "Unione dei comuni di ciascuna zona omogenea con appartenenza verificata"),
                  mun_inputs, lambda _: build_zones(municipalities()), user_files),
        LayerSpec("neighbour_municipalities", "istat_code",
                  lambda: _meta(["istat_limits_neighbours"], "Comuni delle province confinanti",
                                "Comuni di VA, MB, BG, CR, LO, PV, NO: per bacini che attraversano il confine"),
                  ["istat_limits_neighbours"],
                  lambda _: data("istat_limits_neighbours")[["istat_code", "name", "province", "geometry"]]),
        LayerSpec("adjacency", "pair_id",
                  lambda: _meta(["istat_limits_cmm", "istat_limits_neighbours"], "Adiacenze tra comuni",
                                f"Coppie di comuni confinanti (anche oltre il confine provinciale): confine comune "
                                f">= {MIN_SHARED_BORDER_M:.0f} m entro una tolleranza di "
                                f"{ADJ_TOLERANCE_SAME_FILE_M:.0f} m ({ADJ_TOLERANCE_CROSS_PROVINCE_M:.0f} m tra province)"),
                  ["istat_limits_cmm", "istat_limits_neighbours"],
                  lambda _: build_adjacency(data("istat_limits_cmm"), data("istat_limits_neighbours"))),
        LayerSpec("stations", "station_id",
                  lambda: _meta(["rail_stations_viaggiatreno", "rail_stations_milano_ds80", "metro_stations_atm"],
                                "Stazioni ferroviarie e metropolitane (candidati LUM)",
                                "Stazioni in e intorno a CMM, de-duplicate tra le fonti, con gestore e linee dove noti"),
                  ["rail_stations_viaggiatreno", "rail_stations_milano_ds80", "metro_stations_atm", "istat_limits_cmm"],
                  lambda _: build_stations(data("rail_stations_viaggiatreno"), data("rail_stations_milano_ds80"),
                                           data("metro_stations_atm"), data("istat_limits_cmm"))),
        LayerSpec("services", "service_id",
                  lambda: _meta(["schools_rl", "hospitals_rl", "pharmacies_rl", "sports_milano_ds629",
                                 "pools_milano_ds32"], "Servizi: scuole, ospedali, farmacie, impianti sportivi",
                                "Scuole statali e CFP (capacity = allievi), strutture di ricovero, farmacie; "
                                "impianti sportivi e piscine SOLO per il Comune di Milano (nessuna fonte per gli altri comuni)",
                                coverage={"sport": "Comune di Milano only"}),
                  ["schools_rl", "hospitals_rl", "pharmacies_rl", "sports_milano_ds629", "pools_milano_ds32",
                   "istat_limits_cmm"],
                  lambda _: build_services([data(d) for d in ("schools_rl", "hospitals_rl", "pharmacies_rl",
                                                              "sports_milano_ds629", "pools_milano_ds32")],
                                           data("istat_limits_cmm"))),
        LayerSpec("hazard", "istat_code",
                  lambda: _meta(["ispra_pir_cmm"], "Pericolosità idraulica e da frana per comune (ISPRA PIR 2020)",
                                "Aree (km²) e popolazione in aree a pericolosità idraulica H/M/L e da frana P4–P1/AA"),
                  ["ispra_pir_cmm"], lambda _: data("ispra_pir_cmm")),
        LayerSpec("hydraulic_criticality", "istat_code",
                  lambda: _meta(["hydraulic_criticality_cmm"],
                                "Criticità idraulica R.R. 7/2017 e parametri LSPP per comune",
                                "Classe A/B/C e parametri della linea segnalatrice di possibilità pluviometrica "
                                "(a1, n, alpha, kappa, epsilon); vuoti dove la fonte li aveva imputati. "
                                "Trascrizione di terzi: l'utente può sostituirla."),
                  ["hydraulic_criticality_cmm"], lambda _: data("hydraulic_criticality_cmm")),
    ]
    for spec in specs:
        extra = BUILD_VERSION + "|" + spec.name + "|" + "|".join(
            opendata.registry.sha256_of(p) for p in spec.extra_inputs)
        if spec.name == "municipalities" or spec.name == "zones":
            extra += "|" + pd.util.hash_pandas_object(roles, index=False).astype(str).str.cat()
        fp = opendata.fingerprint(spec.inputs, extra)
        if not force and kb.has_layer(spec.name) and kb.input_fingerprint(spec.name) == fp:
            report.unchanged.append(spec.name)
            if progress:
                progress(spec.name)
            continue
        table = spec.build(None)
        res = kb.write_layer(spec.name, table, spec.meta(), key=spec.key, loaded_by="sttm kb build",
                             input_fingerprint=fp)
        (report.loaded if res.changed else report.unchanged).append(spec.name)
        if progress:
            progress(spec.name)
    return report


def territory_summary(kb: KnowledgeBase) -> dict:
    """The figures `sttm kb info` prints: counts, residents, zone assignment status."""
    m = kb.read_layer("municipalities")
    out = {
        "municipalities": len(m),
        "residents_anpr_2025": int(m["residents_anpr_2025"].sum()),
        "milano_residents": int(m.loc[m["istat_code"] == "015146", "residents_anpr_2025"].sum()),
        "zone_assigned": int(m["zone"].notna().sum()),
        "zone_unassigned": int(m["zone"].isna().sum()),
        "zones": m["zone"].dropna().value_counts().to_dict(),
        "roles": m["role"].dropna().value_counts().to_dict(),
    }
    if kb.has_layer("stations"):
        st = kb.read_layer("stations")
        out["stations"] = {"total": len(st), "in_cmm": int(st["in_cmm"].sum()),
                           **{f"{k}": int(v) for k, v in st["mode"].value_counts().items()}}
    if kb.has_layer("services"):
        sv = kb.read_layer("services")
        out["services"] = {k: int(v) for k, v in sv["category"].value_counts().items()}
    return out
