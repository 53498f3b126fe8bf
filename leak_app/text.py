"""How numbers read in sentences, cards and hover text: one place, so they agree."""
from __future__ import annotations

import pandas as pd


def pct(rate) -> str:
    """A rate as a percentage: two decimals under 10% (web rates are small), else one."""
    if rate is None or pd.isna(rate):
        return "–"
    return f"{rate:.2%}" if rate < 0.1 else f"{rate:.1%}"
