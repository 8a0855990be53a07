"""The annual call's 'indicators' criterion computed from STTM 1–3 layers where they exist (hand-made
layers), the comune's declaration otherwise; the ranking changes when an indicator is available."""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from sttm.procedures import annual_call as ac

EUR = 100


def proposals() -> list[ac.Proposal]:
    common = dict(cost=200_000 * EUR, requested=100_000 * EUR, strategies=("sttm1", "sttm2"), lum_level=1,
                  submitted_at="2026-03-01T10:00:00+00:00")
    return [
        # A declares 500 ‰; its category takes only the STTM 2 indicator
        ac.Proposal("A", "015001", "Centro civico", "public_services", indicator_score=500, **common),
        # B declares nothing; its site lies on an STTM 3 candidate site
        ac.Proposal("B", "015002", "Rigenerazione ex fornace", "urban_regeneration",
                    geometry=box(505_100, 5_000_100, 505_300, 5_000_300).wkt, **common),
        # C: no STTM data for its comune → keeps its declaration
        ac.Proposal("C", "015003", "Corridoio verde", "green_network_nbs", indicator_score=200, **common),
    ]


def layers() -> dict:
    nbs = pd.DataFrame({"sheet_id": ["flood:015002:a", "heat:015002:b", "flood:015001:c"],
                        "istat_code": ["015002", "015002", "015001"], "target_met": [False, False, True]})
    acc = pd.DataFrame({"istat_code": ["015001", "015002"], "score_15": [0.9, 0.25]})
    sites = gpd.GeoDataFrame({"site_id": ["S1", "S2"], "suitability": [80.0, float("nan")]},
                             geometry=[box(505_000, 5_000_000, 505_500, 5_000_500), Point(0, 0).buffer(10)], crs=32632)
    return {"sttm1": nbs, "sttm2": acc, "sttm3": sites}


def ranks(ranking) -> list[tuple[str, int | None, str]]:
    return sorted(((r.proposal.proposal_id, r.rank, r.outcome) for r in ranking), key=lambda x: (x[1] is None, x[1]))


def test_indicators_from_layers_change_the_ranking():
    declared = ac.rank_and_allocate(proposals(), 100_000 * EUR)
    # declared: strategies 20·2/3 + LUM 15 + indicators 15·‰/1000 → A 35.833 (500 ‰), C 31.333 (200 ‰), B 28.333 (none)
    assert ranks(declared) == [("A", 1, "funded"), ("C", 2, "not_funded"), ("B", 3, "not_funded")]
    scored, notes = ac.indicators(proposals(), layers())
    by = {p.proposal_id: p for p in scored}
    # A: STTM 2 only (public services): 1 − 0.9 = 0.1 → 100 ‰ (its declared 500 is replaced)
    assert by["A"].indicator_score == 100 and by["A"].location_source == "declared|ind:2"
    # B: STTM 1 2/2 sheets unmet = 1; STTM 2 1 − 0.25 = 0.75; STTM 3 site suitability 80/100 = 0.8 → 850 ‰
    assert by["B"].indicator_score == 850 and by["B"].location_source == "declared|ind:123"
    # C: no sheet, no accessibility row, no site → the declaration stands
    assert by["C"].indicator_score == 200 and by["C"].location_source == "declared"
    assert any(n.startswith("C: indicatori STTM non disponibili") for n in notes)
    computed = ac.rank_and_allocate(scored, 100_000 * EUR)
    # B 13.333 + 15 + 12.75 = 41.083 > C 31.333 > A 13.333 + 15 + 1.5 = 29.833: B is now funded
    assert ranks(computed) == [("B", 1, "funded"), ("C", 2, "not_funded"), ("A", 3, "not_funded")]
    assert float(ac.score(by["B"])) == pytest.approx(13.3333333 + 15 + 12.75)


def test_excluded_site_counts_zero_and_missing_layers_keep_declarations():
    p = ac.Proposal("D", "015004", "Opere su sito escluso", "urbanization_primary", cost=10, requested=5,
                    geometry=Point(0, 0).wkt, indicator_score=700)
    (d,), _ = ac.indicators([p], layers())
    assert d.indicator_score == 0                            # NaN suitability = excluded site → 0
    (same,), notes = ac.indicators([p], {"sttm1": None, "sttm2": None, "sttm3": None})
    assert same == p and "700 ‰" in notes[0]


def test_indicators_read_from_a_small_knowledge_base(tmp_path):
    from sttm.knowledge import LayerMeta, open_kb
    kb = open_kb(tmp_path / "kb.gpkg")
    meta = LayerMeta(title="t", description="d", source="test", licence="CC0", vintage="2026")
    lay = layers()
    kb.write_layers([("nbs_sheets", lay["sttm1"], meta, "sheet_id"), ("access_by_municipality", lay["sttm2"], meta,
                                                                      "istat_code"),
                     ("production_sites", lay["sttm3"], meta, "site_id")], loaded_by="test")
    scored, notes = ac.locate_from_kb(kb, proposals())
    assert [p.indicator_score for p in scored] == [100, 850, 200]
    assert any("strato 'lum' assente" in n for n in notes)
    kb.dispose()
