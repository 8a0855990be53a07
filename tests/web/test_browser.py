"""Browser tests in Debian's headless Chromium driven by Playwright (no `playwright install`)."""

import pytest

from web_helpers import PASSWORD, browser_page, serious_violations, serve

pytestmark = pytest.mark.browser


@pytest.fixture
def server(app):
    yield from serve(app)


@pytest.fixture
def bpage(server):
    yield from browser_page(server)


def _map_ready(page):
    page.goto(page.base + "/mappa")
    page.wait_for_selector("body[data-map-ready='1']", timeout=30_000)


def test_map_renders_features(bpage):
    page = bpage
    _map_ready(page)
    rendered = page.evaluate("() => sttmMap.queryRenderedFeatures({layers: ['interventions-circle']}).length")
    comuni = page.evaluate("() => sttmMap.queryRenderedFeatures({layers: ['municipalities-fill']}).length")
    assert rendered >= 3 and comuni >= 3
    assert page.locator("#interventions-table tbody tr").count() == 3
    assert page.get_attribute("#visible-count", "data-matched") == "3"


def test_filter_changes_count_and_table(bpage):
    page = bpage
    _map_ready(page)
    page.select_option("#f-stato", "completato")
    page.wait_for_function("document.getElementById('visible-count').dataset.matched === '1'")
    rows = page.locator("#interventions-table tbody tr")
    assert rows.count() == 1 and "Biblioteca di Rho" in rows.first.inner_text()
    page.select_option("#f-stato", "")
    page.select_option("#f-fonte", "PNRR")
    page.wait_for_function("document.getElementById('visible-count').dataset.matched === '2'")
    assert page.locator("#interventions-table tbody tr").count() == 2
    # clicking a table row opens the feature's popup
    page.locator("#interventions-table tbody tr").first.click()
    page.wait_for_selector(".maplibregl-popup-content")


def test_click_on_shared_comune_point_lists_all_projects(bpage):
    page = bpage
    _map_ready(page)
    # T-MI-1 and T-MULTI-1 both sit at Milano's point on surface (no coordinates of their own)
    xy = page.evaluate("""() => { const f = sttmFiltered()
        .find(f => f.properties.intervention_id === 'T-MI-1');
        const p = sttmMap.project(f.geometry.coordinates[0]); const r = sttmMap.getCanvas().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y]; }""")
    page.mouse.click(*xy)
    page.wait_for_selector(".maplibregl-popup-content")
    text = page.inner_text(".maplibregl-popup-content")
    assert "2 realizzazioni in questo punto" in text and "Parco della Martesana" in text and "Ciclovia Milano-Rho" in text


def _login(page, username):
    page.goto(page.base + "/accedi")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]:has-text('Accedi')")
    page.wait_for_selector("[data-testid=current-user]")


def test_technician_edits_own_and_is_refused_on_other(bpage):
    page = bpage
    _login(page, "tec.milano")
    page.goto(page.base + "/remix/interventi/T-MI-1")
    page.click("[data-testid=edit-link]")
    page.fill("#title", "Parco della Martesana — lotto 2")
    page.click("[data-testid=save]")
    page.wait_for_selector("[data-testid=saved]")
    assert page.inner_text("[data-testid=intervention-title]") == "Parco della Martesana — lotto 2"
    resp = page.goto(page.base + "/remix/interventi/T-RHO-1/modifica")
    assert resp.status == 403
    assert "non può modificare" in page.inner_text("[data-testid=error-message]")
    assert page.locator("[data-testid=edit-link]").count() == 0
    page.goto(page.base + "/remix/interventi/T-RHO-1")
    assert page.locator("[data-testid=edit-link]").count() == 0


AXE_PAGES = ["/", "/mappa", "/cruscotto", "/comuni", "/comuni/015146", "/accedi", "/remix/interventi",
             "/remix/interventi/T-MI-1", "/remix/aree", "/remix/aree/O-MI-1", "/api.html", "/catalogo",
             "/catalogo/opportunity_areas", "/catalogo/municipalities"]


def test_axe_no_serious_violations(bpage):
    page = bpage
    found = {}
    for path in AXE_PAGES:
        page.goto(page.base + path)
        if path == "/mappa":
            page.wait_for_selector("body[data-map-ready='1']", timeout=30_000)
        found[path] = serious_violations(page)
    assert not any(found.values()), found
    _login(page, "admin1")
    for path in ["/remix/interventi/T-MI-1/modifica", "/remix/interventi/nuovo", "/remix/aree/O-MI-1/modifica",
                 "/remix/importa", "/remix/modifiche", "/admin/utenti", "/remix/interventi/T-MI-1"]:
        page.goto(page.base + path)
        found[path] = serious_violations(page)
    assert not any(found.values()), found
    # the checker itself works: an unlabeled image and input are reported
    page.evaluate("() => { document.body.insertAdjacentHTML('beforeend', '<img src=\"/favicon.ico\"><input type=text>'); }")
    assert {v[0] for v in serious_violations(page)} >= {"image-alt", "label"}


@pytest.fixture
def real_server(real_kb_path, tmp_path):
    import shutil

    from sttm.knowledge import open_kb
    from sttm.remix import loaders, registry
    from sttm.web.app import create_app

    path = tmp_path / "real.gpkg"
    shutil.copy(real_kb_path, path)
    kb = open_kb(str(path))
    registry.upsert_many(kb.engine, registry.SystemActor(), interventions=loaders.pnrr_records(),
                         opportunities=loaders.degraded_area_records())
    registry.publish(kb, registry.SystemActor())
    kb.dispose()
    app = create_app(str(path))
    yield from serve(app)
    app.state.kb.dispose()


@pytest.mark.realdata
@pytest.mark.slow
def test_real_map_shows_comuni_stations_services_interventions(real_server):
    for page in browser_page(real_server):
        _map_ready(page)
        counts = page.evaluate("""() => Object.fromEntries(['municipalities-fill', 'stations-circle', 'services-circle',
            'interventions-circle', 'opportunity_areas-circle'].map(l => [l, sttmMap.queryRenderedFeatures({layers: [l]}).length]))""")
        assert counts["municipalities-fill"] >= 100, counts
        assert counts["stations-circle"] >= 50 and counts["services-circle"] >= 500, counts
        assert counts["interventions-circle"] >= 100 and counts["opportunity_areas-circle"] >= 50, counts
        assert int(page.get_attribute("#visible-count", "data-matched")) == 1942
        page.select_option("#f-comune", "015002")  # Abbiategrasso
        page.wait_for_function("document.getElementById('visible-count').dataset.matched !== '1942'")
        n = int(page.get_attribute("#visible-count", "data-matched"))
        assert 0 < n < 100
