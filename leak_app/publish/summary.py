"""What ``summary --json`` and ``check --json`` publish: a model's tables as JSON-ready data.

Published keys are a contract with scripts: add keys, never rename them.
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
    out["leaks"] = records(leaks.leak_rows(shrunk_leaks(model)))
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
    return out



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
