"""The leak engine: by hand on small tables, against SciPy, and by simulation with known truth."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import counts_of, sessions
from scipy.stats import fisher_exact

from leak_app import SessionModel, leaks, simulation
from leak_app.stats import benjamini_hochberg, wilson_interval

EDGES = (10, 60)


def two_devices(desktop=(1000, 30), mobile=(1000, 10), tablet=(0, 0)):
    rows = []
    for device, (n, k) in (("desktop", desktop), ("mobile", mobile), ("tablet", tablet)):
        rows += [(device, "France", "google", 3, 20, 1 if i < k else 0) for i in range(n)]
    return sessions(rows)


def test_benjamini_hochberg_by_hand():
    q = benjamini_hochberg(pd.Series([0.01, 0.04, 0.03, 0.2, np.nan]))
    assert q.iloc[:4].tolist() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert np.isnan(q.iloc[4])


def test_prior_recovers_a_known_spread():
    rng = np.random.default_rng(1)
    n = np.full(400, 5000)
    k = rng.binomial(n, rng.beta(20, 980, size=400))
    a, b = leaks.fit_beta_prior(k, n)
    assert a / (a + b) == pytest.approx(0.02, rel=0.05)
    assert 600 < a + b < 1600  # true strength 1000


def test_prior_pools_segments_that_differ_only_by_chance():
    a, b = leaks.fit_beta_prior([20, 21, 19, 20], [1000, 1000, 1000, 1000])
    assert a + b > 1e5


def test_segment_against_the_rest_by_hand():
    table = leaks.segment_leaks(counts_of(two_devices(), duration_edges=EDGES), min_sessions=100)
    mobile = table[(table["dimension"] == "device") & (table["segment"] == "mobile")].iloc[0]
    assert (mobile.sessions, mobile.conversions, mobile.rate, mobile.baseline_rate) == (1000, 10, 0.01, 0.03)
    _, p = fisher_exact([[10, 990], [30, 970]], alternative="less")
    assert mobile.p_value == pytest.approx(p)
    a, b = leaks.fit_beta_prior([30, 10], [1000, 1000])
    shrunk = (10 + a) / (1000 + a + b)
    assert mobile.shrunk_rate == pytest.approx(shrunk)
    assert mobile.lost_conversions == pytest.approx(1000 * (0.03 - shrunk))
    assert mobile.lost_low < mobile.lost_conversions < mobile.lost_high
    assert mobile.leak and mobile.lost_revenue == pytest.approx(mobile.lost_conversions * 10.0)
    desktop = table[(table["dimension"] == "device") & (table["segment"] == "desktop")].iloc[0]
    assert not desktop.leak and desktop.lost_conversions < 0


def test_small_segments_are_never_leaks():
    table = leaks.segment_leaks(counts_of(two_devices(tablet=(40, 0)), duration_edges=EDGES),
                                min_sessions=100)
    tablet = table[table["segment"] == "tablet"].iloc[0]
    assert not tablet.rated and not tablet.leak and np.isnan(tablet.p_value)
    assert "tablet" not in " ".join(leaks.leak_rows(table)["sentence"])


def test_duration_buckets_are_compared_but_never_reported():
    model = SessionModel(sessions=simulation.planted_sessions(0))
    table = model.leaks_table
    assert (table["dimension"] == "session duration").any()
    assert not table[table["dimension"] == "session duration"]["leak"].any()


def test_step_leaks_against_the_best_device_by_hand():
    rows = ([("desktop", "F", "g", 6, 60, 0)] * 100 + [("desktop", "F", "g", 1, 0, 0)] * 100
            + [("mobile", "F", "g", 6, 60, 0)] * 50 + [("mobile", "F", "g", 1, 0, 0)] * 150)
    table = leaks.step_leaks(counts_of(sessions(rows)), min_sessions=100)
    step = table[(table["step"] == "Browsed → Engaged") & (table["device"] == "mobile")].iloc[0]
    assert (step.entered, step.passed, step.pass_rate, step.best_device) == (200, 50, 0.25, "desktop")
    assert step.lost_sessions == pytest.approx(200 * (0.5 - 0.25))
    low, high = wilson_interval(50, 200)
    assert step.lost_low == pytest.approx(200 * (0.5 - high)) and step.lost_high == pytest.approx(200 * (0.5 - low))


@pytest.mark.parametrize("days, baseline, current", [
    (28, ("2026-01-05", "2026-01-18"), ("2026-01-19", "2026-02-01")),
    (5, ("2026-01-05", "2026-01-06"), ("2026-01-08", "2026-01-09")),  # the middle day is left out
])
def test_default_periods_are_equal_halves(days, baseline, current):
    dates = pd.Series(pd.date_range("2026-01-05", periods=days))
    got = leaks.default_periods(dates.min(), dates.max())
    assert got == tuple(tuple(pd.Timestamp(d) for d in period) for period in (baseline, current))


def test_silent_leak_by_hand():
    rows = ([("desktop", "F", "g", 3, 20, 1 if i < 30 else 0, "2026-01-01") for i in range(1000)]
            + [("desktop", "F", "g", 3, 20, 1 if i < 10 else 0, "2026-01-03") for i in range(1000)])
    table = SessionModel(sessions=sessions(rows), duration_edges=list(EDGES)).silent_leaks_table
    row = table[table["dimension"] == "all traffic"].iloc[0]
    assert (row.sessions_before, row.conversions_before, row.sessions, row.conversions) == (1000, 30, 1000, 10)
    _, p = fisher_exact([[10, 990], [30, 970]], alternative="less")
    assert row.p_value == pytest.approx(p) and row.leak
    assert row.lost_conversions == pytest.approx(20)


def test_demo_data_reveals_its_planted_leaks():
    from leak_app.app import DEFAULT_DATA

    model = SessionModel.from_path(DEFAULT_DATA)
    summary = model.summary()
    assert summary["leaks"][0]["segment"] == "mobile"  # mobile converts worse throughout
    silent = {row["segment"] for row in summary["silent_leaks"]}
    assert "desktop × google" in silent  # the leak that starts on day 50
    assert summary["silent_periods"] == {"baseline": ["2026-08-03", "2026-09-16"],
                                         "current": ["2026-09-18", "2026-11-01"]}
    assert "Silent leak" in model.takeaways[0] and "desktop × google" in model.takeaways[0]  # the headline


# Simulation: the figures benchmarks/leak_statistics.py prints, on fewer data sets.

def test_planted_leaks_are_found():
    assert simulation.leak_recall(range(12)) >= 0.9


def test_planted_silent_leaks_are_found():
    assert simulation.silent_recall(range(12)) >= 0.9


def test_false_leaks_are_no_more_frequent_than_the_error_rate():
    rates = simulation.false_leak_rates(range(60))
    for name in ("leaks", "silent_leaks"):
        low, _ = wilson_interval(rates[name] * rates["seeds"], rates["seeds"])
        assert low <= 0.05, rates


def test_intervals_cover_the_true_rate():
    coverage = simulation.interval_coverage(segments=10_000)
    assert coverage["wilson"] >= 0.94 and coverage["empirical_bayes"] >= 0.94


def test_hypergeometric_tails_stay_exact_far_out():
    """The exact sums skip counts far below the bulk: even p-values of 1e-200 keep their digits."""
    from scipy.stats import hypergeom

    from leak_app.stats import fewer_than_rest_p

    total_n, total_k = 1_000_000, 15_000
    n = np.full(400, 60_000)
    k = np.linspace(0, 1000, 400).round()  # from far below the mean (900) to above it
    expected = hypergeom.cdf(k, total_n, total_k, n)
    assert expected.min() < 1e-200 and expected.max() > 0.99
    assert fewer_than_rest_p(k, n, total_k, total_n) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("total_n, total_k", [(100_000, 1_000), (2_000, 40), (50, 10), (30, 0)])
def test_vectorized_hypergeometric_tails_match_scipy(total_n, total_k):
    from scipy.stats import hypergeom

    from leak_app.stats import differs_from_rest_p, fewer_than_rest_p

    rng = np.random.default_rng(total_n)
    n = rng.integers(1, total_n, 300)
    k = rng.binomial(n, total_k / total_n)
    assert fewer_than_rest_p(k, n, total_k, total_n) == pytest.approx(hypergeom.cdf(k, total_n, total_k, n), abs=1e-9)
    two_sided = np.minimum(1, 2 * np.minimum(hypergeom.cdf(k, total_n, total_k, n),
                                             hypergeom.sf(k - 1, total_n, total_k, n)))
    # exact up to 1,000 conversions, a close normal approximation beyond
    assert differs_from_rest_p(k, n, total_k, total_n) == pytest.approx(two_sided, abs=2e-3)
