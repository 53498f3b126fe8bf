"""Plots described once: a function from the model's tables to what a plot draws (a :class:`Frame`),
used both to draw the plot and to update it in place on a filter change.

The plots are plain Bokeh figures drawn from their frame, not hvPlot or HoloViews plots, because a
filter change must reach every plot of the page within 300 ms: HoloViews' own update of the same
plots (a ``DynamicMap`` fed by a ``Pipe``) costs 70–380 ms of server time per plot here (200,000
sessions; the duration plot the most), and patching the figure HoloViews drew instead means copying
the columns it builds (stacked bars' tops, a heat map's ``zvalues`` and grid order, nested offsets),
which change with its versions. A figure drawn from a frame holds the frame's columns and nothing
else, so an update sends the changed columns of a new frame: no model is replaced, and the page
neither walks its model graph nor lays itself out again. (The map, which a filter only recolours,
is GeoViews': see ``cards/country_map.py``.)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import panel as pn
from bokeh.models import ColorBar, ColumnDataSource, FactorRange, Model

from ..analysis.model import SessionModel
from .drawn_once import copy_of, keep, key_of, unvalidated
from .figures import lean


@dataclass
class Frame:
    """What a plot draws: each layer's columns, by the name of the data source that holds them; its
    axes (factors, or a (start, end) range); its title; the range of its colour bar, if it has one;
    its height, if it follows the data (a chart of as many rows as it has leaks)."""

    layers: dict[str, dict]
    x: list | tuple
    y: list | tuple
    title: str = ""
    colors: tuple | None = field(default=None)
    height: int | None = None


@dataclass(frozen=True)
class Plot:
    """A plot described once: ``frame`` makes its :class:`Frame` from tables (and options), ``figure``
    draws a frame as a Bokeh figure whose data sources are named after the frame's layers."""

    frame: Callable[..., Frame]
    figure: Callable[[Frame], Model]

    def draw(self, *tables, **options) -> Model:
        """The figure of these tables (as the PNG export and notebooks show it)."""
        return self.drawn(self.frame(*tables, **options))

    def drawn(self, frame: Frame) -> Model:
        """The figure of a frame."""
        return lean(self.figure(frame))


#: The name of a figure's colour mapper among its parts (the others are its layers').
COLORS = "colour bar's mapper"


def drawing(plot: Plot, tables: list[str], options: Callable, model: SessionModel) -> tuple[str, Callable]:
    """The key and the drawing (figure, its layers' data sources) of ``plot`` of ``model``'s
    ``tables`` with ``options(model)``, for :mod:`leak_app.ui.drawn_once`."""
    values, chosen = [getattr(model, table) for table in tables], options(model)

    def draw():
        frame = plot.frame(*values, **chosen)
        figure = plot.drawn(frame)
        parts = {name: figure.select_one({"type": ColumnDataSource, "name": name}) for name in frame.layers}
        bar = figure.select_one(ColorBar)
        return figure, parts if bar is None else {**parts, COLORS: bar.color_mapper}

    return key_of(plot.frame.__module__, plot.frame.__qualname__, *values, repr(chosen)), draw


class LivePlot:
    """A plot of some of the model's tables, drawn once (or copied from a drawing of the same tables),
    then updated in place from the frame of the tables a change leaves."""

    def __init__(self, model: SessionModel, plot: Plot, tables: list[str], options=lambda model: {},
                 shared: dict[str, Model] | None = None, **pane):
        """``shared``: the models the figures of the plot's page share (see :func:`.figures.page_models`)."""
        self.model, self.plot, self.tables, self.options, self.shared = model, plot, tables, options, shared
        self.pane = pn.pane.Bokeh(**pane)
        self.draw()

    def draw(self) -> None:
        """Draw anew: for a new shape (other data, devices, stages or number of sources). Pages
        showing the same tables get copies of one drawing (see :mod:`leak_app.ui.drawn_once`)."""
        figure, parts = copy_of(*drawing(self.plot, self.tables, self.options, self.model), self.shared)
        self.pane.object = figure
        self._colors = parts.pop(COLORS, None)
        self._sources = list(parts.values())

    @property
    def shown(self) -> bool:
        """Whether the plot is shown."""
        return self.pane.object.visible

    @shown.setter
    def shown(self, shown: bool) -> None:
        # On the figure, not its pane: Panel 1.9's Bokeh pane copies a drawn figure's style sheets (its
        # own ImportedStyleSheets among them) into its ``stylesheets``, which takes text only, and a
        # change of the pane's ``visible`` on a drawn page raised a TypeError there.
        self.pane.object.visible = shown

    def predraw(self, model: SessionModel) -> None:
        """Draw this plot of ``model``'s tables, which this page is about to show, without showing it."""
        keep(*drawing(self.plot, self.tables, self.options, model))

    def frame(self) -> Frame:
        """What the plot draws of the model's tables now."""
        tables = (getattr(self.model, table) for table in self.tables)
        return self.plot.frame(*tables, **self.options(self.model))

    def update(self) -> None:
        """Send what changed; draw anew if the drawn plot has no place for it (another set of
        layers or columns, or an axis of another kind)."""
        frame = self.frame()
        figure = self.pane.object
        axes = ((figure.x_range, frame.x), (figure.y_range, frame.y))
        if ([source.name for source in self._sources] != list(frame.layers)
                or any(set(source.data) != set(frame.layers[source.name]) for source in self._sources)
                or not all(isinstance(axis, FactorRange) == isinstance(value, list) for axis, value in axes)):
            self.draw()
            return
        with unvalidated():  # the frame's columns are the figure's: the tests check them
            for source in self._sources:
                send_changed(source, frame.layers[source.name])
            for axis, value in axes:
                if isinstance(value, list):
                    if list(axis.factors) != value:
                        axis.factors = value
                elif (axis.start, axis.end) != value:
                    axis.update(start=value[0], end=value[1])
            if figure.title.text != frame.title:
                figure.title.text = frame.title
            if frame.colors is not None:
                self._colors.update(low=frame.colors[0], high=frame.colors[1])
            if frame.height is not None and figure.height != frame.height:
                figure.height = frame.height

    def __panel__(self):
        return self.pane


def send_changed(source, columns: dict) -> None:
    """Set a data source's columns, sending only those that changed: Bokeh sends (and the
    browser repaints) whatever is set, equal or not."""
    changed = {name: values for name, values in columns.items() if not _same(source.data[name], values)}
    if changed:
        source.data.update(changed)


def _same(old, new) -> bool:
    old, new = np.asarray(old), np.asarray(new)
    if old.shape != new.shape:
        return False
    try:
        return bool(np.array_equal(old, new, equal_nan=True))
    except TypeError:  # text columns: a NaN among them compares unequal, which only sends it again
        return bool(np.array_equal(old, new))
