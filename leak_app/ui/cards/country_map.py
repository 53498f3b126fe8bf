"""The country conversion choropleth (GeoViews): drawn once per process, recoloured per page.

A filter only changes the countries' colours and tooltips, never the shapes: each page gets a copy
of one drawing (GeoViews projects every shape each time it draws, about 2 s) and a change sends
the new values of the columns the map shows.
"""
from __future__ import annotations

import cartopy.crs as ccrs
import geoviews as gv
import geoviews.plotting.bokeh  # registers the Bokeh backend without a notebook
import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
from bokeh.models import ColorBar, GlyphRenderer, Model

from ..drawn_once import copy_of
from ..figures import COLOUR_HOVER, COLOUR_TITLE, NO_DATA, RATE_PALETTE, colour_range, labelled, lean, percent
from ..geo import country_shapes
from ..live_plot import send_changed
from ..style import phone_min_width
from .base import View

#: The least width at which the map's title and colour bar leave the countries room (a 390 px phone's
#: map was narrower than its colour bar).
MIN_WIDTH = 560
#: What the map shows of each country (its colour is the first).
MAP_VALUES = ["rate_shown", "country", "sessions", "conversions", "rate_text", "interval", "shown_text",
              "status"]


def choropleth_values(countries: pd.DataFrame, shapes: pd.DataFrame) -> pd.DataFrame:
    """Per country shape, in the shapes' order: its geometry and the values the map shows.

    A shape is one row of ``countries`` (names of one shape are one country: see
    :func:`.metrics.by_country`). Its colour is the country's shrunk rate: a country of a hundred
    sessions and three lucky conversions was the darkest on the map.
    """
    table = labelled(countries[countries["iso3"].notna()], shown="shrunk_rate")
    at = pd.Index(table["iso3"]).get_indexer(shapes["iso3"])  # -1: a shape without sessions
    missing = {"rate_shown": np.nan, "country": shapes["name"].to_numpy(), "sessions": 0, "conversions": 0,
               "rate_text": "–", "interval": "–", "shown_text": "–", "status": "no sessions"}
    return pd.DataFrame({"geometry": shapes["geometry"].to_numpy(),
                         **{name: _by_shape(table[name].to_numpy(), at, missing[name])
                            for name in MAP_VALUES}})


def _by_shape(values: np.ndarray, at: np.ndarray, missing) -> np.ndarray:
    """``values[at]``, and ``missing`` where ``at`` is -1."""
    found = values[at] if len(values) else np.empty(len(at), dtype=values.dtype)
    return np.where(at >= 0, found, missing)


def map_colours(countries: pd.DataFrame, shapes: pd.DataFrame) -> tuple[float, float] | None:
    """The colour scale of the countries drawn (:func:`.figures.colour_range`)."""
    return colour_range(countries[countries["iso3"].isin(shapes["iso3"])])


def country_choropleth(countries: pd.DataFrame, shapes: pd.DataFrame) -> gv.Polygons:
    """World map of conversion rate; countries under the minimum sample drawn as 'not enough data'."""
    polygons = gv.Polygons(
        choropleth_values(countries, shapes).to_dict("records"), vdims=MAP_VALUES, crs=ccrs.GOOGLE_MERCATOR
    )
    return polygons.opts(
        color="rate_shown", cmap=RATE_PALETTE, colorbar=True, clipping_colors={"NaN": NO_DATA},
        clim=map_colours(countries, shapes) or (np.nan, np.nan),
        colorbar_opts={"formatter": percent()}, clabel=COLOUR_TITLE,
        line_color="white", line_width=0.4, projection=ccrs.GOOGLE_MERCATOR,
        tools=["hover"], hover_tooltips=[
            ("Country", "@country"), ("Sessions", "@sessions{0,0}"),
            ("Conversions", "@conversions{0,0}"), ("Rate", "@rate_text"),
            ("95% CI", "@interval"), (COLOUR_HOVER, "@shown_text"), ("", "@status"),
        ],
        title="Conversion rate by country (grey: no sessions or not enough data)",
        responsive=True, height=420, xaxis=None, yaxis=None, active_tools=["pan"],
    )


def world_map(countries: pd.DataFrame, shared: dict[str, Model] | None = None
              ) -> tuple[Model, dict[str, Model]]:
    """A new figure of the choropleth for one page, with what a filter change recolours: the
    shapes' data ("shapes"), their glyph ("glyph": GeoViews names the column of their colour) and
    the colour bar's mapper ("colors"). Drawn once, with the first caller's ``countries``: callers
    colour their copy (:meth:`CountryMap.recolor`). ``shared``: models of the page the copy refers
    to (:func:`.drawn_once.copy_of`)."""
    def draw():
        plot = hv.renderer("bokeh").get_plot(country_choropleth(countries, country_shapes()))
        # HoloViews ties a plot to the page's document it is drawn in, to clean it up with that
        # session; this one belongs to no page. Tied, the first page's document kept it, and Panel's
        # `--warm` failed ("Set changed size during iteration": the plot left the callbacks Panel's
        # cleanup of the warming page was going through).
        plot.document = None
        figure = lean(plot.state)
        shapes = figure.select_one(GlyphRenderer)
        return figure, {"shapes": shapes.data_source, "glyph": shapes.glyph,
                        "colors": figure.select_one(ColorBar).color_mapper}

    return copy_of("world map", draw, shared)


class CountryMap(View):
    shows = ("country_table",)

    def __init__(self, **params):
        super().__init__(**params)
        figure, parts = world_map(self.model.country_table, self.shared)
        # (the pane's style sheets are its figure's: Panel sets them on it)
        self.pane = pn.pane.Bokeh(figure, sizing_mode="stretch_width",
                                  stylesheets=[phone_min_width(MIN_WIDTH)])
        # What a filter change recolours: the shapes' data, the column their colour is read from,
        # and the colour bar's range.
        self._parts = (parts["shapes"], parts["glyph"].fill_color.field, parts["colors"])
        self.recolor(every_column=False)  # a copy of the map as first drawn: this page's rates

    def draw(self) -> None:
        self.recolor(every_column=True)

    def update(self, changed: set[str]) -> None:
        self.recolor(every_column=False)

    def recolor(self, every_column: bool) -> None:
        """New rates on the drawn map: only the values are sent, the country shapes stay.

        Only the columns that changed are sent, unless ``every_column``.
        """
        values = choropleth_values(self.model.country_table, country_shapes())
        source, color, mapper = self._parts
        columns = {name: values[name].to_numpy() for name in MAP_VALUES}
        columns[color] = columns["rate_shown"]
        colours = map_colours(self.model.country_table, country_shapes())
        with pn.io.hold():
            if every_column:
                source.data.update(columns)
            else:
                send_changed(source, columns)  # these columns only: not the shapes
            if colours:
                mapper.update(low=colours[0], high=colours[1])

    @classmethod
    def figures(cls, model) -> dict:
        return {"country_map": country_choropleth(model.country_table, country_shapes())}

    def parts(self) -> list:
        return [self.pane]
