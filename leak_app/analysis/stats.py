"""Intervals and tests for conversion rates: pure NumPy/SciPy, no pandas logic or drawing.

SciPy's special functions, not ``scipy.stats``: importing the latter costs half a second of every
headless command (``summary``, ``check``); the tests check each use against ``scipy.stats``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln, ndtr

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


def mean_interval(total, squares, count, z: float = Z95, design_effect: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean amount per unit (revenue per conversion, say) of amounts whose ``total`` and sum
    of ``squares`` over ``count`` units are known, and its interval (NaN below two units).

    A ratio estimate: the amounts are taken to fall on the counted units only (revenue on converting
    sessions). Its standard error, times the ``design_effect``'s root (repeat visitors), sets a normal
    interval on the log scale: a mean of amounts as skewed as orders (one can be a third of a
    shop's revenue) is skewed itself, its upper end further than its lower.
    """
    total, squares, count = (np.asarray(x, dtype="float64") for x in (total, squares, count))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
        spread = np.maximum(squares - count * mean**2, 0) / (count * (count - 1))
        factor = np.exp(z * np.sqrt(spread * design_effect) / mean)
    factor = np.where(count >= 2, np.where(mean > 0, factor, 1.0), np.nan)
    return mean, mean / factor, mean * factor


def product_interval(x, x_low, x_high, y, y_low, y_high) -> tuple[np.ndarray, np.ndarray]:
    """An interval for x × y from intervals of each (y ≥ 0; x of either sign), by recovering each
    one's variance from its bounds and adding them (Zou and Donner's MOVER, on the product's first
    order terms): where either is known exactly, the other's interval scaled. Kept within the
    products of the bounds (a loss of at least 0 sessions is worth at least 0, however uncertain
    their value)."""
    x, x_low, x_high, y, y_low, y_high = (np.asarray(v, dtype="float64")
                                          for v in (x, x_low, x_high, y, y_low, y_high))
    estimate, positive = x * y, x >= 0
    down = np.hypot(y * (x - x_low), np.where(positive, x * (y - y_low), -x * (y_high - y)))
    up = np.hypot(y * (x_high - x), np.where(positive, x * (y_high - y), -x * (y - y_low)))
    corners = [x_low * y_low, x_low * y_high, x_high * y_low, x_high * y_high]
    return (np.maximum(estimate - down, np.minimum.reduce(corners)),
            np.minimum(estimate + up, np.maximum.reduce(corners)))


#: Up to this many conversions the hypergeometric tail is summed exactly; above it, where
#: the sum grows long and the normal approximation (with continuity correction) is accurate
#: to about 1e-3, that is used instead.
EXACT_TAIL_UP_TO = 1000
#: Segments per chunk of the exact sums.
CHUNK = 128


def _hypergeometric_tail(k, n, total_k, total_n, lower: bool) -> np.ndarray:
    """P(X <= k) (lower) or P(X >= k) of the hypergeometric count of conversions in a segment."""
    k, n = np.broadcast_arrays(np.asarray(k, dtype="float64"), np.asarray(n, dtype="float64"))
    total_k = np.broadcast_to(np.asarray(total_k, dtype="float64"), k.shape)
    total_n = np.broadcast_to(np.asarray(total_n, dtype="float64"), k.shape)
    exact = k <= EXACT_TAIL_UP_TO
    out = np.empty(k.shape)
    if lower:
        out[exact] = _hypergeometric_cdf(k[exact], n[exact], total_k[exact], total_n[exact])
    else:
        # Above the mean, P(X >= k) = P(n - X <= n - k) is summed directly over the sessions that
        # did not convert: 1 - P(X <= k - 1) would lose every digit below about 1e-11.
        far = exact & (k > _mean_sd(n, total_k, total_n)[0])
        near = exact & ~far
        out[near] = 1.0 - _hypergeometric_cdf(k[near] - 1, n[near], total_k[near], total_n[near])
        out[far] = _hypergeometric_cdf(n[far] - k[far], n[far], total_n[far] - total_k[far], total_n[far])
    big = ~exact
    if big.any():
        mean, sd = _mean_sd(n[big], total_k[big], total_n[big])
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (k[big] + 0.5 - mean) / sd if lower else (k[big] - 0.5 - mean) / sd
        out[big] = np.where(sd > 0, ndtr(z) if lower else ndtr(-z), 1.0)  # normal cdf / survival
    return out


def _mean_sd(n, total_k, total_n) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the hypergeometric count of conversions in a segment."""
    share = total_k / np.maximum(total_n, 1)
    return n * share, np.sqrt(n * share * (1 - share) * (total_n - n) / np.maximum(total_n - 1, 1))


#: The sum starts this many standard deviations (and as many counts) below the lower of the
#: count and the mode: every term further down is below 1e-20 of the largest.
WINDOW_SD = 10


def _hypergeometric_cdf(k, n, total_k, total_n) -> np.ndarray:
    """P(X <= k), summed exactly in log space over the counts j <= k that matter, for every
    segment at once.

    SciPy's hypergeom.cdf is slow where segments are large; the ratio of successive
    probabilities, pmf(j+1)/pmf(j) = (K-j)(n-j) / ((j+1)(N-K-n+j+1)), vectorizes.
    Segments are summed in chunks of similar length, so a few long sums do not pad
    every short one; counts far below the distribution's bulk add nothing and are skipped.
    """
    k = np.asarray(k, dtype="float64")
    out = np.zeros(k.shape)
    _, sd = _mean_sd(n, total_k, total_n)
    mode = np.floor((n + 1) * (total_k + 1) / (total_n + 2))
    low = np.maximum(0.0, n + total_k - total_n)  # the smallest possible count
    start = np.maximum(low, np.floor(np.minimum(k, mode) - WINDOW_SD * (sd + 1)))
    order = np.argsort(k - start, kind="stable")
    for chunk in np.array_split(order, max(1, len(order) // CHUNK)):
        out[chunk] = _cdf_chunk(k[chunk], n[chunk], total_k[chunk], total_n[chunk], start[chunk])
    return out


def _cdf_chunk(k, n, K, N, start) -> np.ndarray:
    """P(start <= X <= k); 0 where k < start (a count below the smallest possible)."""
    log_first = (gammaln(K + 1) - gammaln(start + 1) - gammaln(K - start + 1)
                 + gammaln(N - K + 1) - gammaln(n - start + 1) - gammaln(N - K - n + start + 1)
                 - gammaln(N + 1) + gammaln(n + 1) + gammaln(N - n + 1))
    steps = int(max(np.max(k - start, initial=0), 0))
    log_pmf = log_first[:, None] + _log_pmf_steps(start, steps, K, N - K, n, 1.0)
    within = np.arange(steps + 1)[None, :] <= (k - start)[:, None]
    log_pmf = np.where(within & np.isfinite(log_pmf), log_pmf, -np.inf)
    out = np.exp(_log_sum_exp(log_pmf))
    return np.clip(np.where(k < start, 0.0, out), 0.0, 1.0)


def fewer_than_expected_p(x, first, second, drawn, odds) -> np.ndarray:
    """P(X <= x) where X is Fisher's noncentral hypergeometric count: ``drawn`` items taken
    from ``first`` + ``second``, each of ``first`` ``odds`` times as likely to be taken.

    The exact conditional test of no interaction in a 2 × 2 table of Poisson counts with
    exposures: a segment's conversions now, given its conversions over both periods, its
    comparator's, and both periods' (the comparator's uncertainty counted, exact at the
    small counts where a normal approximation is not). Summed in log space from x and the
    mode to ``WINDOW_SD`` standard deviations beyond them (every term further out is below
    1e-20 of the largest; SciPy's ``nchypergeom_fisher`` takes a second for a few hundred
    segments). Integer arguments.
    """
    x, m1, m2, n, w = np.broadcast_arrays(*(np.asarray(v, dtype="float64")
                                            for v in (x, first, second, drawn, odds)))
    low, high = np.maximum(0.0, n - m2), np.minimum(m1, n)
    # The mode (Fog 2008, *Commun Stat Simul Comput* 37:258); the central distribution's spread
    # sets the window (a noncentral one is narrower).
    a, b, c = w - 1, m1 + n - (m1 + m2) - (m1 + n + 2) * w, (m1 + 1) * (n + 1) * w
    with np.errstate(invalid="ignore", divide="ignore"):
        mode = np.clip(np.floor(-2 * c / (b - np.sqrt(np.maximum(b * b - 4 * a * c, 0)))), low, high)
    reach = WINDOW_SD * (_mean_sd(n, m1, m1 + m2)[1] + 1)
    start = np.maximum(low, np.floor(np.minimum(x, mode) - reach))
    stop = np.minimum(high, np.ceil(np.maximum(x, mode) + reach))
    out = np.where(x >= high, 1.0, 0.0)
    inside = np.flatnonzero((x >= low) & (x < high))
    order = inside[np.argsort((stop - start)[inside], kind="stable")]
    for chunk in np.array_split(order, max(1, len(order) // CHUNK)) if len(order) else ():
        out[chunk] = _noncentral_chunk(*(v[chunk] for v in (x, m1, m2, n, w, start, stop)))
    return out


def _noncentral_chunk(x, m1, m2, n, w, start, stop) -> np.ndarray:
    """The lower tail of each row's distribution over start..stop, from the ratio of successive
    probabilities (relative to start's: the window's sum normalizes)."""
    steps = int(np.max(stop - start, initial=0))
    log_pmf = _log_pmf_steps(start, steps, m1, m2, n, w)
    support = start[:, None] + np.arange(steps + 1)[None, :]
    log_pmf = np.where((support <= stop[:, None]) & np.isfinite(log_pmf), log_pmf, -np.inf)
    tail = _log_sum_exp(np.where(support <= x[:, None], log_pmf, -np.inf))
    return np.clip(np.exp(tail - _log_sum_exp(log_pmf)), 0.0, 1.0)


def _log_pmf_steps(start, steps: int, first, second, drawn, odds) -> np.ndarray:
    """log pmf(start + i) − log pmf(start), i = 0..steps, of each row's (noncentral, at ``odds``;
    central at 1) hypergeometric count, from pmf(j+1) / pmf(j) = odds (K−j)(n−j) / ((j+1)(N−K−n+j+1))."""
    j = start[:, None] + np.arange(steps)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (np.log((first[:, None] - j) * (drawn[:, None] - j))
                 - np.log((j + 1) * (second[:, None] - drawn[:, None] + j + 1))
                 + np.log(np.broadcast_to(odds, start.shape))[:, None])
    return np.concatenate([np.zeros((len(start), 1)), np.cumsum(ratio, axis=1)], axis=1)


def _log_sum_exp(a: np.ndarray) -> np.ndarray:
    """log Σ exp(a) along rows, -inf for a row of -inf (SciPy's ``logsumexp`` costs ten times more on
    these small arrays: it was a quarter of a filter change's leak statistics)."""
    top = np.max(a, axis=1, initial=-np.inf)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.sum(np.exp(a - safe[:, None]), axis=1))


def fewer_than_rest_p(successes, trials, total_successes, total_trials) -> np.ndarray:
    """One-sided Fisher exact p-value that a segment converts less than the rest of the traffic.

    Given all conversions, is the segment's share of them surprisingly small? The
    hypergeometric tail is exact at the small counts where a z-test fails (1% rates).
    """
    return _hypergeometric_tail(successes, trials, total_successes, total_trials, lower=True)


def differs_from_rest_p(successes, trials, total_successes, total_trials) -> np.ndarray:
    """Two-sided Fisher exact p-value (twice the smaller tail, capped at 1)."""
    low = _hypergeometric_tail(successes, trials, total_successes, total_trials, lower=True)
    high = _hypergeometric_tail(successes, trials, total_successes, total_trials, lower=False)
    return np.minimum(1.0, 2 * np.minimum(low, high))


def benjamini_hochberg(p_values):
    """BH-adjusted q-values (NaN where no test was made), as a Series if given one."""
    p = np.asarray(p_values, dtype="float64")
    q = np.full(p.shape, np.nan)
    tested = ~np.isnan(p)
    if tested.any():
        ranked = np.sort(p[tested])
        size = len(ranked)
        # the step-up rule: q_(i) = min over j >= i of p_(j) m / j, at most 1
        steps = np.minimum.accumulate((ranked * size / np.arange(1, size + 1))[::-1])[::-1]
        q[tested] = np.minimum(steps, 1.0)[np.argsort(np.argsort(p[tested], kind="stable"), kind="stable")]
    return pd.Series(q, index=p_values.index) if isinstance(p_values, pd.Series) else q


def graph_adjusted(p_values, weights, transitions, level: float) -> np.ndarray:
    """Adjusted p-values of a sequentially rejective weighted-Bonferroni graph (Bretz, Maurer,
    Brannath & Posch 2009, *Stat Med* 28:586; the adjusted p-values of Bretz et al. 2011).

    Each hypothesis starts with a share of the level (``weights``, summing to at most 1); once
    rejected, its share moves on along ``transitions`` (row: where it goes, summing to at most
    1). The chance of any false rejection stays at most the level whatever is true (strong
    family-wise control), and the rejected set is the same in whatever order they are taken.
    Hypotheses are taken out while one can be rejected: the adjusted p-values of those rejected
    are exact; the others' is max(the largest of those, min(1, p / final share)), above the
    level (exact for the next one out; for ranking, not decisions, beyond it).
    """
    p = np.asarray(p_values, dtype="float64")
    w = np.array(weights, dtype="float64")
    candidates = np.flatnonzero(p <= level)
    moves = np.array(transitions, dtype="float64")[candidates]  # (candidate, every hypothesis)
    adjusted, running = np.ones(len(p)), 0.0
    alive = np.ones(len(candidates), dtype=bool)
    for _ in range(len(candidates)):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(alive & (w[candidates] > 0), p[candidates] / w[candidates], np.inf)
        best = int(np.argmin(ratio))
        if ratio[best] > level:  # no more rejections: what is left stays above the level
            break
        j = candidates[best]
        running = adjusted[j] = max(running, ratio[best])
        alive[best] = False
        out, into = moves[best].copy(), moves[:, j].copy()  # j's shares onward; candidates' shares to j
        w += w[j] * out
        w[j] = 0.0
        with np.errstate(divide="ignore", invalid="ignore"):  # a pair passing all to each other: nothing left
            scale = 1.0 / (1.0 - into * out[candidates])
            moves = np.where(np.isfinite(scale)[:, None], (moves + np.outer(into, out)) * scale[:, None], 0.0)
        moves[:, j] = 0.0
        moves[np.arange(len(candidates)), candidates] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = np.where(w > 0, np.minimum(1.0, np.maximum(running, p / w)), 1.0)
    taken = np.zeros(len(p), dtype=bool)
    taken[candidates[~alive]] = True
    return np.where(taken, adjusted, rest)


def adjusted_counts(k, n, total_k, total_n, design_effect: float) -> tuple:
    """Rao and Scott's adjusted counts of segments against their whole, for a test of independent
    sessions: the cells of each one's table (its conversions and misses, the rest's) divided by the
    design effect (repeat visitors: see :mod:`.clustering`) and rounded, summed back into (k, n,
    total_k, total_n). Unchanged at 1."""
    k, misses, rest_k, rest_misses = (np.round(np.asarray(x, dtype="float64") / design_effect)
                                      for x in (k, np.subtract(n, k), np.subtract(total_k, k),
                                                np.subtract(total_n, n) - np.subtract(total_k, k)))
    return k, k + misses, k + rest_k, k + misses + rest_k + rest_misses


def rated_p_values(rated: np.ndarray, test, *counts) -> np.ndarray:
    """A test's p-values for the rated segments only (NaN elsewhere): the others are never claimed."""
    p = np.full(len(rated), np.nan)
    p[rated] = test(*(np.broadcast_to(c, rated.shape)[rated] for c in counts))
    return p
