"""The leak engine: which segments lose conversions, how many, and how sure we are.

For every value of one dimension and every device pair, a segment's conversion
rate is compared with the rest of the traffic. Rates are shrunk towards their
dimension's mean with an empirical-Bayes beta-binomial prior, so a segment of a
few sessions cannot look like a disaster (or a triumph) by chance; "below the
baseline" claims come from an exact one-sided test (Fisher's, via the
hypergeometric distribution) with the Benjamini–Hochberg procedure controlling the
false discovery rate across every segment tested. Pure pandas/SciPy: no drawing.
"""
from __future__ import annotations

import functools
import itertools

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, logit
from scipy.stats import beta

from .cube import MEASURES, Counts
from .metrics import totals
from .stats import Z95, benjamini_hochberg, fewer_than_rest_p, rated_p_values, wilson_interval
from .text import pct

#: Dimension name -> the session columns that define its segments.
DIMENSIONS = {
    "device": ["device"],
    "country": ["country"],
    "source": ["source"],
    "medium": ["medium"],
    "session duration": ["bucket"],
    "device × source": ["device", "source"],
    "device × country": ["device", "country"],
}
#: How long a session lasts is how a leak shows, not where it is: duration buckets are
#: compared like every dimension but never reported as leaks themselves.
SYMPTOMS = ("session duration",)
DEFAULT_FDR = 0.05
#: Prior strength used when segments vary no more than chance: all but complete pooling.
MAX_PRIOR_STRENGTH = 1e7
LEAK_COLUMNS = [
    "dimension", "segment", "sessions", "conversions", "rate", "ci_low", "ci_high", "shrunk_rate",
    "shrunk_low", "shrunk_high", "baseline_rate", "lost_conversions", "lost_low", "lost_high",
    "lost_revenue", "lost_revenue_low", "lost_revenue_high", "p_value", "q_value", "rated", "leak",
]


def fit_beta_prior(conversions, sessions) -> tuple[float, float]:
    """Beta prior (a, b) for one dimension's segment rates, by maximum marginal likelihood.

    The segments' conversion counts are beta-binomial under the prior; its mean and
    strength (a + b) are fitted to them, starting from the method-of-moments guess.
    Segments that differ no more than chance get an all-but-complete pooling prior.
    """
    k = np.asarray(conversions, dtype="float64")
    n = np.asarray(sessions, dtype="float64")
    keep = n > 0
    k, n = k[keep], n[keep]
    mean = k.sum() / n.sum() if n.sum() else 0.0
    if len(n) < 2 or mean <= 0 or mean >= 1:
        return mean * MAX_PRIOR_STRENGTH, (1 - mean) * MAX_PRIOR_STRENGTH
    weights = n / n.sum()
    spread = np.sum(weights * (k / n - mean) ** 2) - mean * (1 - mean) * np.sum(weights / n)
    guess = MAX_PRIOR_STRENGTH if spread <= 0 else mean * (1 - mean) / spread - 1
    guess = float(np.clip(guess, 1.0, MAX_PRIOR_STRENGTH))

    def negative_log_likelihood(x):
        """Minus the beta-binomial log likelihood (constants dropped) and its gradient in x."""
        m, strength = expit(x[0]), np.exp(x[1])
        a, b = m * strength, (1 - m) * strength
        value = -np.sum(betaln(k + a, n - k + b) - betaln(a, b))
        common = digamma(strength) - digamma(n + strength)
        d_a = -np.sum(digamma(k + a) - digamma(a) + common)
        d_b = -np.sum(digamma(n - k + b) - digamma(b) + common)
        return value, np.array([(d_a - d_b) * a * (1 - m), d_a * a + d_b * b])

    fit = minimize(negative_log_likelihood, [logit(mean), np.log(guess)], method="L-BFGS-B", jac=True,
                   bounds=[(None, None), (0.0, np.log(MAX_PRIOR_STRENGTH))])
    m, strength = expit(fit.x[0]), np.exp(fit.x[1])
    return m * strength, (1 - m) * strength


def _segments(counts: Counts, columns: list[str]) -> dict | None:
    """Per segment of one dimension: its name, values by column, sessions, conversions, revenue.

    None when a column has one value only (no medium in the export, say): nothing to compare.
    """
    codes, measures = counts.groups(" × ".join(columns))
    codes = [codes[c] for c in columns]
    if any(len(np.unique(c)) < 2 for c in codes):
        return None
    categories = tuple(counts.labels(c) for c in columns)
    names, values = _segment_labels(tuple(columns), categories)
    flat = np.ravel_multi_index(codes, [len(c) for c in categories]) if codes[0].size else np.zeros(0, dtype=int)
    sessions, conversions, revenue = (measures[:, MEASURES.index(m)] for m in ("sessions", "conversions", "revenue"))
    return {"segment": names[flat], "values": values[flat], "sessions": sessions.round().astype("int64"),
            "conversions": conversions.round().astype("int64"), "revenue": revenue}


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
    order = np.lexsort((-table["lost_conversions"], ~table["leak"]))
    return pd.DataFrame({c: table[c][order] for c in columns})


def segment_leaks(counts: dict, min_sessions: int, fdr: float = DEFAULT_FDR) -> pd.DataFrame:
    """Every segment of every dimension against the rest of the traffic, most lost first."""
    total = totals(counts)
    parts = []
    for name, columns in DIMENSIONS.items() if total["sessions"] else ():
        part = _segments(counts, columns)
        if part is not None:
            a, b = fit_beta_prior(part["conversions"], part["sessions"])
            size = len(part["segment"])
            parts.append({**part, "dimension": np.full(size, name, dtype=object),
                          "prior_a": np.full(size, a), "prior_b": np.full(size, b)})
    if not parts:
        return pd.DataFrame(columns=LEAK_COLUMNS + ["values"])
    t = _concat(parts)
    total_n, total_k = int(total["sessions"]), int(total["conversions"])
    revenue_per_conversion = total["revenue"] / total_k if total_k else 0.0
    n, k = t["sessions"].astype("float64"), t["conversions"].astype("float64")
    rest_n, rest_k = total_n - n, total_k - k
    a, b = t["prior_a"], t["prior_b"]
    with np.errstate(invalid="ignore", divide="ignore"):
        t["rate"] = k / n
        t["ci_low"], t["ci_high"] = wilson_interval(k, n)
        shrunk = t["shrunk_rate"] = (k + a) / (n + a + b)
        t["shrunk_low"] = beta.ppf(0.025, k + a, n - k + b)
        t["shrunk_high"] = beta.ppf(0.975, k + a, n - k + b)
        baseline = t["baseline_rate"] = np.where(rest_n > 0, rest_k / rest_n, np.nan)
        post_var = shrunk * (1 - shrunk) / (n + a + b + 1)
        base_var = baseline * (1 - baseline) / rest_n
        lost = n * (baseline - shrunk)
        half = n * Z95 * np.sqrt(post_var + base_var)
    t["lost_conversions"], t["lost_low"], t["lost_high"] = lost, lost - half, lost + half
    t["lost_revenue"] = lost * revenue_per_conversion
    t["lost_revenue_low"] = (lost - half) * revenue_per_conversion
    t["lost_revenue_high"] = (lost + half) * revenue_per_conversion
    rated = t["rated"] = (n >= min_sessions) & (rest_n >= min_sessions)
    t["p_value"] = rated_p_values(rated, fewer_than_rest_p, k, n, total_k, total_n)
    t["q_value"] = benjamini_hochberg(t["p_value"])
    t["leak"] = rated & (t["q_value"] <= fdr) & (shrunk < baseline) & ~np.isin(t["dimension"], SYMPTOMS)
    return _ranked(t, LEAK_COLUMNS + ["values"])


def step_leaks(counts: dict, min_sessions: int) -> pd.DataFrame:
    """Each funnel step's pass rate per device, and what it loses against the best device.

    Lost revenue values a lost session at what the sessions that passed the step
    went on to earn on average (all devices).
    """
    if not totals(counts)["sessions"]:
        return pd.DataFrame(columns=["step", "device", "entered", "passed", "pass_rate", "lost_sessions"])
    reached = counts["device × reached"]
    names = list(reached["stage"].cat.categories)
    width = len(names)
    sessions = reached["sessions"].to_numpy().reshape(-1, width).T  # (stage, device)
    revenue = reached["revenue"].to_numpy().reshape(-1, width).T
    devices = reached["device"].astype(str).to_numpy()[::width]
    entered, passed = sessions[:-1].astype("float64"), sessions[1:].astype("float64")
    value = revenue[1:].sum(axis=1) / np.maximum(sessions[1:].sum(axis=1), 1)
    rated = entered >= min_sessions
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = passed / entered
        low, high = wilson_interval(passed, entered)
    best_rate = np.where(rated, rate, -np.inf).max(axis=1, keepdims=True)
    best_device = devices[np.where(rated, rate, -np.inf).argmax(axis=1)]
    has_best = np.isfinite(best_rate)
    best_rate = np.where(has_best, best_rate, np.nan)
    steps = np.array([step_name(b, a) for b, a in itertools.pairwise(names)], dtype=object)
    table = {
        "device": np.broadcast_to(devices, entered.shape), "entered": entered.astype("int64"),
        "passed": passed.astype("int64"), "step": np.broadcast_to(steps[:, None], entered.shape),
        "value_per_session": np.broadcast_to(value[:, None], entered.shape), "pass_rate": rate,
        "ci_low": low, "ci_high": high, "rated": rated,
        "best_rate": np.broadcast_to(best_rate, entered.shape),
        "best_device": np.broadcast_to(np.where(has_best[:, 0], best_device, None)[:, None], entered.shape),
        "lost_sessions": np.where(rated, entered * np.clip(best_rate - rate, 0, None), np.nan),
        "lost_low": np.where(rated, entered * np.clip(best_rate - high, 0, None), np.nan),
        "lost_high": np.where(rated, entered * np.clip(best_rate - low, 0, None), np.nan),
    }
    table["lost_revenue"] = table["lost_sessions"] * table["value_per_session"]
    shown = (entered > 0).ravel()
    flat = {name: np.asarray(values).ravel()[shown] for name, values in table.items()}
    order = np.argsort(-np.nan_to_num(flat["lost_revenue"], nan=-np.inf), kind="stable")
    return pd.DataFrame({name: values[order] for name, values in flat.items()})


def step_name(before: str, after: str) -> str:
    """How a funnel step is named in the step-leak table and in sentences."""
    return f"{before} → {after}"


def default_periods(first: pd.Timestamp, last: pd.Timestamp) -> tuple[tuple, tuple]:
    """(baseline, current): the first and second half of the days first..last, of equal length.

    With an odd number of days the middle day belongs to neither.
    """
    first, last = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
    days = (last - first).days + 1
    half = pd.Timedelta(days=days // 2 - 1)
    return (first, first + half), (last - half, last)


def silent_leaks(before: dict, now: dict, min_sessions: int, fdr: float = DEFAULT_FDR) -> pd.DataFrame:
    """Segments whose rate fell significantly from the baseline (``before``) to the current period.

    ``before`` and ``now`` are the counts of the two periods; a segment is compared
    where it has sessions in both.
    """
    total = {"before": totals(before), "now": totals(now)}
    if not (total["before"]["sessions"] and total["now"]["sessions"]):
        return pd.DataFrame(columns=SILENT_ROW_COLUMNS + ["leak"])
    parts = [{"dimension": np.array(["all traffic"], dtype=object), "segment": np.array(["all traffic"], dtype=object),
              "values": np.array([{}], dtype=object),
              **{f"{m}_{p}": np.array([total[p][m]]) for p in total for m in ("sessions", "conversions", "revenue")}}]
    for name, columns in DIMENSIONS.items():
        was, is_ = _segments(before, columns), _segments(now, columns)
        if was is None or is_ is None:
            continue
        position = pd.Index(was["segment"]).get_indexer(is_["segment"])
        both = position >= 0
        part = {"dimension": np.full(both.sum(), name, dtype=object), "segment": is_["segment"][both],
                "values": is_["values"][both]}
        for m in ("sessions", "conversions", "revenue"):
            part[f"{m}_before"], part[f"{m}_now"] = was[m][position[both]], is_[m][both]
        parts.append(part)
    t = _concat(parts)
    n0, k0 = t["sessions_before"].astype("float64"), t["conversions_before"].astype("float64")
    n1, k1 = t["sessions_now"].astype("float64"), t["conversions_now"].astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        p0, p1 = k0 / n0, k1 / n1
        t["rate_before"], t["rate_now"] = p0, p1
        t["ci_low"], t["ci_high"] = wilson_interval(k1, n1)
        diff = p0 - p1
        half = Z95 * np.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)
    t["lost_conversions"], t["lost_low"], t["lost_high"] = n1 * diff, n1 * (diff - half), n1 * (diff + half)
    revenue_per_conversion = t["revenue_now"].sum() / max(t["conversions_now"].sum(), 1)
    t["lost_revenue"] = t["lost_conversions"] * revenue_per_conversion
    rated = t["rated"] = (n0 >= min_sessions) & (n1 >= min_sessions)
    # Did the current period get too few of the two periods' conversions?
    t["p_value"] = rated_p_values(rated, fewer_than_rest_p, k1, n1, k0 + k1, n0 + n1)
    t["q_value"] = benjamini_hochberg(t["p_value"])
    t["leak"] = rated & (t["q_value"] <= fdr) & (diff > 0)
    t["sessions"], t["conversions"] = t.pop("sessions_now"), t.pop("conversions_now")
    return _ranked(t, list(t))


def describe_leak(row) -> str:
    """One sentence: what leaks, where, how much, how sure."""
    return (
        f"{segment_name(row.segment, row.dimension)} converts at {pct(row.rate)} (95% CI {pct(row.ci_low)}–"
        f"{pct(row.ci_high)}, n={row.sessions:,}) against {pct(row.baseline_rate)} for the rest: "
        f"about {row.lost_conversions:,.0f} conversions lost (95% CI {max(row.lost_low, 0):,.0f}–"
        f"{row.lost_high:,.0f}), {row.lost_revenue:,.0f} in revenue; "
        f"{_sureness(row.q_value)}."
    )


def describe_silent_leak(row) -> str:
    return (
        f"{segment_name(row.segment, row.dimension)} fell from {pct(row.rate_before)} to {pct(row.rate_now)} "
        f"(n={row.sessions_before:,} then {row.sessions:,}): about {row.lost_conversions:,.0f} "
        f"conversions lost in the current period (95% CI {max(row.lost_low, 0):,.0f}–"
        f"{row.lost_high:,.0f}); {_sureness(row.q_value)}."
    )


def segment_name(segment: str, dimension: str) -> str:
    """A segment with its dimension ("mobile (device)"), unless they are the same ("all traffic")."""
    return segment if segment == dimension else f"{segment} ({dimension})"


def _sureness(q: float) -> str:
    return f"false-discovery-adjusted p = {q:.2g}" if q >= 0.001 else "false-discovery-adjusted p < 0.001"


LEAK_ROW_COLUMNS = [
    "dimension", "values", "segment", "sessions", "conversions", "rate", "ci_low", "ci_high",
    "shrunk_rate", "shrunk_low", "shrunk_high", "baseline_rate", "lost_conversions", "lost_low",
    "lost_high", "lost_revenue", "lost_revenue_low", "lost_revenue_high", "q_value", "sentence",
]
SILENT_ROW_COLUMNS = [
    "dimension", "values", "segment", "sessions_before", "conversions_before", "rate_before",
    "sessions", "conversions", "rate_now", "ci_low", "ci_high", "lost_conversions", "lost_low",
    "lost_high", "lost_revenue", "q_value", "sentence",
]


def _published(table: pd.DataFrame, describe, columns: list[str], limit: int | None) -> pd.DataFrame:
    if table.empty or not table["leak"].any():
        return pd.DataFrame(columns=columns)
    rows = table[table["leak"]].head(limit)
    return rows.assign(sentence=[describe(r) for r in rows.itertuples()])[columns]


def leak_rows(table: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    """The ranked leaks as published (JSON ``leaks``), one sentence each (the first ``limit``)."""
    return _published(table, describe_leak, LEAK_ROW_COLUMNS, limit)


def silent_leak_rows(table: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    """The ranked silent leaks as published (JSON ``silent_leaks``), one sentence each."""
    return _published(table, describe_silent_leak, SILENT_ROW_COLUMNS, limit)


def headline(table: pd.DataFrame):
    """The most specific leak as large as the largest: what an analyst would act on first.

    Among the leaks whose lost-conversion interval reaches the top leak's estimate
    (statistically as large), the one covering the fewest sessions names the cause;
    "desktop" fell because "desktop × google" did.
    """
    rows = np.flatnonzero(table["leak"].to_numpy(dtype=bool))
    if not len(rows):
        return None
    tied = rows[table["lost_high"].to_numpy()[rows] >= table["lost_conversions"].iloc[rows[0]]]
    return table.iloc[tied[np.argmin(table["sessions"].to_numpy()[tied])]]  # the first of the fewest
