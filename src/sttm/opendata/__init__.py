"""Public open data: the registry of datasets (origin, licence, vintage, checksum) and the loaders
that turn each into a tidy table in EPSG:32632."""
from . import loaders
from .registry import Dataset, DatasetError, datasets, fingerprint, get, load, resolve

__all__ = ["loaders", "Dataset", "DatasetError", "datasets", "fingerprint", "get", "load", "resolve"]
