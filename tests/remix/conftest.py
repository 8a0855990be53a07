import pytest

from remix_fixtures import build_small_kb


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
