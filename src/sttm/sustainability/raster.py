"""Raster engine: curve-number runoff/retention and the Urban Cooling Model on a land-cover grid.

Pure NumPy/SciPy. Reproduces the methods of InVEST 3.20.2 *Urban Flood Risk Mitigation*
(runoff Q, runoff-retention index and volume) and *Urban Cooling Model* (CC, green-area sum,
CC_park, HM, T_air with air mixing), including InVEST's edge/nodata normalisation of the
convolutions (``conv(signal)/conv(valid) · Σkernel``), its kernels (dichotomous disk of radius
round(d/cell) for green-area sums; exponential decay exp(−r/d) truncated at 5d and normalised,
for CC_park and air mixing) and its rule HM = CC_park where ≥ 2 ha of green lie within the
cooling distance and CC_park > CC. Convolutions are FFTs (scipy.fft) on one padded shape that
share the transforms of the validity mask and of each kernel across signals.

Nodata is NaN inside the engine. Inputs are validated: a raster must have a CRS, classes must
all be in the land-cover table, and a raster that is nodata everywhere is refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "RasterInputError", "LandcoverTable", "read_landcover", "rasterize_landcover", "load_landcover_table", "read_raster", "Grid",
    "curve_number_runoff", "urban_cooling", "disk_kernel", "exponential_kernel", "convolve_normalized",
    "write_geotiff",
]

TABLE_COLUMNS_CN = ("cn_a", "cn_b", "cn_c", "cn_d")
TABLE_COLUMNS_UCM = ("kc", "green_area", "shade", "albedo")


class RasterInputError(ValueError):
    """Bad raster or table input; the message names the file and the offending field/classes."""


# --------------------------------------------------------------------------- tables
@dataclass
class LandcoverTable:
    df: pd.DataFrame   # indexed by lucode (int)
    name: str

    def column(self, col: str) -> pd.Series:
        if col not in self.df.columns:
            raise RasterInputError(f"{self.name}: column {col!r} missing (needed by the model)")
        s = pd.to_numeric(self.df[col], errors="coerce")
        bad = s[s.isna()]
        if len(bad):
            raise RasterInputError(f"{self.name}: column {col!r} is not numeric for lucode(s) {list(bad.index)[:10]}")
        return s


def load_landcover_table(source: str | Path = "dusaf") -> LandcoverTable:
    """``"dusaf"`` or ``"generic"`` (packaged tables with sources) or a CSV path with a ``lucode`` column."""
    if str(source) in ("dusaf", "generic"):
        name = f"data/landcover_{source}.csv"
        with resources.files("sttm.sustainability").joinpath(name).open("rb") as f:
            df = pd.read_csv(f)
    else:
        name = str(source)
        try:
            df = pd.read_csv(source)
        except (OSError, pd.errors.ParserError) as exc:
            raise RasterInputError(f"{name}: cannot read the land-cover table ({exc})") from exc
    df.columns = [c.strip().lower() for c in df.columns]
    if "lucode" not in df.columns:
        raise RasterInputError(f"{name}: column 'lucode' missing")
    codes = pd.to_numeric(df["lucode"], errors="coerce")
    if codes.isna().any():
        rows = [int(i) + 2 for i in np.flatnonzero(codes.isna())]
        raise RasterInputError(f"{name}: field 'lucode' not an integer on row(s) {rows[:10]}")
    df["lucode"] = codes.astype(np.int64)
    if df["lucode"].duplicated().any():
        raise RasterInputError(f"{name}: duplicated lucode {df.loc[df['lucode'].duplicated(), 'lucode'].tolist()[:10]}")
    return LandcoverTable(df.set_index("lucode"), name)


# --------------------------------------------------------------------------- raster IO
@dataclass
class Grid:
    """A single-band raster in memory: data (float64 with NaN nodata or int), geo-metadata."""

    data: np.ndarray
    transform: Any
    crs: Any
    nodata: float | None
    path: str = "<memory>"

    @property
    def cell_size(self) -> float:
        return float(min(abs(self.transform.a), abs(self.transform.e)))

    @property
    def pixel_area(self) -> float:
        return float(abs(self.transform.a * self.transform.e))

    def valid(self) -> np.ndarray:
        if self.nodata is None:
            return np.ones(self.data.shape, bool)
        if isinstance(self.nodata, float) and np.isnan(self.nodata):
            return ~np.isnan(self.data)
        return self.data != self.nodata


def read_raster(path: str | Path, require_projected: bool = True) -> Grid:
    import rasterio

    path = str(path)
    try:
        with rasterio.open(path) as ds:
            crs, transform, nodata = ds.crs, ds.transform, ds.nodata
            data = ds.read(1)
    except rasterio.errors.RasterioIOError as exc:
        raise RasterInputError(f"{path}: cannot be opened as a raster ({exc})") from exc
    if crs is None:
        raise RasterInputError(f"{path}: the raster has no coordinate reference system (CRS); "
                               "assign one (e.g. EPSG:32632) before running the model")
    if require_projected and not crs.is_projected:
        raise RasterInputError(f"{path}: CRS {crs.to_string()} is geographic; reproject to metres (EPSG:32632)")
    g = Grid(data, transform, crs, nodata, path)
    if not g.valid().any():
        raise RasterInputError(f"{path}: every pixel is nodata ({nodata}); nothing to compute")
    return g


def rasterize_landcover(path: str | Path, field: str = "COD_TOT", cell: float = 10.0,
                        nodata: int = -1) -> Grid:
    """Rasterize a land-cover vector (DUSAF shapefile/GPKG/zip, class code in ``field``) to EPSG:32632."""
    import geopandas as gpd
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    path = str(path)
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:
        raise RasterInputError(f"{path}: cannot be read as a vector land cover ({exc})") from exc
    if gdf.crs is None:
        raise RasterInputError(f"{path}: the land-cover vector has no coordinate reference system (CRS)")
    if field not in gdf.columns:
        raise RasterInputError(f"{path}: field {field!r} missing (columns: {', '.join(map(str, gdf.columns[:15]))})")
    if gdf.empty:
        raise RasterInputError(f"{path}: no features")
    codes = pd.to_numeric(gdf[field], errors="coerce")
    if codes.isna().any():
        bad = gdf.loc[codes.isna(), field].astype(str).unique().tolist()[:10]
        raise RasterInputError(f"{path}: field {field!r} has non-numeric class codes {bad}")
    gdf = gdf.to_crs(32632)
    minx, miny, maxx, maxy = gdf.total_bounds
    width = int(np.ceil((maxx - minx) / cell))
    height = int(np.ceil((maxy - miny) / cell))
    transform = from_origin(minx, maxy, cell, cell)
    data = rasterize(zip(gdf.geometry, codes.astype(np.int64)), out_shape=(height, width), transform=transform,
                     fill=nodata, dtype="int32")
    return Grid(data, transform, gdf.crs, nodata, path)


def read_landcover(path: str | Path, field: str = "COD_TOT", cell: float = 10.0) -> Grid:
    """A land-cover raster (.tif), or a vector land cover (DUSAF) rasterized on the fly."""
    if str(path).lower().endswith((".tif", ".tiff", ".vrt", ".img")):
        return read_raster(path)
    return rasterize_landcover(path, field, cell)


def write_geotiff(path: str | Path, array: np.ndarray, like: Grid, nodata: float = -9999.0) -> None:
    import rasterio

    out = np.where(np.isnan(array), nodata, array).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", height=out.shape[0], width=out.shape[1], count=1,
                       dtype="float32", crs=like.crs, transform=like.transform, nodata=nodata,
                       tiled=True, blockxsize=256, blockysize=256, compress="deflate") as ds:
        ds.write(out, 1)


def _class_index(lulc: Grid, table: LandcoverTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index of each pixel's class in ``uniq``, ``len(uniq)`` on nodata; valid mask; uniq codes).
    Fails on classes missing from the table, naming them. Append NaN to a per-class table and
    index it with the result to get a per-pixel array with NaN on nodata in one gather."""
    valid = lulc.valid()
    data = lulc.data
    if not np.issubdtype(data.dtype, np.integer):
        vals = data[valid]
        if not np.all(np.equal(np.mod(vals, 1), 0)):
            raise RasterInputError(f"{lulc.path}: land-cover values must be integer class codes")
        data = np.where(valid, data, 0).astype(np.int64)
    vd = data[valid]
    lo, hi = int(vd.min()), int(vd.max())
    direct = lo >= 0 and hi < 2_000_000
    if direct:   # look-up table on the code value: no sort of the whole raster
        present = np.zeros(hi + 1, bool)
        present[vd] = True
        uniq = np.flatnonzero(present)
    else:
        uniq = np.unique(vd)
    del vd
    missing = sorted(set(uniq.tolist()) - set(table.df.index.tolist()))
    if missing:
        raise RasterInputError(f"{lulc.path}: land-cover class(es) {missing[:20]} not in the table {table.name} "
                               f"(column 'lucode'); add them or reclassify the raster")
    if direct:
        pos = np.full(hi + 2, uniq.size, np.int32)
        pos[uniq] = np.arange(uniq.size, dtype=np.int32)
        idx = pos[np.where(valid, data, hi + 1)]
    else:
        idx = np.searchsorted(uniq, np.where(valid, data, uniq[0])).astype(np.int32)
        idx[~valid] = uniq.size
    return idx, valid, uniq


def _ext(values: np.ndarray) -> np.ndarray:
    """Per-class table + a NaN slot for the nodata sentinel."""
    return np.append(np.asarray(values, np.float64), np.nan)


def _classes_lookup(lulc: Grid, table: LandcoverTable, columns: tuple[str, ...]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Map land-cover codes to parameter arrays (NaN where nodata); fail on unknown classes."""
    idx, valid, uniq = _class_index(lulc, table)
    return {col: _ext(table.column(col).reindex(uniq).to_numpy(np.float64))[idx] for col in columns}, valid


# --------------------------------------------------------------------------- kernels & convolution
def _distances(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1, dtype=np.float64)
    return np.hypot(r[:, None], r[None, :])


def disk_kernel(max_distance_px: float) -> np.ndarray:
    """1 within ``max_distance_px`` (pixel-centre distance), else 0; size 2·floor(d)+1."""
    d = _distances(int(np.floor(max_distance_px)))
    return (d <= max_distance_px).astype(np.float32).astype(np.float64)


def exponential_kernel(expected_distance_px: float, max_distance_px: float) -> np.ndarray:
    """exp(−r/d) for r ≤ max distance, normalised to sum 1 (float32 values, like InVEST's kernel file)."""
    d = _distances(int(np.floor(max_distance_px)))
    k = np.zeros(d.shape, np.float32)
    m = d <= max_distance_px
    k[m] = np.exp(-d[m] / expected_distance_px)
    k = (k / np.float32(k.sum(dtype=np.float32))).astype(np.float32)
    return k.astype(np.float64)


class NormalizedConvolver:
    """Edge- and nodata-normalised convolutions (InVEST/pygeoprocessing style) on one grid::

        out = conv(signal·valid) / conv(valid) · Σkernel,   NaN where the signal is NaN

    All transforms share one padded FFT shape, so the FFT of a validity mask and of each kernel
    is computed once and reused by every signal convolved with it (linear, not circular: the
    padding covers the largest kernel).
    """

    def __init__(self, shape: tuple[int, int], max_kernel: int):
        import scipy.fft as sfft

        self._fft = sfft
        self.shape = shape
        self.pad = (sfft.next_fast_len(shape[0] + max_kernel - 1, True),
                    sfft.next_fast_len(shape[1] + max_kernel - 1, True))
        self._masks: list[tuple[np.ndarray, np.ndarray]] = []

    def _rfft(self, a: np.ndarray) -> np.ndarray:
        return self._fft.rfft2(a, self.pad)

    def _inverse(self, spec: np.ndarray, kshape: tuple[int, int]) -> np.ndarray:
        full = self._fft.irfft2(spec, self.pad)
        r0, c0 = kshape[0] // 2, kshape[1] // 2
        return full[r0:r0 + self.shape[0], c0:c0 + self.shape[1]]

    def _kernel_hat(self, kernel: np.ndarray) -> np.ndarray:
        if max(kernel.shape) > self.pad[0] - self.shape[0] + 1 or max(kernel.shape) > self.pad[1] - self.shape[1] + 1:
            raise ValueError("kernel larger than the convolver was sized for")
        return self._rfft(kernel)

    def _mask_hat(self, valid: np.ndarray) -> np.ndarray:
        for m, h in self._masks:
            if m is valid or np.array_equal(m, valid):
                return h
        h = self._rfft(valid.astype(np.float64))
        self._masks.append((valid, h))
        return h

    def __call__(self, signal: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        valid = ~np.isnan(signal)
        k_hat = self._kernel_hat(kernel)
        spec = self._rfft(np.where(valid, signal, 0.0).astype(np.float64, copy=False))
        spec *= k_hat
        num = self._inverse(spec, kernel.shape)
        del spec
        num[(num >= 0) & (num <= 2e-8)] = 0.0  # pygeoprocessing's round-off clamp (isclose to 1e-8)
        k_hat *= self._mask_hat(valid)
        den = self._inverse(k_hat, kernel.shape)
        del k_hat
        out = np.full(signal.shape, np.nan)
        ok = valid & (den > 0)
        out[ok] = num[ok] / den[ok] * float(kernel.sum())
        bad = valid & ~(den > 0)
        out[bad] = num[bad]
        return out


def convolve_normalized(signal: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """One normalised convolution (see :class:`NormalizedConvolver`)."""
    return NormalizedConvolver(signal.shape, max(kernel.shape))(signal, kernel)


# --------------------------------------------------------------------------- models
def curve_number_runoff(lulc: Grid, soil_group: Grid | int | str, table: LandcoverTable,
                        rainfall_mm: float, lam: float = 0.2) -> dict[str, np.ndarray | float]:
    """SCS-CN runoff per pixel (InVEST UFRM method).

    ``soil_group``: a raster of 1–4 (A–D, as InVEST) aligned with ``lulc``, or one group for all.
    Returns ``cn``, ``q_mm``, ``runoff_m3``, ``retention_index`` (1 − Q/P), ``retention_m3``, and totals.
    """
    if rainfall_mm <= 0:
        raise RasterInputError("rainfall depth must be > 0 mm")
    idx, valid, uniq = _class_index(lulc, table)
    cn_table = np.stack([table.column(c).reindex(uniq).to_numpy(np.float64) for c in TABLE_COLUMNS_CN], axis=1)
    p = float(rainfall_mm)
    # runoff depends only on (class, soil group): evaluate the SCS formula on that small table, then gather
    with np.errstate(divide="ignore", invalid="ignore"):
        s_tab = np.where(cn_table == 0, 100000.0, 25400.0 / cn_table - 254.0)
        q_tab = np.where(p <= lam * s_tab, 0.0, (p - lam * s_tab) ** 2 / (p + (1 - lam) * s_tab))
    n = uniq.size
    if isinstance(soil_group, Grid):
        if soil_group.data.shape != lulc.data.shape:
            raise RasterInputError(f"{soil_group.path}: soil raster {soil_group.data.shape} not aligned with "
                                   f"land cover {lulc.data.shape}")
        sv = soil_group.valid()
        g = soil_group.data
        bad = valid & sv & ((g < 1) | (g > 4))
        if bad.any():
            raise RasterInputError(f"{soil_group.path}: soil group values must be 1–4 (A–D); found "
                                   f"{sorted(np.unique(g[bad]).tolist())[:10]}")
        del bad
        idx[~sv] = n                                   # no soil group → nodata
        valid = valid & sv
        flat = idx * 4 + np.where(sv, g - 1, 0).astype(np.int32)
    else:
        idx_g = "ABCD".index(str(soil_group).upper()) if str(soil_group).upper() in "ABCD" else int(soil_group) - 1
        if not 0 <= idx_g <= 3:
            raise RasterInputError(f"soil group {soil_group!r}: use A–D or 1–4")
        flat = idx * 4 + np.int32(idx_g)
    del idx
    if not valid.any():
        raise RasterInputError(f"{lulc.path}: no pixel with both land cover and soil group")
    area = lulc.pixel_area
    tabs = {"cn": cn_table, "q_mm": q_tab, "runoff_m3": q_tab * area * 1e-3, "retention_index": 1.0 - q_tab / p,
            "retention_m3": (1.0 - q_tab / p) * p * area * 1e-3}
    counts = np.bincount(flat.ravel(), minlength=4 * n + 4)[:4 * n]
    out: dict = {k: np.append(v.ravel(), [np.nan] * 4)[flat] for k, v in tabs.items()}
    out["total_runoff_m3"] = float(np.sum(counts * tabs["runoff_m3"].ravel()))
    out["total_retention_m3"] = float(np.sum(counts * tabs["retention_m3"].ravel()))
    return out


def urban_cooling(lulc: Grid, table: LandcoverTable, t_ref: float, uhi_max: float,
                  green_area_cooling_distance: float, t_air_average_radius: float,
                  et0: Grid | float | None = None, cc_method: str = "factors",
                  weights: tuple[float, float, float] = (0.6, 0.2, 0.2),
                  green_area_min_m2: float = 2e4) -> dict[str, np.ndarray]:
    """InVEST Urban Cooling Model, without valuation. Distances in metres.

    Returns ``cc``, ``green_area_sum`` (pixels, edge-corrected), ``cc_park``, ``hm``,
    ``t_air_nomix`` and ``t_air`` (°C).
    """
    cols = ("kc", "green_area") + (("shade", "albedo") if cc_method == "factors" else ("building_intensity",))
    if cc_method not in ("factors", "intensity"):
        raise RasterInputError("cc_method must be 'factors' or 'intensity'")
    idx, valid, uniq = _class_index(lulc, table)
    tab = {c: table.column(c).reindex(uniq).to_numpy(np.float64) for c in cols}
    cell = lulc.cell_size
    ws = np.asarray(weights, float) / float(np.sum(weights))

    def per_pixel(values: np.ndarray) -> np.ndarray:
        return _ext(values)[idx]

    if cc_method == "factors" and isinstance(et0, Grid):
        if et0.data.shape != lulc.data.shape:
            raise RasterInputError(f"{et0.path}: ET0 raster not aligned with the land cover")
        e = np.where(et0.valid(), et0.data.astype(np.float64), np.nan)
        emax = float(np.round(np.nanmax(e), 9))
        if not emax > 0:
            raise RasterInputError(f"{et0.path}: ET0 maximum must be > 0")
        cc = (per_pixel(ws[0] * tab["shade"] + ws[1] * tab["albedo"])
              + ws[2] * per_pixel(tab["kc"]) * e / emax)
        del e
    elif cc_method == "factors":      # uniform ET0: ETI = Kc, so CC is a per-class value
        cc = per_pixel(ws[0] * tab["shade"] + ws[1] * tab["albedo"] + ws[2] * tab["kc"])
    else:
        cc = per_pixel(1.0 - tab["building_intensity"])
    cc = cc.astype(np.float32)   # InVEST writes CC as float32
    green = per_pixel(tab["green_area"])
    del idx
    cc_green = np.where(np.isnan(cc) | np.isnan(green), np.nan, np.where(green.astype(bool), cc, 0.0))
    dist_px = int(np.round(green_area_cooling_distance / cell))
    if dist_px < 1:
        raise RasterInputError(f"green_area_cooling_distance {green_area_cooling_distance} m is below one cell ({cell} m)")
    mix_px = int(np.round(t_air_average_radius / cell))
    if mix_px < 1:
        raise RasterInputError(f"t_air_average_radius {t_air_average_radius} m is below one cell ({cell} m)")
    k_park, k_disk, k_mix = (exponential_kernel(dist_px, 5 * dist_px), disk_kernel(dist_px),
                             exponential_kernel(mix_px, 5 * mix_px))
    conv = NormalizedConvolver(cc.shape, max(k.shape[0] for k in (k_park, k_disk, k_mix)))
    cc_park = conv(cc_green, k_park)
    del cc_green
    # a pixel count: round off the FFT noise so that exactly 2 ha (e.g. 200 cells of 10 m) counts
    ga_sum = np.round(conv(green, k_disk), 6)
    del green
    threshold = green_area_min_m2 / cell ** 2
    use_cc = (cc >= cc_park) | (ga_sum < threshold)
    hm = np.where(use_cc, cc, cc_park)
    del use_cc
    hm = np.where(np.isnan(cc) & np.isnan(cc_park), np.nan, hm).astype(np.float32)
    t_nomix = (t_ref + (1.0 - hm.astype(np.float64)) * uhi_max).astype(np.float32)
    # convolve the anomaly (T − T_ref): same result, smaller dynamic range for the FFT
    t_air = conv(t_nomix.astype(np.float64) - t_ref, k_mix) + t_ref * float(k_mix.sum())
    return {"cc": cc, "green_area_sum": ga_sum, "cc_park": cc_park, "hm": hm,
            "t_air_nomix": t_nomix, "t_air": t_air}
