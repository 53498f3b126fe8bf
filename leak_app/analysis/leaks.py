"""The leak engine: which segments lose conversions, how many, and how sure we are.

Every value of a dimension is compared with the rest of the traffic, and every child
(device × source, device × country) with the rest of each of its parents, so a child
never inherits its parent's gap. "Below its comparator" claims come from an exact
one-sided test (Fisher's, via the hypergeometric distribution, with counts corrected for
repeat visitors), tested down the tree of segments so that the chance of any false leak
is held (:func:`adjusted_p`); the conversions lost are the difference that test is about,
with a two-sample (Newcombe) interval. Silent leaks are segments that fell more than their comparator
between two periods (a difference in differences of log rates, with day-to-day
variation allowed for); the whole site is compared with its own past once. Rates
shrunk by an empirical-Bayes prior are published beside the raw ones. Pure
pandas/SciPy: no drawing.
"""
from __future__ import annotations

import functools
import itertools

import numpy as np
import pandas as pd

# scipy.special's t and chi-square functions, not scipy.stats': a tenth of the overhead a call
from scipy.special import bdtr, chdtri, ndtri, stdtr, stdtrit

from ..data.schema import NOT_SET
from .cube import MEASURES, Counts
from .metrics import totals
from .shrinkage import shrunk_rates
from .stats import (
    EXACT_TAIL_UP_TO,
    Z95,
    adjusted_counts,
    fewer_than_expected_p,
    fewer_than_rest_p,
    graph_adjusted,
    mean_interval,
    product_interval,
    rated_p_values,
    wilson_interval,
)
from .text import amount, bounds, counted, pct, percent

#: Dimension name -> the session columns that define its segments.
DIMENSIONS = {
    "device": ["device"],
    "country": ["country"],
    "source": ["source"],
    "medium": ["medium"],
    "channel": ["channel"],
    "session duration": ["bucket"],
    "device × source": ["device", "source"],
    "device × country": ["device", "country"],
}
#: How long a session lasts is how a leak shows, not where it is: duration buckets are
#: compared like every dimension but never reported as leaks themselves.
SYMPTOMS = ("session duration",)
#: The chance of any false leak in data with none, whatever else is true (family-wise, one-sided:
#: a drop is claimed as a two-sided 5% test would claim it).
DEFAULT_LEVEL = 0.025
LEAK_COLUMNS = [
    "dimension", "segment", "sessions", "conversions", "rate", "ci_low", "ci_high", "baseline_rate",
    "lost_conversions", "lost_low", "lost_high", "lost_revenue", "lost_revenue_low", "lost_revenue_high",
    "p_value", "q_value", "rated", "leak", "parent", "compared_with", "also",
]


def segment_counts(counts: Counts, columns: list[str]) -> dict:
    """Per segment of one dimension: its name, values by column, sessions, conversions, revenue, and
    its codes: ``code`` (its combination's, ascending: the same segment's in any counts of one cube)
    and ``codes`` (each column's, an array (segment, column))."""
    codes, measures = counts.groups(" × ".join(columns))
    codes = [codes[c] for c in columns]
    categories = tuple(counts.labels(c) for c in columns)
    names, values = _segment_labels(tuple(columns), categories)
    flat = (np.ravel_multi_index(codes, [len(c) for c in categories]) if codes[0].size
            else np.zeros(0, dtype=int))
    sessions, conversions, revenue = (measures[:, MEASURES.index(m)]
                                      for m in ("sessions", "conversions", "revenue"))
    return {"segment": names[flat], "values": values[flat], "sessions": sessions.round().astype("int64"),
            "conversions": conversions.round().astype("int64"), "revenue": revenue,
            "code": flat, "codes": np.column_stack(codes),
            "varies": all(c.size and (c != c[0]).any() for c in codes)}


#: Dimensions whose segments may be one segment under two names (a medium that is exactly one
#: channel; a source that is exactly a channel or a medium): it is listed once, under the first here.
TWIN_ORDER = ("channel", "medium", "source")


def twins(*counts: Counts) -> dict[str, dict[str, str]]:
    """Labels of TWIN_ORDER's dimensions whose sessions are exactly those of a label of an earlier
    one, in these counts together (organic = Organic Search, (direct) = (none) = Direct, an affiliate
    network's one source = Affiliates): by dimension, each name a segment is not listed under, and
    the name it is listed under ("Affiliates (channel)")."""
    out: dict[str, dict[str, str]] = {dim: {} for dim in TWIN_ORDER}
    for at, later in enumerate(TWIN_ORDER):
        for earlier in TWIN_ORDER[:at]:
            pairs = sum(part.joint(earlier, later) for part in counts)
            same = (pairs > 0) & (pairs == pairs.sum(axis=1, keepdims=True)) & (pairs == pairs.sum(axis=0))
            kept, left_out = (np.asarray(counts[0].labels(dim), dtype=object) for dim in (earlier, later))
            for row, column in zip(*np.nonzero(same)):
                if kept[row] != NOT_SET:  # the first found: a channel before a medium
                    out[later].setdefault(left_out[column], segment_name(kept[row], earlier))
    return out


#: A new empty list for each element of an array (made in one loop of NumPy's).
_empty_lists = np.frompyfunc(lambda _: [], 1, 1)


def _also(t: dict, same: dict) -> np.ndarray:
    """Each row's other names (:func:`twins`): "Partners (source)" for "Affiliates (channel)"."""
    names: dict[str, list] = {}
    for dim, listed_as in same.items():
        for label, name in listed_as.items():
            names.setdefault(name, []).append(segment_name(label, dim))
    out = _empty_lists(np.empty(len(t["segment"]), dtype=object))
    # a name is listed under a dimension a later one of TWIN_ORDER is a twin of: only its rows are looked up
    for i in np.flatnonzero(np.isin(t["dimension"], TWIN_ORDER[:-1])) if names else ():
        out[i] = names.get(segment_name(t["segment"][i], t["dimension"][i]), [])
    return out


def dimension_segments(counts: Counts, name: str, twins: dict) -> dict:
    """:func:`segment_counts` of a leak dimension, its ``twins`` left out (see :func:`twins`);
    whether it varies is the dimension's own (a medium's segment is compared with the rest of the
    traffic, whichever other mediums are listed)."""
    part = segment_counts(counts, DIMENSIONS[name])
    if not twins.get(name):
        return part
    keep = np.array([values[name] not in twins[name] for values in part["values"]], dtype=bool)
    return {key: value[keep] if isinstance(value, np.ndarray) else value for key, value in part.items()}


@functools.lru_cache(maxsize=64)
def _segment_labels(columns: tuple, categories: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Name and values of every combination of the columns' categories, made once per cube."""
    combos = list(itertools.product(*categories))
    names = np.array([" × ".join(combo) for combo in combos], dtype=object)
    values = np.array([dict(zip(columns, combo)) for combo in combos], dtype=object)
    return names, values


def _concat(parts: list[dict]) -> dict:
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _ranked(table: dict, columns: list[str]) -> pd.DataFrame:
    """The table with leaks first, most lost first (stable, so ties keep the dimension order)."""
    order = np.lexsort((-np.nan_to_num(table["lost_conversions"], nan=-np.inf), ~table["leak"]))
    return pd.DataFrame({c: table[c][order] for c in columns})


def _parents(values: np.ndarray, codes: np.ndarray, columns: list[str]) -> list[tuple[dict, tuple | None]]:
    """What segments (their ``values`` and ``codes``, see :func:`segment_counts`) are compared with:
    for a dimension, the rest of the traffic; for a child (device × source), the rest of each
    parent (the device's other sources, the source on other devices), so a child never inherits
    its parent's gap. Each comparison's description (its parent, what it is compared with), and
    which segments share each one's parent (their group of each, and how many groups; None: all)."""
    if len(columns) == 1:
        return [({"parent": np.full(len(values), None, dtype=object), "column": None,
                  "compared_with": np.full(len(values), "the rest of the traffic", dtype=object)}, None)]
    out = []
    for at, column in enumerate(columns):
        _, first, group = np.unique(codes[:, at], return_index=True, return_inverse=True)
        names = np.array([segment_name(values[i][column], column) for i in first], dtype=object)
        rest = np.array([f"the rest of {name}" for name in names], dtype=object)
        out.append(({"parent": names[group], "column": column, "compared_with": rest[group]},
                    (group, len(first))))
    return out


def _rest(group: tuple | None, n: np.ndarray, k: np.ndarray, total: dict) -> dict:
    """The sessions and conversions of what segments of ``n`` sessions and ``k`` conversions are
    compared with (``group``: see :func:`_parents`; ``total``: the whole traffic's). Arrays with any
    trailing axis the segments' have (units)."""
    if group is None:
        return {"rest_n": total["sessions"] - n, "rest_k": total["conversions"] - k}
    parent_n, parent_k = _within(*group, n, k)
    return {"rest_n": parent_n - n, "rest_k": parent_k - k}


def _within(group: np.ndarray, groups: int, *measures: np.ndarray) -> list[np.ndarray]:
    """Each measure summed over the segments of each ``group`` (their parent's totals), given back
    per segment. Works on any trailing axes (units)."""
    out = []
    for x in measures:
        sums = np.zeros((groups, *x.shape[1:]))
        np.add.at(sums, group, x)
        out.append(sums[group])
    return out


def _comparisons(part: dict, columns: list[str], total: dict) -> list[dict]:
    """What each segment is compared with (see :func:`_parents`): each comparison's description,
    and the comparator's sessions and conversions (``rest_n``, ``rest_k``)."""
    n, k = part["sessions"], part["conversions"]
    return [{**described, **_rest(group, n, k, total)}
            for described, group in _parents(part["values"], part["codes"], columns)]


def _least_sure(options: list[dict], p_values: list[np.ndarray]) -> tuple[dict, np.ndarray]:
    """The comparison with the largest p-value, per segment: a child must differ from the rest of
    both its parents (an intersection-union test, valid at the level of each)."""
    p = np.vstack(p_values)
    pick = np.argmax(np.where(np.isnan(p), np.inf, p), axis=0)
    chosen = {key: np.choose(pick, [o[key] for o in options]) for key, value in options[0].items()
              if isinstance(value, np.ndarray)}
    return chosen, np.choose(pick, p_values)


def newcombe_difference(k1, n1, k2, n2, z: float = Z95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p1 − p2 and its Newcombe hybrid-score interval (his method 10): two Wilson intervals
    combined, honest at the small counts and 1% rates a Wald interval gets wrong."""
    k1, n1, k2, n2 = (np.asarray(x, dtype="float64") for x in (k1, n1, k2, n2))
    l1, u1 = wilson_interval(k1, n1, z)
    l2, u2 = wilson_interval(k2, n2, z)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = k1 / n1, k2 / n2
    d = p1 - p2
    return d, d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def segment_leaks(counts: dict, min_sessions: int, level: float = DEFAULT_LEVEL,
                  design_effect: float = 1.0) -> pd.DataFrame:
    """Every segment of every dimension against what it is compared with, most lost first.

    A dimension's segments are compared with the rest of the traffic; a child's with the
    rest of its parents, both tested down the tree of segments (:func:`adjusted_p`).
    Conversions lost are the segment's sessions times the difference the test is about
    (comparator's rate minus the segment's), with a Newcombe interval: estimate and test
    always agree. Test and interval count sessions and conversions divided by the
    ``design_effect`` (repeat visitors: see :mod:`.clustering`). Rates shrunk by an
    empirical-Bayes prior are published beside the raw rates (:func:`with_shrunk_rates`),
    never used for the loss (big segments convert differently from small ones, so
    segments are not exchangeable). A medium or a source that is exactly a channel (or a source
    exactly a medium) is listed once (:func:`twins`): no loss is counted twice.
    """
    total = totals(counts)
    parts, same = [], twins(counts)
    for name, columns in DIMENSIONS.items() if total["sessions"] else ():
        part = dimension_segments(counts, name, same)
        if not part.pop("varies"):
            continue  # a column with one value only (no medium in the export, say): nothing to compare
        options = _comparisons(part, columns, total)
        del part["code"], part["codes"]  # (a child's codes are wider than a dimension's)
        p_values = [_rated(part, o, min_sessions, design_effect) for o in options]
        chosen, p = _least_sure(options, p_values)
        size = len(part["segment"])
        parts.append({**part, **chosen, "p_value": p, "dimension": np.full(size, name, dtype=object)})
    if not parts:
        return pd.DataFrame(columns=LEAK_COLUMNS + ["values"])
    t = _concat(parts)
    n, k = t["sessions"].astype("float64"), t["conversions"].astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        t["rate"] = k / n
        t["ci_low"], t["ci_high"] = wilson_interval(k / design_effect, n / design_effect)
        t["baseline_rate"] = np.where(t["rest_n"] > 0, t["rest_k"] / t["rest_n"], np.nan)
    gap, low, high = newcombe_difference(*(x / design_effect for x in (t["rest_k"], t["rest_n"], k, n)))
    t["lost_conversions"], t["lost_low"], t["lost_high"] = n * gap, n * low, n * high
    t["lost_revenue"], t["lost_revenue_low"], t["lost_revenue_high"] = revenue_lost(
        t["lost_conversions"], t["lost_low"], t["lost_high"],
        value_per_unit(total, "conversions", design_effect))
    t["rated"] = ~np.isnan(t["p_value"])
    t["q_value"], t["leak"] = adjusted_p(t, level, lambda q: (q <= level) & (gap > 0) & (t["lost_high"] >= 1))
    t["also"] = _also(t, same)
    return _ranked(t, LEAK_COLUMNS + ["values"])


def value_per_unit(total: dict, units: str, design_effect: float = 1.0) -> list[np.ndarray]:
    """The mean revenue of the ``total``'s conversions or sessions (``units``) and its 95% interval
    (:func:`.stats.mean_interval`, from the revenue's sum of squares): a shop's revenue per
    conversion can rest on a few large orders. Zero where there is no unit (nothing converted:
    nothing lost)."""
    count = np.asarray(total[units], dtype="float64")
    per_unit = mean_interval(total["revenue"], total["revenue_squared"], count, design_effect=design_effect)
    return [np.where(count > 0, v, 0.0) for v in per_unit]


def revenue_lost(lost, low, high, value: list[np.ndarray]) -> tuple:
    """Revenue lost, and its 95% interval: ``lost`` units, within ``low``–``high``, each worth
    ``value`` (:func:`value_per_unit`), whose uncertainty the interval carries too
    (:func:`.stats.product_interval`)."""
    lost, low, high = (np.asarray(x, dtype="float64") for x in (lost, low, high))
    return (lost * value[0], *product_interval(lost, low, high, *value))


#: The share of the level the children are tested with before any parent is found.
CHILD_SHARE = 0.2


def adjusted_p(t: dict, level: float, found) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicity-adjusted p-values down the tree of segments, and which rows are findings.

    A weighted-Bonferroni graph (:func:`~.stats.graph_adjusted`) holds the chance of any false
    leak at ``level`` whatever is true: the one-column segments (device, country, source,
    medium, channel) share most of the level (1 − ``CHILD_SHARE``) equally; the children (device ×
    source, device × country) share the rest (a leak in one child may leave its parents
    unremarkable) and get what their parents pass on once found, so a leak is found with
    the power of some 25 tests, not 60. A found parent passes its share to its children (to
    the other parents when it has none); a found child passes it back to the parents. The
    site row ("all traffic", silent leaks) takes a share and passes nothing on: a site-wide
    drop does not lower the segments' bar. Session duration (a symptom) is adjusted on its
    own (Holm) and never a finding. ``found``: which rows are findings, given their adjusted p-values.
    """
    p, values = t["p_value"], t["values"]
    symptom, tested = np.isin(t["dimension"], SYMPTOMS), ~np.isnan(p)
    q = np.full(len(p), np.nan)
    holm = symptom & tested  # every member passing to every other: Holm's procedure
    size = int(holm.sum())
    q[holm] = graph_adjusted(p[holm], np.full(size, 1 / max(size, 1)), (1 - np.eye(size)) / max(size - 1, 1),
                             level)
    nodes = np.flatnonzero(tested & ~symptom)
    width = np.array([len(values[i]) for i in nodes], dtype=int)  # the site 0, parents 1, children 2
    parents, children = np.flatnonzero(width == 1), np.flatnonzero(width > 1)
    moves = np.zeros((len(nodes), len(nodes)))
    kids: dict = {}
    for i in children:
        for item in values[nodes[i]].items():
            kids.setdefault(item, []).append(i)
    if len(parents):
        moves[children[:, None], parents[None, :]] = 1 / len(parents)
    for i in parents:
        onward = kids.get(next(iter(values[nodes[i]].items())), parents[parents != i])
        if len(onward):
            moves[i, onward] = 1 / len(onward)
    first = width <= 1
    share = CHILD_SHARE if len(children) and first.any() else float(len(children) > 0)
    q[nodes] = graph_adjusted(p[nodes], np.where(first, (1 - share) / max(first.sum(), 1),
                                                 share / max(len(children), 1)), moves, level)
    return q, found(q) & ~symptom


def _rated(part: dict, comparison: dict, min_sessions: int, design_effect: float) -> np.ndarray:
    """One-sided Fisher p-values of the segments against a comparison (NaN where either side is
    below the minimum sample: never claimed), on the table's four cells divided by the design
    effect and rounded (Rao and Scott's adjusted counts; unchanged at 1)."""
    n, k = part["sessions"], part["conversions"]
    rated = (n >= min_sessions) & (comparison["rest_n"] >= min_sessions)
    return rated_p_values(rated, fewer_than_rest_p, *adjusted_counts(
        k, n, k + comparison["rest_k"], n + comparison["rest_n"], design_effect))


def with_shrunk_rates(table: pd.DataFrame, design_effect: float = 1.0) -> pd.DataFrame:
    """The leak table with each segment's rate shrunk towards its dimension's
    (:func:`.shrinkage.shrunk_rates`): published (JSON, downloads), not needed to rank or draw, so
    not computed on every filter change."""
    out = table.assign(shrunk_rate=np.nan, shrunk_low=np.nan, shrunk_high=np.nan, prior_at_bound=False)
    for _, rows in table.groupby("dimension", sort=False):
        for column, values in shrunk_rates(rows["conversions"], rows["sessions"], design_effect).items():
            out.loc[rows.index, column] = values
    return out


def step_leaks(counts: dict, min_sessions: int, design_effect: float = 1.0) -> pd.DataFrame:
    """Each funnel step's pass rate per device, and what it loses against the best other device.

    The interval is a two-sample (Newcombe) interval of the difference from the best other
    device, at a Bonferroni level over the devices it was picked from: the best is a maximum,
    and a maximum is biased up; counts are divided by the ``design_effect`` (repeat
    visitors, as in :func:`segment_leaks`). Lost revenue values a lost session at what the
    sessions that passed the step went on to earn on average (all devices).
    """
    if not totals(counts)["sessions"]:
        return pd.DataFrame(columns=["step", "device", "entered", "passed", "pass_rate", "lost_sessions"])
    reached = counts["device × reached"]
    names = list(reached["stage"].cat.categories)
    width = len(names)
    sessions = reached["sessions"].to_numpy().reshape(-1, width).T  # (stage, device)
    # per stage past the first, all devices: what the sessions that reached it went on to earn, the
    # value of one, as a column over the devices
    reached_sums = {m: reached[m].to_numpy().reshape(-1, width).sum(axis=0)[1:, None]
                    for m in ("sessions", "revenue", "revenue_squared")}
    value = value_per_unit(reached_sums, "sessions", design_effect)
    devices = reached["device"].astype(str).to_numpy()[::width]
    entered, passed = sessions[:-1].astype("float64"), sessions[1:].astype("float64")
    rated = entered >= min_sessions
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = passed / entered
        low, high = wilson_interval(passed / design_effect, entered / design_effect)
    ranked = np.where(rated, rate, -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")
    first, second = order[:, :1], order[:, 1:2] if order.shape[1] > 1 else order[:, :1]
    columns = np.arange(entered.shape[1])[None, :]
    best = np.where(columns == first, second, first)  # the best device other than this one
    best_rated = np.take_along_axis(rated, best, axis=1) & (best != columns)
    others = np.maximum(rated.sum(axis=1, keepdims=True) - 1, 1)
    z = -ndtri(0.025 / others)  # the normal quantile above 0.025 / others
    pick = (lambda x: np.take_along_axis(x, best, axis=1))
    gap, gap_low, gap_high = newcombe_difference(
        *(x / design_effect for x in (pick(passed), pick(entered), passed, entered)), z)
    compared = rated & best_rated
    best_rate = np.where(compared, pick(rate), np.nan)
    steps = np.array([step_name(b, a) for b, a in itertools.pairwise(names)], dtype=object)
    table = {
        "device": np.broadcast_to(devices, entered.shape), "entered": entered.astype("int64"),
        "passed": passed.astype("int64"), "step": np.broadcast_to(steps[:, None], entered.shape),
        "value_per_session": np.broadcast_to(value[0], entered.shape), "pass_rate": rate,
        "ci_low": low, "ci_high": high, "rated": rated, "best_rate": best_rate,
        "best_device": np.where(compared, devices[best], None),
        "lost_sessions": np.where(compared, entered * np.clip(gap, 0, None), np.nan),
        "lost_low": np.where(compared, entered * np.clip(gap_low, 0, None), np.nan),
        "lost_high": np.where(compared, entered * np.clip(gap_high, 0, None), np.nan),
    }
    table["lost_revenue"], table["lost_revenue_low"], table["lost_revenue_high"] = revenue_lost(
        table["lost_sessions"], table["lost_low"], table["lost_high"], value)
    shown = (entered > 0).ravel()
    flat = {name: np.asarray(values).ravel()[shown] for name, values in table.items()}
    order = np.argsort(-np.nan_to_num(flat["lost_revenue"], nan=-np.inf), kind="stable")
    return pd.DataFrame({name: values[order] for name, values in flat.items()})


def step_name(before: str, after: str) -> str:
    """How a funnel step is named in the step-leak table and in sentences."""
    return f"{before} → {after}"


#: A period is split into at most this many units of consecutive days (a day each when it
#: is this short): the units, not the sessions, are what varies independently.
MOST_UNITS = 8


def units(first: int, last: int, most: int = MOST_UNITS) -> list[tuple[int, int]]:
    """Consecutive day ranges covering first..last: a day each, or ``most`` near-equal blocks."""
    days = last - first + 1
    if days <= 0:
        return []
    # the same cut wherever it starts
    edges = first + np.linspace(0, days, min(days, most) + 1).round().astype(int)
    return [(int(a), int(b) - 1) for a, b in itertools.pairwise(edges)]


def _per_unit(units: Counts, columns: list[str], code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sessions and conversions of the segments of these codes (ascending: see
    :func:`segment_counts`) in each unit: arrays (segment, unit).

    ``units``: counts with a trailing unit axis (see :meth:`leak_app.analysis.cube.Counts`)."""
    part = segment_counts(units, columns)
    at = np.searchsorted(code, part["code"])
    inside = at < len(code)
    inside[inside] = code[at[inside]] == part["code"][inside]
    width = part["sessions"].shape[-1]
    n, k = np.zeros((len(code), width)), np.zeros((len(code), width))
    n[at[inside]], k[at[inside]] = part["sessions"][inside], part["conversions"][inside]
    return n, k


def _log_rate(k: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A period's log rate (half a conversion added: finite at zero conversions), its binomial
    variance, and each unit's influence on it (for the variance over units)."""
    big_k, big_n = k.sum(axis=-1), n.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(big_n > 0, big_k / big_n, 0.0)
    influence = (k - rate[..., None] * n) / (big_k + 0.5)[..., None]
    return np.log((big_k + 0.5) / (big_n + 1)), 1 / (big_k + 0.5) - 1 / (big_n + 1), influence, big_n


#: A segment's own day-to-day dispersion is used where it exceeds its dimension's by more than
#: chance would (an upper 1% test on its degrees of freedom); otherwise the dimension's, pooled.
OWN_DISPERSION_P = 0.01


def rate_change_beyond(segment: tuple, rest: tuple | None) -> dict:
    """How much more each segment's log rate fell than its comparator's over the same units.

    ``segment`` and ``rest``: (k0, n0, k1, n1), conversions and sessions per unit (arrays
    (segment, unit)) of the baseline and current periods; ``rest`` None compares the
    segment with its own past (the whole site). Half a conversion is added to every
    count, so a period with none stays finite.

    Day-to-day variation: the binomial variance is multiplied by a dispersion, the variance
    over units (days as the resampling unit: swings a segment shares with its comparator
    cancel, its own do not) over the binomial one, at least 1. It is pooled over the
    segments given (a dimension's), unless a segment's own is larger beyond chance (then
    its own, with a t reference on its units' degrees of freedom). The test takes the
    segment's binomial variance at its counts expected under no change beyond the rest (a
    score test: valid at zero conversions, where the observed counts' variance explodes);
    the interval takes it at the observed counts.
    """
    rest = rest or tuple(np.zeros((1, x.shape[-1])) for x in segment)
    logs, binomial, influence = {}, {}, {}
    for name, (k0, n0, k1, n1) in (("s", segment), ("r", rest)):
        for period, (k, n) in enumerate(((k0, n0), (k1, n1))):
            logs[name, period], binomial[name, period], influence[name, period], _ = _log_rate(k, n)
    change = (logs["s", 1] - logs["s", 0]) - (logs["r", 1] - logs["r", 0])
    k0, n0, k1, n1 = (x.sum(axis=-1) for x in segment)
    # Under no change beyond the rest, the segment's conversions split between the periods as its
    # sessions times the rest's rates do.
    share = n1 * np.exp(logs["r", 1]) / (n1 * np.exp(logs["r", 1]) + n0 * np.exp(logs["r", 0]))
    expected = {0: (k0 + k1 + 1) * (1 - share), 1: (k0 + k1 + 1) * share}
    has_rest = bool(np.any(rest[1]))
    interval, test, over = 0.0, 0.0, 0.0
    for period, n in ((0, n0), (1, n1)):
        units_n = influence["s", period].shape[-1]
        spread = influence["s", period] - influence["r", period]
        over = over + (units_n / (units_n - 1) * np.sum(spread**2, axis=-1) if units_n > 1 else 0.0)
        rest_var = binomial["r", period] if has_rest else 0.0
        interval = interval + binomial["s", period] + rest_var
        test = test + np.maximum(1 / expected[period] - 1 / (n + 1), 0) + rest_var
    df_own = max(segment[0].shape[-1] + segment[2].shape[-1] - 2, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        own = over / test
        pooled = max(1.0, float(np.sum(over) / np.sum(test))) if np.sum(test) > 0 else 1.0
        mine = own > pooled * chdtri(df_own, OWN_DISPERSION_P) / df_own
    dispersion = np.where(mine, own, pooled)
    df = np.where(mine, df_own, df_own * len(np.atleast_1d(change)) or np.inf)
    half = stdtrit(df, 0.975) * np.sqrt(interval * dispersion)
    expected_rate = np.exp(logs["s", 0] + logs["r", 1] - logs["r", 0])  # had it moved as the rest did
    score = stdtr(df, change / np.sqrt(test * dispersion))
    exact = _exact_fall_p(segment, rest if has_rest else None, dispersion)
    # Exact where counts are small (the log-scale score test was 7 times too small at 29 -> 5
    # conversions); a segment's own dispersion is itself uncertain: the t reference's p then too.
    p_value = np.where(np.isnan(exact), score, np.where(mine, np.fmax(exact, score), exact))
    return {"change": change, "change_low": change - half, "change_high": change + half,
            "p_value": p_value, "expected_rate": expected_rate}


def _exact_fall_p(segment: tuple, rest: tuple | None, dispersion: np.ndarray) -> np.ndarray:
    """Exact conditional p-value that a segment's conversions now are too few, given its
    conversions over both periods: against its comparator's split (Fisher's noncentral
    hypergeometric), or, with none (the whole site), against its sessions' split (binomial).
    Counts are divided by the dispersion and rounded (Rao and Scott's adjusted counts). NaN
    where the segment has over ``EXACT_TAIL_UP_TO`` of them (the score test is exact enough)."""
    k0, n0, k1, n1 = (x.sum(axis=-1) for x in segment)
    k0, k1 = (np.round(k / dispersion) for k in (k0, k1))
    small = k0 + k1 <= EXACT_TAIL_UP_TO
    with np.errstate(invalid="ignore", divide="ignore"):
        if rest is None:
            p = bdtr(k1.astype("int64"), (k0 + k1).astype("int64"), n1 / (n0 + n1))
        else:
            r0, m0, r1, m1 = (x.sum(axis=-1) for x in rest)
            r0, r1 = (np.round(k / dispersion) for k in (r0, r1))
            p = np.full(k0.shape, np.nan)
            p[small] = fewer_than_expected_p(k1[small], (k0 + k1)[small], (r0 + r1)[small], (k1 + r1)[small],
                                             ((n1 / n0) / (m1 / m0))[small])
    return np.where(small & (k0 + k1 > 0), p, np.where(small, 1.0, np.nan))


def silent_leaks(before, now, before_units: Counts, now_units: Counts, min_sessions: int,
                 level: float = DEFAULT_LEVEL, design_effect: float = 1.0) -> pd.DataFrame:
    """Segments whose rate fell from the baseline to the current period *more than the rest*.

    ``before``/``now``: the counts of the two periods; ``before_units``/``now_units``: theirs
    unit by unit (see :func:`units`), on a trailing axis. The whole site is compared with its
    own past, once; a dimension's segments with the rest of the traffic over the same days,
    and a child with the rest of its parents (a difference in differences of log rates), so
    a site-wide drop is named once and a parent's fall is not repeated by its children.
    Conversions lost are those beyond the comparator's change: the segment's current sessions at
    the rate it would have had moving as the rest did, minus what it converted. The current rate's
    interval, and the value of a lost conversion, count sessions divided by the ``design_effect``,
    as every published interval's.
    """
    total = {"before": totals(before), "now": totals(now)}
    if not (total["before"]["sessions"] and total["now"]["sessions"]):
        return pd.DataFrame(columns=SILENT_ROW_COLUMNS + ["leak"])
    site = [_site_units(u) for u in (before_units, now_units)]
    whole = {key: np.atleast_1d(value) for key, value in rate_change_beyond(_flat(site), None).items()}
    parts = [{"dimension": np.array(["all traffic"], dtype=object),
              "segment": np.array(["all traffic"], dtype=object),
              "values": np.array([{}], dtype=object), "parent": np.array([None], dtype=object),
              "compared_with": np.array(["its own past"], dtype=object), "rest_before": np.array([np.nan]),
              "rest_now": np.array([np.nan]), **_period_sums(site), **whole,
              "rated": np.array([min(total["before"]["sessions"],
                                     total["now"]["sessions"]) >= min_sessions])}]
    same = twins(before, now)
    for name, columns in DIMENSIONS.items():
        was, is_ = (dimension_segments(counts, name, same) for counts in (before, now))
        if not (was["varies"] and is_["varies"]):
            continue
        both = np.isin(is_["code"], was["code"], assume_unique=True)
        per_unit = [_per_unit(u, columns, is_["code"][both]) for u in (before_units, now_units)]
        values = is_["values"][both]
        parents = _parents(values, is_["codes"][both], columns)
        options = [[{**described, **_rest(group, n, k, {"sessions": site_n, "conversions": site_k})}
                    for described, group in parents]
                   for (n, k), (site_n, site_k) in zip(per_unit, site)]  # per period, unit by unit
        tested = [_beyond(was_, now_, per_unit, min_sessions) for was_, now_ in zip(*options)]
        chosen, _ = _least_sure(tested, [o["p_value"] for o in tested])
        parts.append({"dimension": np.full(len(values), name, dtype=object), "segment": is_["segment"][both],
                      "values": values, **_period_sums(per_unit), **chosen})
    t = _concat(parts)
    n0, k0 = t["sessions_before"].astype("float64"), t["conversions_before"].astype("float64")
    n1, k1 = t["sessions_now"].astype("float64"), t["conversions_now"].astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        t["rate_before"], t["rate_now"] = k0 / n0, k1 / n1
    t["ci_low"], t["ci_high"] = wilson_interval(k1 / design_effect, n1 / design_effect)
    t["rest_rate_before"], t["rest_rate_now"] = t.pop("rest_before"), t.pop("rest_now")
    expected = n1 * t.pop("expected_rate")
    for name, change in (("lost_conversions", "change"), ("lost_low", "change_high"),
                         ("lost_high", "change_low")):
        t[name] = expected * -np.expm1(t[change])
    for name in ("change", "change_low", "change_high"):
        t[name] = np.expm1(t[name])  # as a relative change beyond the comparator's
    t["lost_revenue"], t["lost_revenue_low"], t["lost_revenue_high"] = revenue_lost(
        t["lost_conversions"], t["lost_low"], t["lost_high"],
        value_per_unit(total["now"], "conversions", design_effect))
    t["p_value"] = np.where(t["rated"], t["p_value"], np.nan)
    t["q_value"], t["leak"] = adjusted_p(
        t, level, lambda q: (q <= level) & (t["change"] < 0) & (t["lost_high"] >= 1))
    t["sessions"], t["conversions"] = t.pop("sessions_now"), t.pop("conversions_now")
    t["also"] = _also(t, same)
    return _ranked(t, list(t))


def _beyond(before: dict, now: dict, per_unit: list, min_sessions: int) -> dict:
    """One comparison of :func:`silent_leaks` (as :func:`_comparisons` gives it for each period,
    unit by unit): the segments' change beyond their comparator's, tested where both sides have
    the minimum sample in both periods."""
    rest = [(option["rest_n"], option["rest_k"]) for option in (before, now)]
    change = rate_change_beyond(_flat(per_unit), _flat(rest))
    mine, theirs = _period_sums(per_unit), _period_sums(rest)
    rated = np.minimum.reduce([mine["sessions_before"], mine["sessions_now"], theirs["sessions_before"],
                               theirs["sessions_now"]]) >= min_sessions
    with np.errstate(invalid="ignore", divide="ignore"):
        described = {key: value for key, value in now.items() if key not in ("rest_n", "rest_k")}
        return {**described, **change, "p_value": np.where(rated, change["p_value"], np.nan), "rated": rated,
                "rest_before": theirs["conversions_before"] / theirs["sessions_before"],
                "rest_now": theirs["conversions_now"] / theirs["sessions_now"]}


def _site_units(units: Counts) -> tuple[np.ndarray, np.ndarray]:
    """The whole site's sessions and conversions per unit, as arrays (1, unit)."""
    _, measures = units.groups("device")
    return (measures[:, MEASURES.index("sessions")].sum(axis=0)[None],
            measures[:, MEASURES.index("conversions")].sum(axis=0)[None])


def _flat(periods: list) -> tuple:
    """(k0, n0, k1, n1) from [(n0, k0), (n1, k1)]."""
    (n0, k0), (n1, k1) = periods
    return k0, n0, k1, n1


def _period_sums(periods: list) -> dict:
    (n0, k0), (n1, k1) = periods
    return {"sessions_before": n0.sum(axis=1).round().astype("int64"),
            "conversions_before": k0.sum(axis=1).round().astype("int64"),
            "sessions_now": n1.sum(axis=1).round().astype("int64"),
            "conversions_now": k1.sum(axis=1).round().astype("int64")}


NO_SILENT_LEAK = ("No segment's rate fell significantly more than the rest of the traffic's, nor the whole "
                  "site's.")


def describe_leak(row, currency: str = "") -> str:
    """One sentence: what leaks, where, against what, how much (in the revenue's ``currency``, where
    the load report knows it), how sure."""
    worth = lost_revenue(row.lost_revenue, row.lost_revenue_low, row.lost_revenue_high, currency,
                         " in revenue")
    lost = bounds(row.lost_low, row.lost_high)
    return (
        f"{named(row)} converts at {pct(row.rate)} (95% CI {pct(row.ci_low)}–"
        f"{pct(row.ci_high)}, n={row.sessions:,}) against {pct(row.baseline_rate)} for {row.compared_with}: "
        f"about {counted(row.lost_conversions, 'conversion')} lost (95% CI {lost})"
        f"{f', {worth}' if worth else ''}; {_sureness(row.q_value)}."
    )


def lost_revenue(value, low, high, currency: str = "", noun: str = "") -> str | None:
    """Revenue lost and its interval (:func:`.text.amount`), or None where none is recorded (the
    data's conversions without revenue): it read "0 in revenue (95% CI 0–0)", as if it cost nothing."""
    return amount(value, low, high, noun, currency) if value > 0 or high > 0 else None


def describe_silent_leak(row) -> str:
    """One sentence: what fell, beyond what its comparator did, how much it cost, how sure."""
    fell = (f"{named(row)} fell from {pct(row.rate_before)} to "
            f"{pct(row.rate_now)} (n={row.sessions_before:,} then {row.sessions:,})")
    change = f"{percent(-row.change)} (95% CI {percent(max(-row.change_high, 0))}–{percent(-row.change_low)})"
    if row.dimension == "all traffic":
        how = (f"{fell}: a site-wide fall of {change}, beyond day-to-day swings; about "
               f"{counted(row.lost_conversions, 'conversion')} lost")
    else:
        how = (f"{fell} while {row.compared_with} went from {pct(row.rest_rate_before)} to "
               f"{pct(row.rest_rate_now)}: {change} below that trend; about "
               f"{counted(row.lost_conversions, 'conversion')} lost beyond it")
    return f"{how} (95% CI {bounds(row.lost_low, row.lost_high)}); {_sureness(row.q_value)}."


def named(row) -> str:
    """A row's segment with its dimension, and the other names of the same sessions (:func:`twins`):
    "Affiliates (channel), also Partners (source) and affiliate (medium),"."""
    name = segment_name(row.segment, row.dimension)
    return f"{name}, also {' and '.join(row.also)}," if row.also else name


def segment_name(segment: str, dimension: str) -> str:
    """A segment with its dimension ("mobile (device)"), unless they are the same ("all traffic")."""
    return segment if segment == dimension else f"{segment} ({dimension})"


def _sureness(q: float) -> str:
    return f"adjusted p = {q:.2g}" if q >= 0.001 else "adjusted p < 0.001"


LEAK_ROW_COLUMNS = [
    "dimension", "values", "segment", "sessions", "conversions", "rate", "ci_low", "ci_high",
    "shrunk_rate", "shrunk_low", "shrunk_high", "baseline_rate", "lost_conversions", "lost_low",
    "lost_high", "lost_revenue", "lost_revenue_low", "lost_revenue_high", "q_value", "sentence",
    "parent", "compared_with", "prior_at_bound", "also",
]
SILENT_ROW_COLUMNS = [
    "dimension", "values", "segment", "sessions_before", "conversions_before", "rate_before",
    "sessions", "conversions", "rate_now", "ci_low", "ci_high", "lost_conversions", "lost_low",
    "lost_high", "lost_revenue", "lost_revenue_low", "lost_revenue_high", "q_value", "sentence", "parent",
    "compared_with", "rest_rate_before", "rest_rate_now", "change", "change_low", "change_high", "also",
]


def _published(table: pd.DataFrame, describe, columns: list[str], limit: int | None) -> pd.DataFrame:
    """The leaks of a table, with their sentence, in ``columns`` that the table has (the shrunk
    rates only once :func:`with_shrunk_rates` added them)."""
    columns = [c for c in columns if c in table or c == "sentence"]
    if table.empty or not table["leak"].any():
        return pd.DataFrame(columns=columns)
    rows = table[table["leak"]].head(limit)
    return rows.assign(sentence=[describe(r) for r in rows.itertuples()])[columns]


def leak_rows(table: pd.DataFrame, limit: int | None = None, currency: str = "") -> pd.DataFrame:
    """The ranked leaks as published (JSON ``leaks``), one sentence each (the first ``limit``; their
    revenue in ``currency``: :func:`describe_leak`)."""
    return _published(table, functools.partial(describe_leak, currency=currency), LEAK_ROW_COLUMNS, limit)


def silent_leak_rows(table: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    """The ranked silent leaks as published (JSON ``silent_leaks``), one sentence each."""
    return _published(table, describe_silent_leak, SILENT_ROW_COLUMNS, limit)


def headline(table: pd.DataFrame):
    """What an analyst would act on first: the largest leak, or its largest published child.

    A parent's loss is mostly its child's when the child is published under it:
    "desktop" fell because "desktop × google" did, so the child names the cause. The whole site's
    fall is named by a segment that fell beyond the rest of the traffic and lost at least half as
    much (:func:`explains`): only mobile fell, so "mobile" names it, not "a site-wide fall".
    """
    rows = np.flatnonzero(table["leak"].to_numpy(dtype=bool))
    if not len(rows):
        return None
    top = table.iloc[rows[0]]
    if not top["values"]:
        top = next((table.iloc[i] for i in rows[1:] if explains(table.iloc[i], top)), top)
    children = [i for i in rows[1:] if top["values"] and table["parent"].iloc[i] is not None
                and top["values"].items() <= table["values"].iloc[i].items()]
    return table.iloc[children[0]] if children else top  # rows are ranked: the first is the largest


def site_row(table: pd.DataFrame):
    """The whole site's row of a silent-leak table (compared with its own past), or None."""
    at = np.flatnonzero(table["dimension"].to_numpy() == "all traffic")
    return table.iloc[at[0]] if len(at) else None


def explains(row, site) -> bool:
    """Whether a published segment of one dimension accounts for most of the whole site's fall:
    it lost, beyond the rest of the traffic's change, at least half the conversions the site lost."""
    return len(row["values"]) == 1 and row["lost_conversions"] >= site["lost_conversions"] / 2
