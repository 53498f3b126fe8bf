"""What the plots share: their colours, the display columns of a rated table, and a figure drawn
from a :class:`~.live_plot.Frame` with the dashboard's look (HoloViews' defaults, which the map
keeps: bold 12pt titles, no grid; the map keeps its pan, zoom and reset tools too)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from bokeh.models import (
    AllIndices,
    AllLabels,
    Axis,
    CategoricalTicker,
    CategoricalTickFormatter,
    ColumnDataSource,
    CustomJSTickFormatter,
    FactorRange,
    GlyphRenderer,
    Grid,
    HoverTool,
    Model,
    Range1d,
    SaveTool,
    UnionRenderers,
)
from bokeh.palettes import YlGnBu9, interp_palette
from bokeh.plotting import figure

from ..analysis.text import pct
from .drawn_once import as_made
from .style import phone_min_width

NO_DATA = "#e4e4e4"
REACHED, LOST, LARGEST = "#3b6ea8", "#f2a38a", "#c8372d"
DEVICE_COLORS = {"desktop": "#3b6ea8", "mobile": "#e07b39", "tablet": "#5a9e6f", "other": "#8c6bb1"}
#: Conversion rates, light (low) to dark (high), in 256 steps.
RATE_PALETTE = interp_palette(YlGnBu9[::-1], 256)
NO_SESSIONS = "No sessions match the filters"
#: The colour bar's title and the tooltip's row of a map coloured by shrunk rates.
COLOUR_TITLE = "conversion rate (small samples pulled to the average)"
COLOUR_HOVER = "Colour's rate"


def device_color(device: str) -> str:
    return DEVICE_COLORS.get(device, "#777777")


def labelled(table: pd.DataFrame, min_sessions_note: str = "not enough data", shown: str = "rate"
             ) -> pd.DataFrame:
    """Add display-only columns: the rate shown (the ``shown`` column: the rate, or the shrunk rate
    a map colours; NaN if unrated, ``shown_text`` as text) and readable text."""
    interval = [f"{pct(lo)} – {pct(hi)}" for lo, hi in zip(table["ci_low"], table["ci_high"])]
    status = ["rated" if r else min_sessions_note for r in table["rated"]]
    return table.assign(rate_shown=table[shown].where(table["rated"]),
                        shown_text=[pct(r) for r in table[shown]],
                        rate_text=[pct(r) for r in table["rate"]], interval=interval, status=status)


def columns(frame: pd.DataFrame, names=None, rows=slice(None)) -> dict:
    """Columns (all, or the named ones) as arrays, of every row or the rows at these positions."""
    return {name: frame[name].to_numpy()[rows] for name in (frame.columns if names is None else names)}


def spread(low: float, high: float) -> tuple[float, float]:
    """A range around the data; a single value is spread by one either side."""
    return (low - 1, high + 1) if low == high else (low, high)


def colour_range(table: pd.DataFrame) -> tuple[float, float] | None:
    """A map's colour scale, or None if no segment is rated: the colours drawn (the rated segments'
    shrunk rates), low to high, spread to at least the width of a typical rated segment's interval
    (the median's), within 0-100%.

    The raw rates' range set the top at 2.8% where no country's colour passed 1.4% (a country of
    108 sessions and three conversions): half the palette unused and the map pale. The floor keeps
    segments that differ by less than chance near one colour (stretched to their own range, a
    ten-thousandth of a percent would span the palette)."""
    rated = table[table["rated"].astype(bool)]
    shown = rated["shrunk_rate"].dropna()
    if not len(shown):
        return None
    low, high = float(shown.min()), float(shown.max())
    typical = float((rated["ci_high"] - rated["ci_low"]).median())
    width = min(max(high - low, typical if typical > 0 else 0.0), 1.0) or 1.0
    start = min(max((low + high - width) / 2, 0.0), 1.0 - width)
    return start, start + width


def padded(values, padding: float = 0.1, empty: tuple[float, float] = (0.0, 1.0)) -> tuple[float, float]:
    """A numeric axis range around the values (NaN ignored), padded by a tenth of the span either side."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if not len(values):
        return empty
    low, high = spread(values.min(), values.max())
    span = high - low
    return low - padding * span, high + padding * span


#: A tick of a rate as a percentage with as many decimals as the ticks' spacing needs ("2%, 4%" or
#: "0.05%, 0.10%"): one fixed format wrote ticks 0.05% apart as "0.1%, 0.1%, 0.2%" and ticks 2% apart
#: with a needless ".0". Runs in the page (the axis chooses its ticks there), served or exported.
PERCENT_TICK = """
const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) * 100 : 1;
let digits = 0;
while (digits < 6 && Math.abs(step * 10 ** digits - Math.round(step * 10 ** digits)) > 1e-6 * 10 ** digits) {
  digits += 1;
}
return (tick * 100).toFixed(digits) + "%";
"""


def percent() -> CustomJSTickFormatter:
    """A new percent formatter (a Bokeh model belongs to one document: each figure gets its own)."""
    return CustomJSTickFormatter(code=PERCENT_TICK)


def _axis(value: list | tuple) -> FactorRange | Range1d:
    """An axis of factors (a list) or a numeric range (a (start, end) tuple)."""
    return FactorRange(factors=list(value)) if isinstance(value, list) else Range1d(*value)


def new_figure(frame, *, height: int, min_width: int, width: int | None = None, **options):
    """An empty figure of ``frame``'s axes and title; responsive in width when none is given, down to
    ``min_width`` on a phone (:func:`.style.phone_min_width`)."""
    sizing = ({"width": width} if width else
              {"sizing_mode": "stretch_width", "stylesheets": [phone_min_width(min_width)]})
    # Save and hover only: every plot has an axis of factors (stages, buckets, sources, segments)
    # drawn whole, each with its room, which panning and zooming only push out of sight; those
    # tools were seven models a figure for every page to make, send and lay out.
    plot = figure(x_range=_axis(frame.x), y_range=_axis(frame.y), title=frame.title, height=height,
                  tools=[SaveTool()], toolbar_location="right", **sizing, **options)
    plot.center = [r for r in plot.center if not isinstance(r, Grid)]  # no grid: two models fewer
    plot.title.text_font_size = "12pt"
    return plot


#: Models a figure's layers, sources and axes each get by default, though they hold no state (which
#: rows to draw, how to select, which tick labels to show, an axis of factors' ticks and their text:
#: functions of the range they are given): one of each serves the whole figure, by the attribute that
#: holds it. (Not BasicTickFormatter: BokehJS keeps the last precision it found on it.)
STATELESS = (("filter", AllIndices), ("selection_policy", UnionRenderers), ("major_label_policy", AllLabels),
             ("ticker", CategoricalTicker), ("formatter", CategoricalTickFormatter))


def page_models() -> dict[str, Model]:
    """One of each :data:`STATELESS` model, for every figure of one page (a Bokeh document) to
    share (by Bokeh type; see :func:`.drawn_once.copy_of`): about 30 models a page against 5."""
    return {kind.__qualified_model__: kind() for _, kind in STATELESS}


def lean(plot):
    """The figure with fewer models for each page to make, send and lay out (Bokeh's cost is by
    model, not by data): each layer's glyphs for unselected and muted data left to the browser to
    derive ("auto"; Bokeh's ``figure`` makes both for every layer, though nothing here is ever
    selected or muted: 76 of a page's 670), one of each :data:`STATELESS` model shared by
    the figure's layers, sources and axes (81 of a page's 518, against 25), one view of its
    rows for the layers of each source (23 a page against 14), and nothing that draws nothing:
    hidden axes, grids without lines, hover and selection glyphs the same as the glyph (HoloViews'
    map: 13 of its 41 models)."""
    views = {}  # a view's rows are its source's (BokehJS keeps them on the view model), so one a source
    for renderer in plot.select(GlyphRenderer):
        renderer.update(nonselection_glyph="auto", muted_glyph="auto",
                        view=views.setdefault(renderer.data_source.id, renderer.view))
        if _same(renderer.selection_glyph, renderer.glyph):
            renderer.selection_glyph = "auto"
        if _same(renderer.hover_glyph, renderer.glyph):
            renderer.hover_glyph = None
    for side in ("left", "right", "above", "below", "center"):
        setattr(plot, side, [model for model in getattr(plot, side) if not _draws_nothing(model)])
    shared = {}
    for model in plot.references():
        for name, kind in STATELESS:
            value = getattr(model, name, None)
            if type(value) is kind and as_made(value):
                setattr(model, name, shared.setdefault(kind, kind()))
    return plot


def _same(glyph, other) -> bool:
    """Whether ``glyph`` is a glyph drawn as ``other`` is (neither "auto" nor None)."""
    return (type(glyph) is type(other) and not isinstance(glyph, str)
            and glyph.properties_with_values(include_defaults=False)
            == other.properties_with_values(include_defaults=False))


def _draws_nothing(model) -> bool:
    """A hidden axis, or a grid of neither lines nor bands."""
    if isinstance(model, Axis):
        return not model.visible
    return isinstance(model, Grid) and (not model.visible or (
        model.grid_line_color is None and model.minor_grid_line_color is None
        and model.band_fill_color is None and model.band_hatch_pattern is None))


def source(frame, layer: str) -> ColumnDataSource:
    """The data source of one of ``frame``'s layers, named after it (how the plot finds it to update it)."""
    return ColumnDataSource(frame.layers[layer], name=layer)


def hover(plot, renderers: list, tooltips: list[tuple[str, str]]) -> None:
    plot.add_tools(HoverTool(renderers=renderers, tooltips=tooltips))


def intervals(plot, data: ColumnDataSource, at, low: str, high: str, across: bool, **line) -> None:
    """Intervals from ``low`` to ``high`` at ``at`` (a column, or a transform of one), capped at both
    ends: horizontal if ``across``, else vertical. Glyphs, not Bokeh's ``Whisker`` annotation: an
    annotation keeps the places it mapped on an axis of factors when only the factors change."""
    ends = {"y": at, "angle": math.pi / 2} if across else {"x": at}
    plot.segment(**({"x0": low, "x1": high, "y0": at, "y1": at} if across else
                    {"x0": at, "x1": at, "y0": low, "y1": high}), source=data, **line)
    for end in (low, high):
        plot.scatter(**ends, **{"x" if across else "y": end}, marker="dash", size=9, source=data, **line)
