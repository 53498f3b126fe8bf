"""Views draw what the tables hold, survive empty tables, and never pass data text as HTML."""
from __future__ import annotations

import gc
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.core.property.vectorization import Field, Value
from bokeh.document import Document
from bokeh.models import ColumnDataSource, Legend
from helpers import ROOT, sessions

from leak_app import SessionModel
from leak_app.ui import texts
from leak_app.ui.cards import CARDS, country_map
from leak_app.ui.cards.duration import RATES, VOLUME
from leak_app.ui.cards.funnel import FUNNEL, funnel_frame
from leak_app.ui.cards.leaks import LEAKS, SILENT
from leak_app.ui.cards.source_device import HEATMAP, heatmap_frame
from leak_app.ui.figures import colour_range, device_color, labelled
from leak_app.ui.geo import country_shapes

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def model():
    rows = [("desktop", "France", "google", 12, 700, 1)] + [("mobile", "Spain", HOSTILE, 1, 0, 0)] * 3
    return SessionModel(sessions=sessions(rows), min_sessions=2)


def all_views(m):
    """What the PNG export renders of every registered view."""
    return [shown for card in CARDS for shown in card.view.figures(m).values()]


def test_every_view_renders_to_bokeh(model):
    for view in all_views(model):
        assert pn.panel(view).get_root(Document()) is not None


def test_views_render_when_filters_match_nothing(model):
    model.param.update(devices=["desktop"], countries=["Spain"])
    try:
        for view in all_views(model):
            pn.panel(view).get_root(Document())
    finally:
        model.param.update(devices=[], countries=[])


def test_every_registered_view_is_laid_out_in_order_and_shows_the_models_parameters(model):
    from leak_app.ui.app import Dashboard

    dashboard = Dashboard(model=model)
    cells = [cell for item in dashboard.main() for cell in (item if isinstance(item, pn.Row) else [item])]
    assert [getattr(cell, "title", None) for cell in cells] == [card.title for card in CARDS]  # in order
    assert cells[0] is dashboard.views[CARDS[0].name]
    for card in CARDS:
        assert isinstance(dashboard.views[card.name], card.view)
        assert set(card.view.shows) <= set(model.param), card.name
    assert len({card.name for card in CARDS}) == len(CARDS)


def test_choropleth_colours_only_rated_countries(model):
    polygons = country_map.country_choropleth(model.country_table, country_shapes())
    data = pd.DataFrame(polygons.data).drop(columns="geometry")
    spain = data[data["country"] == "Spain"].iloc[0]
    france = data[data["country"] == "France"].iloc[0]
    shrunk = model.country_table.set_index("country").loc["Spain", "shrunk_rate"]
    assert spain["rate_shown"] == shrunk > 0 and spain["sessions"] == 3 and spain["rate_text"] == "0.00%"
    assert france["status"] == "not enough data" and france["rate_shown"] != france["rate_shown"]
    assert (data[data["sessions"] == 0]["status"] == "no sessions").all()


def test_map_values_match_a_join_of_countries_and_shapes():
    """Each shape's values, checked against a plain left join."""
    from leak_app.data.demo import generate_sessions

    m = SessionModel(sessions=generate_sessions(20_000, seed=7), min_sessions=50)
    shapes = country_shapes()
    countries = m.country_table
    # (a shape is one row: names of one shape are one country, test_countries.py)
    assert not countries["iso3"].dropna().duplicated().any()
    for table in (countries, countries.iloc[:0]):
        values = country_map.choropleth_values(table, shapes)
        rated = labelled(table[table["iso3"].notna()], shown="shrunk_rate")
        joined = shapes.merge(rated.rename(columns={"country": "ga_country"}), on="iso3", how="left")
        assert len(values) == len(shapes)
        assert (values["geometry"].to_numpy() == shapes["geometry"].to_numpy()).all()
        expected = pd.DataFrame({
            "rate_shown": joined["rate_shown"], "country": joined["ga_country"].fillna(joined["name"]),
            "sessions": joined["sessions"].fillna(0).astype(int),
            "conversions": joined["conversions"].fillna(0).astype(int),
            "rate_text": joined["rate_text"].fillna("–"), "interval": joined["interval"].fillna("–"),
            "shown_text": joined["shown_text"].fillna("–"), "status": joined["status"].fillna("no sessions"),
        })
        pd.testing.assert_frame_equal(values[country_map.MAP_VALUES].astype(object), expected.astype(object))
    assert (values["status"] == "no sessions").all()


def test_heatmap_marks_unrated_cells(model):
    cells = pd.DataFrame(heatmap_frame(model.source_device_table).layers["cells"])
    cells = cells.set_index(["source", "device"])
    assert cells.loc[("google", "desktop"), "status"] == "not enough data"
    assert cells.loc[(HOSTILE, "mobile"), "status"] == "rated"


def test_the_heatmap_colours_rates_within_0_to_100_percent_when_they_are_all_equal():
    """Every rated cell at 0% (nothing converted yet): the colour bar read -100% to 100% of
    conversion rate, and 0% took the palette's middle colour."""
    rows = [(device, "France", "google", 1, 0, 0) for device in ("desktop", "mobile") for _ in range(200)]
    table = SessionModel(sessions=sessions(rows), min_sessions=100).source_device_table
    assert table["rated"].all() and (table["rate"] == 0).all()
    low, high = heatmap_frame(table).colors
    # 0% at the light end, the bar as wide as a cell's interval (Wilson's for 0 of 200: 0-1.9%)
    assert low == 0.0 and high == pytest.approx((table["ci_high"] - table["ci_low"]).median())


def test_the_map_colour_bar_spans_the_colours_drawn_and_never_less_than_chance():
    """The colours are shrunk rates; the bar spanned the raw ones (on the demo 0.09-2.8%, a country
    of 108 sessions and 3 conversions at the top, for colours of 0.27-1.36%): half the palette
    unused. Now it spans the colours drawn, unless they differ by less than a typical interval's
    width: then it is that wide, around them."""
    from leak_app.data.sources import DEFAULT_DATA

    countries = SessionModel.from_path(DEFAULT_DATA).country_table
    drawn = countries[countries["rated"] & countries["iso3"].isin(country_shapes()["iso3"])]
    typical = (drawn["ci_high"] - drawn["ci_low"]).median()
    assert drawn["shrunk_rate"].max() - drawn["shrunk_rate"].min() > typical  # the demo's spread is real
    assert country_map.map_colours(countries, country_shapes()) == pytest.approx(
        (drawn["shrunk_rate"].min(), drawn["shrunk_rate"].max()))
    alike = drawn.assign(shrunk_rate=0.01 + np.arange(len(drawn)) * 1e-7)  # 0.00001% apart
    low, high = colour_range(alike)
    assert high - low == pytest.approx(typical)
    assert (low + high) / 2 == pytest.approx(alike["shrunk_rate"].mean(), rel=1e-4)  # around them


def test_html_parts_escape_data_text(model):
    report = {"path": "/x/<b>evil</b>.csv", "format": "canonical", "rows_read": 2, "rows_kept": 1,
              "dropped": {"<script>": 1}, "unmatched_countries": {HOSTILE: 1}}
    html = texts.load_report_html(report) + texts.takeaways_html([f"source {HOSTILE} leaks"])
    assert "<img" not in html and "<script>" not in html and "<b>evil" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_load_report_names_the_unmatched_countries_of_the_most_sessions_and_counts_the_rest():
    """A column of 30,000 city names: the page names twenty (the whole list was 475 KB in each
    new page's document) and counts the others."""
    unmatched = {f"Town {i}": 40_000 - i for i in range(30_000)}
    report = {"path": "towns.csv", "format": "canonical", "rows_read": 1, "rows_kept": 1, "dropped": {},
              "unmatched_countries": unmatched}
    html = texts.load_report_html(report)
    assert "Town 19 (39,981)" in html and "Town 20 " not in html
    rest = sum(unmatched.values()) - sum(range(39_981, 40_001))
    assert f" and 29,980 more names ({rest:,} sessions)" in html


def test_kpi_cards_show_rate_with_interval(model):
    html = texts.kpi_cards_html(model.kpis)
    assert "25.0%" in html and "95% CI" in html and ">4<" in html
    assert ">10.00 per conversion<" in html  # one order: no spread of their values, no interval
    kpis = {**model.kpis, "revenue_per_conversion": 142.376, "revenue_per_conversion_low": 76.419,
            "revenue_per_conversion_high": 265.26}
    assert ">142.38 per conversion (95% CI 76.42 – 265.26)<" in texts.kpi_cards_html(kpis)


def test_csv_downloads_neutralize_spreadsheet_formulas():
    import pandas as pd

    from leak_app.publish.downloads import to_csv

    table = pd.DataFrame({"source": ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "google"],
                          "sessions": [1, 2, 3, 4, -5]})
    lines = to_csv(table).splitlines()
    assert lines[1].startswith("\"'=HYPERLINK") and lines[2] == "'+1,2" and lines[3] == "'-2,3"
    assert lines[4] == "'@SUM(A1),4" and lines[5] == "google,-5"  # numbers stay numbers


def test_leaks_list_escapes_segment_names():
    from leak_app.analysis import simulation

    data = simulation.planted_sessions(0, sessions_per_source=5000, planted={"src03": 0.3})
    data["source"] = data["source"].cat.rename_categories({"src03": HOSTILE})
    model = SessionModel(sessions=data)
    html = texts.leaks_list_html(model.leaks_table)
    assert "&lt;img src=x onerror=alert(1)&gt; (source) converts at" in html and "<img" not in html
    assert f"{HOSTILE} (source)" in LEAKS.frame(model.leaks_table).layers["bars"]["label"]


def test_lost_revenue_is_said_in_the_revenue_currency_where_the_data_name_it():
    """A GA4 export's purchases name their currency (see ga4.counted): the KPI card said it, but the
    sentences' lost revenue ("about 241 conversions lost, 25,786 in revenue") did not. Each amount of
    money in a sentence names it, in the page, the takeaways and the published leaks."""
    from leak_app.analysis import simulation
    from leak_app.publish.summary import summary

    data = simulation.planted_sessions(0, sessions_per_source=5000, planted={"src03": 0.3})
    for currency in ("EUR", ""):
        model = SessionModel(sessions=data, load_report={"path": "shop.json", "format": "ga4_events_json",
                                                         "currency": currency})
        said = " ".join([texts.leaks_list_html(model.leaks_table, model.load_report), *model.takeaways,
                         *(row["sentence"] for row in summary(model)["leaks"])])
        amounts = re.findall(r"[\d,]+ (?:EUR )?in revenue", said)
        assert len(amounts) >= 3 and all(("EUR" in each) == bool(currency) for each in amounts), amounts


def test_the_leak_charts_hover_text_gives_lost_revenue_in_the_revenue_currency():
    """The sentences named the currency of the revenue lost, the charts' hover text beside them gave
    the bare number ("25,786 (95% CI ...)"): in the page's charts and the exported figures alike."""
    from leak_app.data.sources import DEFAULT_DATA
    from leak_app.ui.cards.leaks import Leaks

    demo = SessionModel.from_path(DEFAULT_DATA)  # with a planted silent leak
    for currency in ("EUR", ""):
        model = SessionModel(sessions=demo.sessions, load_report={**demo.load_report, "currency": currency})
        view = Leaks(model=model)
        charts = [view.leaks_chart.pane.object, view.silent_chart.pane.object, *Leaks.figures(model).values()]
        said = [text for chart in charts for source in chart.select({"type": ColumnDataSource})
                for text in source.data.get("revenue_text", [])]
        named = r"[\d,]+ EUR( \(95% CI .*\))?" if currency else r"[\d,]+( \(95% CI .*\))?"
        assert len(said) >= 4 and all(re.fullmatch(named, text) for text in said), said


def test_leaks_list_nests_children_and_draws_the_rate_change():
    """The demo's planted silent leak (desktop × google) is listed under its parent; the
    rate-change waterfall's steps lead from the baseline to the current rate; warnings escaped."""
    import re

    from leak_app.data.sources import DEFAULT_DATA

    model = SessionModel.from_path(DEFAULT_DATA)
    assert texts.warnings_html(["<b>odd</b> day"]) == '<p class="warning">⚠ &lt;b&gt;odd&lt;/b&gt; day</p>'
    text = texts.silent_leaks_html(model.silent_leaks_table, model.rate_change)
    silent = text[text.index("Silent leaks"):text.index("Why the rate moved")]
    assert re.search(r"<li>(desktop \(device\)|google \(source\)) fell[^<]*<ul class=\"children\">"
                     r"<li>desktop × google \(device × source\) fell",
                     silent)  # under the parent it is measured against
    steps = [float(v) for v in re.findall(r'class="wf-value">([-+0-9.]+) pts', text)]
    ends = re.findall(r'class="wf-value">([0-9.]+)%', text)
    assert float(ends[0]) / 100 + sum(steps) / 100 == pytest.approx(float(ends[1]) / 100, abs=2e-4)


def test_leaks_beyond_those_listed_are_counted_and_said_where_they_all_are():
    """The lists show the eight leaks of most conversions lost, the charts ten: the others were left
    out unsaid. Now how many were found is said, and the download that holds them all."""
    from leak_app.data.sources import DEFAULT_DATA

    model = SessionModel.from_path(DEFAULT_DATA)
    for table, show, what in ((model.leaks_table, texts.leaks_list_html, "leaks.csv"),
                              (model.silent_leaks_table,
                               lambda t: texts.silent_leaks_html(t, model.rate_change), "silent_leaks.csv")):
        published = table.assign(leak=np.arange(len(table)) < 12)  # (whether the demo's are leaks or not)
        text = show(published)
        assert text.count("<li>") == 8
        named = what.removesuffix(".csv").replace("_", " ")
        assert (f"12 {named} found: the 8 that lose the most conversions are listed, all 12 in {what} (Data "
                "and downloads, below).") in text
        assert "are listed" not in show(table.assign(leak=np.arange(len(table)) < 8))
    # the charts draw ten, and say so where more were found
    chart = LEAKS.frame(model.leaks_table.assign(leak=np.arange(len(model.leaks_table)) < 12))
    assert len(chart.layers["bars"]["label"]) == 10 and chart.title == "Leaks (95% CI): 10 of 12"
    silent = model.silent_leaks_table.assign(leak=np.arange(len(model.silent_leaks_table)) < 10)
    assert SILENT.frame(silent, model.rate_change).title == "Silent leaks (95% CI)"


def test_a_child_is_listed_under_its_parent_by_any_of_the_parents_names():
    """"mobile × Partners" is measured against the rest of Partners (source), which is listed as
    Affiliates (channel), the same sessions: the child goes under it, not beside it."""
    from leak_app.data.sources import DEFAULT_DATA

    table = SessionModel.from_path(DEFAULT_DATA).leaks_table.copy()
    child = (table["segment"] == "mobile × Partners") & (table["parent"] == "Partners (source)")
    assert child.sum() == 1 and not (table["segment"] == "Partners").any()
    table.loc[child, "leak"] = True  # published (whether the demo's is a leak or not)
    listed = texts.leaks_list_html(table, top=100)
    assert re.search(r"<li>Affiliates \(channel\), also [^<]*<ul class=\"children\">(<li>[^<]*</li>)*"
                     r"<li>mobile × Partners \(device × source\) converts", listed)


def test_leak_bars_carry_their_names_so_no_axis_resizes():
    """A segment's name is written above its bar out of the bars' own data, not on an axis: a
    longer name must not widen the axis (which makes the browser lay out the whole page again)."""
    from bokeh.models import HBar, Text

    from leak_app.analysis import simulation

    data = simulation.planted_sessions(0, sessions_per_source=5000, planted={"src03": 0.3})
    figure = LEAKS.draw(SessionModel(sessions=data).leaks_table)
    assert figure.left == [] and all(axis.visible for axis in figure.below)  # no axis of names at all
    (bars,) = [r for r in figure.renderers if isinstance(r.glyph, HBar)]
    (names,) = [r for r in figure.renderers if isinstance(r.glyph, Text)]
    assert names.data_source is bars.data_source and names.glyph.text == "label"
    assert "src03 (source)" in bars.data_source.data["label"]
    # the name sits above its bar within the same row of the axis of segments
    assert names.glyph.y.transform.value > 0 > bars.glyph.y.transform.value


def test_a_filtered_out_device_keeps_its_empty_place_in_the_funnel(model):
    model.devices = ["mobile"]
    try:
        frame = funnel_frame(model.funnel_table, ["desktop", "mobile"])
        stages = ["Browsed", "Engaged", "Deep\nEngagement", "Converted"]
        assert frame.x == [(device, stage) for device in ("desktop", "mobile") for stage in stages]
        bars = pd.DataFrame(frame.layers["bars"])
        desktop = bars[bars["device"] == "desktop"]
        assert list(desktop["at"]) == frame.x[:4] and desktop["share"].sum() == 0
        assert bars.loc[bars["device"] == "mobile", "share"].sum() > 1  # reached and lost, stacked
        notes = pd.DataFrame(frame.layers["notes"])
        assert notes.loc[[at[0] == "desktop" for at in notes["at"]], "text"].tolist() == \
            ["no sessions match the filters"]
    finally:
        model.devices = []


def test_the_duration_legend_names_only_the_devices_the_filters_keep(model):
    """A device filtered out kept its legend line (and an empty line in the plot): the legend read
    "desktop, mobile" with only desktop drawn. Each legend label is read as the browser reads it:
    a field names the values of its line's rows."""
    def legend(figure) -> list[str]:
        names = []
        for item in figure.select_one(Legend).items:
            label = item.label
            if isinstance(label, Field):
                names += list(dict.fromkeys(item.renderers[0].data_source.data[label.field]))
            else:
                names.append(label.value if isinstance(label, Value) else label)
        return names
    options = {"devices": model.param.devices.objects}
    assert legend(RATES.draw(model.duration_table, **options)) == ["desktop", "mobile"]
    model.devices = ["desktop"]
    try:
        assert legend(RATES.draw(model.duration_table, **options)) == ["desktop"]
    finally:
        model.devices = []


def _same(a, b) -> bool:
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    return a.shape == b.shape and all(
        x == y or (pd.isna(x) and pd.isna(y)) or (isinstance(x, float) and np.isclose(x, y))
        for x, y in zip(a.ravel(), b.ravel()))


def _plots(model):
    """Each plot of the dashboard with the tables it draws and its options."""
    return {"funnel": (FUNNEL, ["funnel_table"], {"devices": model.param.devices.objects}),
            "rates": (RATES, ["duration_table"], {"devices": model.param.devices.objects}),
            "volume": (VOLUME, ["duration_table"], {}), "leaks": (LEAKS, ["leaks_table"], {}),
            "silent": (SILENT, ["silent_leaks_table", "rate_change"], {}),
            "heatmap": (HEATMAP, ["source_device_table"], {})}


@pytest.mark.parametrize("plot", ["funnel", "rates", "volume", "leaks", "silent", "heatmap"])
def test_a_plot_updated_in_place_shows_what_a_fresh_drawing_shows(plot):
    """The in-place update of each plot against a drawing of the new tables from scratch, whose glyphs
    read only columns its data sources hold (Bokeh's own integrity check)."""
    from bokeh.core.validation.check import check_integrity
    from bokeh.models import ColumnDataSource, FactorRange

    from leak_app.ui.live_plot import LivePlot

    model = SessionModel.from_path(ROOT / "data" / "demo_sessions.parquet", min_sessions=2000)
    described, tables, options = _plots(model)[plot]
    live = LivePlot(model, described, tables, lambda model: options)
    countries = model.param.countries.objects
    for change in [{"devices": ["mobile"]}, {"devices": ["tablet"], "countries": countries[:3]},
                   {"devices": ["desktop", "mobile"], "countries": []},
                   {"devices": [], "countries": countries[-1:]},
                   {"devices": ["tablet"], "countries": countries[-1:]}, {"devices": [], "countries": []}]:
        model.param.update(**change)
        live.update()
        fresh = described.draw(*(getattr(model, table) for table in tables), **options)
        found = check_integrity(list(fresh.references()))
        assert not found.error and not found.warning, (change, found)
        expected = {s.name: s.data for s in fresh.select({"type": ColumnDataSource}) if s.name}
        assert sorted(s.name for s in live._sources) == sorted(expected), change
        for source in live._sources:
            assert set(source.data) == set(expected[source.name]), change
            assert all(_same(source.data[c], expected[source.name][c]) for c in source.data), change
        for axis in ("x_range", "y_range"):
            now, drawn = getattr(live.pane.object, axis), getattr(fresh, axis)
            if isinstance(now, FactorRange):
                assert list(now.factors) == list(drawn.factors), (change, axis)
            else:
                assert np.allclose([now.start, now.end], [drawn.start, drawn.end]), (change, axis)
        assert live.pane.object.title.text == fresh.title.text, change


def test_every_plots_data_is_drawn_by_glyphs_which_follow_their_axes():
    """A Bokeh annotation (the ``Whisker`` the intervals were) keeps the places it mapped on an axis
    of factors when only the factors change: after a click the leaks' intervals sat a row below
    their bars. Every data source of every plot is read by glyph renderers only."""
    from bokeh.models import Annotation, ColumnDataSource, GlyphRenderer

    model = SessionModel.from_path(ROOT / "data" / "demo_sessions.parquet", min_sessions=2000)
    for name, (described, tables, options) in _plots(model).items():
        figure = described.draw(*(getattr(model, table) for table in tables), **options)
        drawn = {id(r.data_source) for r in figure.select({"type": GlyphRenderer})}
        assert all(id(s) in drawn for s in figure.select({"type": ColumnDataSource})), name
        assert not [a for a in figure.select({"type": Annotation}) if getattr(a, "source", None)], name


def test_the_leak_charts_follow_their_number_of_leaks_in_place():
    """A filter that leaves one leak, then none, then eight: the same figure each time, as tall as
    its rows, its axis of segments the leaks' names (a tenth of the chart held the bars of one)."""
    from leak_app.ui.app import Dashboard

    model = SessionModel.from_path(ROOT / "data" / "demo_sessions.parquet")
    view = Dashboard(model=model).views["leaks"]
    figure = view.leaks_chart.pane.object
    for devices in (["mobile"], ["tablet"], []):
        model.devices = devices
        leaks = model.leaks_table[model.leaks_table["leak"]].head(10)
        assert view.leaks_chart.pane.object is figure
        assert figure.height == 34 * max(len(leaks), 1) + 90
        names = [f"{s} ({d})" for s, d in zip(leaks["segment"], leaks["dimension"])][::-1]
        assert list(figure.y_range.factors) == (names or [" "])
    assert len(figure.y_range.factors) == 8


def test_each_plot_draws_the_numbers_of_its_table():
    """What the figures hold, against the model's tables read directly: the funnel's stacked
    shares, the heat map's rated cells, the leaks' losses and intervals, the duration points."""
    model = SessionModel.from_path(ROOT / "data" / "demo_sessions.parquet", min_sessions=2000)
    funnel = model.funnel_table[model.funnel_table["device"] == "mobile"]
    bars = pd.DataFrame(FUNNEL.frame(model.funnel_table, ["mobile"]).layers["bars"])
    reached, lost = bars[bars["part"] == "reached"], bars[bars["part"] != "reached"]
    assert np.allclose(reached["top"], funnel["pct_of_entry"]) and np.allclose(reached["bottom"], 0)
    assert np.allclose(lost["bottom"], funnel["pct_of_entry"])
    assert np.allclose(lost["top"], funnel["pct_of_entry"] + funnel["lost_of_entry"])
    assert (lost["part"] == "largest leak").sum() == 1 == funnel["largest_leak"].sum()

    table = model.source_device_table
    cells = pd.DataFrame(HEATMAP.frame(table).layers["cells"]).set_index(["source", "device"])
    for row in table.itertuples():
        shown = cells.loc[(str(row.source), row.device), "rate_shown"]
        assert (shown == row.shrunk_rate) if row.rated else np.isnan(shown)  # the colour: shrunk
    assert len(cells) == table["source"].nunique() * table["device"].nunique()

    leaks = model.leaks_table[model.leaks_table["leak"]].head(10)
    frame = LEAKS.frame(model.leaks_table)
    assert list(frame.layers["bars"]["lost_conversions"]) == list(leaks["lost_conversions"][::-1])
    assert np.allclose(frame.layers["errors"]["lower"], leaks["lost_low"].clip(lower=0)[::-1])
    assert np.allclose(frame.layers["errors"]["upper"], leaks["lost_high"][::-1])
    assert frame.x[0] == 0 and frame.x[1] > leaks["lost_high"].max()
    # a row per leak, the axis right under the last (ten rows left blank ones between): a lone
    # leak's bar is as tall as one of ten; with none, one blank row keeps an axis of segments
    for shown in (leaks, leaks.iloc[:1], leaks.iloc[:0]):
        drawn = LEAKS.frame(shown)
        assert drawn.y == (list(frame.layers["bars"]["label"][-len(shown):]) if len(shown) else [" "])
        assert drawn.height == 34 * max(len(shown), 1) + 90

    duration = model.duration_table
    rates = RATES.frame(duration, devices=["desktop"]).layers
    desktop = duration[duration["device"] == "desktop"]
    line = desktop["rate"].where(desktop["rated"])
    assert np.allclose(rates["desktop/line"]["rate"], line, equal_nan=True)
    rated = duration[duration["rated"]]
    assert np.allclose(rates["intervals"]["ci_high"], rated["ci_high"])
    assert list(rates["intervals"]["color"]) == [device_color(d) for d in rated["device"]]
    assert np.allclose(rates["points"]["rate"], duration["rate"])
    assert list(rates["points"]["fill"]) == list(duration["rated"].astype(float))  # hollow: unrated


def test_the_dashboard_updates_its_plots_in_place():
    from bokeh.document import Document
    from bokeh.models import ColumnDataSource, GlyphRenderer

    from leak_app.data.demo import generate_sessions
    from leak_app.ui.app import Dashboard

    model = SessionModel(sessions=generate_sessions(5_000, seed=4))
    dashboard = Dashboard(model=model)
    root = pn.Column(*dashboard.main()).get_root(Document())
    figures = {id(f) for f in root.select({"type": GlyphRenderer})}
    sources = {id(s): dict(s.data) for s in root.select({"type": ColumnDataSource})}
    model.devices = ["tablet"]
    assert {id(f) for f in root.select({"type": GlyphRenderer})} == figures  # nothing redrawn
    changed = [i for i, s in ((id(s), s) for s in root.select({"type": ColumnDataSource}))
               if i in sources and any(not np.array_equal(np.asarray(sources[i][k], dtype=object),
                                                          np.asarray(s.data.get(k, []), dtype=object))
                                       for k in sources[i])]
    assert len(changed) >= 8  # the map, funnel, duration, heatmap and leak charts' data


def test_each_change_draws_each_plot_once_from_the_tables_it_ends_with(monkeypatch):
    """The dashboard draws when the model says a change is complete: a change at several depths (a
    stage threshold with a minimum), or another number of sources (which also clears the source
    filter), draws or updates each plot once, from the tables the change ends with."""
    from leak_app.data.demo import generate_sessions
    from leak_app.ui import live_plot
    from leak_app.ui.app import Dashboard

    model = SessionModel(sessions=generate_sessions(5_000, seed=4))
    dashboard = Dashboard(model=model)
    seen = []

    def recording(method):
        def record(plot):
            seen.append((plot, [getattr(model, table) for table in plot.tables]))
            return method(plot)
        return record

    for name in ("draw", "update"):
        monkeypatch.setattr(live_plot.LivePlot, name, recording(getattr(live_plot.LivePlot, name)))
    model.sources = [model.param.sources.objects[0]]
    for change in (lambda: model.param.update(min_sessions=60, engaged_pageviews=4),
                   lambda: setattr(model, "top_sources", 4)):
        seen.clear()
        change()
        plots = [plot for plot, _ in seen]
        assert len(plots) == len(set(map(id, plots))) and dashboard.views["source_device"].heatmap in plots
        assert all(all(a is getattr(model, t) for a, t in zip(tables, plot.tables)) for plot, tables in seen)


def test_a_filter_change_sends_data_only(monkeypatch):
    """No model is replaced: replacing one makes the page walk all its models (a tenth of a second)."""
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from leak_app.data.demo import generate_sessions
    from leak_app.ui.app import Dashboard

    model = SessionModel(sessions=generate_sessions(5_000, seed=4))
    doc = Document()
    Dashboard(model=model).template().server_doc(doc)
    walks = []
    recompute = doc.models.recompute
    monkeypatch.setattr(doc.models, "recompute", lambda: walks.append(1) or recompute())
    with set_curdoc(doc):
        model.devices = ["tablet"]
    assert walks == []


def test_only_changed_columns_are_sent():
    """Bokeh sends (and the browser repaints) whatever is set, equal or not: the same filter again
    sends nothing."""
    from leak_app.data.demo import generate_sessions
    from leak_app.ui.app import Dashboard

    model = SessionModel(sessions=generate_sessions(5_000, seed=4))
    model.devices = ["mobile"]
    dashboard = Dashboard(model=model)
    sent = []

    def watch(name, source):
        source.on_change("data", lambda attr, old, new: sent.append((name, attr)))

    for source in dashboard.views["funnel"].plot._sources:
        watch(source.name, source)
    watch("map", dashboard.views["country_map"]._parts[0])
    model.devices = ["tablet"]
    assert {name for name, _ in sent} == {"bars", "notes", "map"}
    sent.clear()
    model.devices = ["tablet"]  # the same filter: nothing new to send
    model.param.trigger("devices")
    assert sent == []


def test_filter_clicks_skip_panels_wait_for_more_changes():
    """Panel holds a browser change 50 ms unless its property is a priority change:
    the device buttons' and the pickers' values must be (a sixth of the 300 ms budget)."""
    from leak_app.data.demo import generate_sessions
    from leak_app.ui.app import Dashboard

    dashboard = Dashboard(model=SessionModel(sessions=generate_sessions(2_000, seed=4)))
    pickers = [w for w in dashboard.filters
               if isinstance(w, (pn.widgets.CheckButtonGroup, pn.widgets.MultiChoice))]
    assert len(pickers) == 4  # devices, countries, sources, channels
    for widget in pickers:
        value = widget._property_mapping.get("value", "value")
        assert value in widget._priority_changes, type(widget).__name__


def test_settings_that_change_the_axes_update_them_in_place():
    from bokeh.document import Document
    from bokeh.models import FactorRange

    from leak_app.ui.app import Dashboard

    model = SessionModel.from_path(ROOT / "tests" / "fixtures" / "events_20260803.parquet")
    root = pn.Column(*Dashboard(model=model).main()).get_root(Document())

    def stage_axes():  # the funnel's (device, stage) factors, each device's stages
        return {tuple(stage for device, stage in r.factors if device == r.factors[0][0])
                for r in root.select({"type": FactorRange})
                if r.factors and isinstance(r.factors[0], tuple) and r.factors[0][1] == "Browsed"}

    assert stage_axes() == {("Browsed", "Engaged", "Deep\nEngagement", "Converted")}
    model.funnel = "ecommerce"
    assert stage_axes() == {("Browsed", "Viewed\nitem", "Added\nto\ncart", "Began\ncheckout", "Converted")}


def test_each_page_gets_its_own_copy_of_the_map_drawn_once_with_its_rates():
    """GeoViews projects every shape each time it draws the map (2 s of each new page): a page now
    gets a copy of the map drawn once per process, coloured with its own rates. The copy holds what
    GeoViews draws for those rates, and shares no model with another page's."""
    import holoviews as hv
    from bokeh.models import GlyphRenderer

    from leak_app.data.demo import generate_sessions
    from leak_app.ui.app import Dashboard
    from leak_app.ui.figures import lean

    first = SessionModel(sessions=generate_sessions(5_000, seed=4))
    other = SessionModel(sessions=generate_sessions(3_000, seed=5), devices=["mobile"])
    pages = [Dashboard(model=m).views["country_map"].pane.object for m in (first, other)]
    drawn = lean(hv.render(country_map.country_choropleth(other.country_table, country_shapes())))
    copy, expected = (f.select_one(GlyphRenderer).data_source.data for f in (pages[1], drawn))
    assert set(copy) == set(expected)
    for column in country_map.MAP_VALUES:
        pd.testing.assert_series_equal(pd.Series(list(copy[column])), pd.Series(list(expected[column])),
                                       obj=column)
    for column in ("xs", "ys"):  # countries of parts of rings of coordinates
        assert [[[list(ring) for ring in part] for part in shape] for shape in copy[column]] == \
            [[[list(ring) for ring in part] for part in shape] for shape in expected[column]], column
    ids = [{model.id for model in page.references()} for page in pages]
    assert len(ids[1]) == len({model.id for model in drawn.references()}) and not ids[0] & ids[1]
    # the shapes are one set of read-only arrays, not decoded again for each page
    rings = [page.select_one(GlyphRenderer).data_source.data["xs"][0][0][0] for page in pages]
    assert rings[0] is rings[1] and not rings[1].flags.writeable


def test_the_map_carries_nothing_that_draws_nothing():
    """HoloViews' map held two hidden axes (their tickers and formatters), two grids without lines,
    and hover and selection glyphs drawn as the glyph: 13 of its 41 models, made, sent and laid out
    for each page. What it draws stays: the coloured shapes, the colour bar, the map's tools."""
    import holoviews as hv
    from bokeh.models import Axis, ColorBar, GlyphRenderer, Grid

    from leak_app.data.demo import generate_sessions
    from leak_app.ui.figures import lean

    countries = SessionModel(sessions=generate_sessions(3_000, seed=8)).country_table
    drawn = hv.render(country_map.country_choropleth(countries, country_shapes()))
    before = len(drawn.references())
    (renderer,) = drawn.select({"type": GlyphRenderer})
    glyph = renderer.glyph.properties_with_values(include_defaults=False)
    assert drawn.select({"type": Axis}) and drawn.select({"type": Grid})  # what HoloViews makes
    figure = lean(drawn)
    assert not figure.select({"type": Axis}) and not figure.select({"type": Grid})
    glyphs = (renderer.selection_glyph, renderer.hover_glyph, renderer.nonselection_glyph)
    assert glyphs == ("auto", None, "auto")
    assert renderer.glyph.properties_with_values(include_defaults=False) == glyph
    assert figure.select_one(ColorBar).color_mapper is renderer.glyph.fill_color.transform
    assert {type(tool).__name__ for tool in figure.toolbar.tools} == {
        "PanTool", "WheelZoomTool", "BoxZoomTool", "ResetTool", "HoverTool", "SaveTool"}
    assert before - len(figure.references()) >= 13


def test_pages_of_the_same_data_get_copies_of_one_drawing_each_its_own():
    """HoloViews took 0.1-0.5 s to draw each plot for each new page: pages showing the same tables
    now get copies of one drawing. Each copy is the page's own: a filter on one page leaves the
    other's plots as they were, and no model is shared."""
    from bokeh.document import Document
    from bokeh.models import GlyphRenderer, Grid

    from leak_app.data.demo import generate_sessions
    from leak_app.ui.app import Dashboard

    sessions = generate_sessions(4_000, seed=6)
    first, second = (Dashboard(model=SessionModel(sessions=sessions)) for _ in range(2))

    def shown(dashboard):
        plots = dashboard.plots
        return [{name: list(map(str, values)) for name, values in source.data.items()}
                for plot in plots for source in plot._sources]

    assert shown(first) == shown(second)
    before = shown(second)
    first.model.devices = ["mobile"]
    assert shown(first) != before and shown(second) == before
    ids = [{m.id for plot in d.plots for m in plot.pane.object.references()}
           for d in (first, second)]
    assert not ids[0] & ids[1]
    # what the copies share: columns, read-only; what no page makes: glyphs the browser derives
    # (unselected, muted), hidden grids and the tools of panning and zooming, 148 of a page's 668
    # models
    third = Dashboard(model=SessionModel(sessions=sessions))
    for plot, again in zip(second.plots, third.plots, strict=True):
        for source, same in zip(plot._sources, again._sources, strict=True):
            assert all(source.data[c] is same.data[c] and not same.data[c].flags.writeable
                       for c in source.data if isinstance(source.data[c], np.ndarray))
        figure = plot.pane.object
        assert not figure.select({"type": Grid})
        assert {(r.nonselection_glyph, r.muted_glyph) for r in figure.select({"type": GlyphRenderer})} == \
            {("auto", "auto")}
        renderers = figure.select({"type": GlyphRenderer})  # one view of a source's rows, its layers'
        assert len({r.view.id for r in renderers}) == len({r.data_source.id for r in renderers})
        # no pan or zoom on axes of factors drawn whole: save and hover only
        assert {type(tool).__name__ for tool in figure.toolbar.tools} <= {"SaveTool", "HoverTool"}
    document = Document()  # as the server checks a page (nested factors came back as lists, not tuples)
    for plot in second.plots:
        document.add_root(plot.pane.object)
    document.validate()


def test_a_served_pages_whole_document_passes_bokehs_checks(tmp_path):
    """``serve`` turns off Bokeh's check of each new page's document (about 60 ms of the server's
    thread a page): the check runs here instead, on a page as served (copies of drawn figures).
    A page is at most 295 Bokeh models, what a new page's cost follows: 518 before each figure
    shared its stateless models, the duration plot drew its devices' points in one layer and the
    funnel its devices in one plot, the settings' inputs waited for their card to open and the layers
    of one source shared one view of its rows, nothing that draws nothing was kept, and the page's
    figures shared their stateless models."""
    from bokeh.core.validation.check import check_integrity
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from leak_app.data.demo import generate_sessions
    from leak_app.ui.page import serve_page

    path = tmp_path / "sessions.csv"
    generate_sessions(3_000, seed=2).to_csv(path, index=False)
    for _ in range(2):  # the first page draws, the second copies
        document = Document()
        with set_curdoc(document):
            serve_page(path)
        issues = check_integrity(document.models)
        assert 260 < len(document.models) <= 295 and not issues.error and not issues.warning, issues


def test_a_pages_figures_share_one_of_each_stateless_model_and_pages_none():
    """Which rows to draw, how to select and which labels to show hold no state: one model of each
    serves every figure of a page (about 30 models a page against 5), never another page's, and figures
    drawn anew (other cell settings) share them too, the page's document still whole."""
    from bokeh.core.validation.check import check_integrity
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from leak_app.data.demo import generate_sessions
    from leak_app.ui.app import Dashboard
    from leak_app.ui.figures import STATELESS

    sessions = generate_sessions(3_000, seed=3)
    dashboards, documents = [Dashboard(model=SessionModel(sessions=sessions)) for _ in range(2)], []
    for dashboard in dashboards:
        documents.append(Document())
        with set_curdoc(documents[-1]):
            dashboard.template().server_doc(documents[-1])

    def stateless(document) -> dict[str, set]:
        return {kind.__qualified_model__: {m.id for m in document.models if type(m) is kind}
                for _, kind in STATELESS}

    pages = [stateless(document) for document in documents]
    assert all(len(ids) == 1 for page in pages for ids in page.values()), pages
    assert all(not pages[0][kind] & pages[1][kind] for kind in pages[0])
    users = [m for m in documents[1].models if getattr(m, "filter", None) is not None]
    assert len(users) >= 10  # the views of every figure's sources
    figures = [plot.pane.object for plot in dashboards[1].plots]
    with set_curdoc(documents[1]):
        dashboards[1].model.engaged_pageviews = 3  # a new cube: every figure drawn anew
    assert not {id(plot.pane.object) for plot in dashboards[1].plots} & set(map(id, figures))
    assert stateless(documents[1]) == pages[1]
    issues = check_integrity(documents[1].models)
    assert not issues.error and not issues.warning, issues


def test_a_page_whose_data_cannot_load_leaves_its_document_working(tmp_path):
    """`panel serve leak_app/dashboard.py` on a missing file says so in the page: the failed page had
    left Bokeh's model index frozen, so the message's models were unknown to the server and every
    message of the browser came back as an error."""
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from leak_app.data.schema import LoadError
    from leak_app.ui.page import serve_page

    document = Document()
    with set_curdoc(document):
        with pytest.raises(LoadError, match="no such file"):
            serve_page(tmp_path / "gone.csv", None, None, 200)
        said = pn.pane.Markdown("The dashboard cannot start").get_root(document)
        document.add_root(said)
    assert document.get_model_by_id(said.id) is said


def test_a_later_page_of_the_same_tables_pickles_none_of_them_to_find_its_drawings(monkeypatch):
    """Served pages take their tables from one first model: a later page finds its drawings without
    pickling those tables again (a country table of 28,000 names took 0.1 s a plot and page)."""
    from leak_app.data.demo import generate_sessions
    from leak_app.ui import drawn_once
    from leak_app.ui.app import Dashboard

    sessions = generate_sessions(4_000, seed=8)
    first = SessionModel(sessions=sessions)
    Dashboard(model=SessionModel(sessions=sessions, start_from=first))
    pickled, dumps = [], drawn_once.pickle.dumps
    monkeypatch.setattr(drawn_once.pickle, "dumps",
                        lambda value, **kw: pickled.append(value) or dumps(value, **kw))
    later = Dashboard(model=SessionModel(sessions=sessions, start_from=first))
    assert later.plots and pickled == []


def test_a_figure_drawn_on_the_worker_while_a_page_sends_a_click_gets_bokehs_conversions(monkeypatch):
    """Bokeh's switch of value validation is one for the whole process, and the event loop turns it
    off to send a click's columns; Bokeh converts a value (a title's text to a ``Title``) only when
    it fails validation. An upload's figures, drawn on the worker meanwhile, kept their titles as
    strings and the upload failed (the busy-server benchmark). Now a drawing waits for the send."""
    import threading

    from leak_app.data.demo import generate_sessions
    from leak_app.ui import live_plot

    model = SessionModel(sessions=generate_sessions(3_000, seed=11))
    page = live_plot.LivePlot(model, HEATMAP, ["source_device_table"])
    uploaded = SessionModel(sessions=generate_sessions(2_000, seed=12))  # a figure nobody drew yet
    sending, failures = threading.Event(), []

    def predraw():  # what an upload does on the worker thread
        sending.wait(timeout=30)
        try:
            page.predraw(uploaded)
        except Exception as error:  # noqa: BLE001 - the test reports it
            failures.append(error)

    worker = threading.Thread(target=predraw)
    worker.start()
    send_changed = live_plot.send_changed

    def send_while_the_worker_draws(source, columns):
        if not sending.is_set():
            sending.set()
            worker.join(timeout=3)  # the worker draws now, or waits for the send to end
        send_changed(source, columns)

    monkeypatch.setattr(live_plot, "send_changed", send_while_the_worker_draws)
    model.countries = model.param.countries.objects[:2]
    page.update()
    worker.join(timeout=30)
    assert sending.is_set() and not worker.is_alive()
    assert not failures, failures
    again = live_plot.LivePlot(uploaded, HEATMAP, ["source_device_table"])  # a copy of that drawing
    assert again.pane.object.title.text == HEATMAP.draw(uploaded.source_device_table).title.text


def drawn_from_now(monkeypatch) -> list[str]:
    """The keys of the figures drawn from now on (each a drawing, not a copy: see drawn_once)."""
    from leak_app.ui import drawn_once

    drawn = []
    keep = drawn_once.keep

    def recording(key, draw):
        def counted():
            drawn.append(key)
            return draw()
        return keep(key, counted)

    monkeypatch.setattr(drawn_once, "keep", recording)
    return drawn


def test_serve_draws_every_figure_of_a_page_before_the_first_visitor(tmp_path, monkeypatch):
    """A new server's first page took 8 s to its first paint where the next took 4 s: it drew the
    figures that later pages copy. ``serve`` now draws them before it listens, so the first
    page, like every other, only copies them. And Panel asks for a full garbage collection after
    each closed page, whose pass walked every object the process held since its start (libraries,
    data, drawn figures: 350,000 objects, 0.2-0.3 s of the event loop a page at a million
    sessions): ``serve`` freezes those before it listens, so that a pass walks the pages' own."""
    from bokeh.settings import settings

    from leak_app import cli
    from leak_app.data.demo import generate_sessions
    from leak_app.ui import page
    from leak_app.ui.actions import PAGE_CONFIG

    path = tmp_path / "sessions.parquet"
    generate_sessions(3_000, seed=21).to_parquet(path)
    listening = []

    def listen(*args, **kwargs):  # what the collector leaves (frozen) and walks as the server listens
        listening.append((gc.get_freeze_count(), len(gc.get_objects())))
        loop = SimpleNamespace(asyncio_loop=SimpleNamespace(add_signal_handler=lambda *args: None),
                               start=lambda: None)
        return SimpleNamespace(io_loop=loop, start=lambda: None)  # a server that returns at once

    monkeypatch.setattr(pn, "serve", listen)
    for name in PAGE_CONFIG:  # serve sets them for the process: put back after this test
        monkeypatch.setattr(pn.config, name, getattr(pn.config, name))
    try:
        cli.main(["serve", "--data", str(path), "--port", "0"])
    finally:
        settings.perform_document_validation.unset_value()
        gc.unfreeze()  # this process goes on testing
    (frozen, walked), = listening
    assert frozen > 100_000 and walked < frozen / 10, listening
    drawn = drawn_from_now(monkeypatch)
    page.create_app(path)  # a visitor's page
    assert drawn == []


def test_panel_serve_warm_draws_every_figure_of_a_page_before_the_first_visitor(tmp_path, monkeypatch):
    """``panel serve leak_app/dashboard.py --warm`` (as ``anaconda-project run dashboard`` runs it):
    Panel runs the app file once before it listens, which draws what every later page copies and
    freezes what the process holds (see ``page.start_serving``; it did not freeze before). It
    failed to start ("Set changed size during iteration"): the map's HoloViews plot was tied to the
    warming page's document, and left its callbacks while Panel's cleanup went through them."""
    from collections import OrderedDict

    from bokeh.command.util import build_single_handler_applications
    from panel.command.serve import Serve

    from leak_app.data.demo import generate_sessions
    from leak_app.ui import drawn_once, page
    from leak_app.ui.actions import PAGE_CONFIG

    path = tmp_path / "sessions.parquet"
    generate_sessions(3_000, seed=22).to_parquet(path)
    script = str(ROOT / "leak_app" / "dashboard.py")
    applications = build_single_handler_applications([script], {script: ["--data", str(path)]})
    for name in PAGE_CONFIG:  # the app file sets them for the process: put back after this test
        monkeypatch.setattr(pn.config, name, getattr(pn.config, name))
    monkeypatch.setattr(drawn_once, "_drawn", OrderedDict())  # nothing drawn yet, as in a new server
    drawn = drawn_from_now(monkeypatch)
    try:
        Serve.warm_applications(Serve.__new__(Serve), applications, reuse_sessions=False)  # what --warm runs
        # what the process holds at start, left out of the collector's passes as `serve` leaves it
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()  # this process goes on testing
    assert drawn and frozen > 100_000  # the page's figures, drawn at start
    drawn.clear()
    page.create_app(path)  # a visitor's page
    assert drawn == []


def test_periods_not_compared_are_not_called_leak_free():
    """Dates narrowed to one day compare no periods: the silent-leak chart said "No silent leak
    found", the list "No segment's rate fell…" and the takeaways "Compare the periods with care",
    as if a comparison had found nothing. Widened again, the chart is the found leaks' once more."""
    from leak_app.ui.cards.leaks import Leaks

    rows = [(device, "F", "g", 12, 20, i % 3 == 0, day) for device in ("desktop", "mobile")
            for day in ("2026-01-01", "2026-01-02") for i in range(300)]
    model = SessionModel(sessions=sessions(rows))
    view = Leaks(model=model)
    assert view.silent_chart.pane.object.title.text == "No silent leak found"
    assert not view.silent_chart.shown and not view.leaks_chart.shown  # the lists say so
    model.date_range = (pd.Timestamp("2026-01-02").to_pydatetime(),) * 2
    view.update({"silent_leaks_table", "rate_change"})
    assert view.silent_chart.pane.object.title.text == "Silent leaks: not compared"
    assert "<p>Not compared: see the warning above.</p>" in view.silent_list.text
    assert texts.NO_SILENT_LEAK not in view.silent_list.text
    assert model.takeaways[0].startswith("Silent leaks not compared. The dates hold one day (2026-01-02)")
    assert SILENT.frame(model.silent_leaks_table, model.rate_change).title == "Silent leaks: not compared"
    model.date_range = model.param.date_range.bounds
    view.update({"silent_leaks_table", "rate_change"})
    assert view.silent_chart.pane.object.title.text == "No silent leak found"
    assert f"<p>{texts.NO_SILENT_LEAK}</p>" in view.silent_list.text
    # periods asked beyond the data (the last 3,650 days): the takeaways said both "Silent leaks not
    # compared" and "No silent leak: no segment's conversion rate fell ... between 09 Dec 2015–05 Jan 2016
    # and 06 Jan 2016–02 Jan 2026", and "The baseline period has only 0 days"
    model.param.update(current_period="last-3650d", baseline_period="previous-28d")
    view.update({"silent_leaks_table", "rate_change"})
    assert model.takeaways[0].startswith("Silent leaks not compared. The baseline, 2015-12-09 to 2016-01-05 "
                                         "(28 days), reaches outside the data")
    assert not any("No silent leak" in t or "only 0 days" in t for t in model.takeaways)
    assert view.silent_chart.pane.object.title.text == "Silent leaks: not compared"
