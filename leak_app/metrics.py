"""Derived tables of the dashboard: pure functions of a (filtered) session table.

Nothing here imports Panel or draws; the model calls these and the views only
plot what they return. Every rate comes with its sample size and 95% Wilson
interval, and a ``rated`` flag saying whether the segment reaches the minimum
sample needed to be ranked at all.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .countries import iso3
from .stats import benjamini_hochberg, differs_from_rest_p, wilson_interval

STAGES = ("Browsed", "Engaged", "Deep Engagement", "Converted")
#: The GA4 e-commerce funnel (for sessions built from GA4 events).
ECOMMERCE_STAGES = ("Browsed", "Viewed item", "Added to cart", "Began checkout", "Converted")
FUNNELS = {"pageviews": STAGES, "ecommerce": ECOMMERCE_STAGES}
OTHER_SOURCES = "(other sources)"
DEFAULT_DURATION_EDGES = (10, 60, 180, 300, 600, 1200, 3600)


def with_rates(table: pd.DataFrame, min_sessions: int) -> pd.DataFrame:
    """Add rate, Wilson interval and the ``rated`` flag to a sessions/conversions table."""
    table = table.copy()
    table["rate"] = table["conversions"] / table["sessions"].where(table["sessions"] > 0)
    table["ci_low"], table["ci_high"] = wilson_interval(table["conversions"], table["sessions"])
    table["rated"] = table["sessions"] >= min_sessions
    return table


def rate_table(sessions: pd.DataFrame, by, min_sessions: int) -> pd.DataFrame:
    """Sessions, conversions and rate per group of ``by`` (columns or aligned Series)."""
    grouped = sessions.groupby(by, observed=True, sort=False)["converted"]
    table = pd.DataFrame({"sessions": grouped.size(), "conversions": grouped.sum()})
    table = table.astype("int64").reset_index()
    return with_rates(table, min_sessions)


def collapse(table: pd.DataFrame, by, min_sessions: int) -> pd.DataFrame:
    """Re-aggregate a rate table to coarser groups (e.g. duration buckets over devices)."""
    summed = table.groupby(by, observed=True, sort=False)[["sessions", "conversions"]].sum()
    return with_rates(summed.reset_index(), min_sessions)


def kpis(sessions: pd.DataFrame) -> dict:
    n = len(sessions)
    converting = int(sessions["converted"].sum())
    revenue = float(sessions["revenue"].sum())
    low, high = wilson_interval(converting, n)
    return {
        "sessions": n,
        "converting_sessions": converting,
        "transactions": int(sessions["transactions"].sum()),
        "revenue": round(revenue, 2),
        "conversion_rate": converting / n if n else float("nan"),
        "ci_low": float(low),
        "ci_high": float(high),
        "revenue_per_session": revenue / n if n else float("nan"),
    }


def by_country(sessions: pd.DataFrame, min_sessions: int) -> pd.DataFrame:
    """Rate per country; ``q_value``: does it differ from the rest (two-sided, BH over rated ones)?"""
    table = rate_table(sessions, "country", min_sessions)
    k, n = table["conversions"], table["sessions"]
    p = differs_from_rest_p(k, n, k.sum(), n.sum())
    table["q_value"] = benjamini_hochberg(pd.Series(p, index=table.index).where(table["rated"]))
    table["country"] = table["country"].astype(str)
    table.insert(1, "iso3", [iso3(name) for name in table["country"]])
    return table.sort_values(["sessions", "country"], ascending=[False, True], ignore_index=True)


def stage_flags(sessions: pd.DataFrame, engaged_pageviews: int, deep_pageviews: int,
                definition: str = "pageviews") -> pd.DataFrame:
    """Whether each session reached each funnel stage (one boolean column per stage, in order).

    Cumulative: a later stage implies every earlier one, so a converting session has
    reached them all whatever its pageviews or recorded steps.
    """
    converted = sessions["converted"].to_numpy()
    if definition == "ecommerce":
        began = sessions["begin_checkout"].to_numpy() | converted
        added = sessions["add_to_cart"].to_numpy() | began
        viewed = sessions["view_item"].to_numpy() | added
        levels = [True, viewed, added, began, converted]
        names = ECOMMERCE_STAGES
    else:
        pageviews = sessions["pageviews"].to_numpy()
        engaged = (pageviews >= engaged_pageviews) | converted
        deep = engaged & ((pageviews >= deep_pageviews) | converted)
        levels = [True, engaged, deep, converted]
        names = STAGES
    return pd.DataFrame(dict(zip(names, levels)), index=sessions.index)


def funnel(sessions: pd.DataFrame, engaged_pageviews: int, deep_pageviews: int,
           definition: str = "pageviews") -> pd.DataFrame:
    """Cumulative funnel per device: each stage is a subset of the one before.

    A converting session has reached every stage, whatever its pageviews, so a
    short checkout visit never shows up as a conversion out of nowhere.
    """
    reached = stage_flags(sessions, engaged_pageviews, deep_pageviews, definition)
    counts = reached.groupby(sessions["device"], observed=True).sum().astype("int64")
    long = counts.rename_axis(columns="stage").stack().rename("sessions").reset_index()
    long["stage"] = pd.Categorical(long["stage"], categories=list(reached.columns), ordered=True)
    long = long.sort_values(["device", "stage"], ignore_index=True)
    entry = long.groupby("device", observed=True)["sessions"].transform("first")
    previous = long.groupby("device", observed=True)["sessions"].shift(1)
    long["device"] = long["device"].astype(str)
    long["pct_of_entry"] = long["sessions"] / entry
    long["lost"] = (previous - long["sessions"]).fillna(0).astype("int64")
    long["lost_of_entry"] = long["lost"] / entry
    long["drop_rate"] = long["lost"] / previous.where(previous > 0)
    worst_step = long["drop_rate"].groupby(long["device"]).idxmax()
    long["largest_leak"] = long.index.isin(worst_step)
    return long


def duration_labels(edges) -> list[str]:
    """Readable bucket names: (10, 60, 180) -> ['<10 s', '10–60 s', '1–3 min', '>3 min']."""

    def fmt(a, b=None):
        if (b or a) <= 60:
            return f"{a}–{b} s" if b is not None else f"{a} s"
        return f"{a / 60:g}–{b / 60:g} min" if b is not None else f"{a / 60:g} min"

    edges = list(edges)
    middle = [fmt(a, b) for a, b in zip(edges[:-1], edges[1:])]
    return [f"<{fmt(edges[0])}", *middle, f">{fmt(edges[-1])}"]


def duration_buckets(durations: pd.Series, edges) -> pd.Series:
    bins = [-np.inf, *edges, np.inf]
    return pd.cut(durations, bins, right=False, labels=duration_labels(edges)).rename("bucket")


def by_duration(sessions: pd.DataFrame, edges, min_sessions: int) -> pd.DataFrame:
    buckets = duration_buckets(sessions["duration"], edges)
    table = rate_table(sessions, [buckets, sessions["device"]], min_sessions)
    table["device"] = table["device"].astype(str)
    return table.sort_values(["bucket", "device"], ignore_index=True)


def top_sources(sources: pd.Series, n: int) -> list[str]:
    """The n sources with most sessions (ties by name, so the choice is reproducible)."""
    counts = sources.value_counts()
    counts = counts[counts > 0]
    order = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return [str(name) for name, _ in order[:n]]


def group_sources(sources: pd.Series, top: list[str]) -> pd.Series:
    """Sources outside ``top`` folded into one "(other sources)" group."""
    grouped = sources.astype(str).where(sources.astype(str).isin(top), OTHER_SOURCES)
    categories = [*top, OTHER_SOURCES]
    return pd.Series(pd.Categorical(grouped, categories=categories), index=sources.index, name="source")


def by_source_device(sessions: pd.DataFrame, groups: pd.Series, min_sessions: int) -> pd.DataFrame:
    table = rate_table(sessions, [groups.rename("source"), sessions["device"]], min_sessions)
    table["device"] = table["device"].astype(str)
    return table.sort_values(["source", "device"], ignore_index=True)
