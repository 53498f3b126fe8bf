"""Intervals and tests for conversion rates: pure NumPy/SciPy, no pandas logic or drawing."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, hypergeom

Z95 = 1.959963984540054


def wilson_interval(successes, trials, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson score interval for a binomial proportion (NaN where trials == 0).

    Wilson, unlike the normal approximation, stays inside [0, 1] and is honest for
    the small counts and ~1% rates that web conversion data is full of.
    """
    k = np.asarray(successes, dtype="float64")
    n = np.asarray(trials, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    # Exact bounds at the edges, where floating point leaves 1e-18 instead of 0.
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0, 1))
    high = np.where(k == n, 1.0, np.clip(centre + half, 0, 1))
    empty = n == 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def fewer_than_rest_p(successes, trials, total_successes, total_trials) -> np.ndarray:
    """One-sided Fisher exact p-value that a segment converts less than the rest of the traffic.

    Given all conversions, is the segment's share of them surprisingly small? The
    hypergeometric tail is exact at any sample size, unlike a z-test at 1% rates.
    """
    return hypergeom.cdf(successes, total_trials, total_successes, trials)


def differs_from_rest_p(successes, trials, total_successes, total_trials) -> np.ndarray:
    """Two-sided Fisher exact p-value (twice the smaller tail, capped at 1)."""
    low = hypergeom.cdf(successes, total_trials, total_successes, trials)
    high = hypergeom.sf(np.asarray(successes) - 1, total_trials, total_successes, trials)
    return np.minimum(1.0, 2 * np.minimum(low, high))


def benjamini_hochberg(p_values: pd.Series) -> pd.Series:
    """BH-adjusted q-values (NaN where no test was made)."""
    q = pd.Series(np.nan, index=p_values.index)
    tested = p_values.notna()
    if tested.any():
        q[tested] = false_discovery_control(p_values[tested].to_numpy(), method="bh")
    return q
