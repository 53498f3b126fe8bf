"""The dashboard: one SessionModel, its filters in a sidebar, the registered views of its outputs.

The same :class:`Dashboard` is served (inside a template), saved as a static
offline HTML file (with the device filter's states embedded), and displayed in
notebooks (as a plain layout, since templates do not render there): :mod:`.page` makes the
first two. Its views are :data:`.cards.CARDS`.
"""
from __future__ import annotations

import functools

import panel as pn
import param

from ..analysis.model import SessionModel
from .actions import Progress
from .cards import CARDS
from .figures import page_models
from .live_plot import LivePlot
from .settings_controls import CellSettingsControls
from .style import ACCENT, HALF, NARROW, SIDEWAYS, TITLE, WRAP
from .upload import DEFAULT_UPLOAD_MB, Upload
from .widgets import device_buttons, escaped_multichoice, number_input, opened_card

CARD = {"collapsible": False, "sizing_mode": "stretch_width", "header_background": "#f0f3f7"}


class Dashboard(pn.viewable.Viewer):
    """Every view of one SessionModel, laid out for a page, a template or a notebook."""

    model = param.ClassSelector(class_=SessionModel)
    max_upload_mb = param.Integer(default=DEFAULT_UPLOAD_MB, bounds=(1, None), doc="Largest upload, in MB.")
    embedded = param.Boolean(default=False, constant=True, doc="""
        A saved file's: each change is shown whole, for the file's embedded states (each is recorded
        as what changed since the state visited before it, and a reader may come to it from any
        other, so each must hold all it shows, drawn on figures of its own); downloads are embedded
        and commands offered where the live app would recompute.""")

    def __init__(self, **params):
        super().__init__(**params)
        m = self.model
        shared = page_models()  # the page's figures share these (a page: one Bokeh document)
        self.views = {card.name: card.view(model=m, embedded=self.embedded, shared=shared) for card in CARDS}
        self.progress = Progress()  # what the page works on off the event loop (uploads, cell settings)
        shows = dict.fromkeys(["cube", *(name for view in self.views.values() for name in view.shows)])
        self._shown = {name: getattr(m, name) for name in shows}  # what the page shows
        m.param.watch(self._refresh, "updated")

    @property
    def plots(self) -> list[LivePlot]:
        """Every plot the views update in place."""
        return [plot for view in self.views.values() for plot in view.plots]

    def predraw(self, model: SessionModel) -> None:
        """Draw the plots of ``model``, which this page is about to show (an upload's sessions, new cell
        settings), on the caller's thread (the worker): the event loop then only copies them (see
        :mod:`leak_app.ui.drawn_once`)."""
        for view in self.views.values():
            view.predraw(model)

    def _refresh(self, *events) -> None:
        """Show what the model's change replaced, in one message.

        Each view shows the outputs it is drawn from in place (new text and columns, no new
        model), unless the cube changed (new data or settings): then the plots may have other
        devices, stages or buckets and are drawn anew, and everything is sent. A saved file's
        dashboard shows every change that way (see ``embedded``).
        """
        m = self.model
        changed = {name for name, shown in self._shown.items() if getattr(m, name) is not shown}
        self._shown = {name: getattr(m, name) for name in self._shown}
        if not changed:
            return
        anew = self.embedded or "cube" in changed
        touched = [view for view in self.views.values() if anew or changed & set(view.shows)]
        # new figures: one walk of the model graph for all of them
        with pn.io.hold(freeze=anew or any(view.redraws(changed) for view in touched)):
            for view in touched:
                view.draw() if anew else view.update(changed & set(view.shows))

    def main(self) -> list:
        """The views, each in its card (two halves share a row)."""
        shown, halves = [], []
        for card in CARDS:
            view = self.views[card.name]
            sheets = [HALF] * card.half + [SIDEWAYS] * card.wide
            item = (view if card.title is None else
                    pn.Card(*view.parts(), title=card.title, stylesheets=sheets, **CARD))
            if not card.half:
                shown.append(item)
                continue
            halves.append(item)
            if len(halves) == 2:
                shown.append(pn.Row(*halves, sizing_mode="stretch_width", stylesheets=[WRAP]))
                halves = []
        return shown + halves

    @functools.cached_property
    def filters(self) -> list:
        """The sidebar's widgets, made once: each links itself to the model."""
        m = self.model
        return [
            pn.widgets.DateRangeSlider.from_param(m.param.date_range, step=1, sizing_mode="stretch_width"),
            pn.pane.Markdown("**Devices** (a selected one is included)", margin=(10, 10, 0, 10)),
            device_buttons(m),
            escaped_multichoice(m, "countries", "All countries"),
            escaped_multichoice(m, "sources", "All sources"),
            escaped_multichoice(m, "channels", "All channels"),
            opened_card("Settings", self.settings, sizing_mode="stretch_width"),
            Upload(model=m, max_mb=self.max_upload_mb, progress=self.progress, predraw=self.predraw),
        ]

    def settings(self) -> list:
        """The settings' inputs (made when the sidebar's "Settings" card is first opened)."""
        m, wide = self.model, {"sizing_mode": "stretch_width"}  # (300 px wide, they ran past the card)
        return [
            number_input(m, "min_sessions", step=10, **wide),
            pn.widgets.IntSlider.from_param(m.param.top_sources, **wide),
            *CellSettingsControls(model=m, progress=self.progress, predraw=self.predraw).widgets(**wide),
            number_input(m, "level", step=0.005, **wide),
            number_input(m, "fdr", step=0.01, **wide),
        ]

    def __panel__(self):
        return pn.Row(pn.Column(self.progress, *self.filters, width=320),
                      pn.Column(*self.main(), sizing_mode="stretch_width"), sizing_mode="stretch_width")

    def template(self, sidebar: list | None = None) -> pn.template.BaseTemplate:
        # Bootstrap, not Fast: the Fast design always links Google Fonts, and the app
        # must not reach the internet.
        template = pn.template.BootstrapTemplate(
            title=TITLE, sidebar=sidebar if sidebar is not None else self.filters,
            main=self.main(), header=[self.progress], header_background=ACCENT,
            sidebar_width=330,
        )
        template.config.raw_css.append(NARROW)
        return template


