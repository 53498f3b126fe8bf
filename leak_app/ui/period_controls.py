"""The Leaks view's period controls: the silent-leak comparison's periods as ``check`` takes
them (halves of the dates, rolling, or explicit dates), and the ``check`` command that checks
what the dashboard shows, to copy into a scheduler.

The widgets only write the model's period specs (see :mod:`leak_app.analysis.periods`); the model
resolves them, and :func:`leak_app.publish.check.command` writes the command.
"""
from __future__ import annotations

import contextlib
import datetime as dt

import panel as pn
import param

from ..analysis.model import FILTERS, PERIODS, SessionModel
from ..analysis.periods import rolling, span
from ..publish.check import command
from .style import WRAP

HALVES, ROLLING, DATES = "Halves of the dates", "Rolling", "Dates"
#: What the command depends on, beside the periods.
COMMAND_INPUTS = [*PERIODS, *FILTERS, "level", "min_sessions", "top_sources", "load_report"]

#: The copy button's code, in the browser: the clipboard exists only on https:// or localhost pages.
COPY = """
if (navigator.clipboard) {
  navigator.clipboard.writeText(command.value).then(() => { button.label = "Copied" },
                                                     () => { button.label = "Select it and copy" })
} else {
  button.label = "Select it and copy"
}
"""


class PeriodControls(pn.viewable.Viewer):
    """Choose the compared periods; read and copy the equivalent ``check`` command."""

    model = param.ClassSelector(class_=SessionModel)

    def __init__(self, **params):
        super().__init__(**params)
        m = self.model
        current, baseline = (rolling(spec) for spec in (m.current_period, m.baseline_period))
        in_days = current is not None and current[1] == "d"
        self.mode = pn.widgets.RadioButtonGroup(
            options=[HALVES, ROLLING, DATES],
            value=ROLLING if in_days else DATES if ":" in m.current_period else HALVES,
            color="primary", variant="outline", align="end")
        self.current_days = pn.widgets.IntInput(label="Current: the last … days", start=1, end=3650,
                                                value=current[0] if in_days else 7, **_wide(150))
        self.baseline_days = pn.widgets.IntInput(
            label="Baseline: the … days before", start=1, end=3650, **_wide(150),
            value=baseline[0] if baseline is not None and baseline[1] == "d" else 28)
        self.align = pn.widgets.Checkbox.from_param(m.param.align_weekdays, align="end")
        self.current_dates, self.baseline_dates = (
            pn.widgets.DateRangePicker(label=f"{name} period", **_wide(220), **self._bounds())
            for name in ("Current", "Baseline"))
        self._showing = False  # True while the pickers are given the compared periods to show
        if self.mode.value == DATES:
            self._show_dates(*m.periods())
        self.shown = pn.pane.Markdown(self._shown(), sizing_mode="stretch_width", margin=(0, 10))
        self.command = pn.widgets.TextInput(label="The same check, for cron or CI", value=command(m),
                                            sizing_mode="stretch_width")
        # A plain button: ButtonIcon's icons come from a CDN, and the app must not reach the internet.
        self.copy = pn.widgets.Button(label="Copy", color="primary", variant="outline", width=90,
                                      align="end")
        self.copy.js_on_click(args={"command": self.command, "button": self.copy}, code=COPY)
        choices = (self.mode, self.current_days, self.baseline_days, self.current_dates, self.baseline_dates)
        for widget in choices:
            widget.param.watch(self._ask, "value")
        m.param.watch(self._show, COMMAND_INPUTS)
        m.param.watch(self._new_data, "sessions")
        self._visible()

    def _ask(self, event) -> None:
        """Write the chosen periods into the model, as ``check`` would take them."""
        if self._showing:
            return
        if event.new is None and event.obj is not self.mode:  # emptied to type or pick another:
            with self._shown_only():                          # shown as it was, still compared
                event.obj.value = event.old
            return
        m = self.model
        if event.obj is self.mode and self.mode.value == DATES:
            self._show_dates(*m.periods())  # start from the periods compared now
        if self.mode.value == ROLLING:
            m.param.update(current_period=f"last-{self.current_days.value}d",
                           baseline_period=f"previous-{self.baseline_days.value}d")
        elif self.mode.value == DATES:
            m.param.update(current_period=_spec(self.current_dates.value),
                           baseline_period=_spec(self.baseline_dates.value))
        else:
            m.param.update(current_period="", baseline_period="")
        self._visible()

    def _show_dates(self, baseline: tuple, current: tuple) -> None:
        """Show the compared periods in the date pickers (one day of dates compares none: they stay
        as they are). The pickers' own change is not asked for again: the model changes once, after.
        (Their changes were discarded before, and with them the pickers' values sent to the page,
        which showed two empty pickers.)"""
        if current[0] is None:
            return
        with self._shown_only():  # (their bounds are the data's: set with them and on new data)
            for picker, period in ((self.current_dates, current), (self.baseline_dates, baseline)):
                picker.value = tuple(d.date() for d in period)

    def _new_data(self, event) -> None:
        """Other data (an upload): the pickers' calendars span its days, and dates it does not hold
        give way to the halves of its dates. (The pickers kept the first data's days: Dates then
        failed on the new data's periods, out of their bounds, and no day of it could be picked.)"""
        bounds, pickers = self._bounds(), (self.current_dates, self.baseline_dates)
        held = all(bounds["start"] <= day <= bounds["end"] for picker in pickers
                   for day in picker.value or ())
        with self._shown_only():
            for picker in pickers:
                if not held:  # (new bounds are checked against the value: one out of them goes first)
                    picker.value = None
                picker.param.update(**bounds)
        if self.mode.value == DATES and not held:
            self.mode.value = HALVES

    @contextlib.contextmanager
    def _shown_only(self):
        """Changes of the pickers made here are shown, not asked of the model (see :meth:`_ask`)."""
        self._showing = True
        try:
            yield
        finally:
            self._showing = False

    def _bounds(self) -> dict:
        low, high = self.model.param.date_range.bounds
        return {"start": low.date(), "end": high.date()}

    def _visible(self) -> None:
        for widget in (self.current_days, self.baseline_days, self.align):
            widget.visible = self.mode.value == ROLLING
        for widget in (self.current_dates, self.baseline_dates):
            widget.visible = self.mode.value == DATES

    def _shown(self) -> str:
        baseline, current = self.model.periods()
        if current[0] is None:
            return ""
        return f"Comparing **{span(*current)}** with the baseline **{span(*baseline)}**."

    def _show(self, *events) -> None:
        self.shown.object = self._shown()
        self.command.value = command(self.model)

    def command_row(self) -> pn.Row:
        """The command and its copy button (all a saved file can offer: it cannot recompute)."""
        return pn.Row(self.command, self.copy, sizing_mode="stretch_width")

    def __panel__(self):
        return pn.Column(
            pn.Row(self.mode, self.current_days, self.baseline_days, self.align, self.current_dates,
                   self.baseline_dates, sizing_mode="stretch_width", stylesheets=[WRAP]),
            self.shown, self.command_row(), sizing_mode="stretch_width")


def _wide(pixels: int) -> dict:
    """A width set in CSS, not as Bokeh's: a Bokeh row sums its items' widths, hidden ones too, into
    its least width (740 px here, past a phone's screen, in every mode)."""
    return {"width": None, "stylesheets": [f":host {{ width: {pixels}px; }}"]}


def _spec(dates: tuple[dt.date, dt.date] | None) -> str:
    return "" if not dates else f"{dates[0]:%Y-%m-%d}:{dates[1]:%Y-%m-%d}"
