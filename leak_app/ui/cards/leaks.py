"""The Leaks view: the compared periods, then the silent leaks and the leaks side by side, each a
chart over the list that nests each segment's children under it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
from bokeh.transform import dodge

from ...analysis.change import compared
from ...analysis.leaks import lost_revenue, segment_name
from ...analysis.text import pct
from .. import texts
from ..figures import LARGEST, LOST, hover, intervals, new_figure, padded, source
from ..live_plot import Frame, LivePlot, Plot
from ..period_controls import PeriodControls
from ..style import LEAKS_HALF, WRAP
from .base import Text, View

#: A leak's row on the axis of segments: its bar takes the lower part, its name is written above it
#: (not on an axis, so a new segment never widens the axis, which lays out the whole page again).
BAR_WIDTH, BAR_AT, NAME_AT = 0.4, -0.1, 0.14
#: A leak's row's height in pixels, and the chart's title, axis and margins around the rows.
ROW, AROUND = 34, 90
#: The least width at which the bars' numbers and the axis' label (two lines) fit.
MIN_WIDTH = 300
#: A leak's lost revenue and its interval, as the hover text says them.
REVENUE = ("lost_revenue", "lost_revenue_low", "lost_revenue_high")


def leaks_frame(table: pd.DataFrame, silent: bool = False, top: int = 10, periods_compared: bool = True,
                currency: str = "") -> Frame:
    """The largest leaks (or silent leaks), largest on top: conversions lost, with their 95% interval.

    The chart is as tall as its rows (a bar keeps its height however few leaks there are, and the
    axis sits under the last one: ten rows kept blank ones between them) and keeps one blank row
    with none, so that its first leak updates its axis of segments in place (in an exported file
    too, which can only replay changes to the figures it holds). ``periods_compared``: whether the
    silent-leak periods were compared at all; ``currency``: the revenue's, as the load report says it.
    """
    found = _found(table)
    rows = table[found].head(top).iloc[::-1]
    rate, base = ("rate_now", "rate_before") if silent else ("rate", "baseline_rate")
    lost = rows["lost_conversions"].to_numpy(dtype=float)
    lower, upper = rows["lost_low"].clip(lower=0).to_numpy(float), rows["lost_high"].to_numpy(float)
    labels = np.array([segment_name(s, d) for s, d in zip(rows["segment"], rows["dimension"])], dtype=object)
    revenue = zip(*(rows[c] for c in REVENUE))
    bars = {"label": labels, "lost_conversions": lost, "sessions": rows["sessions"].to_numpy(),
            "rate_text": np.array([pct(r) for r in rows[rate]], dtype=object),
            "baseline_text": np.array([pct(r) for r in rows[base]], dtype=object),
            "lost_revenue": rows["lost_revenue"].to_numpy(dtype=float),
            "revenue_text": np.array([lost_revenue(*r, currency) or "–" for r in revenue], dtype=object)}
    title = ("Silent leaks (95% CI)" if silent else "Leaks (95% CI)") + (
        f": {top} of {found.sum():,}" if found.sum() > top else "")  # (the largest: the card says it)
    none = ("Silent leaks: not compared" if not periods_compared else "No silent leak found" if silent
            else "No leak found at this level")
    return Frame({"bars": bars, "errors": {"label": labels, "lower": lower, "upper": upper}},
                 x=(0, padded(np.concatenate([lost, lower, upper]))[1]),
                 y=list(labels) if len(rows) else [" "],  # no segment's name is only spaces
                 title=title if len(rows) else none, height=ROW * max(len(rows), 1) + AROUND)


def leaks_figure(frame: Frame, silent: bool):
    """The chart of a frame of leaks."""
    plot = new_figure(frame, height=frame.height, min_width=MIN_WIDTH)
    bars, y_range = source(frame, "bars"), plot.y_range
    drawn = plot.hbar(y=dodge("label", BAR_AT, range=y_range), right="lost_conversions", height=BAR_WIDTH,
                      source=bars, fill_color=LARGEST if silent else LOST, line_color=LARGEST, alpha=0.9)
    intervals(plot, source(frame, "errors"), dodge("label", BAR_AT, range=y_range), "lower", "upper",
              across=True, line_color="#333333")
    # each bar's segment written above it, from zero (the bars' base), out of the bars' own data
    plot.text(x=0, y=dodge("label", NAME_AT, range=y_range), text="label", source=bars, x_offset=3,
              text_align="left", text_baseline="bottom", text_font_size="8pt", text_color="#333333")
    hover(plot, [drawn], [("Segment", "@label"), ("Sessions", "@sessions{0,0}"),
                          ("Rate now" if silent else "Rate", "@rate_text"),
                          ("Rate before" if silent else "Compared with", "@baseline_text"),
                          ("Lost conversions", "@lost_conversions{0,0}"),
                          ("Lost revenue", "@revenue_text")])
    plot.yaxis.visible = False
    plot.xaxis.axis_label = ("conversions lost beyond the change\nof what each is compared with" if silent
                             else "conversions lost against\nwhat each is compared with")
    return plot


def _found(table: pd.DataFrame) -> np.ndarray:
    """Which of a table's segments are leaks: the rows its chart draws."""
    return table["leak"].to_numpy(dtype=bool)


def _silent_frame(table: pd.DataFrame, change: dict, currency: str = "") -> Frame:
    return leaks_frame(table, silent=True, periods_compared=compared(change), currency=currency)


def _silent_figure(frame: Frame):
    return leaks_figure(frame, silent=True)


def _leaks_figure(frame: Frame):
    return leaks_figure(frame, silent=False)


SILENT, LEAKS = Plot(_silent_frame, _silent_figure), Plot(leaks_frame, _leaks_figure)


def revenue_currency(model) -> dict:
    """The options of a leak chart: the currency its hover text says lost revenue in (the sentences'
    :func:`~leak_app.analysis.leaks.describe_leak` say it too)."""
    return {"currency": model.load_report.get("currency", "")}


class Leaks(View):
    shows = ("leaks_table", "silent_leaks_table", "silent_warnings", "rate_change")

    def __init__(self, **params):
        super().__init__(**params)
        m = self.model
        self.periods = PeriodControls(model=m)
        self.silent_chart = self.live_plot(SILENT, ["silent_leaks_table", "rate_change"],
                                           options=revenue_currency, sizing_mode="stretch_width")
        self.leaks_chart = self.live_plot(LEAKS, ["leaks_table"], options=revenue_currency,
                                          sizing_mode="stretch_width")
        self.warnings = Text(m, texts.warnings_html, ("silent_warnings",))
        self.silent_list = Text(m, texts.silent_leaks_html, ("silent_leaks_table", "rate_change"))
        self.leaks_list = Text(m, texts.leaks_list_html, ("leaks_table", "load_report"))
        self._show_found()

    @property
    def plots(self) -> list[LivePlot]:
        return [self.silent_chart, self.leaks_chart]

    @property
    def prose(self) -> list[Text]:
        return [self.warnings, self.silent_list, self.leaks_list]

    def _show_found(self) -> None:
        """A chart only where it has a leak to draw: with none, its list says so, and its empty frame
        showed an axis of 0 to 1 and a toolbar folded into "⋯"."""
        for plot, table in ((self.silent_chart, self.model.silent_leaks_table),
                            (self.leaks_chart, self.model.leaks_table)):
            plot.shown = bool(_found(table).any())

    def draw(self) -> None:
        for text in self.prose:
            text.show()
        for plot in self.plots:
            plot.draw()
        self._show_found()

    def update(self, changed: set[str]) -> None:
        for text in self.prose:
            if changed & set(text.outputs):
                text.show()
        for plot in self.plots:
            if changed & set(plot.tables):
                plot.update()
        self._show_found()

    @classmethod
    def figures(cls, model) -> dict:
        return {"silent_leaks": SILENT.draw(model.silent_leaks_table, model.rate_change,
                                            **revenue_currency(model)),
                "leaks": LEAKS.draw(model.leaks_table, **revenue_currency(model))}

    def parts(self) -> list:
        # Each chart over its own list: beside one list of both, the charts left a blank column
        # as long as the list's second half.
        halves = [pn.Column(chart, text.pane, sizing_mode="stretch_width", stylesheets=[LEAKS_HALF])
                  for chart, text in ((self.silent_chart, self.silent_list),
                                      (self.leaks_chart, self.leaks_list))]
        # a saved file cannot recompute: it offers the command, not the period controls
        return [self.periods.command_row() if self.embedded else self.periods, self.warnings.pane,
                pn.Row(*halves, sizing_mode="stretch_width", stylesheets=[WRAP])]
