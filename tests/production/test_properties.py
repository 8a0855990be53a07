"""Properties of the scoring functions (hypothesis)."""
import geopandas as gpd
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from sttm.production import evaluation, suitability

dist = st.floats(0, 30000, allow_nan=False)
factors = st.fixed_dictionaries({
    "regen_level": st.sampled_from([0.0, 0.6, 1.0]), "dist_motorway_junction_m": dist,
    "dist_primary_road_m": dist, "dist_rail_terminal_m": dist,
    "workforce_pt": st.floats(0, 4e6, allow_nan=False), "dist_sensitive_m": dist,
    "n_attention": st.integers(0, 5)})


def _score(rows):
    gdf = gpd.GeoDataFrame(rows, geometry=[box(0, 0, 1, 1)] * len(rows), crs="EPSG:32632")
    gdf["excluded_share"] = 0.0
    return suitability.score(gdf)["suitability"].to_numpy()


@settings(max_examples=60, deadline=None)
@given(factors, st.floats(0, 5000, allow_nan=False))
def test_score_bounded_and_monotone_in_access(f, closer_by):
    a = dict(f)
    b = dict(f, dist_motorway_junction_m=max(0.0, f["dist_motorway_junction_m"] - closer_by))
    sa, sb = _score([a, b])
    assert 0 <= sa <= 100 and 0 <= sb <= 100
    assert sb >= sa - 1e-9                          # a closer junction never lowers suitability


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 100), st.floats(0, 100), st.booleans())
def test_grade_nc_iff_a_minimum_fails(renewable, permeable, invariance):
    p = dict(renewable_share=renewable, permeable_share=permeable, hydraulic_invariance=invariance,
             green_share=20, landscape_level=2, jobs_per_ha=50)
    ev = evaluation.evaluate(p)
    fails = renewable < 60 or permeable < 20 or not invariance
    assert (ev.grade == "NC") == fails and 0 <= ev.total <= 100
