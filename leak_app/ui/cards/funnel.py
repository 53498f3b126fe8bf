"""The funnel waterfall by device: a panel per device of the data, each stage's share of entry
sessions reached and, stacked on it, the share lost there (the largest leak marked)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import panel as pn

from ...analysis.text import pct
from .. import texts
from ..drawn_once import keep
from ..figures import LARGEST, LOST, REACHED, columns, hover, new_figure, percent, source
from ..live_plot import Frame, LivePlot, Plot, drawing
from .base import Text, View

PART_COLORS = {"reached": REACHED, "lost": LOST, "largest leak": LARGEST}
#: The share axis: room above a full bar for its note.
SHARES = (0.0, 1.2)


def _stage_names(stages) -> np.ndarray:
    return np.asarray([str(s).replace(" ", "\n") for s in stages], dtype=object)  # two-line ticks


def funnel_frame(funnel: pd.DataFrame, device: str) -> Frame:
    """One device's bars (each stage reached, then lost stacked on it) and the notes above them.

    Empty, and saying so, when the filters leave the device no session: zero-height bars
    on the same stages, so the panel keeps its place and axis.
    """
    rows = funnel[funnel["device"] == device]
    stages = _stage_names(rows["stage"] if len(rows) else funnel["stage"].cat.categories)
    if len(rows):
        lost = np.where(rows["largest_leak"].to_numpy(dtype=bool), "largest leak", "lost").astype(object)
        reached, dropped = (rows[name].to_numpy(dtype=float) for name in ("pct_of_entry", "lost_of_entry"))
        drop_text = np.array([pct(v) for v in rows["drop_rate"]], dtype=object)
        bars = pd.DataFrame({
            "stage": np.tile(stages, 2),
            "part": np.concatenate([np.full(len(rows), "reached", dtype=object), lost]),
            "count": np.concatenate([rows["sessions"].to_numpy(), rows["lost"].to_numpy()]),
            "share": np.concatenate([reached, dropped]),
            "bottom": np.concatenate([np.zeros(len(rows)), reached]),
            "drop_text": np.tile(drop_text, 2)})
        notes = pd.DataFrame({"stage": stages, "y": reached + dropped + 0.01,
                              "text": [f"{c:,}\n{pct(s)}" for c, s in zip(rows["sessions"], reached)]})
    else:
        bars = pd.DataFrame({"stage": stages, "part": "reached", "count": 0, "share": 0.0, "bottom": 0.0,
                             "drop_text": "–"})
        # a note in the data, not the title: exported files embed data changes
        notes = pd.DataFrame({"stage": [stages[(len(stages) - 1) // 2]], "y": [0.5],
                              "text": ["no sessions match the filters"]})
    bars = bars.assign(top=bars["bottom"] + bars["share"], color=bars["part"].map(PART_COLORS))
    return Frame({"bars": columns(bars), "notes": columns(notes)}, x=list(stages), y=SHARES, title=device)


def funnel_figure(frame: Frame):
    plot = new_figure(frame, width=320, height=320)
    bars = plot.vbar(x="stage", bottom="bottom", top="top", width=0.8, fill_color="color", line_color="black",
                     source=source(frame, "bars"))
    plot.text(x="stage", y="y", text="text", source=source(frame, "notes"), text_font_size="8pt",
              text_color="#222222", text_baseline="bottom", text_align="center")
    plot.yaxis.update(formatter=percent(), ticker=[0, 0.25, 0.5, 0.75, 1.0], axis_label="share of sessions")
    plot.xaxis.major_label_text_font_size = "7.5pt"
    hover(plot, [bars], [("Stage", "@stage"), ("", "@part"), ("Sessions", "@count{0,0}"),
                         ("Drop-off here", "@drop_text")])
    return plot


FUNNEL = Plot(funnel_frame, funnel_figure)


def _funnel_of(device: str) -> Callable:
    """The options of a device's funnel panel."""
    return lambda model: {"device": device}


class Funnel(View):
    shows = ("funnel_table", "load_report", "funnel")

    def __init__(self, **params):
        super().__init__(**params)
        self.needs = Text(self.model, texts.funnel_needs_html, ("load_report", "funnel"))
        self.row = pn.Row()
        self._panels = []
        self._draw_panels()

    @property
    def plots(self) -> list[LivePlot]:
        return self._panels

    def _draw_panels(self) -> None:
        """A funnel panel per device of the data; none where the data cannot say the stages (the
        text says why), rather than every session at 0."""
        self._panels = [LivePlot(self.model, FUNNEL, ["funnel_table"], options=_funnel_of(device))
                        for device in self.model.param.devices.objects]
        self.row.objects = [plot.pane for plot in self._panels]
        self.row.visible = not self.needs.text

    def draw(self) -> None:
        self.needs.show()
        self._draw_panels()

    def update(self, changed: set[str]) -> None:
        if changed & {"load_report", "funnel"}:
            self.draw()
            return
        for plot in self._panels:
            plot.update()

    def predraw(self, model) -> None:
        for device in model.param.devices.objects:
            keep(*drawing(FUNNEL, ["funnel_table"], _funnel_of(device), model))

    @classmethod
    def figures(cls, model) -> dict:
        devices = sorted(model.funnel_table["device"].unique()) or ["all devices"]
        return {"funnel": pn.Row(*(FUNNEL.draw(model.funnel_table, device) for device in devices))}

    def parts(self) -> list:
        return [self.needs.pane, self.row]
