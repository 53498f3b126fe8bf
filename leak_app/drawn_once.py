"""The world map, drawn once per process and copied for each page.

GeoViews projects every country's shape each time it draws the map (cartopy, about 2 s here,
though the shapes are already in Web Mercator: GeoViews projects polygons whatever their CRS),
which made a third of each new page's server time. The map is drawn once and kept as Bokeh
serializes models (``bokeh.core.serialization``, as for its messages); each page gets a copy
made from it with fresh model ids (about 0.3 s), which it then colours with its own rates, and a
filter change recolours the copy as it did the drawn map.
"""
from __future__ import annotations

import threading

import holoviews as hv
import pandas as pd
from bokeh.core.serialization import Deserializer, Serializer
from bokeh.models import Model
from bokeh.util.serialization import make_id

from . import views
from .geo import country_shapes

#: The map, once drawn, as Bokeh serializes it.
_drawn: list[dict] = []
_drawing = threading.Lock()


def world_map(countries: pd.DataFrame) -> Model:
    """A new Bokeh figure of the choropleth (``views.country_choropleth``), for one page.

    The first call draws it with ``countries``' rates; a copy keeps the colours it was drawn
    with: callers colour their own (see ``Dashboard._recolor_map``).
    """
    with _drawing:
        if not _drawn:
            figure = hv.render(views.country_choropleth(countries, country_shapes()))
            _drawn.append(Serializer(deferred=False).encode(figure))
    return Deserializer().deserialize(_renamed(_drawn[0]))


def _renamed(serialized):
    """Serialized models with every model id replaced by a new one (in its definition and in each
    reference to it), so that copies never share an id."""
    ids: dict[str, str] = {}

    def renamed(value):
        if isinstance(value, list):
            return [renamed(v) for v in value]
        if not isinstance(value, dict):
            return value
        copied = {key: renamed(v) for key, v in value.items()}
        if isinstance(value.get("id"), str) and (len(value) == 1 or value.get("type") == "object"):
            copied["id"] = ids.setdefault(value["id"], make_id())  # a model, or a reference to one
        return copied

    return renamed(serialized)
