"""Figures drawn once per process and copied for each page.

Drawing is much of what a new page costs the server: GeoViews projects every country's shape each
time it draws the map (cartopy, about 2 s here, though the shapes are already in Web Mercator). New
pages of the same data show the same tables, so each figure is drawn once, kept as Bokeh serializes
models (``bokeh.core.serialization``, as for its messages), and each page gets a copy made from it
with fresh model ids. A copy is then updated in place like the drawn figure.

The data sources' columns are kept aside, as arrays (read-only) that every copy's sources share:
decoding them for each copy, and Bokeh writing each value it sets from JSON into a log message
(numpy's ``repr`` of each of the map's 1,200 rings, whether logged or not), was half of a copy's
time. A copy's models come back by their ids from the decoding itself, not by walking the copy.
The models a page's figures can share (those that hold no state) are shared by them: a copy refers
to its page's instead of making its own.
"""
from __future__ import annotations

import hashlib
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from bokeh.core.property.validation import validate
from bokeh.core.serialization import Deserializer, Serializer
from bokeh.models import ColumnDataSource, FactorRange, Model
from bokeh.util.serialization import make_id

#: Figures kept (new data or settings draw others; a page's own filters are sent as updates).
KEPT = 64


@dataclass(frozen=True)
class Drawing:
    """A figure as kept: serialized without its data sources' columns; those columns (by source
    id); the ids of its factor ranges and of the models a caller asked for (by name); the Bokeh
    type of each of its models left as Bokeh makes them (by id: a page may share those)."""

    serialized: dict
    columns: dict[str, dict]
    factor_ranges: list[str]
    parts: dict[str, str]
    kinds: dict[str, str]


_drawn: OrderedDict[str, Drawing] = OrderedDict()
#: Held while a figure is drawn and while Bokeh's validation of values is off. That switch is one
#: for the whole process (``bokeh.core.property.validation.validate``), and Bokeh converts a value
#: only when it fails validation: a figure drawn on the worker while the event loop had it off kept
#: its title's text as a string where a ``Title`` belongs, and the upload that drew it failed.
_drawing = threading.RLock()


@contextmanager
def unvalidated() -> Iterator[None]:
    """Bokeh's validation of values off (for values known valid), while no figure is drawn."""
    with _drawing, validate(False):
        yield


def key_of(*parts) -> str:
    """A key for what a figure is drawn from (its view, tables and options)."""
    return hashlib.sha256(b"".join(_digest(part) for part in parts)).hexdigest()


#: Digests of what figures were drawn from, with the object each is of, by its id (see _digest).
_digests: OrderedDict[int, tuple[object, bytes]] = OrderedDict()
_digests_lock = threading.Lock()


def _digest(part) -> bytes:
    """The digest of ``part`` pickled, taken once per object while kept: every page of a model's
    data draws from the same tables (its outputs, never changed in place), and pickling a table of
    28,000 countries took 0.1 s a plot and page. The object is held with its digest: its id cannot
    be another's meanwhile. Text (names, options) is hashed as it is."""
    if isinstance(part, str):
        return hashlib.sha256(part.encode()).digest()
    with _digests_lock:
        if id(part) in _digests and _digests[id(part)][0] is part:
            _digests.move_to_end(id(part))
            return _digests[id(part)][1]
    digest = hashlib.sha256(pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)).digest()
    with _digests_lock:
        _digests[id(part)] = (part, digest)
        while len(_digests) > KEPT:
            _digests.popitem(last=False)
    return digest


def copy_of(key: str, draw: Callable[[], tuple[Model, dict[str, Model]]],
            shared: dict[str, Model] | None = None) -> tuple[Model, dict[str, Model]]:
    """A new copy of the figure ``draw`` returns, drawn once per ``key``, and the copies of the
    models ``draw`` names with it (its layers' data sources, a colour mapper...), by those names.
    The copy refers to the models of ``shared`` (by Bokeh type: models of the copy's page, which
    hold no state) in place of its own of those types."""
    drawing = keep(key, draw)
    shared = shared or {}
    renamed, ids = _renamed(drawing.serialized, {id: shared[kind].id for id, kind in drawing.kinds.items()
                                                 if kind in shared})
    # (a layer's data source is among the parts too: each model asked for once)
    wanted = list(dict.fromkeys([*drawing.columns, *drawing.factor_ranges, *drawing.parts.values()]))
    with unvalidated():  # the models of a drawn figure, as it was valid
        copy, *models = Deserializer(list(shared.values())).deserialize(
            [renamed, *({"id": ids[i]} for i in wanted)])
        copied = dict(zip(wanted, models, strict=True))
        for id, columns in drawing.columns.items():
            copied[id].data = dict(columns)  # the arrays shared: Bokeh replaces, never writes, them
    for id in drawing.factor_ranges:  # serialized as lists, nested factors come back as lists
        axis = copied[id]
        axis.factors = [tuple(f) if isinstance(f, list) else f for f in axis.factors]
    return copy, {name: copied[id] for name, id in drawing.parts.items()}


def keep(key: str, draw: Callable[[], tuple[Model, dict[str, Model]]]) -> Drawing:
    """The figure ``draw`` returns, drawn once per ``key`` and kept. Called alone, it draws a
    figure a page is about to ask for without copying it: a worker thread draws an upload's
    figures, so that the event loop then only copies them."""
    with _drawing:
        if key not in _drawn:
            # with Bokeh's conversions whatever its switch says: code of another library (HoloViews
            # updating its plots) turns it off without this lock, and the lock is re-entrant
            with validate(True):
                figure, parts = draw()
            models = figure.references()
            columns = {}
            for source in (m for m in models if isinstance(m, ColumnDataSource)):
                columns[source.id] = {name: _read_only(values) for name, values in source.data.items()}
                source.data = {}
            _drawn[key] = Drawing(Serializer(deferred=False).encode(figure), columns,
                                  [m.id for m in models if isinstance(m, FactorRange)],
                                  {name: part.id for name, part in parts.items()},
                                  {m.id: m.__qualified_model__ for m in models if as_made(m)})
            while len(_drawn) > KEPT:
                _drawn.popitem(last=False)
        _drawn.move_to_end(key)
        return _drawn[key]


def as_made(model: Model) -> bool:
    """Whether ``model`` holds Bokeh's defaults only: another of its type can stand for it."""
    return not model.properties_with_values(include_defaults=False)


def _read_only(values):
    """A column's values that no copy can write to (arrays, and those nested in lists)."""
    if isinstance(values, np.ndarray):
        values = values.view()
        values.flags.writeable = False
    elif isinstance(values, list):
        values = [_read_only(v) for v in values]
    return values


def _renamed(serialized, fixed: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """Serialized models with every model id replaced by a new one (in its definition and in each
    reference to it), so that copies never share an id, except the ids of ``fixed``: those models
    are given their ids there, as references to models already known; and the new id of each old one."""
    ids: dict[str, str] = dict(fixed)

    def renamed(value):
        if isinstance(value, list):
            return [renamed(v) for v in value]
        if not isinstance(value, dict):
            return value
        if isinstance(value.get("id"), str) and value["id"] in fixed:  # a model known, or a reference to it
            return {"id": fixed[value["id"]]}
        copied = {key: renamed(v) for key, v in value.items()}
        if isinstance(value.get("id"), str) and (len(value) == 1 or value.get("type") == "object"):
            copied["id"] = ids.setdefault(value["id"], make_id())  # a model, or a reference to one
        return copied

    return renamed(serialized), ids
