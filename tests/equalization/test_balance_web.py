"""Portal pages of the balance, on a router mounted in a bare FastAPI app (real territory)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sttm.equalization.balance import load_params
from sttm.equalization.balance.conference import open_conference
from sttm.equalization.balance.importer import import_proposal
from sttm.equalization.balance.web import router

pytestmark = pytest.mark.realdata
CASES = Path(__file__).parent / "balance_cases"


def test_pages_and_json(real_kb_path, tmp_path):
    from sttm.knowledge import open_kb
    shutil.copy(real_kb_path, tmp_path / "kb.gpkg")
    kb = open_kb(tmp_path / "kb.gpkg")
    params = load_params()
    _, bid, r = import_proposal(kb, json.loads((CASES / "retail_park_abbiategrasso.json").read_text()), params, "t")
    open_conference(kb, bid, params, "cmm", on="2026-04-01")
    app = FastAPI()
    app.state.kb = kb
    app.include_router(router)
    with TestClient(app) as c:
        page = c.get("/bilanci")
        assert page.status_code == 200 and bid in page.text and "2026-05-01" in page.text
        doc = c.get(f"/bilanci/{bid}")
        assert doc.status_code == 200 and "rilevanza" in doc.text and "<svg" in doc.text
        listing = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", doc.text))
        # only art. 44 c.19 applies: 1,234,567.89 € × 5% = 61,728.3945 → 61,728.39 € (no fund share: supra)
        assert re.search(rf"{bid} 015002 PII Parco commerciale supra (€ )?61\.728,39", listing)
        assert "1.234.567,89 5,00% 61.728,39 Totale risorse 61.728,39" in text
        assert "al centesimo 61.728,39" in text and "Fondo perequativo metropolitano 20%" not in text
        # every comune's line, the engine's cents in Italian format (16_435_65 → "16.435,65")
        for a in r.allocation:
            euros, cents = divmod(a.amount_cents, 100)
            amount = f"{euros:,}".replace(",", ".") + f",{cents:02d}"
            assert re.search(rf"{a.recipient} [^0-9]+ onere netto [0-9.]+ €/anno = \d+,\d\d% del totale "
                             rf"{re.escape(amount)} ", text), a
        js = c.get(f"/api/bilanci/{bid}").json()
        assert js["balance"]["relevance"] == "supra"
        assert sum(a["amount_cents"] for a in js["allocation"]) == r.total_resources_cents
        conf = c.get(f"/api/conferenze/CC-{bid}").json()
        assert conf["status"] == "open" and conf["events"][0]["kind"] == "opened"
        assert c.get("/api/bilanci/BD-000000-0001-B1").status_code == 404
    kb.dispose()
