"""What ``summary --json`` and ``check --json`` publish: a model's tables as JSON-ready data.

Published keys are a contract with scripts: add keys, never rename them. Published numbers have ten
significant digits (:func:`published`), so that two runs on the same data print the same JSON.
"""
from __future__ import annotations

import json

import pandas as pd

from ..analysis import leaks
from ..data.schema import unavailable
from .downloads import shrunk_leaks, tables


def summary(model) -> dict:
    """Everything the dashboard shows, as JSON-ready data (rates as fractions of 1)."""
    out = {"kpis": json.loads(pd.Series(model.kpis, dtype=object).to_json())}
    out.update({name: records(t) for name, t in tables(model).items()})
    out["takeaways"] = list(model.takeaways)
    out["load_report"] = model.load_report
    currency = model.load_report.get("currency", "")
    out["leaks"] = records(leaks.leak_rows(shrunk_leaks(model), currency=currency))
    silent = silent_part(model)
    out.update({name: silent.pop(name) for name in ("silent_leaks", "silent_periods")})
    out["step_leaks"] = records(model.step_leaks_table)
    out.update(silent)  # the warnings and the rate change came later: keys never move
    # the tables the data's columns cannot feed (every session at 0 pageviews), empty, and why
    out["unavailable"] = unavailable(model.load_report, model.funnel)
    for name in out["unavailable"]:
        out[name] = []
        if name == "funnel":
            out["step_leaks"] = []
    return published(out)


#: Significant digits of a published number. Sums of money in floating point depend on the order
#: the engine adds rows in (DuckDB's threads, a file's row order), in a double's last digits: a
#: lost revenue read 220899.4397563101 in one run and 220899.43975631 in the next. Ten digits
#: are more than any figure here means (a rate's interval is wider than its fifth digit).
DIGITS = 10


def published(value):
    """``value`` (JSON-ready: dicts, lists, numbers, text) with every float to DIGITS significant
    digits."""
    if isinstance(value, float):
        return float(f"{value:.{DIGITS}g}")
    if isinstance(value, dict):
        return {key: published(item) for key, item in value.items()}
    if isinstance(value, list):
        return [published(item) for item in value]
    return value


def silent_part(model) -> dict:
    """The silent leaks (published rows, a sentence each), the periods compared, the warnings
    about comparing them, and what moved the whole rate between them."""
    baseline, current = model.periods()
    return {
        "silent_leaks": records(leaks.silent_leak_rows(model.silent_leaks_table)),
        "silent_periods": {"baseline": [_day(d) for d in baseline], "current": [_day(d) for d in current]},
        "silent_warnings": list(model.silent_warnings),
        "rate_change": model.rate_change,
    }


def records(table: pd.DataFrame) -> list[dict]:
    return json.loads(table.to_json(orient="records", date_format="iso"))


def _day(value) -> str | None:
    return None if value is None else pd.Timestamp(value).strftime("%Y-%m-%d")
