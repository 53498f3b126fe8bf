"""A user's slow action in the served app: run off the event loop, shown while it runs, and said in
the page when it fails.

Loading a file and building a cube for new settings take seconds on large data; on the event loop
they would stall every other browser session for as long. They run on one worker thread, one at
a time, in the order asked, at a lower priority than the loop (DuckDB and pandas release the
interpreter while they work, and the threads DuckDB starts there share that priority: see
:mod:`leak_app.data.background`). The page keeps answering meanwhile, on the data it shows, and takes
the result in one step under its document's lock, as Panel asks of code that changes Bokeh models
after an ``await`` (https://panel.holoviz.org/how_to/callbacks/async.html).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import panel as pn

from ..analysis.text import escape_html
from ..data.background import background_executor
from ..data.schema import LoadError

WORKER = background_executor("leak_app_worker")
LOG = logging.getLogger(__name__)


class Progress(pn.viewable.Viewer):
    """What the page is working on off the event loop: a spinner and a line, while it runs."""

    def __init__(self, **params):
        super().__init__(**params)
        self._running: list[str] = []
        self.spinner = pn.indicators.LoadingSpinner(value=True, size=20, color="light", bgcolor="light",
                                                    margin=(0, 8), align="center")
        self.text = pn.pane.HTML("", margin=0, align="center", styles={"color": "white", "font-size": "15px"})
        self.row = pn.Row(self.spinner, self.text, visible=False, align="center")

    async def run(self, doing: str, function: Callable, *args, **kwargs):
        """``function(*args, **kwargs)`` on the worker thread, said while it waits and runs."""
        self._running.append(doing)
        self._show()
        try:
            return await asyncio.wrap_future(WORKER.submit(function, *args, **kwargs))
        finally:
            self._running.remove(doing)
            self._show()

    def _show(self) -> None:
        # Escaped: the text may hold an upload's name, which the HTML pane would otherwise run.
        self.text.object = escape_html(f"{self._running[0]}…") if self._running else ""
        self.row.visible = bool(self._running)

    def __panel__(self):
        return self.row


def in_page(callback: Callable[[], None]) -> None:
    """Run ``callback`` (which changes what the page shows) under the page's document lock: on the
    event loop's next turn when served, at once elsewhere (a notebook, a test). Its failure goes
    to Panel's exception handler (:func:`said_in_the_page` when served)."""
    pn.state.execute(callback, schedule=True)


def said_in_the_page(exception: BaseException) -> None:
    """Panel's exception handler for the served app: a failed action of a user (a setting whose cube
    cannot be built, say) is logged with its traceback and said in that user's page, which keeps
    showing the data as it was (see SessionModel._update)."""
    LOG.error("a user's action failed", exc_info=exception)
    if pn.state.notifications is not None:  # Notyf shows HTML: the reason may name files or values
        message = f"That could not be done; the page shows the data as before. {failure_reason(exception)}"
        pn.state.notifications.error(escape_html(message), duration=0)


#: Panel's settings of a served page: notices, and failed actions said in them.
PAGE_CONFIG = {"notifications": True, "exception_handler": said_in_the_page}


def failure_reason(exception: BaseException) -> str:
    """How a failed action's cause is said in the page: a LoadError's message (it names the file and
    what was expected), any other error's type and first line."""
    text = str(exception).splitlines()[0] if str(exception) else ""
    return text if isinstance(exception, LoadError) else f"{type(exception).__name__}: {text}"

