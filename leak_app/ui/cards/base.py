"""What every view of the dashboard is: drawn from some of a SessionModel's outputs, updated
in place when they change, and able to say what the PNG export renders of it."""
from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import panel as pn
import param

from ...analysis.model import SessionModel
from ..live_plot import LivePlot, Plot
from ..style import CSS


def all_devices(model: SessionModel) -> dict:
    """The options of a plot that gives every device of the data its place, filtered out or not."""
    return {"devices": model.param.devices.objects}


class View(pn.viewable.Viewer):
    """One view of a model: ``shows`` names the outputs (or inputs) it is drawn from."""

    model = param.ClassSelector(class_=SessionModel)
    embedded = param.Boolean(default=False, constant=True, doc="""
        In a saved file: what needs the live app (downloads computed on a click, commands that
        recompute) is embedded or left out.""")

    shared = param.Dict(default=None, constant=True, doc="""
        The models every figure of the view's page shares (:func:`..figures.page_models`); None: each
        figure its own.""")

    shows: ClassVar[tuple[str, ...]] = ()

    def live_plot(self, plot: Plot, tables: list[str], **params) -> LivePlot:
        """A plot of the model's ``tables`` on this view's page (``params``: :class:`LivePlot`'s)."""
        return LivePlot(self.model, plot, tables, shared=self.shared, **params)

    def draw(self) -> None:
        """Show the model anew: new data or cell settings (other devices, stages or buckets)."""

    def update(self, changed: set[str]) -> None:
        """Show the outputs named in ``changed`` (some of ``shows``), in place where it can."""
        self.draw()

    def redraws(self, changed: set[str]) -> bool:
        """Whether :meth:`update` draws new figures for these changes (the page then walks its
        model graph once for all of them)."""
        return False

    def predraw(self, model: SessionModel) -> None:
        """Draw the figures of ``model``, which this view is about to show (on the caller's thread:
        a served app's worker), so that the event loop only copies them."""
        for plot in self.plots:
            plot.predraw(model)

    @property
    def plots(self) -> list[LivePlot]:
        """The plots this view updates in place."""
        return []

    @classmethod
    def figures(cls, model: SessionModel) -> dict:
        """What the PNG export renders of this view, by file name."""
        return {}

    def parts(self) -> list:
        """What the view shows, one under the other: its card holds them as they are (in a column
        of their own, their margins shifted them and made the card scroll sideways)."""
        return []

    def __panel__(self):
        parts = self.parts()
        return parts[0] if len(parts) == 1 else pn.Column(*parts, sizing_mode="stretch_width")


class Text:
    """A text of the model's outputs (escaped HTML from a view function), replaced on a change.

    An HTML pane of the base ``Design`` (no theme stylesheets): a template gives a pane without a
    design of its own the stylesheets of a component inside it, and Panel 1.9.4 (``HTMLBasePane``)
    sends each new text with all the pane's properties, the stylesheets among them as for a
    component standing alone (four sheets drawn, seven sent), which makes the page walk its whole
    model graph on a session's first click. A pane with a design of its own keeps the same sheets:
    only the text is sent. A Bokeh Div would lay out the whole page again on each text.
    """

    MARGIN = 10  # room around the text inside a card

    def __init__(self, model: SessionModel, view: Callable[..., str], outputs: tuple[str, ...],
                 margin: int | tuple[int, ...] = MARGIN, **style):
        self.model, self.view, self.outputs = model, view, outputs
        self.pane = pn.pane.HTML(design=pn.theme.Design, stylesheets=[CSS], sizing_mode="stretch_width",
                                 margin=margin, **style)
        self.show()

    def _text(self) -> str:
        return self.view(*(getattr(self.model, output) for output in self.outputs))

    @property
    def text(self) -> str:
        """The HTML shown ("" when the view has nothing to say)."""
        return self.pane.object

    def show(self) -> None:
        """The view's text; no room taken when it has nothing to say."""
        text = self._text()
        self.pane.param.update(object=text, visible=bool(text))


class TextView(View):
    """A view that is one text."""

    text: ClassVar[Callable[..., str]]
    margin: ClassVar[int | tuple[int, ...]] = Text.MARGIN

    def __init__(self, **params):
        super().__init__(**params)
        self._text = Text(self.model, type(self).text, self.shows, margin=self.margin)

    def draw(self) -> None:
        self._text.show()

    def parts(self) -> list:
        return [self._text.pane]
