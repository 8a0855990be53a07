"""Raster engine: against an independent direct-summation implementation of the InVEST method
on a small grid, hand values for curve-number runoff, and bad inputs."""
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from sttm.sustainability.raster import (Grid, RasterInputError, curve_number_runoff, load_landcover_table,
                                        read_raster, urban_cooling)

TR = from_origin(500_000, 5_000_000, 10, 10)


def table(tmp_path, rows=None):
    rows = rows or [(1, 0.1, 0, 0.0, 0.08, 98, 98, 98, 98), (2, 0.9, 1, 0.3, 0.2, 39, 61, 74, 80),
                    (3, 1.0, 1, 1.0, 0.15, 30, 55, 70, 77)]
    p = tmp_path / "t.csv"
    p.write_text("lucode,kc,green_area,shade,albedo,cn_a,cn_b,cn_c,cn_d\n" +
                 "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return load_landcover_table(p)


def grid(a, nodata=-1):
    return Grid(np.asarray(a), TR, rasterio.crs.CRS.from_epsg(32632), nodata)


def direct_normalized(signal, kernel):
    """Σ over kernel offsets, written out: Σ k·s·valid / Σ k·valid · Σ k (no FFT)."""
    r = kernel.shape[0] // 2
    valid = ~np.isnan(signal)
    s = np.where(valid, signal, 0.0)
    H, W = s.shape
    num = np.zeros_like(s)
    den = np.zeros_like(s)
    sp = np.pad(s, r)
    vp = np.pad(valid.astype(float), r)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            k = kernel[dy + r, dx + r]
            if k == 0:
                continue
            num += k * sp[r + dy:r + dy + H, r + dx:r + dx + W]
            den += k * vp[r + dy:r + dy + H, r + dx:r + dx + W]
    return np.where(valid, num / den * kernel.sum(), np.nan)


def test_cooling_matches_direct_summation_of_the_invest_method(tmp_path):
    rng = np.random.default_rng(1)
    lulc = rng.choice([1, 2, 3], size=(60, 56), p=[0.5, 0.3, 0.2]).astype(np.int16)
    lulc[15:45, 10:40] = 3           # a 9 ha wood
    lulc[0:3, 0:4] = -1              # nodata
    t = table(tmp_path)
    out = urban_cooling(grid(lulc), t, t_ref=29.0, uhi_max=4.0, green_area_cooling_distance=100.0,
                        t_air_average_radius=30.0)
    # independent reference
    shade = np.select([lulc == 1, lulc == 2, lulc == 3], [0.0, 0.3, 1.0], np.nan)
    albedo = np.select([lulc == 1, lulc == 2, lulc == 3], [0.08, 0.2, 0.15], np.nan)
    kc = np.select([lulc == 1, lulc == 2, lulc == 3], [0.1, 0.9, 1.0], np.nan)
    green = np.select([lulc == 1, lulc == 2, lulc == 3], [0.0, 1.0, 1.0], np.nan)
    cc = 0.6 * shade + 0.2 * albedo + 0.2 * kc
    yy, xx = np.mgrid[-50:51, -50:51]
    dist = np.hypot(yy, xx)
    k_exp = np.where(dist <= 50, np.exp(-dist / 10), 0)         # d = 100 m / 10 m = 10 px, cut at 5·d
    k_exp = k_exp / k_exp.sum()
    k_disk = (np.hypot(*np.mgrid[-10:11, -10:11]) <= 10).astype(float)  # 317 cells ≥ 200 = 2 ha
    cc_park = direct_normalized(np.where(np.isnan(cc), np.nan, np.where(green == 1, cc, 0)), k_exp)
    ga = direct_normalized(green, k_disk)
    hm = np.where((cc >= cc_park) | (ga < 2e4 / 100), cc, cc_park)
    t_nomix = 29 + (1 - hm) * 4
    yy, xx = np.mgrid[-15:16, -15:16]
    dist = np.hypot(yy, xx)
    k_mix = np.where(dist <= 15, np.exp(-dist / 3), 0)
    k_mix = k_mix / k_mix.sum()
    t_air = direct_normalized(t_nomix, k_mix)
    for name, ref in [("cc", cc), ("green_area_sum", ga), ("cc_park", cc_park), ("hm", hm), ("t_air", t_air)]:
        got = out[name]
        assert np.array_equal(np.isnan(got), np.isnan(ref)), name
        np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-5, atol=1e-7, err_msg=name)
    # the wood (> 2 ha) cools its surroundings: somewhere HM comes from the park, not the pixel
    assert np.nansum(out["hm"] > out["cc"] + 1e-6) > 0


def test_curve_number_runoff_by_hand(tmp_path):
    lulc = np.array([[1, 2], [3, -1]], np.int16)
    r = curve_number_runoff(grid(lulc), "B", table(tmp_path), rainfall_mm=40.0)
    s98 = 25400 / 98 - 254
    q98 = (40 - 0.2 * s98) ** 2 / (40 + 0.8 * s98)
    s61 = 25400 / 61 - 254                         # 162.4 mm → Ia 32.5 mm < 40: runoff
    q61 = (40 - 0.2 * s61) ** 2 / (40 + 0.8 * s61)
    s55 = 25400 / 55 - 254                         # 207.8 mm → Ia 41.6 mm > 40: no runoff
    assert 0.2 * s55 > 40
    assert r["q_mm"][0, 0] == pytest.approx(q98)
    assert r["q_mm"][0, 1] == pytest.approx(q61)
    assert r["q_mm"][1, 0] == 0.0
    assert np.isnan(r["q_mm"][1, 1])
    assert r["runoff_m3"][0, 0] == pytest.approx(q98 * 100 / 1000)
    assert r["retention_m3"][0, 0] == pytest.approx((1 - q98 / 40) * 40 * 100 / 1000)
    assert r["total_runoff_m3"] == pytest.approx((q98 + q61) * 0.1)


def write(path, a, crs="EPSG:32632", nodata=-1):
    with rasterio.open(path, "w", driver="GTiff", height=a.shape[0], width=a.shape[1], count=1,
                       dtype=a.dtype, crs=crs, transform=TR, nodata=nodata) as ds:
        ds.write(a, 1)
    return path


def test_raster_without_crs_is_refused(tmp_path):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = write(tmp_path / "nocrs.tif", np.ones((3, 3), np.int16), crs=None)
    with pytest.raises(RasterInputError, match="nocrs.tif: the raster has no coordinate reference system"):
        read_raster(p)


def test_raster_all_nodata_is_refused(tmp_path):
    p = write(tmp_path / "empty.tif", np.full((3, 3), -1, np.int16))
    with pytest.raises(RasterInputError, match="empty.tif: every pixel is nodata"):
        read_raster(p)


def test_classes_missing_from_table_are_listed(tmp_path):
    p = write(tmp_path / "lc.tif", np.array([[1, 7], [9, 2]], np.int16))
    with pytest.raises(RasterInputError, match=r"lc.tif: land-cover class\(es\) \[7, 9\] not in the table"):
        curve_number_runoff(read_raster(p), "A", table(tmp_path), 40.0)


def test_packaged_dusaf_table_covers_its_classes():
    t = load_landcover_table("dusaf")
    assert {1111, 1221, 1411, 2111, 213, 3111, 5122} <= set(t.df.index)
    assert t.column("cn_d").between(30, 100).all()
    assert set(t.column("green_area").unique()) <= {0, 1}


def test_geographic_crs_and_misaligned_soil_are_refused(tmp_path):
    p = write(tmp_path / "geo.tif", np.ones((3, 3), np.int16), crs="EPSG:4326")
    with pytest.raises(RasterInputError, match="geo.tif: CRS EPSG:4326 is geographic"):
        read_raster(p)
    lulc = grid(np.ones((3, 3), np.int16))
    soil = Grid(np.ones((2, 3), np.int16), TR, lulc.crs, 0, "soil.tif")
    with pytest.raises(RasterInputError, match="soil.tif: soil raster"):
        curve_number_runoff(lulc, soil, table(tmp_path), 40.0)
    soil = Grid(np.full((3, 3), 7, np.int16), TR, lulc.crs, 0, "soil7.tif")
    with pytest.raises(RasterInputError, match=r"soil7.tif: soil group values must be 1–4 \(A–D\); found \[7\]"):
        curve_number_runoff(lulc, soil, table(tmp_path), 40.0)
