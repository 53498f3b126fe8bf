"""Derived tables of the dashboard: pure functions of the filtered sessions' counts.

``counts`` is what :meth:`leak_app.cube.Cube.counts` returns: measures per grouping
(device × country, device × source, medium, device × bucket, device × stage).

Nothing here imports Panel or draws; the model calls these and the views only
plot what they return. Every rate comes with its sample size and 95% Wilson
interval, and a ``rated`` flag saying whether the segment reaches the minimum
sample needed to be ranked at all.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .countries import iso3
from .cube import MEASURES
from .stats import benjamini_hochberg, differs_from_rest_p, rated_p_values, wilson_interval

OTHER_SOURCES = "(other sources)"


def with_rates(table: pd.DataFrame, min_sessions: int) -> pd.DataFrame:
    """Add rate, Wilson interval and the ``rated`` flag to a sessions/conversions table."""
    table = table.copy()
    table["rate"] = table["conversions"] / table["sessions"].where(table["sessions"] > 0)
    table["ci_low"], table["ci_high"] = wilson_interval(table["conversions"], table["sessions"])
    table["rated"] = table["sessions"] >= min_sessions
    return table


def collapse(table: pd.DataFrame, by, min_sessions: int) -> pd.DataFrame:
    """Re-aggregate a rate table to coarser groups (e.g. duration buckets over devices)."""
    summed = table.groupby(by, observed=True, sort=False)[["sessions", "conversions"]].sum()
    return with_rates(summed.reset_index(), min_sessions)


def totals(counts) -> dict:
    """Every measure summed over all the counted sessions."""
    table = counts["device"]
    return {m: table[m].to_numpy().sum() for m in MEASURES}


def kpis(counts) -> dict:
    total = totals(counts)
    n, converting, revenue = int(total["sessions"]), int(total["conversions"]), float(total["revenue"])
    low, high = wilson_interval(converting, n)
    return {
        "sessions": n,
        "converting_sessions": converting,
        "transactions": int(total["transactions"]),
        "revenue": round(revenue, 2),
        "conversion_rate": converting / n if n else float("nan"),
        "ci_low": float(low),
        "ci_high": float(high),
        "revenue_per_session": revenue / n if n else float("nan"),
    }


def by_country(counts: dict, min_sessions: int) -> pd.DataFrame:
    """Rate per country; ``q_value``: does it differ from the rest (two-sided, BH over rated ones)?"""
    table = with_rates(counts["country"][["country", "sessions", "conversions"]], min_sessions)
    k, n = table["conversions"].to_numpy(), table["sessions"].to_numpy()
    p = rated_p_values(table["rated"].to_numpy(), differs_from_rest_p, k, n, k.sum(), n.sum())
    table["q_value"] = benjamini_hochberg(p)
    table["country"] = table["country"].astype(str)
    table.insert(1, "iso3", [iso3(name) for name in table["country"]])
    return table.sort_values(["sessions", "country"], ascending=[False, True], ignore_index=True)


def funnel(counts) -> pd.DataFrame:
    """Cumulative funnel per device: each stage is a subset of the one before.

    A converting session has reached every stage, whatever its pageviews, so a
    short checkout visit never shows up as a conversion out of nowhere.
    """
    reached = counts["device × reached"]
    stages = len(reached["stage"].cat.categories)
    sessions = reached["sessions"].to_numpy().reshape(-1, stages)
    entry = np.repeat(sessions[:, 0], stages)
    previous = np.column_stack([np.full(len(sessions), np.nan), sessions[:, :-1]]).ravel()
    lost = np.nan_to_num(previous - sessions.ravel()).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        drop_rate = np.where(previous > 0, lost / previous, np.nan)
    worst = np.nanargmax(np.where(np.isnan(drop_rate), -1, drop_rate).reshape(-1, stages), axis=1)
    largest = np.zeros(sessions.shape, dtype=bool)
    largest[np.arange(len(sessions)), worst] = True
    return pd.DataFrame({
        "device": reached["device"].astype(str).to_numpy(), "stage": reached["stage"],
        "sessions": sessions.ravel(), "pct_of_entry": sessions.ravel() / entry, "lost": lost,
        "lost_of_entry": lost / entry, "drop_rate": drop_rate, "largest_leak": largest.ravel(),
    })


def by_duration(counts: dict, min_sessions: int) -> pd.DataFrame:
    table = with_rates(counts["device × bucket"][["bucket", "device", "sessions", "conversions"]], min_sessions)
    table["device"] = table["device"].astype(str)
    return table.sort_values(["bucket", "device"], ignore_index=True)


def top_sources(counts: dict, n: int) -> list[str]:
    """The n sources with most sessions (ties by name, so the choice is reproducible)."""
    table = counts["source"]
    order = sorted(zip(table["sessions"], table["source"].astype(str)), key=lambda kv: (-kv[0], kv[1]))
    return [name for sessions, name in order[:n] if sessions > 0]


def source_groups(sources: list[str], top: list[str]) -> list[str]:
    """Each source's group: itself if among the ``top`` sources, else "(other sources)"."""
    return [s if s in top else OTHER_SOURCES for s in sources]


def by_source_device(counts: dict, top: list[str], min_sessions: int) -> pd.DataFrame:
    """Rate per top source (the rest as "(other sources)") and device."""
    table = counts["device × source"]
    labels = list(table["source"].cat.categories)
    groups = pd.Categorical(source_groups(labels, top), categories=[*top, OTHER_SOURCES])
    source = pd.Series(groups.take(table["source"].cat.codes), index=table.index, name="source")
    rates = collapse(table.assign(source=source), ["source", "device"], min_sessions)
    rates["device"] = rates["device"].astype(str)
    return rates.sort_values(["source", "device"], ignore_index=True)
