"""How numbers read in sentences, cards and hover text: one place, so they agree."""
from __future__ import annotations

import html

import pandas as pd


def pct(rate) -> str:
    """A rate as a percentage: two decimals under 10% (web rates are small), else one."""
    if rate is None or pd.isna(rate):
        return "–"
    return f"{rate:.2%}" if rate < 0.1 else f"{rate:.1%}"


def escape_markdown(text: str) -> str:
    """Text from the data (file, country, source names) shown literally inside a line of Markdown:
    no HTML, emphasis, code, link or table cell; still readable in the raw file."""
    return "".join("\\" + c if c in "\\`*_[]|~" else c for c in html.escape(str(text), quote=False))
