"""Derived tables of the dashboard: pure functions of the filtered sessions' counts.

``counts`` is what :meth:`leak_app.analysis.cube.Cube.counts` returns: measures per grouping
(device × country, device × source, channel × medium, device × bucket, device × stage).

Nothing here imports Panel or draws; the model calls these and the views only
plot what they return. Every rate comes with its sample size and 95% Wilson
interval, and a ``rated`` flag saying whether the segment reaches the minimum
sample needed to be ranked at all.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.countries import country_codes
from .cube import AMOUNTS, MEASURES
from .shrinkage import shrunk_rates
from .stats import (
    adjusted_counts,
    benjamini_hochberg,
    differs_from_rest_p,
    mean_interval,
    rated_p_values,
    wilson_interval,
)

#: The false discovery rate at which countries are said to convert differently from the rest.
DEFAULT_FDR = 0.05

OTHER_SOURCES = "(other sources)"
#: The choice standing for the countries, or channels, a filter does not name (see NAMED_CHOICES).
OTHER = {"country": "(other countries)", "channel": "(other channels)"}
#: Names a country or channel filter offers, most sessions first: every country there is, and
#: typing finds any of them; beyond them one choice (OTHER) stands for the rest. A column mapped
#: as the country can hold a name per row: a million names made a million choices on every page.
NAMED_CHOICES = 10_000


def named_choices(ranked: list[str], dim: str) -> list[str]:
    """A filter's choices of ``ranked`` names (most sessions first): at most NAMED_CHOICES of them,
    then the choice that stands for the rest, if any."""
    return ranked if len(ranked) <= NAMED_CHOICES else [*ranked[:NAMED_CHOICES], OTHER[dim]]


def chosen(labels, picked: list[str], named: list[str], other: str) -> np.ndarray:
    """Which ``labels`` a filter's ``picked`` choices include: those picked by name, and, where
    ``other`` is picked, every label not among the ``named`` ones."""
    labels = np.asarray(labels, dtype=object)
    return np.isin(labels, picked) | (other in picked and ~np.isin(labels, named))


def rates(sessions, conversions, min_sessions: int, design_effect: float = 1.0) -> dict[str, np.ndarray]:
    """Each segment's rate, 95% Wilson interval and ``rated`` flag, as columns. The interval counts
    sessions divided by the ``design_effect`` (Kish's effective sample size: a visitor's sessions
    convert alike, see :mod:`.clustering`)."""
    n, k = np.asarray(sessions), np.asarray(conversions)
    low, high = wilson_interval(k / design_effect, n / design_effect)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, k / n, np.nan)
    return {"rate": rate, "ci_low": low, "ci_high": high, "rated": n >= min_sessions}


def rate_table(labels: dict, sessions, conversions, min_sessions: int, design_effect: float = 1.0,
               **more) -> pd.DataFrame:
    """Labels, sessions, conversions, their rates (:func:`rates`) and ``more`` columns, as one frame.

    Built at once from arrays: on these small tables, pandas' cost per column set or
    copied is most of the time a filter change takes.
    """
    return pd.DataFrame({**labels, "sessions": sessions, "conversions": conversions,
                         **rates(sessions, conversions, min_sessions, design_effect), **more})


def collapse(table: pd.DataFrame, by: list[str], min_sessions: int, design_effect: float = 1.0
             ) -> pd.DataFrame:
    """Re-aggregate a rate table to coarser groups (e.g. duration buckets over devices).

    Groups come in their columns' order (categories' order, text sorted), each column
    keeping its type.
    """
    codes, groups = zip(*(_factorized(table[c]) for c in by))
    key = np.ravel_multi_index(codes, [len(g) for g in groups])
    present, position = np.unique(key, return_inverse=True)
    summed = [np.bincount(position, weights=table[m].to_numpy(), minlength=len(present)).astype("int64")
              for m in ("sessions", "conversions")]
    labels = {c: g[i] for c, g, i in zip(by, groups, np.unravel_index(present, [len(g) for g in groups]))}
    return rate_table(labels, *summed, min_sessions, design_effect)


def _factorized(column: pd.Series) -> tuple[np.ndarray, pd.Categorical | np.ndarray]:
    """A column's codes and their values in order (its categories, for a categorical: their codes as
    they are, where ``pd.factorize`` took ten times as long)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        every = pd.Categorical.from_codes(np.arange(len(column.cat.categories)), dtype=column.dtype)
        return column.cat.codes.to_numpy(), every
    return pd.factorize(column, sort=True)


def shrunk(conversions, sessions, design_effect: float = 1.0) -> dict[str, np.ndarray]:
    """The shrunk rate and its interval (:func:`.shrinkage.shrunk_rates`) of a table's segments: what
    the map and the heat map colour, so that a small segment's lucky rate is not painted as the best."""
    columns = shrunk_rates(conversions, sessions, design_effect)
    return {name: columns[name] for name in ("shrunk_rate", "shrunk_low", "shrunk_high")}


def text(column: pd.Series) -> np.ndarray:
    """A categorical column's values as text (an object array)."""
    return np.asarray(column.cat.categories.astype(str), dtype=object)[column.cat.codes.to_numpy()]


def sort_order(*keys) -> np.ndarray:
    """Positions that sort rows by the first key, then the next (stable; keys may be text)."""
    order = np.arange(len(keys[0]))
    for key in reversed(keys):
        order = order[np.argsort(np.asarray(key)[order], kind="stable")]
    return order


def totals(counts) -> dict:
    """Every measure summed over all the counted sessions (from the devices' sums, as arrays: a frame
    of them took a millisecond), counts as integers."""
    summed = counts.groups("device")[1].sum(axis=0)
    return {m: summed[j] if m in AMOUNTS else summed[j].round().astype("int64")
            for j, m in enumerate(MEASURES)}


def kpis(counts, design_effect: float = 1.0) -> dict:
    """The key figures. Revenue per conversion comes with its interval (:func:`.stats.mean_interval`),
    and with the least share of all revenue the session of most revenue must hold, whatever the
    others (its revenue is at least Σr² / Σr, the sums of squares and of revenue): the sign of
    revenue resting on a few orders, or on one mistyped. Both intervals count sessions divided by the
    ``design_effect``, as every rate's (:func:`rates`)."""
    total = totals(counts)
    n, converting, revenue = int(total["sessions"]), int(total["conversions"]), float(total["revenue"])
    low, high = wilson_interval(converting / design_effect, n / design_effect)
    # NaN without conversions
    per_conversion = mean_interval(revenue, total["revenue_squared"], converting, design_effect=design_effect)
    largest_share = float(total["revenue_squared"]) / revenue**2 if revenue > 0 else float("nan")
    return {
        "sessions": n,
        "converting_sessions": converting,
        "transactions": int(total["transactions"]),
        "revenue": round(revenue, 2),
        "conversion_rate": converting / n if n else float("nan"),
        "ci_low": float(low),
        "ci_high": float(high),
        "revenue_per_session": revenue / n if n else float("nan"),
        "revenue_per_conversion": float(per_conversion[0]),
        "revenue_per_conversion_low": float(per_conversion[1]),
        "revenue_per_conversion_high": float(per_conversion[2]),
        "largest_revenue_share_min": largest_share,
    }


def by_country(counts: dict, min_sessions: int, design_effect: float = 1.0) -> pd.DataFrame:
    """Rate per country, and shrunk towards the countries' mean (:func:`shrunk`); ``q_value``: does it
    differ from the rest (two-sided, on counts adjusted for the ``design_effect``, BH over rated ones)?

    Names of one map shape are one country, named by its names joined, most sessions first ("North
    Macedonia / Macedonia (FYROM)", GA's name before and after 2019; "United States / Vereinigte
    Staaten"): apart, the map showed one of them only and each was tested against a rest holding
    the other."""
    table = counts["country"]
    names = text(table["country"])
    n, k = table["sessions"].to_numpy(), table["conversions"].to_numpy()
    order = sort_order(-n, names)
    names, n, k = names[order], n[order], k[order]
    codes = country_codes(names)
    shape = pd.Series([name if code is None else code for name, code in zip(names, codes)], dtype=object)
    if shape.duplicated().any():
        one = pd.DataFrame({"names": names, "iso3": codes, "n": n, "k": k}).groupby(shape, sort=False)
        names, codes = one["names"].agg(" / ".join).to_numpy(), one["iso3"].first().to_numpy()
        n, k = one["n"].sum().to_numpy(), one["k"].sum().to_numpy()
        order = sort_order(-n, names)
        names, codes, n, k = names[order], codes[order], n[order], k[order]
    p = rated_p_values(n >= min_sessions, differs_from_rest_p,
                       *adjusted_counts(k, n, k.sum(), n.sum(), design_effect))
    return rate_table({"country": names, "iso3": codes}, n, k, min_sessions, design_effect,
                      q_value=benjamini_hochberg(p), **shrunk(k, n, design_effect))


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


def by_duration(counts: dict, min_sessions: int, design_effect: float = 1.0) -> pd.DataFrame:
    table = counts["device × bucket"]
    device, bucket = text(table["device"]), table["bucket"].array
    order = sort_order(bucket.codes, device)
    return rate_table({"bucket": bucket.take(order), "device": device[order]},
                      table["sessions"].to_numpy()[order], table["conversions"].to_numpy()[order],
                      min_sessions, design_effect)


def top_sources(counts: dict, n: int) -> list[str]:
    """The n sources with most sessions (ties by name, so the choice is reproducible)."""
    table = counts["source"]
    order = sorted(zip(table["sessions"], table["source"].astype(str)), key=lambda kv: (-kv[0], kv[1]))
    return [name for sessions, name in order[:n] if sessions > 0]


def source_groups(sources: list[str], top: list[str]) -> list[str]:
    """Each source's group: itself if among the ``top`` sources, else "(other sources)"."""
    return [s if s in top else OTHER_SOURCES for s in sources]


def by_source_device(counts: dict, top: list[str], min_sessions: int, design_effect: float = 1.0
                     ) -> pd.DataFrame:
    """Rate per top source (the rest as "(other sources)") and device, and shrunk towards the cells'
    mean (:func:`shrunk`)."""
    table = counts["device × source"]
    labels = list(table["source"].cat.categories)
    groups = pd.Categorical(source_groups(labels, top), categories=[*top, OTHER_SOURCES])
    table = collapse(table.assign(source=groups.take(table["source"].cat.codes)), ["source", "device"],
                     min_sessions, design_effect)
    table["device"] = table["device"].astype(str)
    return table.assign(**shrunk(table["conversions"], table["sessions"], design_effect))
