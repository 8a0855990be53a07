"""STTM 3 — spaces of production, services and distribution (reference report §3.3).

Modules
-------
- :mod:`params`        the data tables (taxonomy, rules, weights, criteria) with their references
- :mod:`importers`     PGT / DUSAF / OSM / firms CSV -> one productive-areas layer in the taxonomy
- :mod:`accessibility` distances to primary roads, rail, public transport, workforce proxy
- :mod:`poles`         recognition of supra-municipal productive poles (rule table, reason per verdict)
- :mod:`constraints`   exclusion / attention layers -> excluded / attention / eligible map
- :mod:`suitability`   weighted suitability for candidate sites and for a raster of eligible land
- :mod:`evaluation`    evaluation tables of a proposal (minimum standards, final grade)
- :mod:`freight`       truck-trip estimate of a proposal (``truck_trips``), used by the equalization wing
"""
