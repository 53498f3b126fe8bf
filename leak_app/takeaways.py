"""Business takeaways: at most six plain sentences computed from the model's tables.

They lead with the leak engine's findings (the headline silent leak, the largest
leak, the funnel step lost against the best device), then where conversion
peaks, the strongest and weakest source × device, and countries that differ
significantly. Every claim rests only on segments that reach the minimum sample,
and every rate quoted carries its interval, so a 1-in-2 segment can never be
called a winner. Sentences are plain text; whoever shows them escapes them.
"""
from __future__ import annotations

import pandas as pd

from . import leaks
from .metrics import collapse
from .text import pct


def with_ci(row) -> str:
    return f"{pct(row.rate)} (95% CI {pct(row.ci_low)}–{pct(row.ci_high)}, n={row.sessions:,})"


def top_leak(table: pd.DataFrame) -> str | None:
    row = leaks.headline(table)
    return None if row is None else "Largest leak: " + leaks.describe_leak(row)


def silent_leak(table: pd.DataFrame, periods) -> str | None:
    (b0, b1), (c0, c1) = periods
    if b0 is None:
        return None
    row = leaks.headline(table)
    span = f"{b0:%d %b}–{b1:%d %b %Y} and {c0:%d %b}–{c1:%d %b %Y}"
    if row is None:
        return f"No silent leak: no segment's conversion rate fell significantly between {span}."
    return f"Silent leak ({span.replace(' and ', ' to ')}): " + leaks.describe_silent_leak(row)


def largest_funnel_leak(funnel: pd.DataFrame, steps: pd.DataFrame, min_sessions: int) -> str | None:
    """The funnel step that loses the largest share, and what it costs against the best device."""
    entering = funnel["sessions"] + funnel["lost"]
    rated = funnel[funnel["drop_rate"].notna() & (entering >= min_sessions)]
    if rated.empty:
        return None
    worst = rated.loc[rated["drop_rate"].idxmax()]
    stages = list(funnel["stage"].cat.categories)
    before = stages[stages.index(worst.stage) - 1]
    text = (
        f"The largest funnel leak is {leaks.step_name(before, worst.stage)} on {worst.device}: "
        f"{worst.drop_rate:.1%} of the {worst.sessions + worst.lost:,} sessions that reached {before} "
        f"went no further"
    )
    step = steps[(steps["step"] == leaks.step_name(before, worst.stage)) & (steps["device"] == worst.device)]
    if len(step) and step["lost_sessions"].iloc[0] > 0:
        s = step.iloc[0]
        text += (
            f"; at {s.best_device}'s pass rate ({pct(s.best_rate)}) instead of {pct(s.pass_rate)}, "
            f"about {s.lost_sessions:,.0f} more sessions (95% CI {s.lost_low:,.0f}–{s.lost_high:,.0f}) "
            f"would go on, worth about {s.lost_revenue:,.0f} in revenue"
        )
    return text + "."


def duration_peak(duration: pd.DataFrame, min_sessions: int) -> str | None:
    buckets = collapse(duration, "bucket", min_sessions)
    rated = buckets[buckets["rated"] & (buckets["conversions"] > 0)]
    if rated.empty:
        return None
    peak = rated.loc[rated["rate"].idxmax()]
    text = f"Conversion peaks for sessions lasting {peak.bucket}: {with_ci(peak)}"
    shortest = buckets.sort_values("bucket").iloc[0]
    if shortest.bucket != peak.bucket and shortest.rated:
        text += f", against {with_ci(shortest)} for sessions of {shortest.bucket}"
    return text + "."


def source_device_extremes(table: pd.DataFrame, min_sessions: int) -> str | None:
    rated = table[table["rated"]]
    if len(rated) < 2:
        return (
            f"Fewer than two source × device combinations have {min_sessions:,} sessions; "
            f"none is ranked."
        )
    # Rank by the interval, not the point estimate: the best is the one whose rate is
    # surely high (highest lower bound), the worst the one surely low (lowest upper bound).
    best = rated.loc[rated["ci_low"].idxmax()]
    worst = rated.loc[rated["ci_high"].idxmin()]
    return (
        f"Strongest source × device: {best.source} on {best.device} at {with_ci(best)}; "
        f"weakest: {worst.source} on {worst.device} at {with_ci(worst)}."
    )


def country_outliers(countries: pd.DataFrame, fdr: float) -> str | None:
    """Countries that convert differently from the rest, with the false discovery rate held."""
    rated = countries[countries["rated"]]
    if rated.empty:
        return None
    significant = rated[rated["q_value"] <= fdr]
    rest_rate = (rated["conversions"].sum() - significant["conversions"]) / (
        rated["sessions"].sum() - significant["sessions"])
    above = significant[significant["rate"] > rest_rate]
    below = significant[significant["rate"] < rest_rate]
    if significant.empty:
        return (
            f"No country with enough sessions converts significantly differently from the rest "
            f"(at a {fdr:.0%} false discovery rate)."
        )

    def names(rows):
        return "; ".join(f"{r.country} {with_ci(r)}" for r in rows.head(3).itertuples())

    parts = []
    if not above.empty:
        parts.append(f"above the rest: {names(above)}")
    if not below.empty:
        parts.append(f"below it: {names(below)}")
    return (f"Countries converting significantly ({fdr:.0%} false discovery rate) "
            + "; ".join(parts) + ".")


def takeaways(model) -> list[str]:
    """The sentences for a SessionModel's current tables (none when no session matches)."""
    if not model.kpis["sessions"]:
        return []
    m = model.min_sessions
    sentences = [
        silent_leak(model.silent_leaks_table, model.periods()),
        top_leak(model.leaks_table),
        largest_funnel_leak(model.funnel_table, model.step_leaks_table, m),
        duration_peak(model.duration_table, m),
        source_device_extremes(model.source_device_table, m),
        country_outliers(model.country_table, model.fdr),
    ]
    return [s for s in sentences if s]
