"""sttm — planning-support platform for the Strategie Tematico-Territoriali Metropolitane (STTM)
of the Città metropolitana di Milano. See docs/ARCHITECTURE.md for the shape of the code."""

__version__ = "0.1.0"

ANALYSIS_CRS = "EPSG:32632"
ANALYSIS_EPSG = 32632
