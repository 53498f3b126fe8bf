"""The dashboard's views, registered in one place: the dashboard lays them out in this order, the
offline file shows them, the PNG export renders their figures, and the tests loop over them.

Adding a view: a module here with a :class:`~.base.View` (what it ``shows``, how it draws and
updates, its ``figures`` for the PNG export), one line below, and its tests.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import View
from .country_map import CountryMap
from .data import Data
from .duration import Duration
from .funnel import Funnel
from .kpis import Kpis
from .leaks import Leaks
from .source_device import SourceDevice
from .takeaways import Takeaways


@dataclass(frozen=True)
class Card:
    """A registered view: its name, its card's title (none: shown bare), its class, whether it
    takes half the page's width (two halves in a row share it), and whether its plots are wider than
    a phone's screen (their labels' least width): its card then scrolls sideways there."""

    name: str
    title: str | None
    view: type[View]
    half: bool = False
    wide: bool = False


CARDS = (
    Card("kpis", None, Kpis),
    Card("takeaways", "Business takeaways", Takeaways),
    Card("leaks", "Leaks, ranked by the conversions they lose", Leaks),
    Card("country_map", "Where visitors convert", CountryMap, wide=True),
    Card("funnel", "Where the funnel leaks, by device: reached (blue) and lost at each step "
         "(red = largest leak)", Funnel, wide=True),
    Card("duration", "Session duration vs conversion", Duration, half=True, wide=True),
    Card("source_device", "Traffic sources × device", SourceDevice, half=True, wide=True),
    Card("data", "Data and downloads", Data),
)
