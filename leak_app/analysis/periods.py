"""The silent-leak comparison's two periods, written the same way in ``check``, ``summary``,
the dashboard and the model.

A current period is ``""`` (the second half of the dates), explicit (``2026-11-01:2026-11-07``)
or rolling back from the last day of the data: ``last-7d``, ``last-4w`` or ``last-1m``
(calendar months: from the same day a month earlier, or whole months when the data end on a
month's last day). A baseline is ``""`` (the first half, or with a current period given, as
many days just before it), explicit, or ``previous-28d`` / ``previous-4w`` / ``previous-1m``:
ending the day before the current period starts.

Weekday alignment: a rolling baseline counted in days is shortened at its older end to
whole weeks (``previous-30d`` -> 28 days), so every weekday weighs the same in it; a
current period of whole weeks then has exactly the baseline's weekday mix. Explicit dates
are never moved.

Periods that cannot be compared as asked (reaching outside the data, overlapping) are
returned as *problems*: ``check`` refuses them (exit status 2), the dashboard shows them
and compares what is left.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from .text import counted

DAY = pd.Timedelta(days=1)
_DATE = r"\d{4}-\d{2}-\d{2}"
CURRENT_PATTERN = rf"^(|{_DATE}:{_DATE}|last-[1-9]\d{{0,3}}[dwm])$"
BASELINE_PATTERN = rf"^(|{_DATE}:{_DATE}|previous|previous-[1-9]\d{{0,3}}[dwm])$"
EXAMPLES = {"current": "last-7d, last-4w, last-1m or 2026-11-01:2026-11-07",
            "baseline": "previous-28d, previous-4w, previous-1m, previous or 2026-10-01:2026-10-31"}


@dataclass(frozen=True)
class Periods:
    """(first, last) days of the baseline and the current period, and what keeps them from
    being compared as asked."""

    baseline: tuple[pd.Timestamp, pd.Timestamp]
    current: tuple[pd.Timestamp, pd.Timestamp]
    problems: tuple[str, ...] = ()


def validate(spec: str, role: str) -> str:
    """``spec`` if it is a valid ``role`` ("current" or "baseline") period, else a ValueError
    that says what is expected."""
    pattern = CURRENT_PATTERN if role == "current" else BASELINE_PATTERN
    if not re.match(pattern, spec):
        raise ValueError(f"{spec!r} is not a {role} period: expected {EXAMPLES[role]}")
    if ":" in spec:
        dates(spec)
    return spec


def dates(spec: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last days ``START:END`` names (``2026-08-01:2026-08-31``), else a ValueError
    that says what is expected: both days written in full, the second not before the first."""
    if not re.fullmatch(f"{_DATE}:{_DATE}", spec):
        raise ValueError(f"{spec!r}: expected START:END dates, e.g. 2026-08-01:2026-08-31")
    try:
        start, end = _explicit(spec)
    except ValueError as exc:
        raise ValueError(f"{spec!r}: {exc}") from exc
    if end < start:
        raise ValueError(f"{spec!r}: the period ends before it starts")
    return start, end


def halves(first, last) -> tuple[tuple, tuple]:
    """(baseline, current): the first and second half of the days first..last, of equal length.

    With an odd number of days the middle day belongs to neither.
    """
    first, last = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
    days = (last - first).days + 1
    half = pd.Timedelta(days=days // 2 - 1)
    return (first, first + half), (last - half, last)


def _back(end: pd.Timestamp, count: int, unit: str) -> pd.Timestamp:
    """The first day of ``count`` units ending on ``end`` (included)."""
    if unit == "m":
        if end.is_month_end:
            return end - pd.offsets.MonthEnd(count) + DAY
        return end - pd.DateOffset(months=count) + DAY
    return end - pd.Timedelta(days=count * (7 if unit == "w" else 1)) + DAY


def rolling(spec: str) -> tuple[int, str] | None:
    """(count, unit) of a rolling spec ("last-7d" -> (7, "d"), "previous-4w" -> (4, "w")), else None
    (explicit dates, "", "previous")."""
    match = re.fullmatch(r"(?:last|previous)-(\d+)([dwm])", spec)
    return (int(match.group(1)), match.group(2)) if match else None


def _explicit(spec: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    start, end = (pd.Timestamp(part).normalize() for part in spec.split(":"))
    return start, end


def resolve(current: str, baseline: str, first, last, align: bool = True) -> Periods:
    """The periods ``current`` and ``baseline`` name in data from ``first`` to ``last``."""
    validate(current, "current")
    validate(baseline, "baseline")
    first, last = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
    if not current and last <= first:  # a day has no halves (they were read backwards: 0 days each)
        problem = (f"The dates hold one day ({first:%Y-%m-%d}): the silent-leak comparison needs two "
                   "periods, so at least two days.")
        return Periods((None, None), (None, None), (problem,))
    if not current:
        default_base, now = halves(first, last)
        if not baseline:
            return Periods(default_base, now)
    elif ":" in current:
        now = _explicit(current)
    else:
        count, unit = rolling(current)
        now = (_back(last, count, unit), last)
    end = now[0] - DAY
    if ":" in baseline:
        base = _explicit(baseline)
    elif baseline in ("", "previous"):
        days = (now[1] - now[0]).days + 1
        base = (end - pd.Timedelta(days=days - 1), end)
        if align and days >= 7:
            base = (end - pd.Timedelta(days=days // 7 * 7 - 1), end)
    else:
        count, unit = rolling(baseline)
        base = (_back(end, count, unit), end)
        if align and unit == "d" and count >= 7:
            base = (end - pd.Timedelta(days=count // 7 * 7 - 1), end)
    return Periods(base, now, tuple(_problems(base, now, first, last)))


def _problems(base: tuple, now: tuple, first: pd.Timestamp, last: pd.Timestamp) -> list[str]:
    out = []
    data = (f"which hold one day, {first:%Y-%m-%d}" if first == last
            else f"which run from {first:%Y-%m-%d} to {last:%Y-%m-%d}")
    for name, (start, end) in (("baseline", base), ("current period", now)):
        if start < first or end > last:
            out.append(f"The {name}, {span(start, end)}, reaches outside the data, {data}.")
    if base[1] >= now[0] and base[0] <= now[1]:
        out.append(f"The baseline, {span(*base)}, overlaps the current period, {span(*now)}: "
                   "it must end before the current period starts.")
    return out


def span(start, end) -> str:
    """A period as people read it: ``2026-11-24 to 2026-11-30 (7 days)``."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    days = (end - start).days + 1
    return f"{start:%Y-%m-%d} to {end:%Y-%m-%d} ({counted(days, 'day')})"
