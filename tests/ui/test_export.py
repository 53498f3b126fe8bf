"""The exported HTML file opened with the network off, as a colleague opens an attachment."""
from __future__ import annotations

import re

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


def test_a_check_report_opens_offline_with_its_chart(offline, tmp_path):
    """The HTML report a scheduled check writes, opened with the network off: every script is in
    the file, the silent-leak chart draws the leak the text names."""
    from leak_app.cli import main
    from leak_app.simulation import planted_sessions

    planted_sessions(1, sessions_per_source=8000, drops={"src05": 0.3}).drop(columns="true_rate").to_parquet(
        tmp_path / "planted.parquet")
    report = tmp_path / "report.html"
    assert main(["check", str(tmp_path / "planted.parquet"), "--current", "last-14d", "--baseline",
                 "previous-14d", "--report", str(report)]) == 1
    text = report.read_text(encoding="utf-8")
    assert all(src.startswith("data:") for src in re.findall(r'<script[^>]* src="([^"]*)"', text))
    offline.goto(report.as_uri())
    expect(offline.get_by_role("heading", name="1 silent leak in")).to_be_visible()
    expect(offline.locator("table.found")).to_contain_text("src05 (source)")
    for _ in range(40):
        drawn = plot_canvases(offline)
        if drawn:
            break
        offline.wait_for_timeout(250)
    assert len(drawn) == 1 and len(set(drawn[0].screenshot())) > 50
    assert offline.failed_requests == [] and offline.console_errors == []
