"""Views: pure functions from the model's tables to HoloViews/GeoViews objects.

No view computes a statistic; each only reshapes and labels the table it is given.
The same functions serve the served app, the exported HTML, the PNG export and
notebooks. Text from the data (country and source names) reaches the browser
only as plot data (hover fields and axis factors, which Bokeh renders as text),
never as HTML.
"""
from __future__ import annotations

import html
from pathlib import Path

import cartopy.crs as ccrs
import geoviews as gv
import geoviews.plotting.bokeh  # registers the Bokeh backends without a notebook
import holoviews as hv
import holoviews.plotting.bokeh  # (likewise)
import hvplot.pandas  # noqa: F401
import pandas as pd
from bokeh.models import NumeralTickFormatter

from .leaks import leak_rows, segment_name, silent_leak_rows
from .text import pct

PERCENT = NumeralTickFormatter(format="0.0%")
NO_DATA = "#e4e4e4"
REACHED, LOST, LARGEST = "#3b6ea8", "#f2a38a", "#c8372d"
DEVICE_COLORS = {"desktop": "#3b6ea8", "mobile": "#e07b39", "tablet": "#5a9e6f", "other": "#8c6bb1"}
RATE_CMAP = "YlGnBu"


def _labelled(table: pd.DataFrame, min_sessions_note: str = "not enough data") -> pd.DataFrame:
    """Add display-only columns: the rate shown (NaN if unrated) and readable text."""
    shown = table["rate"].where(table["rated"])
    interval = [f"{pct(lo)} – {pct(hi)}" for lo, hi in zip(table["ci_low"], table["ci_high"])]
    status = ["rated" if r else min_sessions_note for r in table["rated"]]
    return table.assign(rate_shown=shown, rate_text=[pct(r) for r in table["rate"]],
                        interval=interval, status=status)


def _device_color(devices) -> dict:
    return {d: DEVICE_COLORS.get(d, "#777777") for d in devices}


#: What the map shows of each country (its colour is the first).
MAP_VALUES = ["rate_shown", "country", "sessions", "conversions", "rate_text", "interval", "status"]


def choropleth_values(countries: pd.DataFrame, shapes: pd.DataFrame) -> pd.DataFrame:
    """Per country shape, in the shapes' order: its geometry and the values the map shows."""
    table = _labelled(countries[countries["iso3"].notna()])
    table = table.rename(columns={"country": "ga_country"})
    merged = shapes.merge(table, on="iso3", how="left")
    merged["country"] = merged["ga_country"].fillna(merged["name"])
    merged["sessions"] = merged["sessions"].fillna(0).astype(int)
    merged["conversions"] = merged["conversions"].fillna(0).astype(int)
    merged["status"] = merged["status"].fillna("no sessions")
    merged = merged.fillna({"rate_text": "–", "interval": "–"})
    return merged[["geometry", *MAP_VALUES]]


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
    """One row per stage and part (reached, lost, largest leak) with its share of entry sessions."""
    long = pd.concat([
        funnel.assign(part="reached", count=funnel["sessions"], share=funnel["pct_of_entry"]),
        funnel.assign(part="lost", count=funnel["lost"], share=funnel["lost_of_entry"]),
    ], ignore_index=True)
    long.loc[(long["part"] == "lost") & long["largest_leak"].astype(bool), "part"] = "largest leak"
    long["stage"] = long["stage"].astype(str).str.replace(" ", "\n")  # two-line tick labels
    long["drop_text"] = [pct(v) for v in long["drop_rate"]]
    return long


def funnel_panel(funnel: pd.DataFrame, device: str) -> hv.Overlay:
    """One device's funnel: each stage's share of entry sessions and, stacked on it, the share lost.

    Empty, and saying so, when the filters leave the device no session: the panel keeps
    its place and updates in place when the device comes back.
    """
    frame = _funnel_long(funnel[funnel["device"] == device])
    empty = frame.empty
    if empty:  # zero-height bars on the same stages: stacked bars need a row
        stages = [str(s).replace(" ", "\n") for s in funnel["stage"].cat.categories]
        frame = pd.DataFrame({"stage": stages, "part": "reached", "share": 0.0, "count": 0, "drop_text": "–"})
    bars = hv.Bars(frame, ["stage", "part"], ["share", "count", "drop_text"]).opts(
        stacked=True, cmap={"reached": REACHED, "lost": LOST, "largest leak": LARGEST},
        yformatter=PERCENT, ylim=(0, 1.2), yticks=[0, 0.25, 0.5, 0.75, 1.0], title=device,
        tools=["hover"], hover_tooltips=[("Stage", "@stage"), ("", "@part"),
                                         ("Sessions", "@count{0,0}"), ("Drop-off here", "@drop_text")],
        show_legend=False, framewise=True,
        xlabel="", ylabel="share of sessions", width=320, height=320, fontsize={"xticks": "7.5pt"},
    )
    if empty:  # a note in the data, not the title: exported files embed data changes
        notes = pd.DataFrame({"stage": [frame["stage"].iloc[(len(frame) - 1) // 2]], "y": [0.5],
                              "text": ["no sessions match the filters"]})
    else:
        reached = frame[frame["part"] == "reached"]
        top = reached["stage"].map(frame.groupby("stage", sort=False)["share"].sum()).to_numpy()
        notes = pd.DataFrame({"stage": reached["stage"], "y": top + 0.01,
                              "text": [f"{c:,}\n{pct(s)}" for c, s in zip(reached["count"], reached["share"])]})
    labels = hv.Labels(notes, ["stage", "y"], "text").opts(
        text_font_size="8pt", text_color="#222222", text_baseline="bottom",
    )
    return bars * labels


def funnel_waterfall(funnel: pd.DataFrame) -> hv.Layout:
    """The funnel panel of every device with sessions, side by side."""
    devices = sorted(funnel["device"].unique()) or ["all devices"]
    return hv.Layout([funnel_panel(funnel, d) for d in devices]).cols(3).opts(
        title="Funnel by device: reached (blue) and lost at each step (red = largest leak)", shared_axes=False
    )


def duration_rates(duration: pd.DataFrame, devices) -> hv.Overlay:
    """Conversion rate with its 95% interval by session duration, a line per device.

    Every device in ``devices`` has its layers, empty when filtered out, so the plot
    updates in place as filters change.
    """
    table = _labelled(duration).assign(bucket=lambda t: t["bucket"].astype(str))
    colors = _device_color(devices)
    layers = []
    for device in devices:
        frame = table[table["device"] == device]
        rated = frame[frame["rated"]]
        color = colors[device]
        layers += [
            hv.Curve(rated, "bucket", "rate", label=device).opts(color=color, line_width=2),
            hv.ErrorBars(rated.assign(lo=rated["rate"] - rated["ci_low"], hi=rated["ci_high"] - rated["rate"]),
                         "bucket", ["rate", "lo", "hi"]).opts(color=color, alpha=0.6),
            hv.Scatter(frame.assign(fill=frame["rated"].astype(float)), "bucket",
                       ["rate", "device", "sessions", "conversions", "interval", "status", "fill"]).opts(
                color=color, size=7, fill_alpha="fill",
                tools=["hover"], hover_tooltips=[("Device", "@device"), ("Duration", "@bucket"),
                                                 ("Rate", "@rate{0.00%}"), ("95% CI", "@interval"),
                                                 ("Sessions", "@sessions{0,0}"), ("", "@status")],
            ),
        ]
    title = "Conversion by session duration (hollow: not enough data)"
    return hv.Overlay(layers).opts(
        title=title if len(table) else "No sessions match the filters", ylabel="conversion rate",
        yformatter=PERCENT, xlabel="", width=540, height=260, legend_position="top_left", framewise=True,
    )


def duration_volume(duration: pd.DataFrame) -> hv.Bars:
    """Sessions by session duration and device."""
    table = duration.assign(bucket=lambda t: t["bucket"].astype(str))
    return hv.Bars(table, ["bucket", "device"], ["sessions"]).opts(
        cmap=_device_color(table["device"].unique()), width=540, height=200, ylabel="sessions",
        xlabel="session duration", yformatter=NumeralTickFormatter(format="0,0"), tools=["hover"],
        show_legend=False, multi_level=False, framewise=True,
    )


def duration_conversion(duration: pd.DataFrame) -> hv.Layout:
    """Conversion rate with 95% intervals (top) and session volume (bottom) by session duration."""
    devices = sorted(duration["device"].unique())
    return (duration_rates(duration, devices) + duration_volume(duration)).cols(1).opts(shared_axes=False)


def source_device_heatmap(source_device: pd.DataFrame) -> hv.Overlay:
    """Top sources × device: rate as colour and text; unrated cells grey with their n."""
    table = _labelled(source_device).assign(source=lambda t: t["source"].astype(str))
    table["text"] = [
        f"{rate}\nn={n:,}" if rated else f"n={n:,}\nnot rated"
        for rate, n, rated in zip(table["rate_text"], table["sessions"], table["rated"])
    ]
    sources = list(dict.fromkeys(table["source"]))
    height = max(260, 34 * len(sources) + 90)
    heat = hv.HeatMap(table, ["device", "source"], ["rate_shown", "sessions", "conversions", "rate_text",
                                                    "interval", "status"]).opts(
        cmap=RATE_CMAP, colorbar=True, clipping_colors={"NaN": NO_DATA},
        colorbar_opts={"formatter": PERCENT},
        invert_yaxis=True, tools=["hover"], hover_tooltips=[
            ("Source", "@source"), ("Device", "@device"), ("Sessions", "@sessions{0,0}"),
            ("Conversions", "@conversions{0,0}"), ("Rate", "@rate_text"), ("95% CI", "@interval"),
            ("", "@status"),
        ],
        title="Conversion rate (grey: not enough data)" if len(table) else "No sessions match the filters",
        clabel="conversion rate", responsive=True, height=height, xlabel="", ylabel="", framewise=True,
    )
    dark = table["rate_shown"] > 0.6 * table["rate_shown"].max()
    table["ink"] = ["white" if d else "#111111" for d in dark]
    labels = hv.Labels(table, ["device", "source"], ["text", "ink"]).opts(text_font_size="8pt", text_color="ink")
    return (heat * labels).redim.values(source=sources)


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
        f'<div class="kpi-value">{html.escape(value)}</div><div class="kpi-note">{html.escape(note)}</div></div>'
        for label, value, note in cards
    )
    return f'<div class="kpis">{body}</div>'


def takeaways_html(sentences: list[str]) -> str:
    items = "".join(f"<li>{html.escape(s)}</li>" for s in sentences) or "<li>No sessions to describe.</li>"
    return f'<ul class="takeaways">{items}</ul>'


def load_report_html(report: dict) -> str:
    """Where every row went: read = kept + dropped by reason; unmatched country names."""
    if not report:
        return ""
    rows = [("Rows read", report["rows_read"]), ("Rows kept", report["rows_kept"])]
    rows += [(f"Dropped: {reason}", n) for reason, n in report["dropped"].items()]
    table = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:,}</td></tr>" for k, v in rows)
    unmatched = report.get("unmatched_countries") or {}
    note = (
        "<p>Country names with no map shape (kept in every other view): "
        + ", ".join(f"{html.escape(name)} ({n:,})" for name, n in unmatched.items()) + "</p>"
        if unmatched else "<p>Every country name matched a map shape.</p>"
    )
    return (
        f'<div class="load-report"><p><b>{html.escape(Path(report["path"]).name)}</b> '
        f'read as {html.escape(report["format"])}.</p><table>{table}</table>{note}</div>'
    )


def leaks_chart(table: pd.DataFrame, silent: bool = False, top: int = 10) -> hv.Overlay:
    """The largest leaks (or silent leaks): conversions lost, with their 95% interval."""
    rows = table[table["leak"].astype(bool)].head(top)
    rate, base = ("rate_now", "rate_before") if silent else ("rate", "baseline_rate")
    rows = rows.assign(
        label=[segment_name(s, d) for s, d in zip(rows["segment"], rows["dimension"])],
        below=rows["lost_conversions"] - rows["lost_low"].clip(lower=0),
        above=rows["lost_high"] - rows["lost_conversions"],
        rate_text=[pct(r) for r in rows[rate]], baseline_text=[pct(r) for r in rows[base]],
    ).iloc[::-1]  # largest at the top once the axes are swapped
    bars = hv.Bars(rows, "label", ["lost_conversions", "sessions", "rate_text", "baseline_text",
                                   "lost_revenue"]).opts(
        color=LARGEST if silent else LOST, line_color=LARGEST, alpha=0.9, tools=["hover"], hover_tooltips=[
            ("Segment", "@label"), ("Sessions", "@sessions{0,0}"),
            ("Rate now" if silent else "Rate", "@rate_text"),
            ("Rate before" if silent else "Rest of traffic", "@baseline_text"),
            ("Lost conversions", "@lost_conversions{0,0}"), ("Lost revenue", "@lost_revenue{0,0}"),
        ],
    )
    errors = hv.ErrorBars(rows, "label", ["lost_conversions", "below", "above"]).opts(color="#333333")
    found = "Silent leaks (95% CI)" if silent else "Leaks against the rest (95% CI)"
    none = "No silent leak found" if silent else "No leak found at this false discovery rate"
    return (bars * errors).opts(
        invert_axes=True, xlabel="", width=560, height=34 * top + 90, framewise=True,
        title=found if len(rows) else none,
        ylabel="conversions lost against the baseline period" if silent
        else "conversions lost against the rest of the traffic",
    )


def leaks_html(leaks_table: pd.DataFrame, silent_table: pd.DataFrame, top: int = 8) -> str:
    """The silent leaks (the headline list), then the ranked leaks: a sentence each, escaped."""
    def items(rows):
        return "".join(f"<li>{html.escape(s)}</li>" for s in rows["sentence"])

    found = leak_rows(leaks_table, top)
    silent = silent_leak_rows(silent_table, top)
    parts = [
        "<h4>Silent leaks: segments whose rate fell from the baseline to the current period</h4>",
        f'<ol class="leaks">{items(silent)}</ol>' if len(silent) else "<p>No segment's rate fell "
        "significantly.</p>",
        "<h4>Leaks: segments converting below the rest of the traffic</h4>",
        f'<ol class="leaks">{items(found)}</ol>' if len(found) else "<p>No segment converts "
        "significantly below the rest of the traffic.</p>",
    ]
    return "".join(parts)
