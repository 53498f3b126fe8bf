"""Figures drawn once per process and copied for each page.

Drawing is much of what a new page costs the server: GeoViews projects every country's shape each
time it draws the map (cartopy, about 2 s here, though the shapes are already in Web Mercator). New
pages of the same data show the same tables, so each figure is drawn once, kept as Bokeh serializes
models (``bokeh.core.serialization``, as for its messages), and each page gets a copy made from it
with fresh model ids (tens of milliseconds; 0.3 s for the map's shapes). A copy is then updated in
place like the drawn figure.
"""
from __future__ import annotations

import hashlib
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable

from bokeh.core.serialization import Deserializer, Serializer
from bokeh.models import ColumnDataSource, FactorRange, Model
from bokeh.util.serialization import make_id

#: Figures kept (new data or settings draw others; a page's own filters are sent as updates).
KEPT = 64
_drawn: OrderedDict[str, tuple[dict, list[str]]] = OrderedDict()  # key: (figure, its layers' source ids)
_drawing = threading.Lock()


def key_of(*parts) -> str:
    """A key for what a figure is drawn from (its view, tables and options)."""
    return hashlib.sha256(pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()


def copy_of(key: str, draw: Callable[[], tuple[Model, list]]) -> tuple[Model, list[ColumnDataSource]]:
    """A new copy of the figure ``draw`` returns (with its layers' data sources, in order), drawn
    once per ``key``, and the data sources of the copy's layers."""
    serialized, sources = keep(key, draw)
    renamed, ids = _renamed(serialized)
    copy = Deserializer().deserialize(renamed)
    models = {model.id: model for model in copy.references()}
    for model in models.values():
        if isinstance(model, FactorRange):  # serialized as lists, nested factors come back as lists
            model.factors = [tuple(f) if isinstance(f, list) else f for f in model.factors]
    return copy, [models[ids[source]] for source in sources]


def keep(key: str, draw: Callable[[], tuple[Model, list]]) -> tuple[dict, list[str]]:
    """The figure ``draw`` returns, drawn once per ``key`` and kept serialized, with its layers'
    source ids. Called alone, it draws a figure a page is about to ask for without copying it: a
    worker thread draws an upload's figures, so that the event loop then only copies them."""
    with _drawing:
        if key not in _drawn:
            figure, sources = draw()
            _drawn[key] = (Serializer(deferred=False).encode(figure), [source.id for source in sources])
            while len(_drawn) > KEPT:
                _drawn.popitem(last=False)
        _drawn.move_to_end(key)
        return _drawn[key]


def _renamed(serialized) -> tuple[dict, dict[str, str]]:
    """Serialized models with every model id replaced by a new one (in its definition and in each
    reference to it), so that copies never share an id; and the new id of each old one."""
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

    return renamed(serialized), ids

