"""The comparison's periods as check, summary and the dashboard write them, against calendars by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leak_app.analysis.periods import halves, resolve, validate


def days(*pairs):
    return tuple(tuple(pd.Timestamp(d) for d in pair) for pair in pairs)


@pytest.mark.parametrize("current, baseline, last, expected", [
    # month ends: whole calendar months when the data end on a month's last day
    ("last-1m", "previous-1m", "2026-04-30", (("2026-03-01", "2026-03-31"), ("2026-04-01", "2026-04-30"))),
    ("last-1m", "previous-1m", "2026-03-31", (("2026-02-01", "2026-02-28"), ("2026-03-01", "2026-03-31"))),
    ("last-2m", "previous-1m", "2026-12-31", (("2026-10-01", "2026-10-31"), ("2026-11-01", "2026-12-31"))),
    # ... and from the same day a month earlier when they do not
    ("last-1m", "previous-1m", "2026-03-15", (("2026-01-16", "2026-02-15"), ("2026-02-16", "2026-03-15"))),
    # leap days: counted as days, and February 2024 is a whole month of 29
    ("last-7d", "previous-7d", "2024-03-01", (("2024-02-17", "2024-02-23"), ("2024-02-24", "2024-03-01"))),
    ("last-1m", "previous-1m", "2024-03-31", (("2024-02-01", "2024-02-29"), ("2024-03-01", "2024-03-31"))),
    ("last-1m", "previous-1m", "2024-02-29", (("2024-01-01", "2024-01-31"), ("2024-02-01", "2024-02-29"))),
    ("last-1w", "previous-52w", "2025-03-04",
     (("2024-02-28", "2025-02-25"), ("2025-02-26", "2025-03-04"))),
    # a week across a month's end and a year's
    ("last-7d", "previous-28d", "2027-01-03", (("2026-11-30", "2026-12-27"), ("2026-12-28", "2027-01-03"))),
    # explicit dates are never moved
    ("2026-11-01:2026-11-07", "2026-10-01:2026-10-30", "2026-11-30",
     (("2026-10-01", "2026-10-30"), ("2026-11-01", "2026-11-07"))),
    ("2026-11-01:2026-11-07", "previous-14d", "2026-11-30",
     (("2026-10-18", "2026-10-31"), ("2026-11-01", "2026-11-07"))),
])
def test_rolling_and_explicit_periods_by_hand(current, baseline, last, expected):
    got = resolve(current, baseline, "2020-01-01", last)
    assert (got.baseline, got.current) == days(*expected) and got.problems == ()


def test_data_ending_mid_week_align_the_baseline_to_whole_weeks():
    """Data ending on a Wednesday: the last 7 days are Thursday to Wednesday, and a baseline of
    30 days is cut to the 28 before them, so both periods hold every weekday equally often."""
    last = pd.Timestamp("2026-11-25")
    assert last.day_name() == "Wednesday"
    got = resolve("last-7d", "previous-30d", "2026-01-01", last)
    assert got.current == days(("2026-11-19", "2026-11-25"))[0]
    assert got.baseline == days(("2026-10-22", "2026-11-18"))[0]

    def weekday_shares(period):
        weekdays = pd.date_range(*period).dayofweek
        return np.bincount(weekdays, minlength=7) / len(weekdays)

    np.testing.assert_allclose(weekday_shares(got.baseline), weekday_shares(got.current))
    unaligned = resolve("last-7d", "previous-30d", "2026-01-01", last, align=False)
    assert unaligned.baseline == days(("2026-10-20", "2026-11-18"))[0]


@pytest.mark.parametrize("current, align, expected", [
    ("last-10d", True, ("2026-11-14", "2026-11-20")),  # as many days before, in whole weeks
    ("last-10d", False, ("2026-11-11", "2026-11-20")),
    ("last-5d", True, ("2026-11-21", "2026-11-25")),  # under a week: nothing to align
])
def test_previous_is_as_long_as_the_current_period(current, align, expected):
    for baseline in ("previous", ""):
        got = resolve(current, baseline, "2026-01-01", "2026-11-30", align=align)
        assert got.baseline == days(expected)[0]


def test_default_periods_are_the_halves():
    got = resolve("", "", "2026-01-05", "2026-02-01")
    assert (got.baseline, got.current) == halves("2026-01-05", "2026-02-01") == days(
        ("2026-01-05", "2026-01-18"), ("2026-01-19", "2026-02-01"))


@pytest.mark.parametrize("current, baseline, says", [
    ("last-7d", "previous-28d", ("The baseline, 2026-10-15 to 2026-11-11 (28 days), reaches outside the "
                                 "data, which run from 2026-11-01 to 2026-11-18.")),
    ("2026-12-01:2026-12-07", "previous-7d",
     "The current period, 2026-12-01 to 2026-12-07 (7 days), reaches outside"),
    ("2026-11-10:2026-11-18", "2026-11-01:2026-11-12",
     ("The baseline, 2026-11-01 to 2026-11-12 (12 days), overlaps the current period, 2026-11-10 to "
      "2026-11-18 (9 days): it must end")),
])
def test_periods_that_cannot_be_compared_are_problems(current, baseline, says):
    """Said without nested brackets ("The baseline (2026-10-15 to 2026-11-11 (28 days)) reaches")."""
    got = resolve(current, baseline, "2026-11-01", "2026-11-18")
    assert any(says in problem for problem in got.problems), got.problems


def test_rolling_periods_in_one_day_of_data_say_it_holds_one_day():
    """'which run from 2017-07-01 to 2017-07-01' for a file of one day."""
    got = resolve("last-7d", "previous-28d", "2017-07-01", "2017-07-01")
    assert got.problems[1] == ("The current period, 2017-06-25 to 2017-07-01 (7 days), reaches outside the "
                               "data, which hold one day, 2017-07-01.")


@pytest.mark.parametrize("spec, role", [
    ("last-0d", "current"), ("previous-7d", "current"), ("last-7d", "baseline"), ("last-7", "current"),
    ("2026-02-30:2026-03-01", "current"), ("last-7d; rm -rf /", "current"),
    ("2026-11-05:2026-11-01", "baseline"),
])
def test_invalid_periods_say_what_is_expected(spec, role):
    with pytest.raises(ValueError, match="expected|day is out of range|ends before it starts"):
        validate(spec, role)


@pytest.mark.parametrize("baseline", ["", "previous", "2026-01-01:2026-01-03"])
def test_one_day_has_no_halves_to_compare(baseline):
    """The halves of one day were read backwards (2026-01-21 to 2026-01-20, "0 days") and compared
    as if they held sessions, in the page, its takeaways and the command to copy: there are no
    periods then, and the reason is said."""
    got = resolve("", baseline, "2026-01-20", "2026-01-20")
    assert got.baseline == got.current == (None, None)
    said = ("The dates hold one day (2026-01-20): the silent-leak comparison needs two periods, so at "
            "least two days.")
    assert got.problems == (said,)
    two = resolve("", baseline, "2026-01-20", "2026-01-21")  # two days: the second one is the current half
    assert two.current == days(("2026-01-21", "2026-01-21"))[0]
    assert not any("one day" in problem for problem in two.problems)
