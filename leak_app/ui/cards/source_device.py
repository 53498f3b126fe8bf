"""The traffic sources × device heatmap: each cell's rate as text, its rate shrunk for its sample
size as colour (a small cell's lucky rate is not painted as the best), unrated cells grey with
their number of sessions."""
from __future__ import annotations

import numpy as np
import pandas as pd
from bokeh.models import ColorBar, LinearColorMapper

from ..figures import (
    COLOUR_HOVER,
    COLOUR_TITLE,
    NO_DATA,
    NO_SESSIONS,
    RATE_PALETTE,
    colour_range,
    columns,
    hover,
    labelled,
    new_figure,
    percent,
    source,
)
from ..live_plot import Frame, LivePlot, Plot
from .base import View

CELLS = ["source", "device", "rate_shown", "sessions", "conversions", "rate_text", "interval", "shown_text",
         "status", "text", "text_color"]


#: Where on the colour bar, from its light end, a cell's text turns white.
DARK = 0.6


def heatmap_frame(source_device: pd.DataFrame) -> Frame:
    """Every top source × device cell, source by source (none missing: the grid keeps its order),
    labelled, with its text, written in white on the darkest cells."""
    sources = pd.unique(source_device["source"].astype(str))
    devices = np.array(sorted(pd.unique(source_device["device"])), dtype=object)
    size = len(sources) * len(devices)
    at = (pd.Index(sources).get_indexer(source_device["source"].astype(str)) * len(devices)
          + pd.Index(devices).get_indexer(source_device["device"]))
    cells = {"source": np.repeat(sources, len(devices)), "device": np.tile(devices, len(sources))}
    for name, fill in (("sessions", 0), ("conversions", 0), ("rate", np.nan), ("ci_low", np.nan),
                       ("ci_high", np.nan), ("shrunk_rate", np.nan), ("rated", False)):
        values = source_device[name].to_numpy()
        cells[name] = np.full(size, fill, dtype=values.dtype)
        cells[name][at] = values
    table = labelled(pd.DataFrame(cells), shown="shrunk_rate")
    table.loc[~np.isin(np.arange(size), at), "status"] = "no sessions"
    table["text"] = [f"{rate}\nn={n:,}" if rated else f"n={n:,}\nnot rated"
                     for rate, n, rated in zip(table["rate_text"], table["sessions"], table["rated"])]
    colors = colour_range(table)
    low, high = colors or (0.0, 1.0)
    # white on the darker part of the colour bar (not against the darkest cell's colour: where cells
    # differ by less than chance, all are pale, and pale cells got white text)
    dark = table["rate_shown"] > low + DARK * (high - low)
    table["text_color"] = np.where(dark, "white", "#111111").astype(object)
    return Frame({"cells": columns(table, CELLS)}, x=list(devices), y=list(sources[::-1]),  # first on top
                 title="Conversion rate (grey: not enough data)" if size else NO_SESSIONS,
                 colors=colors)


def heatmap_figure(frame: Frame):
    # a cell's two lines ("1.19%", "n=21,530" at 8 pt) need about 70 px a device, beside the sources'
    # names and the colour bar
    plot = new_figure(frame, height=max(260, 34 * len(frame.y) + 90), min_width=300 + 70 * len(frame.x))
    low, high = frame.colors or (0, 1)
    mapper = LinearColorMapper(palette=RATE_PALETTE, nan_color=NO_DATA, low=low, high=high)
    cells = source(frame, "cells")
    heat = plot.rect(x="device", y="source", width=1, height=1, source=cells, line_color=None,
                     fill_color={"field": "rate_shown", "transform": mapper})
    plot.text(x="device", y="source", text="text", source=cells, text_color="text_color",
              text_font_size="8pt", text_align="center", text_baseline="middle")
    plot.add_layout(ColorBar(color_mapper=mapper, formatter=percent(), title=COLOUR_TITLE,
                             title_standoff=8), "right")
    hover(plot, [heat], [("Source", "@source"), ("Device", "@device"), ("Sessions", "@sessions{0,0}"),
                         ("Conversions", "@conversions{0,0}"), ("Rate", "@rate_text"),
                         ("95% CI", "@interval"), (COLOUR_HOVER, "@shown_text"), ("", "@status")])
    plot.axis.major_tick_line_color = plot.axis.axis_line_color = None
    return plot


HEATMAP = Plot(heatmap_frame, heatmap_figure)


class SourceDevice(View):
    shows = ("source_device_table", "top_sources")

    def __init__(self, **params):
        super().__init__(**params)
        self.heatmap = self.live_plot(HEATMAP, ["source_device_table"], sizing_mode="stretch_width")

    @property
    def plots(self) -> list[LivePlot]:
        return [self.heatmap]

    def draw(self) -> None:
        self.heatmap.draw()

    def update(self, changed: set[str]) -> None:
        self.heatmap.draw() if self.redraws(changed) else self.heatmap.update()

    def redraws(self, changed: set[str]) -> bool:
        return "top_sources" in changed  # another number of rows

    @classmethod
    def figures(cls, model) -> dict:
        return {"source_device": HEATMAP.draw(model.source_device_table)}

    def parts(self) -> list:
        return [self.heatmap]
