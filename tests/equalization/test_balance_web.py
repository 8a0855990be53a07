"""Portal pages of the balance, on a router mounted in a bare FastAPI app (real territory)."""
from __future__ import annotations

import json
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
        js = c.get(f"/api/bilanci/{bid}").json()
        assert js["balance"]["relevance"] == "supra"
        assert sum(a["amount_cents"] for a in js["allocation"]) == r.total_resources_cents
        conf = c.get(f"/api/conferenze/CC-{bid}").json()
        assert conf["status"] == "open" and conf["events"][0]["kind"] == "opened"
        assert c.get("/api/bilanci/BD-000000-0001-B1").status_code == 404
    kb.dispose()
