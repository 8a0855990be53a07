"""The territorial inputs of the balance, read once from the knowledge base.

:class:`Territory` holds the municipalities (geometry, residents, zone), adjacency, the
hydraulic criticality/LSPP parameters and the service supply per comune as NumPy arrays so
that one balance over all 133 comuni costs a few milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

REQUIRED_MUNI_COLUMNS = ("istat_code", "name", "residents_anpr_2025")


class TerritoryError(ValueError):
    """A territorial input is missing or malformed (names the layer and column)."""


@dataclass
class Territory:
    munis: gpd.GeoDataFrame                  # index 0..n-1, EPSG:32632
    codes: np.ndarray
    names: np.ndarray
    residents: np.ndarray
    zones: np.ndarray
    points: np.ndarray                       # representative point x, y (m)
    geoms: np.ndarray                        # shapely polygons
    cmm: object                              # union of all comuni (prepared)
    tree: shapely.STRtree
    adjacency: dict[int, list[tuple[int, float]]]   # i -> [(j, border_m)]
    under12_share: np.ndarray
    lspp: pd.DataFrame                       # index istat_code: class, a1, n, alpha, kappa, epsilon
    service_supply: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    flood_high_pct: np.ndarray | None = None  # ISPRA PIR 2020: % of the comune's area in high flood hazard
    neighbours: gpd.GeoDataFrame | None = None  # comuni outside CMM (istat_code, name, province)
    service_points: gpd.GeoDataFrame | None = None   # the services layer (category, subcategory, capacity, istat_code)
    access_cells: gpd.GeoDataFrame | None = None     # STTM 2 (`sttm access run`): n_<k>, t_<k> per cell
    access_by_municipality: pd.DataFrame | None = None  # STTM 2: share_<k>, r_<k> per comune (index istat_code)
    lum: gpd.GeoDataFrame | None = None              # STTM 2 (`sttm lum build`): LUM stops (lum_id, level)

    @property
    def n(self) -> int:
        return len(self.codes)

    def index_of(self, code: str) -> int:
        try:
            return self._idx[code]
        except KeyError:
            raise KeyError(code) from None

    def __post_init__(self) -> None:
        self._idx = {c: i for i, c in enumerate(self.codes)}

    @classmethod
    def from_frames(cls, municipalities: gpd.GeoDataFrame, adjacency: pd.DataFrame | None = None,
                    hydraulic: pd.DataFrame | None = None,
                    services: gpd.GeoDataFrame | None = None, hazard: pd.DataFrame | None = None,
                    neighbours: gpd.GeoDataFrame | None = None, access_cells: gpd.GeoDataFrame | None = None,
                    access_by_municipality: pd.DataFrame | None = None,
                    lum: gpd.GeoDataFrame | None = None) -> "Territory":
        """Build from the knowledge-base layers (or hand-made frames with the same columns)."""
        m = municipalities
        for c in REQUIRED_MUNI_COLUMNS:
            if c not in m.columns:
                raise TerritoryError(f"layer 'municipalities': missing column {c!r}")
        if m.crs is None or m.crs.to_epsg() != 32632:
            m = m.to_crs(32632)
        m = m.sort_values("istat_code").reset_index(drop=True)
        notes: list[str] = []
        codes = m["istat_code"].astype(str).to_numpy()
        geoms = m.geometry.to_numpy()
        rp = shapely.point_on_surface(geoms)
        points = shapely.get_coordinates(rp)
        residents = m["residents_anpr_2025"].fillna(0).astype(float).to_numpy()
        zones = (m["zone"] if "zone" in m.columns else pd.Series([None] * len(m))).to_numpy(dtype=object)
        if "under12_istat_2021" in m.columns and "residents_istat_2021" in m.columns:
            u12 = (m["under12_istat_2021"] / m["residents_istat_2021"]).astype(float).to_numpy()
        else:
            u12 = np.full(len(m), np.nan)
        if np.isnan(u12).all():
            u12 = np.full(len(m), 0.11)
            notes.append("Quota under-12 non disponibile: usato 11% (media CMM ISTAT 2021, ipotesi).")
        else:
            u12 = np.where(np.isnan(u12), np.nanmedian(u12), u12)
        index = {c: i for i, c in enumerate(codes)}
        adj: dict[int, list[tuple[int, float]]] = {i: [] for i in range(len(codes))}
        if adjacency is not None and len(adjacency):
            for a, b, L in adjacency[["istat_a", "istat_b", "border_m"]].itertuples(index=False):
                ia, ib = index.get(str(a)), index.get(str(b))
                if ia is None or ib is None or not L or L <= 0:
                    continue            # cross-province pairs: the neighbour is outside CMM
                adj[ia].append((ib, float(L)))
                adj[ib].append((ia, float(L)))
        else:
            notes.append("Tabella 'adjacency' assente: adiacenze calcolate dalle geometrie.")
            tree = shapely.STRtree(geoms)
            for i, g in enumerate(geoms):
                for j in tree.query(g, predicate="touches"):
                    if j != i:
                        L = shapely.length(shapely.intersection(g.boundary, geoms[j].boundary))
                        if L > 0:
                            adj[i].append((int(j), float(L)))
        lspp_cols = ["class", "a1", "n", "alpha", "kappa", "epsilon"]
        if hydraulic is not None and len(hydraulic):
            h = hydraulic.copy()
            h["istat_code"] = h["istat_code"].astype(str)
            if "class" not in h.columns and "criticality_class" in h.columns:
                h = h.rename(columns={"criticality_class": "class"})
            lspp = h.set_index("istat_code").reindex(codes)[lspp_cols]
        else:
            lspp = pd.DataFrame(index=codes, columns=lspp_cols, dtype=float)
            notes.append("Tabella 'hydraulic_criticality' assente: deflusso non calcolabile.")
        supply: dict[str, np.ndarray] = {}
        if services is not None and len(services):
            s = services
            if "istat_code" not in s.columns or "category" not in s.columns:
                raise TerritoryError("layer 'services': needs columns 'istat_code' and 'category'")
            cap = s["capacity"] if "capacity" in s.columns else pd.Series(np.nan, index=s.index)
            for cat, grp in s.assign(_cap=cap).groupby("category"):
                w = grp["_cap"].fillna(0).astype(float) if cat == "school" and grp["_cap"].notna().any() \
                    else pd.Series(1.0, index=grp.index)
                per = w.groupby(grp["istat_code"].astype(str)).sum()
                supply[str(cat)] = per.reindex(codes).fillna(0).to_numpy(dtype=float)
        else:
            notes.append("Layer 'services' assente: domanda di servizi non calcolata.")
        flood = None
        if hazard is not None and len(hazard) and "flood_area_high_pct" in hazard.columns:
            hz = hazard.assign(istat_code=hazard["istat_code"].astype(str)).set_index("istat_code")
            flood = hz["flood_area_high_pct"].reindex(codes).fillna(0).astype(float).to_numpy()
        else:
            notes.append("Tabella 'hazard' assente: deflusso in aree a pericolosità idraulica non valutato.")
        if neighbours is not None and len(neighbours):
            neighbours = neighbours.to_crs(32632) if neighbours.crs and neighbours.crs.to_epsg() != 32632 else neighbours
            neighbours = neighbours[~neighbours["istat_code"].astype(str).isin(set(codes))].reset_index(drop=True)
        points_layer = None
        if services is not None and len(services) and services.geometry.notna().all():
            points_layer = services.to_crs(32632) if services.crs and services.crs.to_epsg() != 32632 else services
            points_layer = points_layer.assign(istat_code=points_layer["istat_code"].astype(str)).reset_index(drop=True)
        if access_cells is not None and len(access_cells):
            access_cells = access_cells.to_crs(32632) if access_cells.crs and access_cells.crs.to_epsg() != 32632 \
                else access_cells
            access_cells = access_cells.reset_index(drop=True)
        else:
            access_cells = None
        if access_by_municipality is not None and len(access_by_municipality):
            access_by_municipality = pd.DataFrame(access_by_municipality.drop(columns="geometry", errors="ignore"))
            access_by_municipality = access_by_municipality.assign(
                istat_code=access_by_municipality["istat_code"].astype(str)).set_index("istat_code")
        else:
            access_by_municipality = None
        if lum is not None and len(lum) and getattr(lum, "geometry", None) is not None:
            lum = (lum.to_crs(32632) if lum.crs and lum.crs.to_epsg() != 32632 else lum).reset_index(drop=True)
        else:
            lum = None
        cmm = shapely.union_all(geoms)
        shapely.prepare(cmm)
        return cls(munis=m, codes=codes, names=m["name"].astype(str).to_numpy(), residents=residents,
                   zones=zones, points=points, geoms=geoms, cmm=cmm, tree=shapely.STRtree(geoms),
                   adjacency=adj, under12_share=u12, lspp=lspp, service_supply=supply, notes=notes,
                   flood_high_pct=flood, neighbours=neighbours, service_points=points_layer,
                   access_cells=access_cells, access_by_municipality=access_by_municipality, lum=lum)

    @classmethod
    def from_kb(cls, kb) -> "Territory":
        """Read ``municipalities`` (required), ``adjacency``, ``hydraulic_criticality``, ``services``,
        ``hazard``, ``neighbour_municipalities`` and STTM 2's ``access_cells`` / ``access_by_municipality`` / ``lum``
        (optional) from an open knowledge base."""
        if not kb.has_layer("municipalities"):
            raise TerritoryError("knowledge base has no layer 'municipalities': run `sttm kb build`")
        opt = {}
        for name in ("adjacency", "hydraulic_criticality", "services", "hazard", "neighbour_municipalities",
                     "access_cells", "access_by_municipality", "lum"):
            opt[name] = kb.read_layer(name) if kb.has_layer(name) else None
        return cls.from_frames(kb.read_layer("municipalities"), opt["adjacency"],
                               opt["hydraulic_criticality"], opt["services"], opt["hazard"],
                               opt["neighbour_municipalities"], opt["access_cells"], opt["access_by_municipality"],
                               opt["lum"])
