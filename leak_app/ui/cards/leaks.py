"""The Leaks view: the compared periods, the silent leaks' and the leaks' charts, and the list
that nests each segment's children under it."""
from __future__ import annotations

import panel as pn

from .. import views
from ..live_plot import LivePlot
from ..period_controls import PeriodControls
from .base import Text, View


class Leaks(View):
    shows = ("leaks_table", "silent_leaks_table", "silent_warnings", "rate_change")

    def __init__(self, **params):
        super().__init__(**params)
        m = self.model
        self.periods = PeriodControls(model=m)
        self.silent_chart = LivePlot(m, views.leaks_chart, views.leaks_chart_data, ["silent_leaks_table"],
                                     options=lambda model: {"silent": True})
        self.leaks_chart = LivePlot(m, views.leaks_chart, views.leaks_chart_data, ["leaks_table"])
        self.list = Text(m, views.leaks_html, self.shows, min_width=400)

    @property
    def plots(self) -> list[LivePlot]:
        return [self.silent_chart, self.leaks_chart]

    def draw(self) -> None:
        self.list.show()
        for plot in self.plots:
            plot.draw()

    def update(self, changed: set[str]) -> None:
        self.list.show()
        for plot in self.plots:
            if changed & set(plot.tables):
                plot.update()

    @classmethod
    def figures(cls, model) -> dict:
        return {"silent_leaks": views.leaks_chart(model.silent_leaks_table, silent=True),
                "leaks": views.leaks_chart(model.leaks_table)}

    def parts(self) -> list:
        # a saved file cannot recompute: it offers the command, not the period controls
        return [self.periods.command_row() if self.embedded else self.periods,
                pn.Row(pn.Column(self.silent_chart, self.leaks_chart), self.list.pane,
                       sizing_mode="stretch_width")]
