"""Names from visitors' browsers and referrers are shown as text, never run, in app and file."""
from __future__ import annotations

import subprocess
import sys

import formats
import numpy as np
import pandas as pd
import pytest
from helpers import ROOT
from playwright.sync_api import expect

from leak_app.data.schema import to_canonical

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"


@pytest.fixture(scope="module")
def hostile_export(tmp_path_factory):
    """GA sessions where a hostile source leaks badly and another converts best."""
    rng = np.random.default_rng(0)
    n = 6000
    source = rng.choice(["google", "(direct)", IMG, SCRIPT], p=[0.4, 0.3, 0.2, 0.1], size=n)
    rate = np.select([source == IMG, source == SCRIPT], [0.0, 0.08], 0.03)
    converted = rng.random(n) < rate
    table = to_canonical(pd.DataFrame({
        "visitor_id": np.arange(n).astype(str), "session_id": (1_700_000_000 + np.arange(n)).astype(str),
        "date": pd.Timestamp("2026-03-01") + pd.to_timedelta(rng.integers(0, 28, n), unit="D"),
        "device": rng.choice(["desktop", "mobile"], size=n), "country": rng.choice(["France", IMG], size=n),
        "source": source, "medium": "referral", "channel": rng.choice(["Referral", SCRIPT], size=n),
        "pageviews": rng.integers(1, 12, n),
        "duration": rng.integers(0, 900, n), "transactions": converted.astype(int),
        "revenue": converted * 50.0,
    }))
    path = tmp_path_factory.mktemp("hostile") / "hostile.csv"
    return formats.write(path, formats.ga_csv(table))


def shown_literally(page, dialogs):
    expect(page.locator(".leaks").first).to_contain_text(IMG, timeout=60_000)
    expect(page.locator(".takeaways")).to_contain_text(SCRIPT)
    assert page.locator("img[src=x]").count() == 0
    assert dialogs == []


def test_served_app_shows_hostile_names_as_text(browser, hostile_export):
    from ui_serving import serving

    page = browser.new_page(viewport={"width": 1500, "height": 2400})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    with serving("--data", str(hostile_export)) as url:
        page.goto(url)
        shown_literally(page, dialogs)
        for picker, name in (("All sources", IMG), ("All channels", SCRIPT)):
            page.get_by_placeholder(picker).click()  # the options list shows the names as text
            page.wait_for_timeout(500)
            options = page.get_by_text(name, exact=True).all()
            assert any(option.is_visible() for option in options), picker  # shown as text in the list
            page.keyboard.press("Escape")
            page.mouse.move(700, 900)
            page.wait_for_timeout(500)
        assert dialogs == [] and page.locator("img[src=x]").count() == 0
    page.close()


def test_exported_file_shows_hostile_names_as_text(offline, hostile_export, tmp_path):
    target = tmp_path / "hostile.html"
    subprocess.run([sys.executable, "-m", "leak_app", "export", str(target), "--data", str(hostile_export)],
                   cwd=ROOT, check=True, capture_output=True, timeout=600)
    dialogs = []
    offline.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    offline.goto(target.as_uri())
    shown_literally(offline, dialogs)
    assert offline.console_errors == []
