"""The key figures: sessions, conversions, the rate with its interval, revenue."""
from __future__ import annotations

import panel as pn

from .. import texts
from ..style import CSS
from .base import TextView


class Kpis(TextView):
    shows = ("kpis",)
    text = texts.kpi_cards_html

    @classmethod
    def figures(cls, model) -> dict:
        return {"kpis": pn.pane.HTML(texts.kpi_cards_html(model.kpis), stylesheets=[CSS], width=1100)}
