"""Headless Chromium through Playwright: used by the PNG export and the browser tests.

Playwright's own browser download is not available offline, so the system's
Chromium is used (Debian: ``apt-get install chromium``); ``LEAK_APP_CHROMIUM``
points elsewhere.
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager

#: Flags that keep Chromium from reaching out to Google's services on start.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("LEAK_APP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        raise RuntimeError(
            "Chromium was not found: install it (Debian: apt-get install chromium) "
            "or set LEAK_APP_CHROMIUM to its executable"
        )
    return path


@contextmanager
def chromium():
    """A headless Chromium browser, closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def offline_page(browser, width: int = 1400, height: int = 900):
    """A page whose requests to anything but local files and data URIs are aborted."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.route(
        "**/*",
        lambda route: route.continue_()
        if route.request.url.startswith(("file:", "data:", "blob:"))
        else route.abort(),
    )
    return page
