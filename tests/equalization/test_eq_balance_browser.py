"""axe-core (WCAG 2.1 AA) on the balance's portal forms in Debian's headless Chromium (Playwright),
as the portal's own browser check does (tests/web/test_browser.py)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))
from test_eq_balance_portal import OTHER, PASSWORD, stages  # noqa: E402,F401  (module fixture)
from web_helpers import serve  # noqa: E402  (the portal's own uvicorn-in-a-thread helper)

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser


def _violations(page) -> list:
    page.add_script_tag(url=page.base + "/static/vendor/axe-core/axe.min.js")
    res = page.evaluate("async () => await axe.run(document, {runOnly: {type: 'tag', values: "
                        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']})")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in res["violations"]]


def test_axe_on_the_balance_forms(stages, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    from sttm.web import auth
    from sttm.web.app import create_app
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium not installed at /usr/bin/chromium")
    bid = stages["bid"]
    # (stage, user, path, a form the page must show)
    visits = [("imported", f"tec.{OTHER}", "/bilanci/proponi", "submit-proposal"),
              ("imported", "planner1", f"/bilanci/{bid}/procedura", "open-conference"),
              ("open", "planner1", f"/bilanci/{bid}/procedura", "record-position"),
              ("closed", "planner1", f"/bilanci/{bid}/procedura", "draft-agreement"),
              ("drafted", f"tec.{OTHER}", f"/bilanci/{bid}/procedura", "sign-agreement"),
              ("drafted", "planner1", f"/bilanci/{bid}/procedura", "record-outcome")]
    found, errors = {}, []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            for i, (stage, user, path, testid) in enumerate(visits):
                db = tmp_path / f"v{i}.gpkg"
                shutil.copy(stages[stage], db)
                app = create_app(str(db), refresh_s=0.0)
                server = serve(app)
                base = next(server)
                try:
                    token, _ = auth.login(app.state.kb.engine, user, PASSWORD)
                    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
                    ctx.add_cookies([{"name": auth.SESSION_COOKIE, "value": token, "url": base}])
                    page = ctx.new_page()
                    page.on("pageerror", lambda e: errors.append(str(e)))
                    page.base = base
                    resp = page.goto(base + path)
                    assert resp.status == 200, (path, resp.status)
                    assert page.locator(f"[data-testid={testid}]").count() == 1, (stage, user, testid)
                    assert page.locator("html").get_attribute("lang") == "it"
                    assert page.locator("h1").count() == 1
                    found[(stage, user, path)] = _violations(page)
                    if testid == "draft-agreement":         # a refused step: the error message is accessible too
                        page.click("[data-testid=draft-agreement]")
                        page.wait_for_selector("[data-testid=step-ok], [data-testid=step-error]")
                        found[(stage, user, "after draft")] = _violations(page)
                    ctx.close()
                finally:
                    next(server, None)                        # stops uvicorn
                    app.state.kb.dispose()
        finally:
            browser.close()
    assert not errors, errors
    assert not any(found.values()), {k: v for k, v in found.items() if v}
