"""The exported HTML file opened with the network off, as a colleague opens an attachment."""
from __future__ import annotations

import pytest
from helpers import plot_canvases
from playwright.sync_api import expect

from leak_app import SessionModel
from leak_app.demo import generate_sessions
from leak_app.export import export_html


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("out")
    demo = generate_sessions(5_000, seed=4)
    demo.to_parquet(folder / "demo.parquet")
    path = export_html(SessionModel.from_path(folder / "demo.parquet"), folder / "dashboard.html")
    return path, demo


def test_every_view_renders_offline_and_the_device_filter_works(offline, exported):
    path, demo = exported
    offline.goto(path.as_uri())
    sessions = offline.locator('[data-kpi="Sessions"] .kpi-value')
    expect(sessions).to_have_text(f"{len(demo):,}", timeout=60_000)
    expect(offline.locator(".kpis")).to_have_css("display", "flex")  # the cards' style reaches them
    # silent leaks, leaks, map, three funnel panels, duration rate and volume, heatmap: each drawn, none blank
    for _ in range(60):
        offline.wait_for_timeout(500)
        drawn = plot_canvases(offline)
        if len(drawn) == 9:
            break
    assert len(drawn) == 9
    for canvas in drawn:
        assert len(set(canvas.screenshot())) > 50
    expect(offline.locator(".takeaways li").first).to_be_visible()
    assert offline.locator(".takeaways li").count() >= 3
    expect(offline.get_by_text("Silent leaks: segments whose rate fell")).to_be_visible()

    offline.get_by_role("button", name="mobile").click()
    mobile = demo[demo["device"] == "mobile"]
    expect(sessions).to_have_text(f"{len(mobile):,}", timeout=30_000)
    assert offline.console_errors == [] and offline.failed_requests == []
