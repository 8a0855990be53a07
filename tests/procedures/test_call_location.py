"""Location criteria of call proposals computed from knowledge-base layers (hand-made here)."""
from __future__ import annotations

from fractions import Fraction

import geopandas as gpd
from shapely.geometry import MultiPoint, Point, box

from sttm.procedures.annual_call import Proposal, locate, score

LUM = gpd.GeoDataFrame({"lum_id": ["L1", "L2"], "level": ["metropolitano", "sovracomunale"]},
                       geometry=[MultiPoint([(0, 0), (100, 0)]), MultiPoint([(2000, 0)])], crs=32632)
OPP = gpd.GeoDataFrame({"area_id": ["A1"]}, geometry=[box(1900, -100, 2100, 100)], crs=32632)


def _p(pid, geom, **kw):
    return Proposal(pid, "015146", "t", "urban_regeneration", 100, 50, 0, ("sttm1",), geometry=geom.wkt if geom else None,
                    **kw)


def test_locate_from_layers():
    props = [_p("near-metro", Point(450, 0)),            # 350 m from L1's second stop
             _p("in-opp", Point(2000, 50)),                # inside A1, 50 m from L2
             _p("far", Point(5000, 5000), in_green_network=True),
             _p("no-geom", None, lum_level=3, in_regeneration_area=True)]
    out, notes = locate(props, {"lum": LUM, "green_network": None, "regeneration": OPP})
    by = {p.proposal_id: p for p in out}
    assert (by["near-metro"].lum_level, by["near-metro"].in_regeneration_area) == (1, False)
    assert (by["in-opp"].lum_level, by["in-opp"].in_regeneration_area) == (2, True)
    assert (by["far"].lum_level, by["far"].in_regeneration_area, by["far"].in_green_network) == (0, False, True)
    assert by["far"].location_source == "kb+declared" and by["no-geom"].location_source == "declared"
    assert by["no-geom"].lum_level == 3 and by["no-geom"].in_regeneration_area
    assert any("green_network" in n for n in notes)
    # the declared LUM level 1 of a proposal 1 km away is corrected by the layer: 15 points fewer
    declared = _p("claim", Point(1000, 500), lum_level=1)
    [located], _ = locate([declared], {"lum": LUM, "green_network": None, "regeneration": OPP})
    assert located.lum_level == 0 and score(declared) - score(located) == 15


# the green network: a 1 km × 200 m corridor along the x axis east of LUM L1
GREEN = gpd.GeoDataFrame({"rvm_id": ["RVM-1"]}, geometry=[box(0, -100, 1000, 100)], crs=32632)


def test_green_network_layer_decides_in_green_network():
    props = [_p("in-green", Point(500, 50)),                                  # inside the corridor
             _p("out-claim", Point(600, 400), in_green_network=True),         # 300 m north: declared, not in it
             _p("edge", box(950, 90, 1200, 300))]                             # a polygon overlapping its corner
    out, notes = locate(props, {"lum": LUM, "green_network": GREEN, "regeneration": OPP})
    by = {p.proposal_id: p for p in out}
    assert by["in-green"].in_green_network is True
    assert by["out-claim"].in_green_network is False                          # the layer corrects the claim
    assert by["edge"].in_green_network is True
    # all three layers present: every location criterion comes from the knowledge base, nothing declared
    assert {p.location_source for p in out} == {"kb"} and notes == []
    # points added by the layer: weight 15 × 1 (call_criteria.csv, green_network)
    without = locate([props[0]], {"lum": LUM, "green_network": GREEN.iloc[0:0], "regeneration": OPP})[0][0]
    assert without.in_green_network is False
    assert score(by["in-green"]) - score(without) == 15
    # "in-green" in full: strategies 1 of 3 × 20 = 20/3; 403 m (√(400² + 50²)) from L1's stop (100, 0) →
    # LUM level 1, 15 × 3/3 = 15; green network 15; not in A1, no indicators, no co-funding → 110/3
    assert score(by["in-green"]) == Fraction(110, 3)
    # "out-claim" loses the 15 it declared: 640 m (√(500² + 400²)) from (100, 0) → outside the 500 m LUM
    # radius, so only the strategies' 20/3 remain (declared: 20/3 + 15 = 65/3)
    assert score(props[1]) == Fraction(65, 3) and score(by["out-claim"]) == Fraction(20, 3)
