"""axe-core (WCAG 2.1 A/AA) on the equalization wing's read-only pages — the balance list, a balance
document, the fund's statement and a comune's statement — in Debian's headless Chromium, as
test_eq_balance_browser does for the forms. No serious or critical violation is allowed."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))
from test_eq_balance_browser import CHROMIUM, _violations  # noqa: E402
from test_eq_balance_portal import PASSWORD, stages  # noqa: E402,F401  (module fixture)
from web_helpers import serve  # noqa: E402

pytestmark = pytest.mark.browser


def test_axe_on_balance_and_fund_pages(stages, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    from sttm.equalization.fund import Ledger, contribution
    from sttm.web import auth
    from sttm.web.app import create_app
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium not installed at /usr/bin/chromium")
    bid = stages["bid"]
    db = tmp_path / "kb.gpkg"
    shutil.copy(stages["signed"], db)
    app = create_app(str(db), refresh_s=0.0)
    # one posting for Milano so that its statement has a balance row and a posting row
    Ledger(app.state.kb.engine).post(contribution(1_500_50, source="developer", comune="015146",
                                                  cause_type="agreement", cause_ref="AT 1", author="t",
                                                  author_role="cmm"))
    # (path, text the page must show)
    visits = [("/bilanci", bid), (f"/bilanci/{bid}", "Bilancio delle diffusività territoriali"),
              ("/fondo", "1.500,50 €"), ("/fondo/comune/015146", "1.500,50 €")]
    found, errors = {}, []
    server = serve(app)
    base = next(server)
    try:
        token, _ = auth.login(app.state.kb.engine, "planner1", PASSWORD)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                ctx = browser.new_context(viewport={"width": 1280, "height": 900})
                ctx.add_cookies([{"name": auth.SESSION_COOKIE, "value": token, "url": base}])
                page = ctx.new_page()
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.base = base
                for path, must in visits:
                    resp = page.goto(base + path)
                    assert resp.status == 200, (path, resp.status)
                    assert must in page.content(), (path, must)
                    assert page.locator("html").get_attribute("lang") == "it"
                    assert page.locator("h1").count() == 1, path
                    found[path] = [v for v in _violations(page) if v[1] in ("serious", "critical")]
                # the check can fail: an image without a text alternative is a critical violation
                page.evaluate("() => document.querySelector('main, body').appendChild(document.createElement('img'))")
                assert "image-alt" in [v[0] for v in _violations(page) if v[1] == "critical"]
                ctx.close()
            finally:
                browser.close()
    finally:
        next(server, None)                                    # stops uvicorn
        app.state.kb.dispose()
    assert not errors, errors
    assert not any(found.values()), {k: v for k, v in found.items() if v}
