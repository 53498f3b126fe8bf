"""The derived tables a model publishes (the JSON summary's and the CSV downloads'), and CSV text
of them, safe to open in a spreadsheet.

Source and country names come from visitors' browsers; a cell such as
``=HYPERLINK(...)`` would run as a formula in Excel, so text cells that start
with a formula character are prefixed with an apostrophe.
"""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ..analysis import leaks


def tables(model) -> dict[str, pd.DataFrame]:
    """A SessionModel's derived tables by the names the JSON summary and CSV downloads use."""
    return {
        "countries": model.country_table,
        "funnel": model.funnel_table,
        "duration": model.duration_table,
        "source_device": model.source_device_table,
    }


def shrunk_leaks(model) -> pd.DataFrame:
    """The model's leak table with its shrunk rates (:func:`.leaks.with_shrunk_rates`), as published."""
    return leaks.with_shrunk_rates(model.leaks_table, model.design_effect())


def download_tables(model) -> dict[str, Callable[[], pd.DataFrame]]:
    """Every derived table as the CSV downloads offer it (leak rows for every segment), each
    made when asked for: the leak table's shrunk rates are fitted for its download only, not
    for every page that lists the downloads."""
    return {
        **{name: (lambda table=table: table) for name, table in tables(model).items()},
        "leaks": lambda: shrunk_leaks(model).drop(columns="values", errors="ignore"),
        "silent_leaks": lambda: model.silent_leaks_table.drop(columns="values", errors="ignore"),
        "step_leaks": lambda: model.step_leaks_table,
    }

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
