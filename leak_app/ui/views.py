"""Views: pure functions from the model's tables to HoloViews/GeoViews objects.

No view computes a statistic; each only reshapes and labels the table it is given.
The same functions serve the served app, the exported HTML, the PNG export and
notebooks. Text from the data (country and source names) reaches the browser
only as plot data (hover fields, axis factors and names drawn on the canvas, which
Bokeh renders as text), never as HTML.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import cartopy.crs as ccrs
import geoviews as gv
import geoviews.plotting.bokeh  # registers the Bokeh backends without a notebook
import holoviews as hv
import holoviews.plotting.bokeh  # (likewise)
import hvplot.pandas  # noqa: F401
import numpy as np
import pandas as pd
from bokeh.models import NumeralTickFormatter, Whisker
from bokeh.transform import dodge

from ..analysis.change import most_mixed
from ..analysis.leaks import NO_SILENT_LEAK, leak_rows, segment_name, silent_leak_rows
from ..analysis.text import pct
from ..data.schema import needs

# Canvas, not WebGL: these plots draw at most hundreds of glyphs, and WebGL adds a read back
# from the GPU to every repaint (tens of milliseconds with the software GL of servers and CI).
hv.renderer("bokeh").webgl = False

PERCENT = NumeralTickFormatter(format="0.0%")
NO_DATA = "#e4e4e4"
REACHED, LOST, LARGEST = "#3b6ea8", "#f2a38a", "#c8372d"
DEVICE_COLORS = {"desktop": "#3b6ea8", "mobile": "#e07b39", "tablet": "#5a9e6f", "other": "#8c6bb1"}
RATE_CMAP = "YlGnBu"
NO_SESSIONS = "No sessions match the filters"


def _labelled(table: pd.DataFrame, min_sessions_note: str = "not enough data") -> pd.DataFrame:
    """Add display-only columns: the rate shown (NaN if unrated) and readable text."""
    shown = table["rate"].where(table["rated"])
    interval = [f"{pct(lo)} – {pct(hi)}" for lo, hi in zip(table["ci_low"], table["ci_high"])]
    status = ["rated" if r else min_sessions_note for r in table["rated"]]
    return table.assign(rate_shown=shown, rate_text=[pct(r) for r in table["rate"]],
                        interval=interval, status=status)


def _device_color(devices) -> dict:
    return {d: DEVICE_COLORS.get(d, "#777777") for d in devices}


@dataclass
class Redraw:
    """What a filter change alters in a drawn plot, for updating it in place.

    ``layers`` holds each overlaid layer's columns, in the overlay's order, as the
    plot's data sources hold them; the axes (factors, or a (start, end) range), the
    title and the colour range are given where the data decide them.
    """

    layers: list[dict]
    x: list | tuple | None = None
    y: list | tuple | None = None
    title: str | None = None
    colors: tuple | None = None


def _columns(frame: pd.DataFrame, names=None, rows=slice(None)) -> dict:
    """Columns (all, or the named ones) as arrays, of every row or the rows at these positions."""
    return {name: frame[name].to_numpy()[rows] for name in (frame.columns if names is None else names)}


def _spread(low: float, high: float) -> tuple[float, float]:
    """A range around the data; a single value is spread by one either side, as HoloViews does."""
    return (low - 1, high + 1) if low == high else (low, high)


def _padded(low: float, high: float, padding: float = 0.1) -> tuple[float, float]:
    """A numeric axis range around the data, padded as HoloViews pads it."""
    low, high = _spread(low, high)
    span = high - low
    return low - padding * span, high + padding * span


#: What the map shows of each country (its colour is the first).
MAP_VALUES = ["rate_shown", "country", "sessions", "conversions", "rate_text", "interval", "status"]


def choropleth_values(countries: pd.DataFrame, shapes: pd.DataFrame) -> pd.DataFrame:
    """Per country shape, in the shapes' order: its geometry and the values the map shows.

    A shape that two of the data's country names map to shows the one with more sessions.
    """
    table = _labelled(countries[countries["iso3"].notna()]).drop_duplicates("iso3")
    at = pd.Index(table["iso3"]).get_indexer(shapes["iso3"])  # -1: a shape without sessions
    missing = {"rate_shown": np.nan, "country": shapes["name"].to_numpy(), "sessions": 0, "conversions": 0,
               "rate_text": "–", "interval": "–", "status": "no sessions"}
    return pd.DataFrame({"geometry": shapes["geometry"].to_numpy(),
                         **{name: _by_shape(table[name].to_numpy(), at, missing[name])
                            for name in MAP_VALUES}})


def _by_shape(values: np.ndarray, at: np.ndarray, missing) -> np.ndarray:
    """``values[at]``, and ``missing`` where ``at`` is -1."""
    found = values[at] if len(values) else np.empty(len(at), dtype=values.dtype)
    return np.where(at >= 0, found, missing)


def country_choropleth(countries: pd.DataFrame, shapes: pd.DataFrame) -> gv.Polygons:
    """World map of conversion rate; countries under the minimum sample drawn as 'not enough data'."""
    polygons = gv.Polygons(
        choropleth_values(countries, shapes).to_dict("records"), vdims=MAP_VALUES, crs=ccrs.GOOGLE_MERCATOR
    )
    return polygons.opts(
        color="rate_shown", cmap=RATE_CMAP, colorbar=True, clipping_colors={"NaN": NO_DATA},
        colorbar_opts={"formatter": PERCENT}, clabel="conversion rate",
        line_color="white", line_width=0.4, projection=ccrs.GOOGLE_MERCATOR,
        tools=["hover"], hover_tooltips=[
            ("Country", "@country"), ("Sessions", "@sessions{0,0}"),
            ("Conversions", "@conversions{0,0}"), ("Rate", "@rate_text"),
            ("95% CI", "@interval"), ("", "@status"),
        ],
        title="Conversion rate by country (grey: no sessions or not enough data)",
        responsive=True, height=420, xaxis=None, yaxis=None, active_tools=["pan", "wheel_zoom"],
    )


def _funnel_long(funnel: pd.DataFrame) -> pd.DataFrame:
    """One row per stage and part, every stage reached then every stage lost (the largest leak
    marked), with its share of entry sessions."""
    lost = np.where(funnel["largest_leak"].to_numpy(dtype=bool), "largest leak", "lost").astype(object)
    drop_text = np.array([pct(v) for v in funnel["drop_rate"]], dtype=object)
    return pd.DataFrame({
        "device": np.tile(funnel["device"].to_numpy(), 2),
        "stage": np.tile(funnel["stage"].astype(str).str.replace(" ", "\n").to_numpy(), 2),  # two-line ticks
        "part": np.concatenate([np.full(len(funnel), "reached", dtype=object), lost]),
        "count": np.concatenate([funnel["sessions"].to_numpy(), funnel["lost"].to_numpy()]),
        "share": np.concatenate([funnel["pct_of_entry"].to_numpy(), funnel["lost_of_entry"].to_numpy()]),
        "drop_text": np.tile(drop_text, 2),
    })


def _funnel_frames(funnel: pd.DataFrame, device: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One device's bars (stage, part, share, count, drop_text) and the notes above them.

    Empty, and saying so, when the filters leave the device no session: zero-height bars
    on the same stages, so the panel keeps its place and axis.
    """
    frame = _funnel_long(funnel[funnel["device"] == device])
    if frame.empty:
        stages = [str(s).replace(" ", "\n") for s in funnel["stage"].cat.categories]
        frame = pd.DataFrame({"stage": stages, "part": "reached", "share": 0.0, "count": 0, "drop_text": "–"})
        # a note in the data, not the title: exported files embed data changes
        notes = pd.DataFrame({"stage": [frame["stage"].iloc[(len(frame) - 1) // 2]], "y": [0.5],
                              "text": ["no sessions match the filters"]})
        return frame, notes
    stages = len(frame) // 2
    reached, share = frame["count"].to_numpy()[:stages], frame["share"].to_numpy()
    top = share[:stages] + share[stages:]  # reached and lost: the stacked bar's height
    notes = pd.DataFrame({"stage": frame["stage"].to_numpy()[:stages], "y": top + 0.01,
                          "text": [f"{c:,}\n{pct(s)}" for c, s in zip(reached, share[:stages])]})
    # grouped by part, in order of appearance, as HoloViews stacks them
    return frame.iloc[np.argsort(pd.factorize(frame["part"])[0], kind="stable")], notes


def funnel_panel(funnel: pd.DataFrame, device: str) -> hv.Overlay:
    """One device's funnel: each stage's share of entry sessions and, stacked on it, the share lost."""
    frame, notes = _funnel_frames(funnel, device)
    bars = hv.Bars(frame, ["stage", "part"], ["share", "count", "drop_text"]).opts(
        stacked=True, cmap={"reached": REACHED, "lost": LOST, "largest leak": LARGEST},
        yformatter=PERCENT, ylim=(0, 1.2), yticks=[0, 0.25, 0.5, 0.75, 1.0], title=device,
        tools=["hover"], hover_tooltips=[("Stage", "@stage"), ("", "@part"),
                                         ("Sessions", "@count{0,0}"), ("Drop-off here", "@drop_text")],
        show_legend=False, framewise=True,
        xlabel="", ylabel="share of sessions", width=320, height=320, fontsize={"xticks": "7.5pt"},
    )
    labels = hv.Labels(notes, ["stage", "y"], "text").opts(
        text_font_size="8pt", text_color="#222222", text_baseline="bottom",
    )
    return bars * labels


def funnel_panel_data(funnel: pd.DataFrame, device: str) -> Redraw:
    """What a filter change alters in a drawn :func:`funnel_panel`: its bars and notes."""
    frame, notes = _funnel_frames(funnel, device)
    top = frame.groupby("stage", sort=False)["share"].cumsum()
    return Redraw([{"bottom": (top - frame["share"]).to_numpy(), "top": top.to_numpy(), **_columns(frame)},
                   _columns(notes)], x=list(dict.fromkeys(frame["stage"])))


def funnel_waterfall(funnel: pd.DataFrame) -> hv.Layout:
    """The funnel panel of every device with sessions, side by side."""
    devices = sorted(funnel["device"].unique()) or ["all devices"]
    return hv.Layout([funnel_panel(funnel, d) for d in devices]).cols(3).opts(
        title="Funnel by device: reached (blue) and lost at each step (red = largest leak)", shared_axes=False
    )


def _duration_rows(duration: pd.DataFrame, devices):
    """The table labelled, and per device in ``devices`` the positions of its rated rows and
    of its unrated rows."""
    table = _labelled(duration).assign(bucket=lambda t: t["bucket"].astype(str))
    device, rated = table["device"].to_numpy(), table["rated"].to_numpy(dtype=bool)
    return table, [(d, np.flatnonzero((device == d) & rated), np.flatnonzero((device == d) & ~rated))
                   for d in devices]


#: Pixels left of the duration plots' frames: the first bucket's name, at an angle, ends there.
DURATION_LEFT = 110
#: The duration points' columns.
DURATION_POINTS = ["bucket", "rate", "device", "sessions", "conversions", "interval", "status"]


def _duration_title(duration: pd.DataFrame) -> str:
    return "Conversion by session duration (hollow: not enough data)" if len(duration) else NO_SESSIONS


def duration_rates(duration: pd.DataFrame, devices) -> hv.Overlay:
    """Conversion rate with its 95% interval by session duration, a line per device.

    Every device in ``devices`` has its layers, empty when filtered out, so the plot
    updates in place as filters change.
    """
    colors = _device_color(devices)
    tooltips = [("Device", "@device"), ("Duration", "@bucket"), ("Rate", "@rate{0.00%}"),
                ("95% CI", "@interval"), ("Sessions", "@sessions{0,0}"), ("", "@status")]
    layers = []
    table, rows = _duration_rows(duration, devices)
    for device, rated_at, unrated_at in rows:
        rated, unrated, color = table.iloc[rated_at], table.iloc[unrated_at], colors[device]
        layers += [
            hv.Curve(rated, "bucket", "rate", label=device).opts(color=color, line_width=2),
            hv.ErrorBars(rated.assign(lo=rated["rate"] - rated["ci_low"],
                                      hi=rated["ci_high"] - rated["rate"]),
                         "bucket", ["rate", "lo", "hi"]).opts(color=color, alpha=0.6),
            hv.Scatter(rated, "bucket", DURATION_POINTS[1:]).opts(color=color, size=7, tools=["hover"],
                                                                  hover_tooltips=tooltips),
            hv.Scatter(unrated, "bucket", DURATION_POINTS[1:]).opts(color=color, size=7, fill_alpha=0,
                                                                    tools=["hover"], hover_tooltips=tooltips),
        ]
    # The buckets in their order on the axis (HoloViews would put the rated layers' first).
    return hv.Overlay(layers).redim.values(bucket=list(dict.fromkeys(table["bucket"]))).opts(
        title=_duration_title(duration), ylabel="conversion rate",
        yformatter=PERCENT, xlabel="", width=540, height=285, legend_position="top_left", framewise=True,
        # Bucket names at an angle ("no duration (single page)" would overlap its neighbour), with
        # room on the left for the first one's length.
        xrotation=30, backend_opts={"plot.min_border_left": DURATION_LEFT},
    )


def duration_rates_data(duration: pd.DataFrame, devices) -> Redraw:
    """What a filter change alters in a drawn :func:`duration_rates`."""
    table, rows = _duration_rows(duration, devices)
    columns = _columns(table)
    layers, low, high = [], [], []
    for _, rated, unrated in rows:
        layers += [_columns(table, ["bucket", "rate"], rated),
                   {"base": columns["bucket"][rated], "lower": columns["ci_low"][rated],
                    "upper": columns["ci_high"][rated]},
                   _columns(table, DURATION_POINTS, rated), _columns(table, DURATION_POINTS, unrated)]
        low += [columns["ci_low"][rated], columns["rate"][unrated]]
        high += [columns["ci_high"][rated], columns["rate"][unrated]]
    low, high = (np.concatenate(values).astype(float) for values in (low, high))
    low, high = low[~np.isnan(low)], high[~np.isnan(high)]
    return Redraw(layers, x=list(dict.fromkeys(duration["bucket"].astype(str))),
                  y=_padded(low.min(), high.max()) if len(low) else None, title=_duration_title(duration))


def duration_volume(duration: pd.DataFrame) -> hv.Bars:
    """Sessions by session duration and device."""
    table = duration.assign(bucket=lambda t: t["bucket"].astype(str))
    return hv.Bars(table, ["bucket", "device"], ["sessions"]).opts(
        cmap=_device_color(table["device"].unique()), width=540, height=225, ylabel="sessions", xrotation=30,
        backend_opts={"plot.min_border_left": DURATION_LEFT},
        xlabel="session duration", yformatter=NumeralTickFormatter(format="0,0"), tools=["hover"],
        show_legend=False, multi_level=False, framewise=True,
    )


def duration_volume_data(duration: pd.DataFrame) -> Redraw:
    """What a filter change alters in a drawn :func:`duration_volume`."""
    bucket, device = duration["bucket"].astype(str).to_numpy(), duration["device"].to_numpy()
    bars = np.argsort(pd.factorize(device)[0], kind="stable")  # by device, as HoloViews draws them
    sessions = duration["sessions"].to_numpy()
    return Redraw([{"xoffsets": list(zip(bucket[bars], device[bars])), "sessions": sessions[bars],
                    "bucket": bucket[bars], "device": device[bars]}],
                  x=[(b, d) for b in pd.unique(bucket) for d in pd.unique(device)],
                  y=(0, _padded(sessions.min(), sessions.max())[1]) if len(sessions) else None)


def duration_conversion(duration: pd.DataFrame) -> hv.Layout:
    """Conversion rate with 95% intervals (top) and session volume (bottom) by session duration."""
    devices = sorted(duration["device"].unique())
    return (duration_rates(duration, devices) + duration_volume(duration)).cols(1).opts(shared_axes=False)


def _heat_cells(source_device: pd.DataFrame) -> pd.DataFrame:
    """Every top source × device cell, source by source (none missing: the grid keeps its
    order), labelled, with its text."""
    sources = pd.unique(source_device["source"].astype(str))
    devices = np.array(sorted(pd.unique(source_device["device"])), dtype=object)
    size = len(sources) * len(devices)
    at = (pd.Index(sources).get_indexer(source_device["source"].astype(str)) * len(devices)
          + pd.Index(devices).get_indexer(source_device["device"]))
    cells = {"source": np.repeat(sources, len(devices)), "device": np.tile(devices, len(sources))}
    for name, fill in (("sessions", 0), ("conversions", 0), ("rate", np.nan), ("ci_low", np.nan),
                       ("ci_high", np.nan), ("rated", False)):
        values = source_device[name].to_numpy()
        cells[name] = np.full(size, fill, dtype=values.dtype)
        cells[name][at] = values
    table = _labelled(pd.DataFrame(cells))
    table.loc[~np.isin(np.arange(size), at), "status"] = "no sessions"
    table["text"] = [
        f"{rate}\nn={n:,}" if rated else f"n={n:,}\nnot rated"
        for rate, n, rated in zip(table["rate_text"], table["sessions"], table["rated"])
    ]
    table["dark"] = table["rate_shown"] > 0.6 * table["rate_shown"].max()  # written in white
    return table


HEAT_HOVER = ["rate_shown", "sessions", "conversions", "rate_text", "interval", "status"]
#: How HoloViews prints each hover value (made once: a Dimension is slow to make).
_HEAT_PRINT = {name: hv.Dimension(name).pprint_value for name in HEAT_HOVER}


def _heat_title(cells: pd.DataFrame) -> str:
    return "Conversion rate (grey: not enough data)" if len(cells) else NO_SESSIONS


def source_device_heatmap(source_device: pd.DataFrame) -> hv.Overlay:
    """Top sources × device: rate as colour and text; unrated cells grey with their n."""
    table = _heat_cells(source_device)
    sources = list(dict.fromkeys(table["source"]))
    height = max(260, 34 * len(sources) + 90)
    heat = hv.HeatMap(table, ["device", "source"], HEAT_HOVER).opts(
        cmap=RATE_CMAP, colorbar=True, clipping_colors={"NaN": NO_DATA},
        colorbar_opts={"formatter": PERCENT},
        invert_yaxis=True, tools=["hover"], hover_tooltips=[
            ("Source", "@source"), ("Device", "@device"), ("Sessions", "@sessions{0,0}"),
            ("Conversions", "@conversions{0,0}"), ("Rate", "@rate_text"), ("95% CI", "@interval"),
            ("", "@status"),
        ],
        title=_heat_title(table),
        clabel="conversion rate", responsive=True, height=height, xlabel="", ylabel="", framewise=True,
    )
    labels = [hv.Labels(table[table["dark"] == dark], ["device", "source"], "text").opts(
        text_font_size="8pt", text_color=color) for dark, color in ((False, "#111111"), (True, "white"))]
    return (heat * labels[0] * labels[1]).redim.values(source=sources)


def source_device_heatmap_data(source_device: pd.DataFrame) -> Redraw:
    """What a filter change alters in a drawn :func:`source_device_heatmap`.

    Its cells in HoloViews' grid order, their hover values as HoloViews prints them.
    """
    table = _heat_cells(source_device)
    devices, sources = list(dict.fromkeys(table["device"])), list(dict.fromkeys(table["source"]))
    # HoloViews' grid: device by device, sources bottom up
    order = (np.arange(len(sources))[::-1][None, :] * len(devices) + np.arange(len(devices))[:, None]).ravel()
    cells = table.iloc[order]
    columns = {"device": cells["device"].to_numpy(), "source": cells["source"].to_numpy(),
               "zvalues": cells["rate_shown"].to_numpy(dtype=float)}
    for name, pprint in _HEAT_PRINT.items():
        columns[name] = np.array(["-" if pd.isna(v) else pprint(v) for v in cells[name]])
    labels = [{name: rows[name].to_numpy() for name in ("device", "source", "text")}
              for rows in (table[~table["dark"]], table[table["dark"]])]
    rates = table["rate_shown"].dropna()
    return Redraw([columns, *labels], x=devices, y=sources[::-1], title=_heat_title(table),
                  colors=_spread(rates.min(), rates.max()) if len(rates) else None)


def kpi_cards_html(kpis: dict) -> str:
    """The headline numbers as HTML cards; the rate card carries its interval and n."""
    if not kpis.get("sessions"):
        return '<div class="kpis"><div class="kpi"><b>No sessions match the filters.</b></div></div>'
    cards = [
        ("Sessions", f"{kpis['sessions']:,}", "after filters"),
        ("Converting sessions", f"{kpis['converting_sessions']:,}",
         f"{kpis['transactions']:,} transactions"),
        ("Conversion rate", pct(kpis["conversion_rate"]),
         f"95% CI {pct(kpis['ci_low'])} – {pct(kpis['ci_high'])}"),
        ("Revenue", f"{kpis['revenue']:,.2f}", "currency units"),
        ("Revenue per session", f"{kpis['revenue_per_session']:,.2f}", ""),
    ]
    body = "".join(
        f'<div class="kpi" data-kpi="{html.escape(label)}"><div class="kpi-label">{html.escape(label)}</div>'
        f'<div class="kpi-value">{html.escape(value)}</div>'
        f'<div class="kpi-note">{html.escape(note)}</div></div>'
        for label, value, note in cards
    )
    return f'<div class="kpis">{body}</div>'


def takeaways_html(sentences: list[str]) -> str:
    items = "".join(f"<li>{html.escape(s)}</li>" for s in sentences) or "<li>No sessions to describe.</li>"
    return f'<ul class="takeaways">{items}</ul>'


def needs_html(report: dict, measure: str, funnel: str = "pageviews") -> str:
    """Why a view is not drawn: the data has no ``measure`` column ("" if it has; see schema.needs)."""
    sentence = needs(report, measure, funnel)
    return f'<p class="needs">{html.escape(sentence)}</p>' if sentence else ""


def funnel_needs_html(report: dict, funnel: str) -> str:
    return needs_html(report, "pageviews", funnel)


def duration_needs_html(report: dict) -> str:
    return needs_html(report, "duration")


def load_report_html(report: dict) -> str:
    """Where every row went: read = kept + dropped by reason; unmatched country names."""
    if not report:
        return ""
    rows = [("Rows read", report["rows_read"]), ("Rows kept", report["rows_kept"])]
    if report.get("sessions", report["rows_kept"]) != report["rows_kept"]:  # GA4: events made sessions
        rows.append(("Sessions they make", report["sessions"]))
    rows += [(f"Dropped: {reason}", n) for reason, n in report["dropped"].items()]
    table = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:,}</td></tr>" for k, v in rows)
    unmatched = report.get("unmatched_countries") or {}
    note = (
        "<p>Country names with no map shape (kept in every other view): "
        + ", ".join(f"{html.escape(name)} ({n:,})" for name, n in unmatched.items()) + "</p>"
        if unmatched else "<p>Every country name matched a map shape.</p>"
    )
    absent = report.get("absent_columns") or []
    if absent:
        note += f"<p>Not in the data, so (not set) for every session: {html.escape(', '.join(absent))}.</p>"
    commas = report.get("decimal_comma") or []
    if commas:
        note += f"<p>Numbers written with a decimal comma: {html.escape(', '.join(commas))}.</p>"
    return (
        f'<div class="load-report"><p><b>{html.escape(Path(report["path"]).name)}</b> '
        f'read as {html.escape(report["format"])}.</p>{_files_html(report.get("files") or [])}'
        f'<table>{table}</table>{note}</div>'
    )


#: Files of a folder or a pattern named one by one in the load report; the rest are counted.
FILES_LISTED = 8


def _files_html(files: list[dict]) -> str:
    """The files of a folder or a pattern, with their rows read (nothing for one file)."""
    if len(files) < 2:
        return ""
    named = ", ".join(f"{html.escape(Path(f['path']).name)} ({f['rows']:,})" for f in files[:FILES_LISTED])
    more = f" and {len(files) - FILES_LISTED:,} more" if len(files) > FILES_LISTED else ""
    return f"<p>{len(files):,} files, rows read: {named}{more}.</p>"


def _leak_bars(table: pd.DataFrame, silent: bool, top: int) -> pd.DataFrame:
    """The largest leaks, labelled, with their interval as distances below and above; largest last.

    No leak: one blank row drawing nothing, so the chart keeps an axis of segments and
    its first leak updates it in place (in an exported file too, which can only replay
    changes to the figures it holds).
    """
    rows = table[table["leak"].astype(bool)].head(top)
    if rows.empty:
        return pd.DataFrame({"label": [""], "lost_conversions": [np.nan], "below": [np.nan],
                             "above": [np.nan], "sessions": [0], "rate_text": [""], "baseline_text": [""],
                             "lost_revenue": [np.nan]})
    rate, base = ("rate_now", "rate_before") if silent else ("rate", "baseline_rate")
    return rows.assign(
        label=[segment_name(s, d) for s, d in zip(rows["segment"], rows["dimension"])],
        below=rows["lost_conversions"] - rows["lost_low"].clip(lower=0),
        above=rows["lost_high"] - rows["lost_conversions"],
        rate_text=[pct(r) for r in rows[rate]], baseline_text=[pct(r) for r in rows[base]],
    ).iloc[::-1]  # largest at the top once the axes are swapped


LEAK_BARS = ["label", "lost_conversions", "sessions", "rate_text", "baseline_text", "lost_revenue"]


def _leaks_title(rows: pd.DataFrame, silent: bool) -> str:
    if rows["lost_conversions"].notna().any():
        return "Silent leaks (95% CI)" if silent else "Leaks (95% CI)"
    return "No silent leak found" if silent else "No leak found at this level"


#: A leak row: its bar takes the lower part, the segment's name is written above it (not
#: on an axis, so a new segment never widens the axis, which lays out the whole page again).
BAR_WIDTH, BAR_AT, NAME_AT = 0.4, -0.1, 0.14


def _nudged(plot, element) -> None:
    """Move a layer's marks to the lower part of their row on the axis of segments."""
    glyph = plot.handles["glyph"]
    name = "base" if isinstance(glyph, Whisker) else "y"
    setattr(glyph, name, dodge(getattr(glyph, name), BAR_AT, range=plot.handles["y_range"]))


def _named(plot, element) -> None:
    """Write each bar's segment above it, from zero (the bars' base), out of the bars' own
    data (so an update of the bars renames them)."""
    plot.state.text(x=0, y=dodge("label", NAME_AT, range=plot.handles["y_range"]), text="label",
                    source=plot.handles["source"], x_offset=3, text_align="left", text_baseline="bottom",
                    text_font_size="8pt", text_color="#333333")


def leaks_chart(table: pd.DataFrame, silent: bool = False, top: int = 10) -> hv.Overlay:
    """The largest leaks (or silent leaks): conversions lost, with their 95% interval."""
    rows = _leak_bars(table, silent, top)
    bars = hv.Bars(rows, "label", LEAK_BARS[1:]).opts(
        color=LARGEST if silent else LOST, line_color=LARGEST, alpha=0.9, bar_width=BAR_WIDTH,
        hooks=[_nudged, _named], tools=["hover"], hover_tooltips=[
            ("Segment", "@label"), ("Sessions", "@sessions{0,0}"),
            ("Rate now" if silent else "Rate", "@rate_text"),
            ("Rate before" if silent else "Compared with", "@baseline_text"),
            ("Lost conversions", "@lost_conversions{0,0}"), ("Lost revenue", "@lost_revenue{0,0}"),
        ],
    )
    errors = hv.ErrorBars(rows.dropna(subset="lost_conversions"), "label",
                          ["lost_conversions", "below", "above"]).opts(color="#333333", hooks=[_nudged])
    return (bars * errors).opts(
        invert_axes=True, xlabel="", width=560, height=34 * top + 90, framewise=True,
        title=_leaks_title(rows, silent), yaxis=None,
        ylabel="conversions lost beyond the change of what each is compared with" if silent
        else "conversions lost against what each is compared with",
    )


def leaks_chart_data(table: pd.DataFrame, silent: bool = False, top: int = 10) -> Redraw:
    """What a filter change alters in a drawn :func:`leaks_chart` (its axes are swapped)."""
    rows = _leak_bars(table, silent, top)
    found = rows.dropna(subset="lost_conversions")
    lost = found["lost_conversions"].to_numpy(dtype=float)
    lower, upper = lost - found["below"].to_numpy(dtype=float), lost + found["above"].to_numpy(dtype=float)
    reach = np.concatenate([lost, lower, upper])
    return Redraw([_columns(rows, LEAK_BARS),
                   {"base": found["label"].to_numpy(), "lower": lower, "upper": upper}],
                  x=(0, _padded(reach.min(), reach.max())[1]) if len(reach) else (-0.5, 0.5),
                  y=rows["label"].tolist(), title=_leaks_title(rows, silent))


def leaks_html(leaks_table: pd.DataFrame, silent_table: pd.DataFrame, warnings: list | None = None,
               change: dict | None = None, top: int = 8) -> str:
    """The period warnings, the silent leaks (the headline list), what moved the rate, then the
    ranked leaks: a sentence each, children under their parent, everything escaped."""
    found = leak_rows(leaks_table, top)
    silent = silent_leak_rows(silent_table, top)
    parts = [
        "".join(f'<p class="warning">⚠ {html.escape(w)}</p>' for w in warnings or ()),
        "<h4>Silent leaks: segments whose rate fell more than the rest of the traffic's</h4>",
        _nested(silent) if len(silent) else f"<p>{NO_SILENT_LEAK}</p>",
        rate_change_html(change or {}),
        "<h4>Leaks: segments converting below the rest of the traffic</h4>",
        _nested(found) if len(found) else "<p>No segment converts significantly below the rest of the "
        "traffic.</p>",
        ('<p class="note">Losses of different dimensions overlap (a mobile session from google counts in '
         "both) and are never added up; a child's loss is counted beyond its parent's rest.</p>"),
    ]
    return "".join(parts)


def _nested(rows: pd.DataFrame) -> str:
    """Published rows as a list, each child under its parent where the parent is published too (under
    any of its names: "mobile × Partners" under "Affiliates (channel), also Partners (source)")."""
    names = {}
    for i, (segment, dimension, also) in enumerate(zip(rows["segment"], rows["dimension"], rows["also"])):
        for name in (segment_name(segment, dimension), *also):
            names.setdefault(name, i)
    under = {i: names[p] for i, p in enumerate(rows["parent"]) if p is not None and p in names}
    items = []
    for i, sentence in enumerate(rows["sentence"]):
        if i in under:
            continue
        children = "".join(f"<li>{html.escape(rows['sentence'].iloc[j])}</li>"
                           for j, at in under.items() if at == i)
        nested = f'<ul class="children">{children}</ul>' if children else ""
        items.append(f"<li>{html.escape(sentence)}{nested}</li>")
    return f'<ol class="leaks">{"".join(items)}</ol>'


#: Values shown by name in the rate-change waterfall (the rest are one bar).
WATERFALL_VALUES = 5


def rate_change_html(change: dict) -> str:
    """What moved the rate between the periods, as a waterfall: baseline rate, each value's traffic
    mix and rate effect (for the dimension whose mix moved it most), current rate."""
    if not change.get("by_dimension"):
        return ""
    name = most_mixed(change)
    rows = change["by_dimension"][name]
    steps = [(f"{r['value']}: {kind}", r[f"{kind}_effect"])
             for r in rows[:WATERFALL_VALUES] for kind in ("mix", "rate")]
    if len(rows) > WATERFALL_VALUES:
        rest = sum(r["mix_effect"] + r["rate_effect"] for r in rows[WATERFALL_VALUES:])
        steps.append((f"other {name} values", rest))
    levels = np.cumsum([change["baseline_rate"], *(v for _, v in steps)])
    low, high = min(0.0, levels.min()), levels.max() or 1.0  # levels start at the baseline rate

    def bar(label, start, end, colour, text):
        left, right = sorted((start, end))
        width = max((right - left) / (high - low), 0.003)
        style = f"left:{(left - low) / (high - low):.2%};width:{width:.2%};background:{colour}"
        return (f'<tr><td class="wf-label">{html.escape(label)}</td><td class="wf-track">'
                f'<div class="wf-bar" style="{style}"></div></td><td class="wf-value">{text}</td></tr>')

    body = [bar("baseline rate", 0.0, change["baseline_rate"], REACHED, pct(change["baseline_rate"]))]
    for (label, value), end in zip(steps, levels[1:]):
        body.append(bar(label, end - value, end, LOST if value < 0 else "#4c9a5b", f"{value * 100:+.3f} pts"))
    body.append(bar("current rate", 0.0, change["current_rate"], REACHED, pct(change["current_rate"])))
    return (f"<h4>Why the rate moved, by {html.escape(name)}: traffic mix against rates within each "
            f"{html.escape(name)}</h4><table class=\"waterfall\">{''.join(body)}</table>")
