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

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, logit
from scipy.stats import beta, betabinom

from .metrics import duration_buckets, stage_flags
from .stats import Z95, benjamini_hochberg, fewer_than_rest_p, wilson_interval
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
        m, strength = expit(x[0]), np.exp(x[1])
        return -betabinom.logpmf(k, n, m * strength, (1 - m) * strength).sum()

    fit = minimize(negative_log_likelihood, [logit(mean), np.log(guess)], method="L-BFGS-B",
                   bounds=[(None, None), (0.0, np.log(MAX_PRIOR_STRENGTH))])
    m, strength = expit(fit.x[0]), np.exp(fit.x[1])
    return m * strength, (1 - m) * strength


def segment_label(values: dict) -> str:
    return " × ".join(str(v) for v in values.values())


def _segments(sessions: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    grouped = sessions.groupby(columns, observed=True, sort=False)
    table = grouped.agg(sessions=("converted", "size"), conversions=("converted", "sum"),
                        revenue=("revenue", "sum")).reset_index()
    table["segment"] = [segment_label(dict(zip(columns, row))) for row in table[columns].itertuples(index=False)]
    table["values"] = [dict(zip(columns, map(str, row))) for row in table[columns].itertuples(index=False)]
    return table.drop(columns=columns)


def segment_leaks(sessions: pd.DataFrame, duration_edges, min_sessions: int,
                  fdr: float = DEFAULT_FDR) -> pd.DataFrame:
    """Every segment of every dimension against the rest of the traffic, most lost first."""
    if sessions.empty:
        return pd.DataFrame(columns=LEAK_COLUMNS + ["values"])
    data = sessions.assign(bucket=duration_buckets(sessions["duration"], duration_edges))
    total_n, total_k = len(data), int(data["converted"].sum())
    revenue_per_conversion = data["revenue"].sum() / total_k if total_k else 0.0
    tables = []
    for name, columns in DIMENSIONS.items():
        if any(data[c].nunique() < 2 for c in columns):
            continue  # one value only (e.g. no medium in the export): nothing to compare
        table = _segments(data, columns)
        a, b = fit_beta_prior(table["conversions"], table["sessions"])
        tables.append(table.assign(dimension=name, prior_a=a, prior_b=b))
    if not tables:
        return pd.DataFrame(columns=LEAK_COLUMNS + ["values"])
    table = pd.concat(tables, ignore_index=True)
    n, k = table["sessions"].to_numpy("float64"), table["conversions"].to_numpy("float64")
    rest_n, rest_k = total_n - n, total_k - k
    a, b = table["prior_a"].to_numpy(), table["prior_b"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        table["rate"] = k / n
        table["ci_low"], table["ci_high"] = wilson_interval(k, n)
        table["shrunk_rate"] = (k + a) / (n + a + b)
        table["shrunk_low"] = beta.ppf(0.025, k + a, n - k + b)
        table["shrunk_high"] = beta.ppf(0.975, k + a, n - k + b)
        baseline = np.where(rest_n > 0, rest_k / rest_n, np.nan)
        table["baseline_rate"] = baseline
        post_var = table["shrunk_rate"] * (1 - table["shrunk_rate"]) / (n + a + b + 1)
        base_var = baseline * (1 - baseline) / rest_n
        lost = n * (baseline - table["shrunk_rate"])
        half = n * Z95 * np.sqrt(post_var + base_var)
    table["lost_conversions"], table["lost_low"], table["lost_high"] = lost, lost - half, lost + half
    table["lost_revenue"] = lost * revenue_per_conversion
    table["lost_revenue_low"] = (lost - half) * revenue_per_conversion
    table["lost_revenue_high"] = (lost + half) * revenue_per_conversion
    table["rated"] = (n >= min_sessions) & (rest_n >= min_sessions)
    p = fewer_than_rest_p(k, n, total_k, total_n)
    table["p_value"] = pd.Series(p).where(table["rated"])
    table["q_value"] = benjamini_hochberg(table["p_value"])
    table["leak"] = (table["rated"] & (table["q_value"] <= fdr) & (table["shrunk_rate"] < table["baseline_rate"])
                     & ~table["dimension"].isin(SYMPTOMS))
    table = table.sort_values(["leak", "lost_conversions"], ascending=[False, False], ignore_index=True)
    return table[LEAK_COLUMNS + ["values"]]


def step_leaks(sessions: pd.DataFrame, engaged_pageviews: int, deep_pageviews: int,
               min_sessions: int, definition: str = "pageviews") -> pd.DataFrame:
    """Each funnel step's pass rate per device, and what it loses against the best device.

    Lost revenue values a lost session at what the sessions that passed the step
    went on to earn on average (all devices).
    """
    if sessions.empty:
        return pd.DataFrame(columns=["step", "device", "entered", "passed", "pass_rate", "lost_sessions"])
    flags = stage_flags(sessions, engaged_pageviews, deep_pageviews, definition)
    stages = list(flags.columns)
    rows = []
    for before, after in zip(stages[:-1], stages[1:]):
        entered = flags[before].to_numpy()
        passed = flags[after].to_numpy()
        value = sessions["revenue"].to_numpy()[passed].sum() / max(passed.sum(), 1)
        per_device = pd.DataFrame({"device": sessions["device"].astype(str), "entered": entered,
                                   "passed": passed}).groupby("device")[["entered", "passed"]].sum()
        per_device = per_device[per_device["entered"] > 0]
        per_device["step"] = step_name(before, after)
        per_device["value_per_session"] = value
        rows.append(per_device.reset_index())
    table = pd.concat(rows, ignore_index=True)
    n, k = table["entered"].to_numpy("float64"), table["passed"].to_numpy("float64")
    table["pass_rate"] = k / n
    table["ci_low"], table["ci_high"] = wilson_interval(k, n)
    table["rated"] = table["entered"] >= min_sessions
    best = table[table["rated"]].groupby("step")["pass_rate"].max()
    table["best_rate"] = table["step"].map(best)
    table["best_device"] = table["step"].map(
        table[table["rated"]].sort_values("pass_rate").groupby("step")["device"].last())
    gap = (table["best_rate"] - table["pass_rate"]).clip(lower=0)
    table["lost_sessions"] = (n * gap).where(table["rated"])
    table["lost_low"] = (n * (table["best_rate"] - table["ci_high"]).clip(lower=0)).where(table["rated"])
    table["lost_high"] = (n * (table["best_rate"] - table["ci_low"]).clip(lower=0)).where(table["rated"])
    table["lost_revenue"] = table["lost_sessions"] * table["value_per_session"]
    return table.sort_values("lost_revenue", ascending=False, ignore_index=True)


def step_name(before: str, after: str) -> str:
    """How a funnel step is named in the step-leak table and in sentences."""
    return f"{before} → {after}"


def default_periods(dates: pd.Series) -> tuple[tuple, tuple]:
    """(baseline, current): the first and second half of the dates, of equal length.

    With an odd number of days the middle day belongs to neither.
    """
    first, last = dates.min().normalize(), dates.max().normalize()
    days = (last - first).days + 1
    half = pd.Timedelta(days=days // 2 - 1)
    return (first, first + half), (last - half, last)


def silent_leaks(sessions: pd.DataFrame, baseline_period, current_period, duration_edges,
                 min_sessions: int, fdr: float = DEFAULT_FDR) -> pd.DataFrame:
    """Segments whose rate fell significantly from the baseline to the current period."""
    if sessions.empty:
        return pd.DataFrame(columns=SILENT_ROW_COLUMNS + ["leak"])
    data = sessions.assign(bucket=duration_buckets(sessions["duration"], duration_edges))
    dates = data["date"]
    periods = {
        "before": (dates >= pd.Timestamp(baseline_period[0])) & (dates <= pd.Timestamp(baseline_period[1])),
        "now": (dates >= pd.Timestamp(current_period[0])) & (dates <= pd.Timestamp(current_period[1])),
    }
    tables = []
    for name, columns in {"all traffic": [], **DIMENSIONS}.items():
        parts = []
        for period, mask in periods.items():
            part = data[mask.to_numpy()]
            if columns:
                seg = _segments(part, columns)
            else:
                seg = pd.DataFrame({"sessions": [len(part)], "conversions": [int(part["converted"].sum())],
                                    "revenue": [part["revenue"].sum()], "segment": ["all traffic"],
                                    "values": [{}]})
            parts.append(seg.set_index("segment").add_suffix(f"_{period}"))
        joined = parts[0].join(parts[1], how="inner")
        joined["dimension"] = name
        tables.append(joined.reset_index())
    table = pd.concat(tables, ignore_index=True)
    table["values"] = table.pop("values_now")
    table = table.drop(columns=["values_before"])
    n0, k0 = table["sessions_before"].to_numpy("float64"), table["conversions_before"].to_numpy("float64")
    n1, k1 = table["sessions_now"].to_numpy("float64"), table["conversions_now"].to_numpy("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        p0, p1 = k0 / n0, k1 / n1
        table["rate_before"], table["rate_now"] = p0, p1
        table["ci_low"], table["ci_high"] = wilson_interval(k1, n1)
        diff = p0 - p1
        half = Z95 * np.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)
    table["lost_conversions"], table["lost_low"], table["lost_high"] = n1 * diff, n1 * (diff - half), n1 * (diff + half)
    revenue_per_conversion = table["revenue_now"].sum() / max(table["conversions_now"].sum(), 1)
    table["lost_revenue"] = table["lost_conversions"] * revenue_per_conversion
    table["rated"] = (n0 >= min_sessions) & (n1 >= min_sessions)
    # Did the current period get too few of the two periods' conversions?
    p = fewer_than_rest_p(k1, n1, k0 + k1, n0 + n1)
    table["p_value"] = pd.Series(p).where(table["rated"])
    table["q_value"] = benjamini_hochberg(table["p_value"])
    table["leak"] = table["rated"] & (table["q_value"] <= fdr) & (diff > 0)
    table = table.sort_values(["leak", "lost_conversions"], ascending=[False, False], ignore_index=True)
    return table.rename(columns={"sessions_now": "sessions", "conversions_now": "conversions"})


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


def _published(table: pd.DataFrame, describe, columns: list[str]) -> pd.DataFrame:
    if table.empty or not table["leak"].any():
        return pd.DataFrame(columns=columns)
    rows = table[table["leak"]]
    return rows.assign(sentence=[describe(r) for r in rows.itertuples()])[columns]


def leak_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The ranked leaks as published (JSON ``leaks``), one sentence each."""
    return _published(table, describe_leak, LEAK_ROW_COLUMNS)


def silent_leak_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The ranked silent leaks as published (JSON ``silent_leaks``), one sentence each."""
    return _published(table, describe_silent_leak, SILENT_ROW_COLUMNS)


def headline(rows: pd.DataFrame):
    """The most specific leak as large as the largest: what an analyst would act on first.

    Among the leaks whose lost-conversion interval reaches the top leak's estimate
    (statistically as large), the one covering the fewest sessions names the cause;
    "desktop" fell because "desktop × google" did.
    """
    if rows.empty:
        return None
    top = rows.iloc[0]
    tied = rows[rows["lost_high"] >= top["lost_conversions"]]
    return tied.sort_values("sessions", kind="stable").iloc[0]
