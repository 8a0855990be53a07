"""Procedures held as data: adhesion to the STTM and the fund (cases a–d, Relazione §4.5) and the
annual call (PTM art. 14) ranked by STTM coherence (art. 19)."""
