"""Helpers shared by the web tests."""

import re
import socket
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

CHROMIUM = "/usr/bin/chromium"
VENDOR = Path(__file__).resolve().parents[2] / "src" / "sttm" / "web" / "static" / "vendor"

PASSWORD = "password-di-prova-1"
USERS = {"admin1": ("admin", None), "planner1": ("planner", None),
         "tec.milano": ("technician", "015146"), "tec.rho": ("technician", "015182")}


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; return the session's CSRF token."""
    page = client.get("/accedi")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/accedi", data={"username": username, "password": password, "csrf_token": token, "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/remix/interventi")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def serve(app):
    """Run ``app`` with uvicorn on a free loopback port (generator: yields the base URL, then stops it)."""
    import uvicorn

    assert (VENDOR / "maplibre-gl" / "maplibre-gl.js").exists(), \
        "front-end assets missing: run `python src/sttm/web/build_assets.py` first"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(timeout=10)


def browser_page(server, viewport=(1280, 900)):
    """Debian's headless Chromium driven by Playwright; fails on page errors and on any external request."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium not installed at /usr/bin/chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"])
        pg = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("request", lambda r: errors.append("external request " + r.url)
              if not r.url.startswith((server, "data:", "blob:")) else None)
        pg.base = server
        yield pg
        browser.close()
        assert not errors, errors


def serious_violations(page):
    """axe-core (WCAG 2.1 AA rules) on the current page: the serious and critical violations."""
    page.add_script_tag(url=page.base + "/static/vendor/axe-core/axe.min.js")
    result = page.evaluate("""async () => await axe.run(document, {resultTypes: ['violations'],
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})""")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
            if v["impact"] in ("serious", "critical")]
