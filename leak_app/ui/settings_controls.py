"""The settings that decide a session's cell (engaged and deep pageviews, the funnel's steps): the
page takes them once their cube is built off the event loop.

A new cell setting means a new cube: seconds on a large file, which would stall every page of the
server. The inputs edit a copy of the model's parameters (same labels, bounds and choices); a
change builds its cube on the worker thread (:mod:`leak_app.ui.actions`), then sets the model, which
finds the cube built and answers as for a filter. The model stays whole meanwhile: the page
answers on the settings it shows until the new ones are ready.
"""
from __future__ import annotations

import copy
import functools

import panel as pn
import param

from ..analysis.model import FILTERS, SessionModel
from .actions import Progress, in_page
from .widgets import number_input

NAMES = ("engaged_pageviews", "deep_pageviews", "funnel")


class CellSettingsControls(pn.viewable.Viewer):
    """Inputs for the cell settings, applied to the model once their cube is built."""

    model = param.ClassSelector(class_=SessionModel)
    progress = param.ClassSelector(class_=Progress, doc="Where the page shows what it is working on.")
    predraw = param.Callable(default=None, doc="""
        Called on the worker thread with a model of the new settings (:meth:`SessionModel.like`):
        the page draws there what it will show (Dashboard.predraw).""")

    def __init__(self, **params):
        super().__init__(**params)
        self.progress = self.progress or Progress()
        m = self.model
        asked = type("AskedCellSettings", (param.Parameterized,), {n: copy.copy(m.param[n]) for n in NAMES})
        self.asked = asked(**{name: getattr(m, name) for name in NAMES})
        self.asked.param.funnel.objects = list(m.param.funnel.objects)
        self.asked.param.watch(self._asked, list(NAMES))
        m.param.watch(self._taken, list(NAMES))
        m.param.watch(self._choices, "funnel", what="objects")  # the funnels new data offers

    async def _asked(self, *_) -> None:
        """Build the cube of the settings the inputs ask for, then give them to the model."""
        changes = {
            n: getattr(self.asked, n) for n in NAMES if getattr(self.asked, n) != getattr(self.model, n)
        }
        if not changes:
            return
        try:
            await self.progress.run("Building the cube for the new settings", self._prepared, changes)
        except Exception as exc:  # noqa: BLE001 - said in the page (see _set_back)
            in_page(functools.partial(self._set_back, exc))
            return
        in_page(lambda: self.model.param.update(changes))  # a failure here sets the model back itself

    def _prepared(self, changes: dict) -> None:
        """The cube of the new settings built, and the page's plots of them drawn (on the worker)."""
        m = self.model
        m.prepare(**changes)
        if self.predraw is not None:
            self.predraw(m.like(m.sessions, m.load_report, **{name: getattr(m, name) for name in FILTERS},
                                **{"funnel": m.funnel, **changes}))

    def _set_back(self, exc: Exception) -> None:
        """The inputs show the model's settings again, and the reason goes to Panel's handler."""
        self._taken()
        raise exc

    def _taken(self, *_) -> None:
        self.asked.param.update({name: getattr(self.model, name) for name in NAMES})

    def _choices(self, event) -> None:
        self.asked.param.funnel.objects = list(event.new)

    def widgets(self, **inputs) -> list:
        """The inputs (``inputs``: their options), the funnel's name and its choice."""
        return [
            number_input(self.asked, "engaged_pageviews", **inputs),
            number_input(self.asked, "deep_pageviews", **inputs),
            self._funnel_label(),
            pn.widgets.RadioButtonGroup.from_param(self.asked.param.funnel, color="primary",
                                                   variant="outline"),
        ]

    def _funnel_label(self) -> pn.pane.HTML:
        """The funnel's choice, named (a button group shows no name: a lone "pageviews" button stood
        unexplained), and why it is the only one where the data has no e-commerce steps."""
        label = pn.pane.HTML(margin=(5, 10, 0, 10))

        def said(*_) -> None:
            only = len(self.asked.param.funnel.objects) < 2
            label.object = "Funnel stages by" + (" (the data has no e-commerce steps)" if only else "")

        said()
        self.asked.param.watch(said, "funnel", what="objects")
        return label

    def __panel__(self):
        return pn.Column(*self.widgets())
