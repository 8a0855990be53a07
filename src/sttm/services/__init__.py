"""STTM 2 — supra-municipal services, 15-minute accessibility, LUM, location scenarios, atlases.

Modules: `demand` (population grid), `network` (OSM import, graph), `engine` (accessibility,
2SFCA), `lum`, `scenario` (spopt MCLP / p-median), `vulnerability`, `atlas`, `pipeline` (reads and
writes the knowledge base), `cli`. Parameters with their sources live in `params/`.
"""
