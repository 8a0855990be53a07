"""Location criteria of call proposals computed from knowledge-base layers (hand-made here)."""
from __future__ import annotations

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
