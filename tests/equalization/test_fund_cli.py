"""The `sttm fund / adhesion / call` commands end to end on a throw-away store."""
from __future__ import annotations

import re

import typer
from typer.testing import CliRunner

from sttm.equalization.cli import COMMANDS

runner = CliRunner()


def _text(html: str) -> str:
    """The visible text of a page: tags and styles dropped, white space collapsed."""
    html = re.sub(r"<style.*?</style>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _app():
    app = typer.Typer()
    for name, sub in COMMANDS.items():
        app.add_typer(sub, name=name)
    return app


def test_cli_round_trip(tmp_path):
    app, db = _app(), ["--db", str(tmp_path / "kb.gpkg")]

    def run(*args, code=0):
        r = runner.invoke(app, [*args, *db], env={"COLUMNS": "200"})
        assert r.exit_code == code, r.output
        return r.output

    run("fund", "init")
    out = run("adhesion", "open", "015146", "b", "--author", "rossi")
    aid = out.split()[-1]
    run("adhesion", "step", aid, "compatibility_request", "--act-ref", "prot. 1", "--role", "comune:015146")
    run("adhesion", "step", aid, "adhesion_act", "--act-ref", "DCC 1", "--role", "comune:015146",
        "--commit", "fin_contribution=10%", "--commit", "real_estate_availability=ex scuola")
    run("adhesion", "check", "015146", "annual_call")
    assert "integra" in run("adhesion", "verify")
    run("adhesion", "check", "015010", "annual_call", code=1)
    run("fund", "contribute", "1.500,50", "--source", "developer", "--comune", "015146", "--cause-ref", "AT 1")
    out = run("fund", "disburse", "2000", "--category", "public_services", "--cause-ref", "x", code=2)
    assert "insufficient" in out
    out = run("fund", "balance", "--by", "comune")
    assert "1.500,50 €" in out
    csv = tmp_path / "p.csv"
    csv.write_text("proposal_id,istat_code,title,category,cost_eur,requested_eur,cofunding_eur,strategies,lum_level,"
                   "in_green_network\nP1,015146,Parco,green_network_nbs,2000,1000,1000,sttm1,1,1\n")
    run("call", "open", "AVV", "--year", "2026", "--budget", "5000")
    run("call", "submit", "AVV", str(csv))
    run("call", "rank", "AVV", "--html", str(tmp_path / "sim.html"))
    sim = _text((tmp_path / "sim.html").read_text())
    assert "Simulazione" in sim
    # usable = min(budget 5,000.00 €, fund's financial section 1,500.50 €) = 1,500.50 €
    assert "dotazione dell'avviso 5.000,00 €" in sim and "del Fondo) 1.500,50 €; assegnati 1.000,00 €" in sim
    out = run("call", "decide", "AVV")
    assert "funded" in out
    run("call", "show", "AVV", "--html", str(tmp_path / "rank.html"))
    page = (tmp_path / "rank.html").read_text()
    assert "Graduatoria approvata" in page and "finanziata" in page and "1.000,00 €" in page
    # P1's score: strategies 1/3 × 20 = 6.667 + LUM level 1 15 + green network 15 + co-funding
    # min(1,000/2,000 ÷ 0.5, 1) × 20 = 20 → 56.667; requested 1,000.00 €, fits the 5,000 € budget → granted in full
    assert "1 P1 015146 Parco 56,667 1.000,00 € 1.000,00 € finanziata finanziata per intero" in _text(page)
    assert "assegnati 1.000,00 €" in _text(page)
    out = run("fund", "verify")
    assert "2 registrazioni" in out
    run("fund", "statement", "--comune", "015146", "--html", str(tmp_path / "s.html"))
    st = _text((tmp_path / "s.html").read_text())
    assert "Estratto conto" in st and "2 registrazioni" in st
    # 015146 in the financial section: in 1,500.50 € (contribution), out 1,000.00 € (P1's grant) → 500.50 €
    assert "Sezione finanziaria 015146 1.500,50 € 1.000,00 € 500,50 €" in st
    assert "financial · fund 1.500,50 €" in st and "financial · fund -1.000,00 €" in st
