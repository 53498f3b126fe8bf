"""How much repeat visitors inflate the noise of conversion rates: the data's design effect.

A visitor's sessions share a device, a country and a taste for buying, so conversions
cluster by visitor: a segment's rate varies more than if its sessions were independent,
and a test that counts sessions as independent finds leaks that are not there (7% of data
sets with none, at four sessions per visitor, in ``benchmarks/leak_statistics.py``). The
leak tests apply Rao and Scott's first-order correction (Rao & Scott 1992, *Biometrics*
48:577): every count is divided by the design effect, the variance of conversions summed
visitor by visitor over their variance summed session by session. Both are taken around
the rate of each session's cell (device × country × source × medium × channel), so segments that
truly differ — leaks — are not mistaken for clustering.

It is measured in the cube's own pass over the sessions (a second pass cost a third more
start-up on a scanned file): the cube query groups a sample of visitors' sessions by
visitor too (:func:`visitor_key`), and :func:`design_effect` sums them. One figure for the
whole data (every day, every segment): a segment whose visitors come back more than the
site's is still under-corrected, which the README says.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import ibis
import numpy as np

from ..data.schema import NOT_SET

#: Above this many sessions the design effect is estimated on a sample of whole visitors
#: (chosen by a hash of their id): its upper bound then moves by about 0.02 (its standard error
#: on the benchmark's repeat visitors at this size), and the cube query carries at most about
#: this many sessions' rows more.
SAMPLE_SESSIONS = 200_000
#: The one-sided 95% normal quantile: the design effect used is its estimate's upper bound.
UPPER_Z = 1.6448536269514722


def sample_step(sessions: int) -> int:
    """One visitor in how many is sampled among ``sessions``: the least power of two that samples at most
    about SAMPLE_SESSIONS. A power of two, so that a sample taken at a finer step, before the sessions
    are counted (a scan's first pass, :class:`.cube.ScanGrouping`), holds this one exactly."""
    return 1 << max(0, math.ceil(math.log2(max(sessions, 1) / SAMPLE_SESSIONS)))


def visitor_key(table: ibis.Table, sessions: int,
                hashed: Callable[[ibis.Value], ibis.Value] = lambda text: text.hash()) -> ibis.Value | None:
    """A hash of the visitor id of the sessions whose visitors are sampled (among ``sessions``:
    :func:`sample_step`), null for the others and for sessions with no visitor id (empty or
    "(not set)"); None when the table has no visitor column. ``hashed``: a text's hash, the engine's
    own where Ibis' costs more (:func:`~leak_app.data.duck.text_hash`)."""
    if "visitor_id" not in table.columns:
        return None
    visitor = table.visitor_id  # as written: trimming ten million ids costs seconds
    key = hashed(visitor)  # a number groups faster than text (64 bits: no two visitors alike in practice)
    step = sample_step(sessions)
    sampled = visitor.notnull() & ~visitor.isin(["", NOT_SET]) & (key % step == 0)
    return ibis.ifelse(sampled, key, ibis.null(key.type()))


def design_effect(visitor: np.ndarray, sessions: np.ndarray, conversions: np.ndarray,
                  rate: np.ndarray) -> float:
    """The upper bound of the design effect (at least 1), from the sampled visitors' rows of the
    cube query: each row's visitor (codes), sessions, conversions, and its cell's rate over all
    the data. A converting session's residual is 1 − rate, another's −rate."""
    if not len(visitor):
        return 1.0
    residual = conversions - sessions * rate
    squares = conversions * (1 - rate) ** 2 + (sessions - conversions) * rate**2
    clustered = np.bincount(visitor, weights=residual) ** 2
    independent = np.bincount(visitor, weights=squares)
    return upper_design_effect(clustered.sum(), independent.sum(), (clustered**2).sum(),
                               (clustered * independent).sum(), (independent**2).sum())


def upper_design_effect(a: float, b: float, aa: float, ab: float, bb: float) -> float:
    """The design effect's upper one-sided 95% bound (at least 1), from sums over visitors of
    their clustered (a) and independent (b) squares: a / b is a ratio estimate, its variance
    Σ (a − (a / b) b)² / (Σ b)² over independent visitors. A few heavy buyers make it noisy;
    its estimate alone left the benchmark's repeat-visitor null at 3.3% false leaks for 2.5%.
    Sums not finite are an error: ``max(1, nan)`` is 1, no correction, which hid a cell's rate of
    0/0 (bde2850) behind intervals too narrow."""
    if not all(math.isfinite(total) for total in (a, b, aa, ab, bb)):
        raise ValueError(f"the design effect's sums are not all finite ({a}, {b}, {aa}, {ab}, {bb})")
    if b <= 0:
        return 1.0
    ratio = a / b
    spread = max(aa - 2 * ratio * ab + ratio**2 * bb, 0.0) ** 0.5 / b
    return max(1.0, ratio + UPPER_Z * spread)
