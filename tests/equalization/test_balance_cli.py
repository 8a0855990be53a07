"""`sttm balance …` end to end on the real territory: import, report (HTML/PDF/CSV), conference."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sttm.equalization.cli_balance import COMMANDS, app

pytestmark = pytest.mark.realdata
CASES = Path(__file__).parent / "balance_cases"


@pytest.fixture()
def db(real_kb_path, tmp_path) -> str:
    dst = tmp_path / "kb.gpkg"
    shutil.copy(real_kb_path, dst)
    return str(dst)


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_commands_registered():
    assert COMMANDS == {"balance": app}


def test_import_report_and_conference(db, tmp_path):
    r = run("import", CASES / "logistics_hub_liscate.json", "--db", db, "--actor", "comune.liscate")
    assert r.exit_code == 0, r.output
    assert "metropolitana" in r.output and "BD-015122-0001-B1" in r.output
    r = run("report", "BD-015122-0001-B1", "--out", tmp_path / "out", "--db", db)
    assert r.exit_code == 0, r.output
    html = (tmp_path / "out" / "BD-015122-0001-B1.html").read_text()
    assert "Bilancio delle diffusività territoriali" in html and "<svg" in html
    assert "Truccazzano" in html and "= risorse, al centesimo" in html and "Parametri da confermare" in html
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    # resources: 96,000 m² × 60 €/m² = 5,760,000.00 € base; × 5% + 20% + 5% = 1,728,000.00 €;
    # 20% to the fund = 345,600.00 €; the rest, 1,382,400.00 €, to the comuni
    assert "Totale risorse 1.728.000,00" in text
    assert "5.760.000,00 5,00% 288.000,00" in text and "5.760.000,00 20,00% 1.152.000,00" in text
    assert re.search(r"Fondo perequativo metropolitano 20% delle risorse residue .*? 345\.600,00 ", text)
    assert "al centesimo 1.728.000,00" in text
    # Truccazzano's line as the engine computes it, in Italian format (cents → "1.234,56")
    from sttm.equalization.balance import Territory, compute_balance, load_params, parse_proposal
    from sttm.knowledge import open_kb
    kb = open_kb(db)
    params = load_params()
    r = compute_balance(parse_proposal(json.loads((CASES / "logistics_hub_liscate.json").read_text()),
                                       params.functions), Territory.from_kb(kb), params)
    kb.dispose()
    line = next(a for a in r.allocation if a.recipient == "015224")
    euros, cents = divmod(line.amount_cents, 100)
    amount = f"{euros:,}".replace(",", ".") + f",{cents:02d}"
    assert re.search(rf"015224 Truccazzano onere netto \d{{1,3}}(\.\d{{3}})* €/anno = \d+,\d\d% del totale {re.escape(amount)} ",
                      text), amount
    assert (tmp_path / "out" / "BD-015122-0001-B1.pdf").read_bytes()[:4] == b"%PDF"
    csv = (tmp_path / "out" / "BD-015122-0001-B1_matrice.csv").read_text().splitlines()
    assert csv[0].startswith("istat_code,comune,land_take_free_soil_m2")
    r = run("conference", "open", "BD-015122-0001-B1", "--db", db, "--date", "2026-04-01")
    assert r.exit_code == 0 and "2026-05-01" in r.output
    r = run("verify", "CC-BD-015122-0001-B1", "--db", db)
    assert r.exit_code == 0 and "integra" in r.output


def test_bad_file_is_refused(db, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text((CASES / "logistics_hub_liscate.json").read_text().replace('"floor_area_m2": 96000', '"floor_area_m2": -5'))
    r = run("import", bad, "--db", db)
    assert r.exit_code == 2
    assert "forecasts[0].floor_area_m2: must be ≥ 0" in r.output and "Nulla è stato registrato" in r.output
    assert "BD-" not in run("list", "--db", db).output
