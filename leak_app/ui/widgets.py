"""The sidebar's filter widgets that differ from Panel's own: handled at once, their labels escaped."""
from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import panel as pn
import param

from ..analysis.model import SessionModel
from ..analysis.text import escape_html


class InstantCheckButtonGroup(pn.widgets.CheckButtonGroup):
    """Device buttons whose click is handled at once.

    Panel holds a change from the browser for 50 ms in case more follow (as they do
    while typing); a click is complete, and the wait was an eighth of the time from
    the click to the updated plots. Panel has no public setting for it: the hold and the
    widgets exempt from it are class attributes of ``Syncable`` (``_debounce``,
    ``_priority_changes``, which Panel's Tabulator sets); the hold is discussed upstream in
    holoviz/panel#6155 and holoviz/panel#8311.
    """

    _priority_changes: ClassVar[list[str]] = ["active"]


def device_buttons(model: SessionModel) -> InstantCheckButtonGroup:
    """The device filter's buttons, a selected one a device included. Turning the last one off
    selects them all again: no device selected means all of them, and the buttons had shown none
    while the page showed every device's sessions."""
    buttons = InstantCheckButtonGroup.from_param(
        model.param.devices, name="", color="primary", variant="outline", sizing_mode="stretch_width",
        description="Devices included: click one to leave it out; the last one off includes them all again.")

    def all_if_none(event):
        if not event.new:
            buttons.value = list(model.param.devices.objects)

    buttons.param.watch(all_if_none, "value")
    return buttons


def number_input(owner: param.Parameterized, name: str, **options) -> pn.widgets.Widget:
    """An input of one of ``owner``'s numbers (of its label, bounds and doc), linked both ways, that
    shows the number again when it is emptied: Panel's ``from_param`` input sets an emptied box's
    None, which the number refuses (the page said "ValueError: Number parameter 'SessionModel.level'
    only takes numeric values, not <class 'NoneType'>" as a reader cleared it to type another)."""
    parameter = owner.param[name]
    kind = pn.widgets.IntInput if isinstance(parameter, param.Integer) else pn.widgets.FloatInput
    low, high = parameter.bounds or (None, None)
    box = kind(label=parameter.label, value=getattr(owner, name), start=low, end=high,
               description=parameter.doc, **options)

    def asked(event) -> None:
        if event.new is None:
            box.value = getattr(owner, name)
        else:
            setattr(owner, name, event.new)

    box.param.watch(asked, "value")
    owner.param.watch(lambda event: setattr(box, "value", event.new), name)
    return box


class InstantMultiChoice(pn.widgets.MultiChoice):
    """A MultiChoice whose pick is handled at once (see :class:`InstantCheckButtonGroup`)."""

    _priority_changes: ClassVar[list[str]] = ["value"]


#: Options a list filter draws at once, in its menu or as it finds what is typed: more than there are
#: countries, where a column mapped as the country can hold tens of thousands of names (a page
#: drawing 28,000 took 2.5 s more of its browser's time); typing finds the others.
SHOWN_OPTIONS = 300


def escaped_multichoice(model: SessionModel, name: str, placeholder: str) -> pn.widgets.MultiChoice:
    """A MultiChoice bound to one of the model's list filters, its option labels escaped.

    Bokeh's MultiChoice renders option labels as HTML (Choices.js with allowHTML),
    and country and source names come from visitors' browsers: a source named
    ``<img src=x onerror=...>`` would run. Labels are escaped; values stay the names. A filter
    with one choice (data without channels: all "(not set)") filters nothing, and is hidden.
    """
    parameter = model.param[name]

    def options(names):
        return {"options": {escape_html(str(n)): n for n in names}, "visible": len(names) > 1}

    widget = InstantMultiChoice(**options(parameter.objects), label=parameter.label,
                                value=list(getattr(model, name)), placeholder=placeholder,
                                description=parameter.doc.strip(), sizing_mode="stretch_width",
                                option_limit=SHOWN_OPTIONS, search_option_limit=SHOWN_OPTIONS)
    model.param.watch(lambda event: widget.param.update(options(event.new)), name, what="objects")
    widget.link(model, value=name, bidirectional=True)
    return widget


def opened_card(title: str, contents: Callable[[], list], **params) -> pn.Card:
    """A collapsed card whose ``contents`` are made when it is first opened, not with the page.

    A page's cost to the server and the browser follows its number of Bokeh models, and the sidebar's
    settings are opened by few readers: made with each page they were 25 of its 360 models (inputs,
    their labels and tooltips)."""
    card = pn.Card(title=title, collapsed=True, **params)

    def opened(event) -> None:
        if not event.new and not card.objects:
            card.objects = contents()

    card.param.watch(opened, "collapsed")
    return card
