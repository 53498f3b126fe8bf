"""Explain and qualify a change in the conversion rate between two periods.

``rate_change`` splits the change into *traffic mix* (more sessions from segments that
convert less) and *rates within segments*, per dimension: the first question an analyst
asks, and the one Simpson's paradox makes hard. ``silent_warnings`` says when the two
periods cannot be compared at face value (too short, gaps, a site-wide collapse that
looks like a tracking outage, different weekday mixes). Pure NumPy/pandas: no drawing.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import bdtr

from ..data.schema import TEXT
from .leaks import DIMENSIONS, segment_counts
from .metrics import totals
from .text import counted, pct, percent

#: The dimensions a change is explained by: the session's labels, one column each (duration is an
#: outcome).
EXPLAINED_BY = TEXT


def kitagawa(n0, k0, n1, k1) -> tuple[np.ndarray, np.ndarray]:
    """Per value, (mix effect, rate effect) of the change of an aggregate rate, exactly.

    Kitagawa's symmetric decomposition: with shares w and rates r of each value,
    Σ w1 r1 − Σ w0 r0 = Σ (w1 − w0)(r0 + r1)/2 + Σ (r1 − r0)(w0 + w1)/2, order-free. A value
    absent from a period takes its other period's rate there (no rate effect: it only moved
    the mix).
    """
    n0, k0, n1, k1 = (np.asarray(x, dtype="float64") for x in (n0, k0, n1, k1))
    w0, w1 = n0 / n0.sum(), n1 / n1.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        r0, r1 = k0 / n0, k1 / n1
    r0, r1 = np.where(n0 > 0, r0, r1), np.where(n1 > 0, r1, r0)
    return (w1 - w0) * (r0 + r1) / 2, (r1 - r0) * (w0 + w1) / 2


def rate_change(before, now) -> dict:
    """The JSON ``rate_change``: both periods' rates, and per dimension each value's mix and rate
    effects (largest first), summing to the change."""
    total = {"before": totals(before), "now": totals(now)}
    if not (total["before"]["sessions"] and total["now"]["sessions"]):
        return {"baseline_rate": None, "current_rate": None, "by_dimension": {}}
    out = {"baseline_rate": total["before"]["conversions"] / total["before"]["sessions"],
           "current_rate": total["now"]["conversions"] / total["now"]["sessions"], "by_dimension": {}}
    for name in EXPLAINED_BY:
        was, is_ = (segment_counts(c, DIMENSIONS[name]) for c in (before, now))
        # matched by their codes (a cube's labels are sorted: in the order of their names)
        codes = np.union1d(was["code"], is_["code"])
        if len(codes) < 2:
            continue
        arrays, values = [], np.empty(len(codes), dtype=object)
        for part in (was, is_):
            at = np.searchsorted(codes, part["code"])
            values[at] = part["segment"]
            for measure in ("sessions", "conversions"):
                full = np.zeros(len(codes))
                full[at] = part[measure]
                arrays.append(full)
        mix, rate = kitagawa(*arrays)
        order = np.argsort(-(np.abs(mix) + np.abs(rate)), kind="stable")
        out["by_dimension"][name] = [{"value": str(values[i]), "mix_effect": float(mix[i]),
                                      "rate_effect": float(rate[i])} for i in order]
    return out


def compared(change: dict) -> bool:
    """Whether the silent-leak periods were compared: both resolved, both holding sessions (else
    finding no silent leak says nothing)."""
    return change.get("baseline_rate") is not None


def most_mixed(change: dict) -> str:
    """The dimension whose traffic mix moved the rate most (the one the takeaway and the waterfall
    explain the change by)."""
    by = change["by_dimension"]
    return max(by, key=lambda name: abs(sum(r["mix_effect"] for r in by[name])))


def dominant_effect(change: dict) -> str | None:
    """A sentence on the dimension whose traffic mix moved the rate most, or None (and where the rate
    did not move: "went from 0.00% to 0.00% ... so the change is mostly a change of rates", said of
    periods with no conversion)."""
    if not change["by_dimension"] or (moved := change["current_rate"] - change["baseline_rate"]) == 0:
        return None
    name = most_mixed(change)
    rows = change["by_dimension"][name]
    mix, rate = (sum(r[f"{kind}_effect"] for r in rows) for kind in ("mix", "rate"))
    moved_, mix_, rate_ = _points(moved, mix, rate)
    return (f"The conversion rate went from {pct(change['baseline_rate'])} to {pct(change['current_rate'])} "
            f"({moved_}): by {name}, traffic mix accounts for {mix_} and rates within each "
            f"{name} for {rate_}, so the change is mostly a change of "
            f"{'traffic mix' if abs(mix) > abs(rate) else 'rates, not of traffic mix'}.")


def _points(moved: float, mix: float, rate: float) -> list[str]:
    """The change and its two parts in percentage points, shown so that the parts add up to the
    change (a reader checks the sum: -0.01 and -0.18 of a change of -0.18 looked like a loss counted
    wrong): to two decimals where they add up so, else to three, the rate part then shown as the
    change less the mix part (within 0.001 points of its value: -0.007, -0.177 of -0.184)."""
    total, part, rest = (round(value * 100, 2) for value in (moved, mix, rate))
    decimals = 2 if round(part + rest, 2) == total else 3
    total, part = round(moved * 100, decimals), round(mix * 100, decimals)
    return [f"{value:+z.{decimals}f} percentage points" for value in (total, part, total - part)]


#: A day's conversions "collapse" when its rate is under this share of the two periods'
#: rate and that few conversions would happen by chance less than once in a thousand days.
COLLAPSE_SHARE, COLLAPSE_P = 0.25, 1e-3
#: Weekday mixes differ when the shares of sessions by weekday differ by this much in all
#: (total variation distance).
WEEKDAY_DISTANCE = 0.05
WEEKDAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")
SHORT_PERIOD_DAYS = 7


def silent_warnings(daily: pd.DataFrame, periods) -> list[str]:
    """Why the periods' comparison may mislead: sentences for the view, takeaways and JSON.

    ``daily``: the whole site's ``sessions`` and ``conversions`` per ``date`` (days with no
    session included, with zeros): the warnings are about the site and its tracking, whatever
    the filters.
    """
    (b0, b1), (c0, c1) = periods
    if b0 is None or daily.empty:
        return []
    dates = daily["date"].to_numpy().astype("datetime64[D]")
    sessions, conversions = daily["sessions"].to_numpy(), daily["conversions"].to_numpy()
    out, days = [], {}
    for name, (first, last) in (("baseline", (b0, b1)), ("current", (c0, c1))):
        days[name] = np.flatnonzero((dates >= np.datetime64(pd.Timestamp(first).date()))
                                    & (dates <= np.datetime64(pd.Timestamp(last).date())))
        if 0 < len(days[name]) < SHORT_PERIOD_DAYS:  # (none: the period is outside the data, as said)
            out.append(f"The {name} period has only {counted(len(days[name]), 'day')}: "
                       f"day-to-day swings are hard to tell from a change in so few days.")
        empty = dates[days[name][sessions[days[name]] == 0]]
        if len(empty):
            out.append(f"{counted(len(empty), 'day')} of the {name} period "
                       f"{'have' if len(empty) != 1 else 'has'} no sessions ({_days(empty)}).")
    for own, other in (("baseline", "current"), ("current", "baseline")):
        out += _collapses(dates, sessions, conversions, days[own], days[other], own, other)
    weekday = (dates.astype("int64") + 3) % 7  # 1970-01-01 was a Thursday: Monday is 0
    shares = [np.bincount(weekday[d], weights=sessions[d], minlength=7) for d in days.values()]
    if all(s.sum() for s in shares):
        shares = [s / s.sum() for s in shares]
        gaps = np.abs(shares[0] - shares[1])
        if 0.5 * gaps.sum() > WEEKDAY_DISTANCE:
            # named by the weekday whose share moved most: weekend shares alone read "0% and 0%"
            # for a Tuesday against a Wednesday
            most = int(np.argmax(gaps))
            weekend = [s[5:].sum() for s in shares]
            shown = [percent(share) for share in (shares[0][most], shares[1][most], *weekend)]
            out.append(f"The periods' weekday mixes differ ({WEEKDAYS[most]}: {shown[0]} of the baseline's "
                       f"sessions, {shown[1]} of the current period's; weekends {shown[2]} and {shown[3]}): "
                       "rates that vary by weekday move with it.")
    return out


def _collapses(dates, sessions, conversions, own: np.ndarray, other: np.ndarray, name: str,
               other_name: str) -> list[str]:
    """The days of a period (``own``, indices) whose conversions collapsed: under COLLAPSE_SHARE of
    the rate of the rest of the period, that few by chance less than COLLAPSE_P of the time. Against
    the other period's rate where the rest of the period converts none (a period-long gap). Both
    periods pooled, a genuine fall between them made the lower period's quieter days "tracking gaps"
    (a 40% site-wide fall: a warning on 7.5% of simulated data sets, 95% CI 5.3-10.5%). One
    sentence for the days measured against the rest of the period, one for those measured
    against the other period (a period-long outage read as fourteen sentences)."""
    n, k = sessions[own], conversions[own]
    rest_n, rest_k = n.sum() - n, k.sum() - k
    other_rate = conversions[other].sum() / max(sessions[other].sum(), 1)
    rest = rest_k > 0
    rate = np.where(rest, rest_k / np.maximum(rest_n, 1), other_rate)
    collapsed = (n > 0) & (rate > 0) & (k < COLLAPSE_SHARE * rate * n)
    collapsed[collapsed] = bdtr(k[collapsed], n[collapsed], rate[collapsed]) < COLLAPSE_P
    out, others = [], ~collapsed & (n > 0)  # others: the rest of the period, without its collapsed days
    for days, against in ((collapsed & rest, f"the rest of the {name} period"),
                          (collapsed & ~rest, f"the {other_name} period")):
        at = np.flatnonzero(days)
        if not len(at):
            continue
        base = rate[at[0]] if len(at) == 1 or not rest[at[0]] else k[others].sum() / max(n[others].sum(), 1)
        when = (f"On {pd.Timestamp(dates[own[at[0]]]):%d %b %Y}" if len(at) == 1
                else f"On {counted(len(at), 'day')} of the {name} period ({_days(dates[own[at]])})")
        out.append(f"{when} conversions collapsed site-wide ({k[at].sum():,} in "
                   f"{counted(n[at].sum(), 'session')}, against {pct(base)} over {against}): "
                   f"{'a likely tracking gap' if len(at) == 1 else 'likely tracking gaps'}, which every "
                   "segment's rate shares.")
    return out


def _days(dates: np.ndarray) -> str:
    shown = ", ".join(f"{pd.Timestamp(d):%d %b}" for d in dates[:5])
    return shown + (f" and {len(dates) - 5} more" if len(dates) > 5 else "")
