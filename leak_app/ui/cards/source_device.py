"""The traffic sources × device heatmap: each cell's rate, unrated cells marked."""
from __future__ import annotations

from .. import views
from ..live_plot import LivePlot
from .base import View


class SourceDevice(View):
    shows = ("source_device_table", "top_sources")

    def __init__(self, **params):
        super().__init__(**params)
        self.heatmap = LivePlot(self.model, views.source_device_heatmap, views.source_device_heatmap_data,
                                ["source_device_table"], sizing_mode="stretch_width")

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
        return {"source_device": views.source_device_heatmap(model.source_device_table)}

    def parts(self) -> list:
        return [self.heatmap]
