"""Accessibility and keyboard checks on every page of the portal, the wings' pages included, in Debian's
headless Chromium: axe-core (WCAG 2.1 AA) finds no serious or critical violation, the first Tab reaches a
visible skip link that leads into the main content, focus is visible, nothing overflows horizontally.
(/bilanci and /fondo are being reworked by the equalization wing and are left out.)"""

import pytest

from web_helpers import browser_page, serious_violations, serve
from web_wings_kb import build_wings_kb

pytestmark = pytest.mark.browser

PORTAL = ["/", "/mappa", "/cruscotto", "/comuni", "/comuni/015182", "/accedi", "/remix/interventi", "/remix/aree",
          "/api.html", "/catalogo", "/catalogo/lum", "/catalogo/access_by_lum", "/catalogo/nbs_sheets"]
WINGS = ["/servizi/atlante/comuni/", "/servizi/atlante/comuni/015182-rho.html", "/servizi/atlante/lum/",
         "/servizi/atlante/lum/lum_rail_2.html", "/sttm1", "/sttm1/valuta", "/sttm1/valuta?scheda=heat",
         "/sttm1/schede/flood:015146:Parcheggio%20via%20Esempio", "/sttm3"]


@pytest.fixture(scope="module")
def wings_server(tmp_path_factory):
    from sttm.web.app import create_app

    path = tmp_path_factory.mktemp("wings") / "kb.gpkg"
    build_wings_kb(path).dispose()
    app = create_app(str(path), refresh_s=0.0)
    yield from serve(app)
    app.state.kb.dispose()


def _open(page, path):
    resp = page.goto(page.base + path)
    assert resp.status == 200, (path, resp.status)
    if path == "/mappa":
        page.wait_for_selector("body[data-map-ready='1']", timeout=30_000)


SKIP_TO_MAIN = """() => { const a = document.activeElement; const r = a.getBoundingClientRect(); const s = getComputedStyle(a);
  return {text: a.textContent.trim(), href: a.getAttribute('href'), w: r.width, h: r.height, top: r.top,
          outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0, shadow: s.boxShadow !== 'none'}; }"""


def check_keyboard(page, path):
    """From a fresh load: Tab shows the skip link with a visible focus; Enter then Tab lands in the main content."""
    page.keyboard.press("Tab")
    a = page.evaluate(SKIP_TO_MAIN)
    assert a["text"] == "Vai al contenuto principale" and a["href"] == "#main-container", (path, a)
    assert a["w"] > 0 and a["h"] > 0 and a["top"] >= 0, (path, "skip link not shown on focus", a)
    assert a["outline"] or a["shadow"], (path, "focus not visible", a)
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    inside = page.evaluate("() => !!document.activeElement.closest('#main-container')")
    assert inside, (path, "Tab after the skip link does not land in the main content",
                    page.evaluate("() => document.activeElement.outerHTML.slice(0, 120)"))
    focus = page.evaluate(SKIP_TO_MAIN)
    assert focus["outline"] or focus["shadow"], (path, "focus not visible in main content", focus)


def test_axe_and_keyboard_on_every_page_with_wing_layers(wings_server):
    for page in browser_page(wings_server, viewport=(1366, 768)):
        found = {}
        for path in PORTAL + WINGS:
            _open(page, path)
            found[path] = serious_violations(page)
            sw, cw = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert sw <= cw, (path, sw, cw)
            _open(page, path)  # fresh load: focus starts at the top of the document
            check_keyboard(page, path)
        assert not any(found.values()), {k: v for k, v in found.items() if v}


@pytest.mark.parametrize("viewport", [(1400, 900), (390, 844)])
def test_no_horizontal_overflow(wings_server, viewport):
    for page in browser_page(wings_server, viewport=viewport):
        wide = {}
        for path in PORTAL + WINGS:
            _open(page, path)
            sw, cw = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            if sw > cw:
                wide[path] = (sw, cw)
        assert not wide, wide


def test_mobile_menu_opens_and_lists_wings(wings_server):
    for page in browser_page(wings_server, viewport=(390, 844)):
        _open(page, "/catalogo")
        assert not page.is_visible("#main-menu .navbar-nav")
        page.click("button.custom-navbar-toggler")
        page.wait_for_selector("#main-menu .navbar-nav", state="visible")
        page.click("#nav-strategie")
        page.wait_for_selector("a.dropdown-item[href='/sttm1']", state="visible")
        page.click("a.dropdown-item[href='/sttm1']")
        page.wait_for_url("**/sttm1")
        assert page.inner_text("h1").startswith("STTM 1")


PRODUCTION = ["/sttm3", "/sttm3/poli/pgt:P1", "/sttm3/poli/pgt:P2", "/sttm3/siti/farm", "/sttm3/siti/brown",
              "/catalogo", "/catalogo/productive_poles", "/comuni/015001"]


@pytest.fixture(scope="module")
def production_server(tmp_path_factory):
    from web_wings_kb import build_production_kb

    from sttm.web.app import create_app

    tmp = tmp_path_factory.mktemp("production")
    build_production_kb(tmp).dispose()
    app = create_app(str(tmp / "prod.gpkg"), refresh_s=0.0)
    yield from serve(app)
    app.state.kb.dispose()


def test_axe_and_keyboard_on_production_pages(production_server):
    for page in browser_page(production_server, viewport=(1366, 768)):
        found = {}
        for path in PRODUCTION:
            _open(page, path)
            found[path] = serious_violations(page)
            assert page.locator("#main-nav").count() == 1, (path, "not inside the portal layout")
            sw, cw = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert sw <= cw, (path, sw, cw)
            page.keyboard.press("Tab")
            assert page.evaluate(SKIP_TO_MAIN)["href"] == "#main-container", path
        assert not any(found.values()), {k: v for k, v in found.items() if v}
        _open(page, "/sttm3")
        assert "Polo Alfa" in page.inner_text("main") and "PR9" in page.inner_text("main")


REMIX_PUBLIC = ["/remix/interventi/T-MI-1", "/remix/aree/O-MI-1", "/catalogo/opportunity_areas", "/comuni/015146"]
REMIX_ADMIN = ["/remix/interventi/T-MI-1/modifica", "/remix/interventi/nuovo", "/remix/aree/O-MI-1/modifica",
               "/remix/importa", "/remix/modifiche", "/admin/utenti"]


@pytest.fixture
def remix_server(app):
    yield from serve(app)


@pytest.mark.parametrize("viewport", [(1366, 768), (390, 844)])
def test_keyboard_and_overflow_on_registry_and_reserved_pages(remix_server, viewport):
    from web_helpers import PASSWORD

    for page in browser_page(remix_server, viewport=viewport):
        checked = []
        for logged_in, paths in ((False, REMIX_PUBLIC), (True, REMIX_ADMIN)):
            if logged_in:
                page.goto(page.base + "/accedi")
                page.fill("#username", "admin1")
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]:has-text('Accedi')")
                page.wait_for_selector("[data-testid=current-user]")
            for path in paths:
                _open(page, path)
                sw, cw = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
                assert sw <= cw, (path, viewport, sw, cw)
                check_keyboard(page, path)
                if viewport[0] > 1000:
                    assert not serious_violations(page), path
                checked.append(path)
        assert len(checked) == len(REMIX_PUBLIC) + len(REMIX_ADMIN)


def test_wing_menu_works_from_the_keyboard(wings_server):
    for page in browser_page(wings_server, viewport=(1400, 900)):
        _open(page, "/catalogo")
        for _ in range(40):  # Tab through the header until the "Strategie STTM" menu button
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.id") == "nav-strategie":
                break
        else:
            pytest.fail("the 'Strategie STTM' menu is not reachable with Tab")
        page.keyboard.press("Enter")
        page.wait_for_selector("a.dropdown-item[href='/servizi']", state="visible")
        assert page.get_attribute("#nav-strategie", "aria-expanded") == "true"
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.getAttribute('href')") == "/servizi"
        page.keyboard.press("Escape")
        page.wait_for_selector("a.dropdown-item[href='/servizi']", state="hidden")
