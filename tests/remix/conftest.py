import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for remix_fixtures (pytest runs in importlib mode)

from remix_fixtures import build_small_kb  # noqa: E402


@pytest.fixture
def small_kb(tmp_path):
    kb = build_small_kb(tmp_path / "kb.gpkg")
    yield kb
    kb.dispose()


@pytest.fixture
def empty_kb(tmp_path):
    kb = build_small_kb(tmp_path / "kb.gpkg", with_registry=False)
    yield kb
    kb.dispose()
