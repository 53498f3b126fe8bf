"""Plots drawn once by HoloViews, then patched in place from the model's tables on a filter change."""
from __future__ import annotations

from collections.abc import Callable

import holoviews as hv
import numpy as np
import panel as pn
from bokeh.core.property.validation import without_property_validation
from bokeh.models import ColorBar, FactorRange

from ..analysis.model import SessionModel
from .drawn_once import copy_of, keep, key_of


def drawing(view, tables: list[str], options: Callable, model: SessionModel) -> tuple[str, Callable]:
    """The key and the drawing (figure, its layers' data sources) of ``view`` of ``model``'s
    ``tables`` with ``options(model)``, for :mod:`leak_app.ui.drawn_once`."""
    values, chosen = [getattr(model, table) for table in tables], options(model)

    def draw():
        plot = hv.renderer("bokeh").get_plot(view(*values, **chosen))
        layers = list(plot.subplots.values()) if getattr(plot, "subplots", None) else [plot]
        return plot.state, [layer.handles["source"] for layer in layers]

    return key_of(view.__module__, view.__qualname__, values, repr(chosen)), draw


class LivePlot:
    """A plot drawn once by HoloViews (or copied from a drawing of the same tables), then updated
    in place from the model's tables.

    A filter change sends the plot's new columns, axes and title, nothing else: no model
    is replaced, so the page neither walks its model graph nor lays itself out again
    (HoloViews' own update of the same plot costs 30–100 ms on the server and as much
    in the browser). ``data`` is the view's companion that says what a change alters.
    """

    def __init__(self, model: SessionModel, view, data, tables: list[str], options=lambda model: {}, **pane):
        self.model, self.view, self.data, self.tables, self.options = model, view, data, tables, options
        self.pane = pn.pane.Bokeh(**pane)
        self.draw()

    def _values(self, model: SessionModel) -> list:
        return [getattr(model, table) for table in self.tables]

    def draw(self) -> None:
        """Draw anew: for a new shape (other data, devices, stages or number of sources). Pages
        showing the same tables get copies of one drawing (see :mod:`leak_app.ui.drawn_once`)."""
        figure, self._sources = copy_of(*drawing(self.view, self.tables, self.options, self.model))
        self.pane.object = figure
        bar = figure.select_one(ColorBar)  # found once: finding walks the figure
        self._colors = bar.color_mapper if bar is not None else None

    def predraw(self, model: SessionModel) -> None:
        """Draw this plot of ``model``'s tables, which this page is about to show, without showing it."""
        keep(*drawing(self.view, self.tables, self.options, model))

    @without_property_validation  # the columns come from the view's companion, checked by the tests
    def update(self) -> None:
        """Send what changed; draw anew if the drawn plot has no place for it (e.g. the first
        leak on an empty chart turns its numeric axis into one of segments)."""
        data = self.data(*self._values(self.model), **self.options(self.model))
        figure = self.pane.object
        axes = ((figure.x_range, data.x), (figure.y_range, data.y))
        if (len(self._sources) != len(data.layers)
                or any(not set(source.data) <= set(columns)
                       for source, columns in zip(self._sources, data.layers))
                or not all(_fits(axis, value) for axis, value in axes)):
            self.draw()
            return
        for source, columns in zip(self._sources, data.layers):
            send_changed(source, {name: columns[name] for name in source.data})
        for axis, value in axes:
            if isinstance(value, list):
                if isinstance(axis, FactorRange):  # (an empty chart's numeric axis stays)
                    axis.factors = value
            elif value is not None:
                axis.update(start=value[0], end=value[1])
        if data.title is not None:
            figure.title.text = data.title
        if data.colors is not None:
            self._colors.update(low=data.colors[0], high=data.colors[1])

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


def _fits(axis, value) -> bool:
    """Whether a drawn axis can show a new value: segments on an axis of factors, a range on a numeric one."""
    if isinstance(value, tuple):
        return not isinstance(axis, FactorRange)
    return not value or isinstance(axis, FactorRange)
