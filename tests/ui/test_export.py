"""The exported HTML file opened with the network off, as a colleague opens an attachment."""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from bokeh.models import ColorMapper, Plot
from helpers import plot_canvases
from panel.models.markup import HTML as HTMLModel
from playwright.sync_api import expect

from leak_app import SessionModel
from leak_app.data.demo import generate_sessions
from leak_app.ui.browser import offline_page
from leak_app.ui.export import export_html
from leak_app.ui.page import ALL_DEVICES, static_dashboard


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("out")
    demo = generate_sessions(5_000, seed=4)
    demo.to_parquet(folder / "demo.parquet")
    model = SessionModel.from_path(folder / "demo.parquet")
    path = export_html(model, folder / "dashboard.html")
    # the map, funnel, duration rate and volume, heat map, and each leak chart with a leak to draw
    return path, demo, 5 + sum(bool(table["leak"].any()) for table in (model.leaks_table,
                                                                        model.silent_leaks_table))


def test_every_view_renders_offline_and_the_device_filter_works(offline, exported):
    path, demo, plots = exported
    offline.goto(path.as_uri())
    sessions = offline.locator('[data-kpi="Sessions"] .kpi-value')
    expect(sessions).to_have_text(f"{len(demo):,}", timeout=60_000)
    expect(offline.locator(".kpis")).to_have_css("display", "flex")  # the cards' style reaches them
    # every plot with something to draw: each drawn, none blank
    for _ in range(60):
        offline.wait_for_timeout(500)
        drawn = plot_canvases(offline)
        if len(drawn) == plots:
            break
    assert len(drawn) == plots
    for canvas in drawn:
        assert len(set(canvas.screenshot())) > 50
    expect(offline.locator(".takeaways li").first).to_be_visible()
    assert offline.locator(".takeaways li").count() >= 3
    expect(offline.get_by_text("Silent leaks: segments whose rate fell")).to_be_visible()

    offline.get_by_role("button", name="mobile").click()
    mobile = demo[demo["device"] == "mobile"]
    expect(sessions).to_have_text(f"{len(mobile):,}", timeout=30_000)
    assert offline.console_errors == [] and offline.failed_requests == []


def test_a_phone_opens_the_exported_file_with_its_views_in_reach(browser, exported):
    """At 390 px the file's note beside the device buttons was squeezed to no width, a character a
    line, 2,900 px tall: the KPIs began below three screens of blank, and the page was 531 px wide.
    The note now goes under the buttons, and the page is as wide as the screen."""
    path, demo, _ = exported
    page = offline_page(browser, width=390, height=844)
    page.goto(path.as_uri())
    sessions = page.locator('[data-kpi="Sessions"] .kpi-value')
    expect(sessions).to_have_text(f"{len(demo):,}", timeout=60_000)
    assert page.locator('[data-kpi="Sessions"]').bounding_box()["y"] < 844  # on the first screen
    note = page.get_by_text("Saved snapshot of").first.bounding_box()
    assert note["width"] > 300 and note["height"] < 150, note
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.close()


#: What the exported page shows, read from its Bokeh document: every figure's title, axes and
#: columns, every colour scale, every text. Only models reachable from the page's roots count.
SHOWN_IN_PAGE = """() => {
  const plain = (v) => ArrayBuffer.isView(v) ? Array.from(v) : Array.isArray(v) ? v.map(plain) : v;
  const columns = (data) => Object.fromEntries(
    [...(data instanceof Map ? data.entries() : Object.entries(data))].map(([k, v]) => [k, plain(v)]));
  const range = (r) => "factors" in r ? {factors: plain(r.factors)} : {start: r.start, end: r.end};
  const shown = {plots: [], mappers: [], texts: []};
  const reachable = new Set(Bokeh.documents[0].roots().flatMap((root) => [...root.references()]));
  for (const m of reachable) {
    if (m.type === "Figure" || m.type === "Plot") {
      shown.plots.push({title: m.title ? m.title.text : null, x: range(m.x_range), y: range(m.y_range),
                        data: m.renderers.filter((r) => "data_source" in r)
                                         .map((r) => columns(r.data_source.data))});
    } else if ("low" in m && "palette" in m) {
      shown.mappers.push([m.low, m.high]);
    } else if (m.type === "panel.models.markup.HTML") {
      shown.texts.push(m.text);
    }
  }
  return shown;
}"""


def _comparable(value):
    """Values as the page and Python both give them: lists, numbers as floats to ten digits (the page
    has no integers), NaN as a word."""
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_comparable(item) for item in value]
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return "nan" if math.isnan(value) else float(f"{value:.10g}")
    return value.item() if isinstance(value, np.generic) else value


def _shown(shown: dict) -> dict:
    """Each kind of part as a sorted list, so that the page's order of models does not matter."""
    return {kind: sorted(json.dumps(_comparable(part), sort_keys=True) for part in parts)
            for kind, parts in shown.items()}


def _drawn_for(model: SessionModel) -> dict:
    """What a dashboard drawn afresh for the model's filters shows, read as SHOWN_IN_PAGE reads it."""
    def range_of(r):
        return {"factors": list(r.factors)} if hasattr(r, "factors") else {"start": r.start, "end": r.end}

    shown = {"plots": [], "mappers": [], "texts": []}
    for m in static_dashboard(model).get_root().references():
        if isinstance(m, Plot):
            shown["plots"].append({
                "title": m.title.text if m.title else None,
                "x": range_of(m.x_range), "y": range_of(m.y_range),
                "data": [dict(r.data_source.data) for r in m.renderers if hasattr(r, "data_source")]})
        elif isinstance(m, ColorMapper) and hasattr(m, "low"):
            shown["mappers"].append([m.low, m.high])
        elif isinstance(m, HTMLModel):
            shown["texts"].append(m.text)
    return _shown(shown)


def test_each_device_picked_in_the_exported_file_shows_what_the_app_shows_for_it(offline, exported):
    """Every chart, scale and text of the file, for each device picked in an order the export did
    not visit, equals a dashboard drawn afresh for that device: no state keeps another's bars."""
    path, *_ = exported
    model = SessionModel.from_path(path.parent / "demo.parquet")
    devices = list(model.param.devices.objects)
    offline.goto(path.as_uri())
    expect(offline.locator('[data-kpi="Sessions"] .kpi-value')).not_to_be_empty(timeout=60_000)
    for picked in [devices[1], devices[0], ALL_DEVICES, devices[2], devices[1]]:
        offline.get_by_role("button", name=picked, exact=True).click()
        model.devices = [] if picked == ALL_DEVICES else [picked]
        expected = _drawn_for(model)
        sessions = f"{model.kpis['sessions']:,}"
        expect(offline.locator('[data-kpi="Sessions"] .kpi-value')).to_have_text(sessions, timeout=30_000)
        shown = _shown(offline.evaluate(SHOWN_IN_PAGE))
        for kind in expected:
            assert shown[kind] == expected[kind], (
                f"{kind} differ with {picked} picked: the file shows "
                f"{set(shown[kind]) - set(expected[kind])}, the app {set(expected[kind]) - set(shown[kind])}")
    assert offline.console_errors == []


#: Each drawn axis and colour bar whose labels are percentages: the ticks it drew and their labels,
#: then the labels its formatter gives six ticks ``step`` apart, for each of ``steps``.
PERCENT_LABELS = """(steps) => [...Bokeh.index.query((v) => "compute_labels" in v && "tick_coords" in v)]
  .flatMap((view) => {
    const labelled = (ticks) => Array.from(view.compute_labels(ticks).items, (label) => label.text ?? null);
    const drawn = view.tick_coords.major[view.dimension];
    if (!labelled(drawn).some((label) => String(label).endsWith("%"))) return [];
    return [{step: null, ticks: drawn, labels: labelled(drawn)}, ...steps.map((step) => {
      const ticks = [0, 1, 2, 3, 4, 5].map((k) => k * step);
      return {step, ticks, labels: labelled(ticks)};
    })];
  })"""

#: Tick spacings and the decimals their percentages need.
DECIMALS = {0.00001: 3, 0.0005: 2, 0.001: 1, 0.0025: 2, 0.005: 1, 0.02: 0, 0.025: 1, 0.25: 0}


def test_percentage_ticks_have_the_decimals_their_spacing_needs(offline, exported):
    """Every rate axis and colour bar of the page labels its ticks with as many decimals as their
    spacing needs: ticks 0.05% apart (a rare conversion) were all written with one decimal, so the
    duration plot read "0.0%, 0.1%, 0.1%, 0.2%"; ticks 2% apart read "2.0%"."""
    path, *_ = exported
    offline.goto(path.as_uri())
    expect(offline.locator('[data-kpi="Sessions"] .kpi-value')).not_to_be_empty(timeout=60_000)
    for _ in range(60):
        axes = offline.evaluate(PERCENT_LABELS, list(DECIMALS))
        if len(axes) >= 4 * (len(DECIMALS) + 1):  # duration, funnel, map and heatmap scales
            break
        offline.wait_for_timeout(500)
    assert len(axes) >= 4 * (len(DECIMALS) + 1)
    for axis in axes:
        labels = axis["labels"]
        assert len(set(labels)) == len(labels), labels
        for tick, label in zip(axis["ticks"], labels):
            decimals = len(label[:-1].partition(".")[2])
            assert abs(float(label[:-1]) - tick * 100) <= 0.5 * 10**-decimals + 1e-9, (tick, label)
            if axis["step"] is not None:
                assert decimals == DECIMALS[axis["step"]], (axis["step"], labels)
    assert offline.console_errors == []

def test_a_check_report_opens_offline_with_its_chart(offline, tmp_path):
    """The HTML report a scheduled check writes, opened with the network off: every script is in
    the file, the silent-leak chart draws the leak the text names."""
    from leak_app.analysis.simulation import planted_sessions
    from leak_app.cli import main

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


def test_an_export_replaces_the_last_one_whole_or_not_at_all(tmp_path, monkeypatch, capsys):
    """A scheduled export over the file people open: stopped while writing (a full disk, Ctrl-C), it
    left a file cut short where yesterday's was. It also wrote Panel's progress bars to a script's
    stderr."""
    target = tmp_path / "dashboard.html"
    target.write_text("yesterday's dashboard")
    generate_sessions(2_000, seed=1).to_parquet(tmp_path / "demo.parquet")
    model = SessionModel.from_path(tmp_path / "demo.parquet")
    capsys.readouterr()
    monkeypatch.setattr("os.fsync", lambda fd: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        export_html(model, target)
    assert target.read_text() == "yesterday's dashboard"
    assert sorted(os.listdir(tmp_path)) == ["dashboard.html", "demo.parquet"]
    monkeypatch.undo()
    assert export_html(model, target) == target and "Silent Leak" in target.read_text(encoding="utf-8")
    assert capsys.readouterr().err == ""


def test_a_picture_replaces_the_last_one_whole_or_not_at_all(tmp_path, monkeypatch):
    """``png`` into a folder a wiki serves: stopped while writing, it left a picture cut short."""
    import io

    from PIL import Image

    from leak_app.ui.export import _save_trimmed

    target = tmp_path / "funnel.png"
    target.write_bytes(b"yesterday's picture")
    shot = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(shot, format="PNG")

    def cut_short(image, out, *args, **kwargs):
        Path(out).write_bytes(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", cut_short)
    with pytest.raises(KeyboardInterrupt):
        _save_trimmed(shot.getvalue(), target)
    assert target.read_bytes() == b"yesterday's picture" and os.listdir(tmp_path) == ["funnel.png"]
    monkeypatch.undo()
    _save_trimmed(shot.getvalue(), target)
    assert Image.open(target).size == (40, 30)
