"""The territory of CMM in the knowledge base: comuni, zones, adjacency, stations, services, hazard."""
from .build import build_territory, territory_summary

__all__ = ["build_territory", "territory_summary"]
