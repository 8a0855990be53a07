"""Worked examples of adhesion in each of the cases a–d (Relazione §4.5 and its tables), with the
advantages each unlocks, and the ledger asking the adhesion registry before a quota exchange."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from sttm.equalization.fund import Ledger, LedgerRefused, quota_allocation, quota_transfer
from sttm.procedures import adhesion as ad
from sttm.procedures.adhesion import AdhesionError

ALL_BUT_AGREEMENT = {"annual_call", "soil_quota_exchange", "cmm_list_proposals", "fund_financing", "cmm_partnership",
                     "regeneration_conferred"}
FIN = {"fin_contribution": "10% dei contributi aggiuntivi art. 43 c.2bis LR 12/2005, cap. 1234 Bilancio CMM"}


@pytest.fixture
def eng(tmp_path):
    return create_engine(f"sqlite:///{tmp_path / 'kb.gpkg'}")


def test_catalogue_is_the_report_table():
    cases = ad.cases()
    assert set(cases) == {"a", "b", "c", "d"}
    assert [s["id"] for s in cases["a"]["steps"]] == ["compatibility_request", "adhesion_act", "diffusion_balance",
                                                      "conference", "agreement"]
    assert "Art.10 NdA PTM" in cases["a"]["legal_refs"] and "Art.10 NdA PTM" not in cases["b"]["legal_refs"]
    assert cases["c"]["legal_refs"] == ["Art. 11 c.2ter LR 12/2005", "Art.11 NdA PTM", "Art.14 NdA PTM",
                                        "Art.19, c.5 ,6,7,8 NdA PTM"]
    assert cases["d"]["obligations"] == ["soil_quota_sharing"]
    assert set(cases["b"]["advantages"]) == ALL_BUT_AGREEMENT


def test_case_a_with_agreement(eng):
    aid = ad.open_adhesion(eng, "015146", "a", author="ufficio", subject="Variante PGT — ambito ATU-3")
    st = ad.record_step(eng, aid, "compatibility_request", act_ref="prot. 1001/2026", author="tecnico",
                        author_role="comune:015146")
    assert st.advantages == [] and st.next_steps == ["adhesion_act"]
    st = ad.record_step(eng, aid, "adhesion_act", act_ref="DCC n. 12 del 2026-03-01", act_date="2026-03-01",
                        author="sindaco", author_role="comune:015146", commitments=FIN)
    assert set(st.advantages) == ALL_BUT_AGREEMENT and st.adherent
    st = ad.record_step(eng, aid, "diffusion_balance", act_ref="prot. 1002/2026", author="t", author_role="comune:015146")
    with pytest.raises(AdhesionError) as ei:      # the conference is convened by CMM
        ad.record_step(eng, aid, "conference", act_ref="x", author="t", author_role="comune:015146")
    assert ei.value.code == "role"
    ad.record_step(eng, aid, "conference", act_ref="Decreto CMM 55/2026", author="cmm-pt", author_role="cmm")
    with pytest.raises(AdhesionError) as ei:      # the agreement must state its charges
        ad.record_step(eng, aid, "agreement", act_ref="AT 3/2026", author="cmm-pt", author_role="cmm")
    assert ei.value.code == "commitments"
    st = ad.record_step(eng, aid, "agreement", act_ref="Accordo territoriale 3/2026", author="cmm-pt", author_role="cmm",
                        commitments={"balance_concertation": "30% dei contributi aggiuntivi ai Comuni contermini",
                                     "agreement_charges": "pista ciclabile intercomunale"})
    assert set(st.advantages) == ALL_BUT_AGREEMENT | {"agreement_advantages"} and st.complete


def test_case_a_relevance_not_recognised(eng):
    aid = ad.open_adhesion(eng, "015146", "a", author="u")
    ad.record_step(eng, aid, "compatibility_request", act_ref="r", author="t", author_role="comune:015146")
    ad.record_step(eng, aid, "adhesion_act", act_ref="DCC 1", author="t", author_role="comune:015146", commitments=FIN)
    ad.record_step(eng, aid, "diffusion_balance", act_ref="r", author="t", author_role="comune:015146")
    with pytest.raises(AdhesionError):            # only CMM, with a reason
        ad.record_step(eng, aid, "conference", act_ref="r", author="t", author_role="cmm", status_="not_due")
    st = ad.record_step(eng, aid, "conference", act_ref="parere compatibilità 9/2026", author="cmm", author_role="cmm",
                        status_="not_due", note="rilevanza sovracomunale non riconosciuta")
    assert [s["status"] for s in st.steps][-2:] == ["not_due", "not_due"] and st.complete
    assert "agreement_advantages" not in st.advantages and set(st.advantages) == ALL_BUT_AGREEMENT


def test_case_b(eng):
    aid = ad.open_adhesion(eng, "015010", "b", author="u")
    with pytest.raises(AdhesionError) as ei:
        ad.record_step(eng, aid, "adhesion_act", act_ref="DCC 2", author="t", author_role="comune:015010",
                       commitments=FIN)
    assert ei.value.code == "order"
    ad.record_step(eng, aid, "compatibility_request", act_ref="r", author="t", author_role="comune:015010")
    with pytest.raises(AdhesionError) as ei:      # case b also commits real estate
        ad.record_step(eng, aid, "adhesion_act", act_ref="DCC 2", author="t", author_role="comune:015010",
                       commitments=FIN)
    assert "real_estate_availability" in str(ei.value)
    st = ad.record_step(eng, aid, "adhesion_act", act_ref="DCC 2", author="t", author_role="comune:015010",
                        commitments={**FIN, "real_estate_availability": "ex scuola via Roma"})
    assert set(st.advantages) == ALL_BUT_AGREEMENT and st.complete


def test_case_c(eng):
    aid = ad.open_adhesion(eng, "015027", "c", author="u")
    assert ad.rights_of(eng, "015027") == {"annual_call"}       # the case's procedure: proposals to the call
    assert not ad.is_adherent(eng, "015027")
    ad.record_step(eng, aid, "call_proposals", act_ref="domanda avviso 2026", author="t", author_role="comune:015027")
    st = ad.record_step(eng, aid, "adhesion_act", act_ref="DCC 7", author="t", author_role="comune:015027",
                        commitments={"real_estate_availability": "capannone ex Alfa"})
    assert set(st.advantages) == {"cmm_partnership", "regeneration_conferred"}
    assert not ad.has_right(eng, "015027", "soil_quota_exchange")


def test_case_d(eng):
    aid = ad.open_adhesion(eng, "015036", "d", author="u")
    with pytest.raises(AdhesionError) as ei:      # another comune cannot act on it
        ad.record_step(eng, aid, "adhesion_act", act_ref="DCC", author="t", author_role="comune:015146",
                       commitments={"soil_quota_sharing": "sì"})
    assert ei.value.code == "role"
    st = ad.record_step(eng, aid, "adhesion_act", act_ref="DCC 3", author="t", author_role="comune:015036",
                        commitments={"soil_quota_sharing": "condivisione scambi registro"})
    assert set(st.advantages) == {"cmm_partnership", "regeneration_conferred"} and st.complete
    assert ad.advantages(eng, "015036") == {"cmm_partnership", "regeneration_conferred"}


def test_ledger_asks_the_adhesion_registry(eng):
    for istat, case in (("015146", "b"), ("015010", "b"), ("015036", "d")):
        aid = ad.open_adhesion(eng, istat, case, author="u")
        if case == "b":
            ad.record_step(eng, aid, "compatibility_request", act_ref="r", author="t", author_role=f"comune:{istat}")
            ad.record_step(eng, aid, "adhesion_act", act_ref="DCC", author="t", author_role=f"comune:{istat}",
                           commitments={**FIN, "real_estate_availability": "x"})
        else:
            ad.record_step(eng, aid, "adhesion_act", act_ref="DCC", author="t", author_role=f"comune:{istat}",
                           commitments={"soil_quota_sharing": "x"})
    led = Ledger(eng)                             # default rights: the adhesion registry
    for c in ("015146", "015036"):
        led.post(quota_allocation(1_000, comune=c, cause_ref="LR31", author="cmm"))
    led.post(quota_transfer(200, from_comune="015146", to_comune="015010", cause_ref="S1", author="t",
                            author_role="comune:015146"))
    with pytest.raises(LedgerRefused) as ei:      # case d: no exchange right in the table
        led.post(quota_transfer(200, from_comune="015036", to_comune="015146", cause_ref="S2", author="t",
                                author_role="comune:015036"))
    assert ei.value.code == "not_adherent"
    with pytest.raises(LedgerRefused):            # a comune that never adhered
        led.post(quota_transfer(1, from_comune="015146", to_comune="015999", cause_ref="S3", author="t",
                                author_role="cmm"))


def test_events_are_chained_and_tampering_is_detected(eng):
    from sqlalchemy import text
    aid = ad.open_adhesion(eng, "015036", "d", author="u")
    ad.record_step(eng, aid, "adhesion_act", act_ref="DCC 3", author="t", author_role="comune:015036",
                   commitments={"soil_quota_sharing": "x"})
    bid = ad.open_adhesion(eng, "015146", "a", author="u")
    ad.record_step(eng, bid, "compatibility_request", act_ref="r", author="t", author_role="comune:015146")
    assert ad.verify_events(eng) == []
    with eng.begin() as conn:                 # upgrade case d → b after the fact, to gain the exchange right
        conn.execute(text("UPDATE adhesion_records SET case_id = 'b' WHERE istat_code = '015036'"))
    errors = ad.verify_events(eng)
    assert errors and "hash mismatch" in errors[0]
