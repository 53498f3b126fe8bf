"""Browser fixtures: Debian's Chromium driven by Playwright, and the app served as people serve it."""
from __future__ import annotations

import pytest
from helpers import ROOT
from ui_serving import serving

from leak_app.ui.browser import chromium, offline_page


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/ui/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.ui)


@pytest.fixture(scope="session")
def browser():
    with chromium() as instance:
        yield instance


@pytest.fixture
def page(browser, request):
    """A fresh page that records console errors; a screenshot is kept when the test fails."""
    context = browser.new_context(viewport={"width": 1500, "height": 2400})
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    yield page
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        failures = ROOT / "outputs" / "test-failures"
        failures.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(failures / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture
def offline(browser):
    """A page on which every request but local files and data URIs fails."""
    page = offline_page(browser, width=1500, height=2400)
    page.console_errors, page.failed_requests = [], []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: page.failed_requests.append(r.url))
    yield page
    page.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="module")
def served():
    """`python -m leak_app serve` on the bundled demo data; yields its URL."""
    with serving() as url:
        yield url
