"""The key figures: sessions, conversions, the rate with its interval, revenue."""
from __future__ import annotations

import panel as pn

from .. import texts
from ..style import CSS
from .base import TextView


class Kpis(TextView):
    shows = ("kpis", "load_report")
    text = texts.kpi_cards_html
    margin = (5, 5, 15, 5)  # in line with the cards under it (5 pixels in, 20 apart)

    @classmethod
    def figures(cls, model) -> dict:
        return {"kpis": pn.pane.HTML(texts.kpi_cards_html(model.kpis, model.load_report), stylesheets=[CSS],
                                     width=1100)}
