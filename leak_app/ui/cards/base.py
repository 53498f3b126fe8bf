"""What every view of the dashboard is: drawn from some of a SessionModel's outputs, updated
in place when they change, and able to say what the PNG export renders of it."""
from __future__ import annotations

import html
from collections.abc import Callable
from typing import ClassVar

import panel as pn
import param

# Panel's HTML model, not the public pane: with Panel 1.9.4 a pane in the template sends its design's
# stylesheets again on its first change (4 sheets drawn, 7 sent), which the page then walks its model
# graph for (test_views' test_a_filter_change_sends_data_only fails with the pane). No upstream issue
# found to name yet.
from panel.models.markup import HTML as HTMLModel

from ...analysis.model import SessionModel
from ..live_plot import LivePlot
from ..style import CSS


class View(pn.viewable.Viewer):
    """One view of a model: ``shows`` names the outputs (or inputs) it is drawn from."""

    model = param.ClassSelector(class_=SessionModel)
    embedded = param.Boolean(default=False, constant=True, doc="""
        In a saved file: what needs the live app (downloads computed on a click, commands that
        recompute) is embedded or left out.""")

    shows: ClassVar[tuple[str, ...]] = ()

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

    A Panel HTML model whose text is replaced: a Panel HTML pane sends its stylesheets again
    with each text, which makes the page walk its whole model graph, and a Bokeh Div lays out
    the whole page again on each text, where this one does not. The style is on the model, for
    plain layouts (the exported file, notebooks), and on the pane, whose stylesheets a
    template's design puts in place of the model's.
    """

    def __init__(self, model: SessionModel, view: Callable[..., str], outputs: tuple[str, ...], **style):
        self.model, self.view, self.outputs = model, view, outputs
        self.html = HTMLModel(text=self._text(), sizing_mode="stretch_width", stylesheets=[CSS],
                              disable_math=True, run_scripts=False, **style)
        self.pane = pn.pane.Bokeh(self.html, stylesheets=[CSS], sizing_mode="stretch_width")

    def _text(self) -> str:
        """The view's HTML, escaped once more: the model shows its text unescaped."""
        return html.escape(self.view(*(getattr(self.model, output) for output in self.outputs)))

    def show(self) -> None:
        self.html.text = self._text()


class TextView(View):
    """A view that is one text."""

    text: ClassVar[Callable[..., str]]

    def __init__(self, **params):
        super().__init__(**params)
        self._text = Text(self.model, type(self).text, self.shows)

    def draw(self) -> None:
        self._text.show()

    def parts(self) -> list:
        return [self._text.pane]
