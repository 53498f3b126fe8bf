"""The funnel waterfall by device: a panel per device of the data, each stage reached and lost."""
from __future__ import annotations

from collections.abc import Callable

import panel as pn

from .. import views
from ..drawn_once import keep
from ..live_plot import LivePlot, drawing
from .base import Text, View


def _funnel_of(device: str) -> Callable:
    """The options of a device's funnel panel."""
    return lambda model: {"device": device}


class Funnel(View):
    shows = ("funnel_table", "load_report", "funnel")

    def __init__(self, **params):
        super().__init__(**params)
        self.needs = Text(self.model, views.funnel_needs_html, ("load_report", "funnel"))
        self.row = pn.Row()
        self._panels = []
        self._draw_panels()

    @property
    def plots(self) -> list[LivePlot]:
        return self._panels

    def _draw_panels(self) -> None:
        """A funnel panel per device of the data; none where the data cannot say the stages (the
        text says why), rather than every session at 0."""
        self._panels = [LivePlot(self.model, views.funnel_panel, views.funnel_panel_data, ["funnel_table"],
                                 options=_funnel_of(device))
                        for device in self.model.param.devices.objects]
        self.row.objects = [plot.pane for plot in self._panels]
        self.row.visible = not self.needs.html.text

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
            keep(*drawing(views.funnel_panel, ["funnel_table"], _funnel_of(device), model))

    @classmethod
    def figures(cls, model) -> dict:
        return {"funnel": views.funnel_waterfall(model.funnel_table)}

    def parts(self) -> list:
        return [self.needs.pane, self.row]
