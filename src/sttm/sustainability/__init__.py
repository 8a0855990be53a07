"""STTM 1 — sustainability wing.

Norm sheets of the Strategia Tematico-Territoriale Metropolitana 1 (reference report §3.1):

- sheet 1, *adattamento agli eventi meteorici estremi (alluvioni e siccità)*: :mod:`.flood`;
- sheet 2, *adattamento e mitigazione dell'isola di calore*: :mod:`.heat`;

both built on the NBS catalogue held as data (:mod:`.catalogue`, ``data/``), the rule
parameters with their sources (:mod:`.params`), and a NumPy/SciPy raster engine that
reproduces the InVEST Urban Cooling and Urban Flood Risk Mitigation methods (:mod:`.raster`).
"""
