"""Append-only records of balances, conferences and agreements on both backends (GeoPackage and
PostGIS), on the hand-made grid territory."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).parent))
from balance_fixtures import (grid_adjacency, grid_hydraulic, grid_municipalities, grid_services,  # noqa: E402
                              square_lonlat)

from sttm.equalization.balance import ProposalError, Territory, load_params  # noqa: E402
from sttm.equalization.balance import conference as cf  # noqa: E402
from sttm.equalization.balance import store  # noqa: E402
from sttm.equalization.balance.importer import import_proposal  # noqa: E402

HUB = {"act": {"kind": "SUAP", "istat_code": "015005", "title": "Polo logistico"},
       "forecasts": [{"id": "F1", "function": "logistics", "floor_area_m2": 100_000, "land_take_free_soil_m2": 150_000,
                      "new_impervious_m2": 120_000,
                      "geometry": square_lonlat(509_700, 5_006_000, 510_300, 5_006_250)}],
       "measures": [{"kind": "mitigation", "description": "fascia boscata", "cost_eur": 12_345.67, "istat_code": "015006"}]}


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def kb(request, tmp_path):
    from sttm.knowledge import open_kb
    url = str(tmp_path / "kb.gpkg") if request.param == "gpkg" else request.getfixturevalue("pg_cluster").new_database()
    k = open_kb(url)
    yield k
    k.dispose()


def test_import_is_one_transaction_and_append_only(kb):
    params = load_params()
    t = Territory.from_frames(grid_municipalities(), grid_adjacency(), grid_hydraulic(), grid_services())
    bad = {**HUB, "measures": [{"kind": "mitigation", "description": "x", "cost_eur": 1, "istat_code": "099999"}]}
    with pytest.raises(ProposalError, match=r"measures\[0\].istat_code"):
        import_proposal(kb, bad, params, "tester", t)
    store.ensure_schema(kb)
    with kb.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(store.proposals)).scalar_one() == 0
    pid, bid, r = import_proposal(kb, HUB, params, "tester", t)
    with kb.engine.connect() as c:
        alloc = c.execute(select(store.allocation_lines.c.recipient_kind, store.allocation_lines.c.amount_cents)
                          .where(store.allocation_lines.c.balance_id == bid).order_by(store.allocation_lines.c.line_no)).all()
        n_matrix = c.execute(select(func.count()).select_from(store.matrix)).scalar_one()
    # mitigation first (12,345.67 €), then 20% of the rest to the fund, then the comuni
    assert alloc[0] == ("measure", 1_234_567)
    assert alloc[1] == ("fund", round((180_000_000 - 1_234_567) * 0.2))
    assert sum(a for _, a in alloc) == 180_000_000 == r.total_resources_cents
    assert n_matrix > 9 * 5
    # the database refuses UPDATE and DELETE on every balance table
    for table in ("balance_results", "balance_allocations", "balance_proposals"):
        with pytest.raises(Exception, match="append-only"):
            with kb.engine.begin() as c:
                c.execute(text(f"DELETE FROM {table}"))
    # a stored proposal can be recomputed (new balance, the first one unchanged) with the same result
    from sttm.equalization.balance.importer import recompute
    bid2, r2 = recompute(kb, pid, params, "tester", t)
    assert bid2 == f"{pid}-B2" and r2.total_resources_cents == r.total_resources_cents
    assert [a.amount_cents for a in r2.allocation] == [a.amount_cents for a in r.allocation]
    assert r2.matrix["land_take_free_soil_m2"].to_dict() == pytest.approx(r.matrix["land_take_free_soil_m2"].to_dict())
    # conference → agreement, with the hash chain intact
    st = cf.open_conference(kb, bid, params, "cmm", on="2026-01-10")
    for code in st.invited:
        cf.record_position(kb, st.conference_id, code, "favourable", "", code, on="2026-01-15")
    cf.close_conference(kb, st.conference_id, "agreement", "cmm", on="2026-01-16")
    a = cf.draft_agreement(kb, st.conference_id, params, "cmm", on="2026-01-20")
    assert a.obligations[0]["istat_code"] == "015006" and a.obligations[0]["amount_cents"] == 1_234_567
    for s in a.signatories:
        cf.sign_agreement(kb, a.agreement_id, s, s, on="2026-02-01")
    assert cf.record_outcome(kb, a.agreement_id, "cmm", on="2026-02-02").status == "concluded"
    assert cf.verify(kb, st.conference_id) == [] and cf.verify(kb, a.agreement_id) == []
    with pytest.raises(Exception, match="append-only"):
        with kb.engine.begin() as c:
            c.execute(text("UPDATE agreement_events SET actor = 'x'"))
