"""Monitoring indicators of the two norm sheets (the sheet's closing part, report §3.1.3).

Each indicator: code, Italian name, unit, baseline (ante), expected value (post), how it is
measured, and how often. Values come from the sheet results; the measurement column tells
what the comune must observe after works to confirm the expected benefit.
"""
from __future__ import annotations

__all__ = ["flood_indicators", "heat_indicators"]


def _ind(code, name_it, unit, before, after, method_it, frequency_it):
    return {"code": code, "name_it": name_it, "unit": unit, "baseline": before, "expected": after,
            "method_it": method_it, "frequency_it": frequency_it}


def flood_indicators(step1: dict, step2: dict, step3: dict) -> list[dict]:
    inv = step3["invariance"]
    return [
        _ind("F1", "Grado di impermeabilizzazione del lotto", "%", 100 * step1["imperviousness_before"],
             100 * step3["imperviousness_after"], "rilievo delle superfici (ortofoto, DUSAF, progetto as-built)", "a fine lavori, poi ogni 5 anni"),
        _ind("F2", "Superficie de-impermeabilizzata", "m²", 0.0, step2["desealed_m2"],
             "computo as-built", "a fine lavori"),
        _ind("F3", "Volume di invaso delle NBS", "m³", None, step3["storage_provided_m3"],
             "rilievo dei volumi realizzati", "a fine lavori, verifica annuale di efficienza"),
        _ind("F4", "Volume richiesto dall'invarianza idraulica (R.R. 7/2017)", "m³", None, inv["required_m3"],
             "calcolo di progetto", "una tantum"),
        _ind("F5", "Deflusso dell'evento di progetto (SCS-CN)", "m³", step3["runoff_cn_before_m3"],
             step3["runoff_cn_net_after_m3"], "modello SCS-CN; misure di portata allo scarico se presenti", "annuale"),
        _ind("F6", "Ricarica potenziale della falda", "m³/anno", step3["recharge_before_m3_yr"],
             step3["recharge_after_m3_yr"], "bilancio idrologico annuo", "annuale"),
        _ind("F7", "Indice RIE", "-", step3["rie_before"], step3["rie_after"],
             "calcolo RIE sulle superfici as-built", "a fine lavori"),
        _ind("F8", "Costo di realizzazione e di manutenzione delle NBS", "€", None, step2["cost_eur"],
             "contabilità dei lavori; manutenzione €/anno " + f"{step2['upkeep_eur_yr']:.0f}", "annuale"),
    ]


def heat_indicators(step1: dict, step2: dict, step3: dict) -> list[dict]:
    return [
        _ind("H1", "Copertura arborea (chiome)", "%", 100 * step1["canopy_share_before"], 100 * step3["canopy_share_after"],
             "rilievo chiome / ortofoto estiva", "ogni 2 anni"),
        _ind("H2", "Capacità di raffrescamento (CC, InVEST)", "-", step1["cc_before"], step3["cc_after"],
             "calcolo sul rilievo delle superfici", "a fine lavori"),
        _ind("H3", "Indice di mitigazione del calore (HMI)", "-", step1["hm_before"], step3["hm_after"],
             "modello InVEST Urban Cooling", "a fine lavori"),
        _ind("H4", "Temperatura dell'aria stimata", "°C", step1["t_air_before"], step3["t_air_after"],
             "stazioni o sensori nel lotto nei giorni di ondata di calore", "estate, ogni anno"),
        _ind("H5", "Temperatura superficiale (LST)", "°C", None, None,
             "immagini satellitari estive (Landsat/ECOSTRESS) o termografia", "estate, ogni anno"),
        _ind("H6", "Superficie verde", "m²", step1["green_m2_before"], step3["green_m2_after"],
             "computo as-built", "a fine lavori"),
        _ind("H7", "Popolazione sensibile esposta (bambini, anziani)", "n.", step1.get("exposed_sensitive"), None,
             "anagrafe comunale; utenti della struttura", "annuale"),
    ]
