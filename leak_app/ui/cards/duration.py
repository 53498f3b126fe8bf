"""Session duration vs conversion: each device's rate with its interval, and the sessions, by
duration bucket."""
from __future__ import annotations

from .. import views
from ..live_plot import LivePlot
from .base import Text, View


class Duration(View):
    shows = ("duration_table", "load_report")

    def __init__(self, **params):
        super().__init__(**params)
        m = self.model
        self.needs = Text(m, views.duration_needs_html, ("load_report",))
        self.rates = LivePlot(m, views.duration_rates, views.duration_rates_data, ["duration_table"],
                              options=lambda model: {"devices": model.param.devices.objects})
        self.volume = LivePlot(m, views.duration_volume, views.duration_volume_data, ["duration_table"])
        self._show_drawable()

    @property
    def plots(self) -> list[LivePlot]:
        return [self.rates, self.volume]

    def _show_drawable(self) -> None:
        """No plot where the data has no durations (the text says so), rather than every session at 0."""
        for plot in self.plots:
            plot.pane.visible = not self.needs.html.text

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
        return {"duration": views.duration_conversion(model.duration_table)}

    def parts(self) -> list:
        return [self.needs.pane, self.rates, self.volume]
