"""A small knowledge base with the layers of the other wings (STTM 2 services and LUM, STTM 1 NBS sheets),
built with the wings' own functions on the STTM 2 test territory (three comuni of 2 km × 2 km)."""
import importlib.util
import tomllib
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _services_scene():
    spec = importlib.util.spec_from_file_location("web_services_scene", TESTS / "services" / "test_services_pipeline_kb.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_wings_kb(path: Path):
    from sttm.knowledge import open_kb
    from sttm.services.pipeline import run_access, run_lum
    from sttm.sustainability.flood import evaluate_flood
    from sttm.sustainability.kb import save_sheet
    from sttm.sustainability.siteio import EXAMPLES, flood_site

    kb = _services_scene().populate(open_kb(str(path)))
    run_access(kb, cell_size=100)
    run_lum(kb)
    # Milano's rainfall-curve parameters (ARPA Lombardia LSPP, as in tests/sustainability/test_core.py)
    lspp = {"a1": 29.87, "n": 0.3006, "alpha": 0.2958, "kappa": -0.0358, "epsilon": 0.8179}
    site, _notes = flood_site({**tomllib.loads(EXAMPLES["flood"]), "criticality_class": "A", "lspp": lspp}, {}, "esempio")
    save_sheet(kb, evaluate_flood(site))
    with kb.engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return kb


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_production_kb(tmp: Path):
    """STTM 3 results (poles, candidate sites, one evaluated proposal) on the production wing's hand-made
    scene, run through its own CLI exactly as tests/production/test_production_cli.py does."""
    import sys

    sys.path.insert(0, str(TESTS / "production"))  # production_scene, imported by its conftest
    scene = _load("web_production_conftest", TESTS / "production" / "conftest.py").scene.__wrapped__()
    cli = _load("web_production_cli", TESTS / "production" / "test_production_cli.py")
    db = str(tmp / "prod.gpkg")
    kb = cli._kb_with_territory(db, scene)
    cli._run_all(db, cli._files(tmp, scene))
    prop = tmp / "prop.toml"
    prop.write_text('[proposal]\nid="PR9"\nname="Logistica su suolo agricolo"\ncategory="logistics_large"\n'
                    'gfa_m2=30000\nsite_area_m2=200000\nsite="farm.gpkg"\nrenewable_share=70\n'
                    'hydraulic_invariance=true\npermeable_share=25\ngreen_share=15\nlandscape_level=1\njobs_per_ha=25\n')
    scene["sites"].iloc[[0]].to_file(tmp / "farm.gpkg")
    r = cli._invoke("evaluate", prop, "--db", db)
    assert r.exit_code == 0, r.output
    with kb.engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return kb
