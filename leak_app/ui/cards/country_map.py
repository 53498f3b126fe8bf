"""The country conversion choropleth: drawn once per process (GeoViews), recoloured per page."""
from __future__ import annotations

import panel as pn
from bokeh.models import ColorBar

from .. import views
from ..drawn_once import world_map
from ..geo import country_shapes
from ..live_plot import send_changed
from .base import View


class CountryMap(View):
    shows = ("country_table",)

    def __init__(self, **params):
        super().__init__(**params)
        figure, source = world_map(self.model.country_table)
        self.pane = pn.pane.Bokeh(figure, sizing_mode="stretch_width")
        # What a filter change recolours (found once: finding walks the figure).
        self._parts = (source, figure.select_one(ColorBar).color_mapper)
        self.recolor(every_column=False)  # a copy of the map as first drawn: this page's rates

    def draw(self) -> None:
        self.recolor(every_column=True)

    def update(self, changed: set[str]) -> None:
        self.recolor(every_column=False)

    def recolor(self, every_column: bool) -> None:
        """New rates on the drawn map: only the values are sent, the country shapes stay.

        Re-rendering the map reprojects every shape (about a second); the colours and
        tooltips are all that a filter changes. Only the columns that changed are sent,
        unless ``every_column``.
        """
        values = views.choropleth_values(self.model.country_table, country_shapes())
        source, mapper = self._parts
        columns = {name: values[name].to_numpy() for name in views.MAP_VALUES}
        columns["color"] = columns["rate_shown"]
        rates = values["rate_shown"].dropna()
        with pn.io.hold():
            if every_column:
                source.data.update(columns)
            else:
                send_changed(source, columns)  # these columns only: not the shapes
            if len(rates):
                mapper.update(low=float(rates.min()), high=float(rates.max()))

    @classmethod
    def figures(cls, model) -> dict:
        return {"country_map": views.country_choropleth(model.country_table, country_shapes())}

    def parts(self) -> list:
        return [self.pane]
