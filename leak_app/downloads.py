"""CSV text of the derived tables, safe to open in a spreadsheet.

Source and country names come from visitors' browsers; a cell such as
``=HYPERLINK(...)`` would run as a formula in Excel, so text cells that start
with a formula character are prefixed with an apostrophe.
"""
from __future__ import annotations

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value):
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(table: pd.DataFrame) -> str:
    text_columns = table.select_dtypes(include=["object", "string", "category"]).columns
    safe = table.copy()
    for column in text_columns:
        safe[column] = safe[column].astype(object).map(neutralize)
    return safe.to_csv(index=False)
