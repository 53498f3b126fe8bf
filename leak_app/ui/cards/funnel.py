"""The funnel waterfall by device: the devices of the data side by side in one plot, each stage's
share of entry sessions reached and, stacked on it, the share lost there (the largest leak marked)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...analysis.text import pct
from .. import texts
from ..figures import LARGEST, LOST, REACHED, columns, hover, new_figure, percent, source
from ..live_plot import Frame, LivePlot, Plot
from .base import Text, View, all_devices

PART_COLORS = {"reached": REACHED, "lost": LOST, "largest leak": LARGEST}
#: The share axis: room above a full bar for its note.
SHARES = (0.0, 1.2)
#: The bars' columns (those of a plot with no device too).
BARS = ["at", "device", "stage", "part", "count", "share", "bottom", "drop_text"]


def _stage_names(stages) -> np.ndarray:
    return np.asarray([str(s).replace(" ", "\n") for s in stages], dtype=object)  # two-line ticks


def _device_parts(rows: pd.DataFrame, device: str, stages: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One device's bars (each stage reached, then lost stacked on it) and the notes above them;
    empty, and saying so, when the filters leave the device no session: zero-height bars on the
    same stages, so the device keeps its place on the axis."""
    at = np.empty(len(stages), dtype=object)
    at[:] = [(device, stage) for stage in stages]
    if len(rows):
        lost = np.where(rows["largest_leak"].to_numpy(dtype=bool), "largest leak", "lost").astype(object)
        reached, dropped = (rows[name].to_numpy(dtype=float) for name in ("pct_of_entry", "lost_of_entry"))
        drop_text = np.array([pct(v) for v in rows["drop_rate"]], dtype=object)
        bars = pd.DataFrame({
            "at": np.tile(at, 2), "device": device, "stage": np.tile(stages, 2),
            "part": np.concatenate([np.full(len(rows), "reached", dtype=object), lost]),
            "count": np.concatenate([rows["sessions"].to_numpy(), rows["lost"].to_numpy()]),
            "share": np.concatenate([reached, dropped]),
            "bottom": np.concatenate([np.zeros(len(rows)), reached]),
            "drop_text": np.tile(drop_text, 2)})
        notes = pd.DataFrame({"at": at, "y": reached + dropped + 0.01,
                              "text": [f"{c:,}\n{pct(s)}" for c, s in zip(rows["sessions"], reached)]})
        return bars, notes
    bars = pd.DataFrame({"at": at, "device": device, "stage": stages, "part": "reached", "count": 0,
                         "share": 0.0, "bottom": 0.0, "drop_text": "–"})
    # a note in the data, not the title: exported files embed data changes
    return bars, pd.DataFrame({"at": at[[(len(stages) - 1) // 2]], "y": [0.5],
                               "text": ["no sessions match the filters"]})


def funnel_frame(funnel: pd.DataFrame, devices) -> Frame:
    """Each of ``devices``' bars and notes, device by device on an axis of (device, stage): a
    device filtered out keeps its place, empty (see :func:`_device_parts`), so the plot updates in
    place as filters change. (A plot per device was 33 models of each page per device.)"""
    stages = _stage_names(funnel["stage"].cat.categories)
    parts = [_device_parts(funnel[funnel["device"] == device], device, stages) for device in devices]
    bars = pd.concat([b for b, _ in parts] or [pd.DataFrame(columns=BARS)], ignore_index=True)
    notes = pd.concat([n for _, n in parts] or [pd.DataFrame(columns=["at", "y", "text"])], ignore_index=True)
    bars = bars.assign(top=bars["bottom"] + bars["share"], color=bars["part"].map(PART_COLORS))
    return Frame({"bars": columns(bars), "notes": columns(notes)},
                 x=[(device, stage) for device in devices for stage in stages], y=SHARES)


def funnel_figure(frame: Frame):
    # each bar's note ("57,873 / 100.0%" at 8 pt) and stage name ("Engaged" at 7.5 pt) need about 56 px
    plot = new_figure(frame, height=330, min_width=90 + 56 * len(frame.x))
    bars = plot.vbar(x="at", bottom="bottom", top="top", width=0.8, fill_color="color", line_color="black",
                     source=source(frame, "bars"))
    plot.text(x="at", y="y", text="text", source=source(frame, "notes"), text_font_size="8pt",
              text_color="#222222", text_baseline="bottom", text_align="center")
    plot.yaxis.update(formatter=percent(), ticker=[0, 0.25, 0.5, 0.75, 1.0], axis_label="share of sessions")
    # the stages under their bars, each device's name under its stages, as the panels' titles were
    plot.xaxis.update(major_label_text_font_size="7.5pt", group_text_font_size="12pt",
                      group_text_font_style="bold", group_text_color="#333333", separator_line_alpha=0)
    hover(plot, [bars], [("Device", "@device"), ("Stage", "@stage"), ("", "@part"),
                         ("Sessions", "@count{0,0}"), ("Drop-off here", "@drop_text")])
    return plot


FUNNEL = Plot(funnel_frame, funnel_figure)


class Funnel(View):
    shows = ("funnel_table", "load_report", "funnel")

    def __init__(self, **params):
        super().__init__(**params)
        self.needs = Text(self.model, texts.funnel_needs_html, ("load_report", "funnel"))
        self.plot = self.live_plot(FUNNEL, ["funnel_table"], options=all_devices)
        self._show_drawable()

    @property
    def plots(self) -> list[LivePlot]:
        return [self.plot]

    def _show_drawable(self) -> None:
        """No plot where the data cannot say the stages (the text says why), rather than every session
        at 0."""
        self.plot.shown = not self.needs.text

    def draw(self) -> None:
        self.needs.show()
        self.plot.draw()
        self._show_drawable()

    def update(self, changed: set[str]) -> None:
        if changed & {"load_report", "funnel"}:
            self.draw()
            return
        self.plot.update()

    @classmethod
    def figures(cls, model) -> dict:
        return {"funnel": FUNNEL.draw(model.funnel_table, **all_devices(model))}

    def parts(self) -> list:
        return [self.needs.pane, self.plot]
