"""Business takeaways: a few plain sentences computed from the derived tables.

Every claim rests only on segments that reach the minimum sample, and every rate
quoted carries its interval, so a 1-in-2 segment can never be called a winner.
Sentences are plain text; whoever shows them escapes them.
"""
from __future__ import annotations

import pandas as pd

from .metrics import collapse


def pct(rate: float) -> str:
    return f"{rate:.2%}" if rate < 0.1 else f"{rate:.1%}"


def with_ci(row) -> str:
    return f"{pct(row.rate)} (95% CI {pct(row.ci_low)}–{pct(row.ci_high)}, n={row.sessions:,})"


def overall(kpis: dict) -> str:
    return (
        f"{kpis['sessions']:,} sessions converted at {pct(kpis['conversion_rate'])} "
        f"(95% CI {pct(kpis['ci_low'])}–{pct(kpis['ci_high'])}): "
        f"{kpis['converting_sessions']:,} converting sessions, "
        f"{kpis['revenue']:,.2f} in revenue."
    )


def largest_leak(funnel: pd.DataFrame, min_sessions: int) -> str | None:
    steps = funnel.assign(entering=funnel["sessions"] + funnel["lost"])
    steps = steps[steps["drop_rate"].notna() & (steps["entering"] >= min_sessions)]
    if steps.empty:
        return None
    worst = steps.loc[steps["drop_rate"].idxmax()]
    before = funnel["stage"].cat.categories[funnel["stage"].cat.categories.get_loc(worst.stage) - 1]
    return (
        f"The largest funnel leak is {before} → {worst.stage} on {worst.device}: "
        f"{worst.drop_rate:.1%} of the {worst.entering:,} sessions that reached {before} "
        f"went no further ({worst.lost:,} sessions lost)."
    )


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


def country_outliers(countries: pd.DataFrame, kpis: dict, min_sessions: int) -> str | None:
    rated = countries[countries["rated"]]
    base = kpis["conversion_rate"]
    if rated.empty:
        return None
    above = rated[rated["ci_low"] > base]
    below = rated[rated["ci_high"] < base]
    if above.empty and below.empty:
        return (
            f"No country with at least {min_sessions:,} sessions converts significantly "
            f"above or below the overall {pct(base)}."
        )

    def names(rows):
        return "; ".join(f"{r.country} {with_ci(r)}" for r in rows.head(3).itertuples())

    parts = []
    if not above.empty:
        parts.append(f"significantly above the overall {pct(base)}: {names(above)}")
    if not below.empty:
        parts.append(f"significantly below it: {names(below)}")
    return "Countries converting " + "; ".join(parts) + "."


def takeaways(kpis, countries, funnel, duration, source_device, min_sessions: int) -> list[str]:
    if not kpis["sessions"]:
        return []
    sentences = [
        overall(kpis),
        largest_leak(funnel, min_sessions),
        duration_peak(duration, min_sessions),
        source_device_extremes(source_device, min_sessions),
        country_outliers(countries, kpis, min_sessions),
    ]
    return [s for s in sentences if s]
