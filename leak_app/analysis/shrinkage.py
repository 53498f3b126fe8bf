"""Empirical-Bayes shrinkage of segment rates: a beta prior fitted to a dimension's segments,
and each rate's posterior mean and interval under it.

Small segments are pulled towards their dimension's mean, large ones keep their own: the method
of choice for mapping the rates of many areas of very different sizes (Clayton and Kaldor, 1987),
where raw rates put the smallest areas at both ends of the scale. Pure NumPy/SciPy.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaincinv, betaln, digamma, expit, logit

#: Prior strength used when segments vary no more than chance: all but complete pooling.
MAX_PRIOR_STRENGTH = 1e7


class PriorFit(NamedTuple):
    """A dimension's beta prior: (a, b), and whether its strength ended on a bound."""

    a: float
    b: float
    #: The strength is at MAX_PRIOR_STRENGTH (segments vary no more than chance: full pooling)
    #: or at 1 (they vary as much as a beta can): shrunk rates then say little.
    at_bound: bool


#: The grid the prior's likelihood is first searched over: prior means from 400 times below
#: the pooled rate to 20 times above it, strengths from 1 to MAX_PRIOR_STRENGTH.
MEAN_GRID = np.linspace(-6.0, 3.0, 8)
STRENGTH_GRID = np.linspace(0.0, np.log(MAX_PRIOR_STRENGTH), 7)


def _beta_binomial_nll(x, k, n):
    """Minus the beta-binomial log likelihood (constants dropped) and its gradient in
    x = (logit mean, log strength)."""
    m, strength = expit(x[0]), np.exp(x[1])
    a, b = m * strength, (1 - m) * strength
    value = -np.sum(betaln(k + a, n - k + b) - betaln(a, b))
    common = digamma(strength) - digamma(n + strength)
    d_a = -np.sum(digamma(k + a) - digamma(a) + common)
    d_b = -np.sum(digamma(n - k + b) - digamma(b) + common)
    return value, np.array([(d_a - d_b) * a * (1 - m), d_a * a + d_b * b])


def fit_beta_prior(conversions, sessions) -> PriorFit:
    """Beta prior for one dimension's segment rates, by maximum marginal likelihood.

    The segments' conversion counts are beta-binomial under the prior; its mean and
    strength (a + b) are fitted to them. The likelihood is searched over a grid of means
    and strengths first and refined from the best point: a single start (the method of
    moments) lands on the strength bound where the likelihood is flat whenever many
    segments are tiny, and the optimizer stops there (the sample's countries: −532 where
    the maximum is −466).
    """
    k = np.asarray(conversions, dtype="float64")
    n = np.asarray(sessions, dtype="float64")
    keep = n > 0
    k, n = k[keep], n[keep]
    mean = k.sum() / n.sum() if n.sum() else 0.0
    if len(n) < 2 or mean <= 0 or mean >= 1:
        return PriorFit(mean * MAX_PRIOR_STRENGTH, (1 - mean) * MAX_PRIOR_STRENGTH, True)
    m, s = np.meshgrid(logit(mean) + MEAN_GRID, STRENGTH_GRID, indexing="ij")
    a, b = (expit(m) * np.exp(s))[..., None], (expit(-m) * np.exp(s))[..., None]
    grid = np.sum(betaln(k + a, n - k + b) - betaln(a, b), axis=-1)
    start = np.unravel_index(np.argmax(grid), grid.shape)
    fit = minimize(_beta_binomial_nll, [m[start], s[start]], args=(k, n), method="L-BFGS-B", jac=True,
                   bounds=[(None, None), (0.0, np.log(MAX_PRIOR_STRENGTH))])
    x = fit.x if -fit.fun >= grid[start] else np.array([m[start], s[start]])
    bound = x[1] <= 1e-6 or x[1] >= np.log(MAX_PRIOR_STRENGTH) - 1e-3
    m, strength = expit(x[0]), np.exp(x[1])
    return PriorFit(m * strength, (1 - m) * strength, bool(bound))


def shrunk_interval(k, n, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """The 95% posterior interval of rates seen as k conversions of n sessions under a beta(a, b)
    prior: the 2.5% and 97.5% quantiles of beta(k + a, n - k + b)."""
    return betaincinv(k + a, n - k + b, 0.025), betaincinv(k + a, n - k + b, 0.975)


def shrunk_rates(conversions, sessions, design_effect: float = 1.0) -> dict[str, np.ndarray]:
    """Rates of segments shrunk towards their common mean, as columns: the posterior mean
    (``shrunk_rate``), its 95% interval (``shrunk_low``, ``shrunk_high``) and ``prior_at_bound``
    (:class:`PriorFit`), under the beta prior fitted to all of them. Counts are divided by the
    ``design_effect`` first (repeat visitors, as every interval's): a visitor's sessions are not
    independent evidence, and shrinkage by raw counts would trust a segment too much."""
    k = np.asarray(conversions, dtype="float64") / design_effect
    n = np.asarray(sessions, dtype="float64") / design_effect
    a, b, at_bound = fit_beta_prior(k, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = (k + a) / (n + a + b)
    low, high = shrunk_interval(k, n, a, b)
    return {"shrunk_rate": rate, "shrunk_low": low, "shrunk_high": high,
            "prior_at_bound": np.full(len(k), at_bound)}
