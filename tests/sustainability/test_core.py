"""Catalogue, parameters and hydrology: hand-worked values."""
import math

import numpy as np
import pytest

from sttm.sustainability.catalogue import CatalogueError, REQUIRED_PARAMETERS, load_catalogue
from sttm.sustainability.hydrology import (LSPP, HydrologyError, gev_growth_factor, rainfall_curve_volume,
                                           scs_runoff_mm)
from sttm.sustainability.params import ParamError, load_params

MILANO = LSPP(a1=29.87, n=0.3006, alpha=0.2958, kappa=-0.0358, epsilon=0.8179)


def test_catalogue_has_every_parameter_with_a_source():
    cat = load_catalogue()
    nbs = {n.nbs_id for n in cat.nbs()}
    for needed in ("rain_garden", "bioswale", "permeable_paving", "green_roof_extensive", "green_roof_intensive",
                   "infiltration_trench", "detention_basin", "retention_pond", "desealing", "street_trees",
                   "urban_forest", "green_wall", "cool_pavement", "water_feature"):
        assert needed in nbs
    for n in cat.values():
        for p in REQUIRED_PARAMETERS:
            unit, source, status = n.sources[p]
            assert source.strip() and status.strip(), (n.nbs_id, p)
    assert cat["asphalt"].cn("d") == 98 and cat["urban_forest"].cn("B") == 55


def test_catalogue_bad_row_is_named(tmp_path):
    types = tmp_path / "t.csv"
    types.write_text("nbs_id,kind,name_it,name_en,sheets,green_area,rie_green,description_it\n"
                     "x,nbs,X,X,flood,0,0,x\n")
    params = tmp_path / "p.csv"
    rows = [f"x,{p},1,-,src,ok," for p in REQUIRED_PARAMETERS]
    rows[2] = "x,cn_B,abc,-,src,ok,"
    params.write_text("nbs_id,parameter,value,unit,source,status,note\n" + "\n".join(rows) + "\n")
    with pytest.raises(CatalogueError, match=r"p.csv row 4: field 'value' = 'abc'"):
        load_catalogue(types, params)


def test_params_carry_status_and_can_be_overridden(tmp_path):
    p = load_params()
    assert p.param("invariance.min_volume_m3_ha.A").status == "unverified"
    assert p["invariance.min_volume_m3_ha.B"] == 500
    f = tmp_path / "mine.toml"
    f.write_text("[invariance.min_volume_m3_ha]\nA = 750\n")
    q = load_params(f)
    assert q["invariance.min_volume_m3_ha.A"] == 750
    assert q.param("invariance.min_volume_m3_ha.A").status == "user_override"
    with pytest.raises(ParamError, match="unknown parameter 'invariance.nope'"):
        load_params(overrides={"invariance.nope": 1})


def test_scs_runoff_by_hand():
    # CN 98: S = 25400/98 - 254 = 5.18367 mm; Ia = 1.03673; Q(50) = 48.96327² / 54.14694
    assert scs_runoff_mm(50, 98) == pytest.approx(48.96327 ** 2 / 54.14694, rel=1e-5)
    # CN 61: S = 162.393 mm, Ia = 32.479 > 30 → no runoff
    assert scs_runoff_mm(30, 61) == 0.0
    with pytest.raises(HydrologyError):
        scs_runoff_mm(10, 0)


def test_gev_growth_factor_and_rainfall_curve_volume_milano():
    # wT(50) = ε + α/κ (1 − (ln(50/49))^κ)
    y = math.log(50 / 49)
    wt = 0.8179 + 0.2958 / -0.0358 * (1 - y ** -0.0358)
    assert gev_growth_factor(50, 0.2958, -0.0358, 0.8179) == pytest.approx(wt)
    assert wt == pytest.approx(2.0566, abs=1e-4)
    v = rainfall_curve_volume(10_000, 1.0, MILANO, 50, 10.0)
    # brute force: inflow 10·a·D^n m³/ha (mm → m³ on 1 ha) minus outflow u·3.6·D m³ (l/s over D hours)
    a = 29.87 * wt
    d = np.linspace(0.5, 48, 400_001)
    w = 10 * a * d ** 0.3006 - 10 * 3.6 * d
    assert v.volume_m3 == pytest.approx(w.max(), rel=1e-7)
    assert v.critical_duration_h == pytest.approx(d[w.argmax()], abs=1e-3)
    assert v.volume_m3 == pytest.approx(867.55, abs=0.01)


def test_lspp_missing_value_is_reported():
    with pytest.raises(HydrologyError, match="'n' is missing"):
        LSPP(a1=29.28, n=float("nan"), alpha=0.2982, kappa=-0.0473, epsilon=0.8126)
