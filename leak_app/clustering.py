"""How much repeat visitors inflate the noise of conversion rates: the data's design effect.

A visitor's sessions share a device, a country and a taste for buying, so conversions
cluster by visitor: a segment's rate varies more than if its sessions were independent,
and a test that counts sessions as independent finds leaks that are not there (7% of data
sets with none, at four sessions per visitor, in ``benchmarks/leak_statistics.py``). The
leak tests apply Rao and Scott's first-order correction (Rao & Scott 1992, *Biometrics*
48:577): every count is divided by the design effect, the variance of conversions summed
visitor by visitor over their variance summed session by session. Both are taken around
the rate of each session's cell (device × country × source × medium), so segments that
truly differ — leaks — are not mistaken for clustering.

One figure for the whole data (every day, every segment): a segment whose visitors come
back more than the site's is still under-corrected, which the README says.
"""
from __future__ import annotations

import math

import ibis

from .schema import NOT_SET

#: Above this many sessions the design effect is estimated on a sample of whole visitors
#: (chosen by a hash of their id): its upper bound then moves by about 0.02 (its standard error
#: on the benchmark's repeat visitors at this size), and start-up by 0.4 s rather than 1.3 s at
#: a million sessions.
SAMPLE_SESSIONS = 200_000
CELL = ("device", "country", "source", "medium")
#: The one-sided 95% normal quantile: the design effect used is its estimate's upper bound.
UPPER_Z = 1.6448536269514722


def design_effect(table: ibis.Table, sessions: int) -> float:
    """The design effect of the sessions' conversions for visitor clustering: the upper bound
    of its estimate (:func:`upper_design_effect`).

    Sessions whose visitor is unknown (empty or "(not set)") count as visitors of their own.
    1 when the table has no visitor column or no conversions vary.
    """
    if "visitor_id" not in table.columns or not sessions:
        return 1.0
    step = math.ceil(sessions / SAMPLE_SESSIONS)
    if step > 1:
        table = table.filter(table.visitor_id.hash() % step == 0)
    converted = (table.transactions > 0).cast("float64")
    residual = converted - converted.mean().over(group_by=[table[c] for c in CELL])
    visitor = table.visitor_id.cast("string").strip()
    alone = visitor.isnull() | (visitor == "") | (visitor == NOT_SET)  # each session a visitor of its own
    rows = table.select(visitor=ibis.ifelse(alone, ibis.null("string"), visitor), residual=residual,
                        alone=ibis.ifelse(alone, residual**2, 0.0), alone4=ibis.ifelse(alone, residual**4, 0.0))
    per = rows.group_by("visitor").aggregate(total=rows.residual.sum(), squares=(rows.residual**2).sum(),
                                             alone=rows.alone.sum(), alone4=rows.alone4.sum())
    known = per.visitor.notnull()
    a, b = ibis.ifelse(known, per.total**2, 0.0), ibis.ifelse(known, per.squares, 0.0)
    sums = per.aggregate(a=(a + per.alone).sum(), b=per.squares.sum(), aa=(a**2 + per.alone4).sum(),
                         ab=(a * b + per.alone4).sum(), bb=(b**2 + per.alone4).sum()).to_pyarrow().to_pylist()[0]
    return upper_design_effect(**{key: value or 0.0 for key, value in sums.items()})


def upper_design_effect(a: float, b: float, aa: float, ab: float, bb: float) -> float:
    """The design effect's upper one-sided 95% bound (at least 1), from sums over visitors of
    their clustered (a) and independent (b) squares: a / b is a ratio estimate, its variance
    Σ (a − (a / b) b)² / (Σ b)² over independent visitors. A few heavy buyers make it noisy;
    its estimate alone left the benchmark's repeat-visitor null at 3.3% false leaks for 2.5%."""
    if b <= 0:
        return 1.0
    ratio = a / b
    spread = max(aa - 2 * ratio * ab + ratio**2 * bb, 0.0) ** 0.5 / b
    return max(1.0, ratio + UPPER_Z * spread)
