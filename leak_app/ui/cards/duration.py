"""Session duration vs conversion: each device's rate with its interval, and the sessions, by
duration bucket."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import panel as pn
from bokeh.core.properties import field
from bokeh.models import Legend, LegendItem, NumeralTickFormatter

from .. import texts
from ..figures import (
    NO_SESSIONS,
    columns,
    device_color,
    hover,
    intervals,
    labelled,
    new_figure,
    padded,
    percent,
    source,
)
from ..live_plot import Frame, LivePlot, Plot
from .base import Text, View, all_devices

#: Pixels left of the plots' frames: the first bucket's name, at an angle, ends there.
LEFT = 110
#: The rate points' columns.
POINTS = ["bucket", "rate", "device", "sessions", "conversions", "interval", "status"]
#: The bucket names' angle (radians): "no duration (single page)" would overlap its neighbour.
BUCKET_ANGLE = math.radians(30)
#: The least width at which the nine buckets' names and the title fit.
MIN_WIDTH = 480


def _buckets(duration: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(duration["bucket"].astype(str)))


def rates_frame(duration: pd.DataFrame, devices) -> Frame:
    """A device's line through its rated buckets (broken at an unrated one), in layers named
    "<device>/line"; the rated buckets' 95% intervals ("intervals") and every bucket's point, hollow
    where unrated ("points"), of all devices, in their colours. Every device in ``devices`` has its
    line, empty when filtered out, so the plot updates in place as filters change. (A layer per
    device and kind was 18 layers: 78 models of each page, against 31.)"""
    table = labelled(duration).assign(bucket=lambda t: t["bucket"].astype(str))
    device, rated = table["device"].to_numpy(), table["rated"].to_numpy(dtype=bool)
    rated_rate = np.where(rated, table["rate"].to_numpy(dtype=float), np.nan)
    colors = np.array([device_color(d) for d in device], dtype=object)
    layers = {f"{name}/line": columns(table, ["bucket", "device"], device == name)
              | {"rate": rated_rate[device == name]} for name in devices}
    shown = np.flatnonzero(rated)
    layers["intervals"] = columns(table, ["bucket", "ci_low", "ci_high"], shown) | {"color": colors[shown]}
    layers["points"] = columns(table, POINTS) | {"color": colors, "fill": rated.astype(float)}
    reach = [table[name].to_numpy(dtype=float)[shown] for name, shown in
             (("ci_low", rated), ("ci_high", rated), ("rate", ~rated))]
    title = "Rate by duration (hollow: not enough data)" if len(duration) else NO_SESSIONS
    return Frame(layers, x=_buckets(duration), y=padded(np.concatenate(reach)), title=title)


def rates_figure(frame: Frame):
    plot = new_figure(frame, height=285, min_width=MIN_WIDTH, min_border_left=LEFT)
    tooltips = [("Device", "@device"), ("Duration", "@bucket"), ("Rate", "@rate{0.00%}"),
                ("95% CI", "@interval"), ("Sessions", "@sessions{0,0}"), ("", "@status")]
    legend = []
    for name in (layer for layer in frame.layers if layer.endswith("/line")):
        line = plot.line(x="bucket", y="rate", source=source(frame, name), color=device_color(name[:-5]),
                         line_width=2)
        # named by its line's rows: a device filtered out (no rows) leaves the legend
        legend.append(LegendItem(label=field("device"), renderers=[line]))
    intervals(plot, source(frame, "intervals"), "bucket", "ci_low", "ci_high", across=False,
              line_color="color", line_alpha=0.6)
    points = plot.scatter(x="bucket", y="rate", source=source(frame, "points"), color="color", size=7,
                          fill_alpha="fill")
    hover(plot, [points], tooltips)
    plot.yaxis.update(formatter=percent(), axis_label="conversion rate")
    plot.xaxis.major_label_orientation = BUCKET_ANGLE
    plot.add_layout(Legend(items=legend, location="top_left"))
    return plot


def volume_frame(duration: pd.DataFrame) -> Frame:
    """Sessions by duration bucket, a bar per device."""
    bucket, device = duration["bucket"].astype(str).to_numpy(), duration["device"].to_numpy()
    sessions = duration["sessions"].to_numpy()
    bars = {"at": list(zip(bucket, device)), "bucket": bucket, "device": device, "sessions": sessions,
            "color": np.array([device_color(d) for d in device], dtype=object)}
    return Frame({"bars": bars}, x=[(b, d) for b in pd.unique(bucket) for d in pd.unique(device)],
                 y=(0, padded(sessions)[1]))


def volume_figure(frame: Frame):
    plot = new_figure(frame, height=225, min_width=MIN_WIDTH, min_border_left=LEFT)
    bars = plot.vbar(x="at", top="sessions", width=0.8, fill_color="color", line_color="black",
                     source=source(frame, "bars"))
    hover(plot, [bars], [("Duration", "@bucket"), ("Device", "@device"), ("Sessions", "@sessions{0,0}")])
    plot.yaxis.update(formatter=NumeralTickFormatter(format="0,0"), axis_label="sessions")
    # The buckets named under their group of bars, at an angle; the devices are the bars' colours.
    plot.xaxis.update(axis_label="session duration", group_label_orientation=BUCKET_ANGLE,
                      major_label_text_font_size="1px", major_label_text_alpha=0, separator_line_width=0,
                      major_tick_line_alpha=0, group_text_color="black", group_text_font_style="normal")
    return plot


RATES, VOLUME = Plot(rates_frame, rates_figure), Plot(volume_frame, volume_figure)


class Duration(View):
    shows = ("duration_table", "load_report")

    def __init__(self, **params):
        super().__init__(**params)
        m = self.model
        self.needs = Text(m, texts.duration_needs_html, ("load_report",))
        self.rates = self.live_plot(RATES, ["duration_table"], options=all_devices,
                                    sizing_mode="stretch_width")
        self.volume = self.live_plot(VOLUME, ["duration_table"], sizing_mode="stretch_width")
        self._show_drawable()

    @property
    def plots(self) -> list[LivePlot]:
        return [self.rates, self.volume]

    def _show_drawable(self) -> None:
        """No plot where the data has no durations (the text says so), rather than every session at 0."""
        for plot in self.plots:
            plot.shown = not self.needs.text

    def draw(self) -> None:
        self.needs.show()
        for plot in self.plots:
            plot.draw()
        self._show_drawable()

    def update(self, changed: set[str]) -> None:
        if "load_report" in changed:
            self.draw()
            return
        for plot in self.plots:
            plot.update()

    @classmethod
    def figures(cls, model) -> dict:
        return {"duration": pn.Column(RATES.draw(model.duration_table, **all_devices(model)),
                                      VOLUME.draw(model.duration_table))}

    def parts(self) -> list:
        return [self.needs.pane, self.rates, self.volume]
