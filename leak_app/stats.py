"""Interval arithmetic for conversion rates; pure NumPy so it runs anywhere."""
from __future__ import annotations

import numpy as np

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
