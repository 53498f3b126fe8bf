"""Sessions with known truth, to check the leak engine's statistics by simulation.

Used by the tests (recall at planted leak sizes, false leaks on data with none)
and by ``benchmarks/coverage.py`` (how often 95% intervals cover the true rate).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .leaks import fit_beta_prior
from .schema import to_canonical
from .stats import wilson_interval


def planted_sessions(seed: int, sources: int = 20, sessions_per_source: int = 3000,
                     base_rate: float = 0.02, planted: dict | None = None, drops: dict | None = None,
                     days: int = 28) -> pd.DataFrame:
    """Every session converts at ``base_rate`` except where a leak is planted.

    ``planted``: source -> multiplier of its rate over the whole period;
    ``drops``: source -> multiplier of its rate in the second half only (a silent leak).
    Devices, countries and days are drawn independently of conversion.
    """
    rng = np.random.default_rng(seed)
    names = np.array([f"src{i:02d}" for i in range(sources)])
    source = np.repeat(names, sessions_per_source)
    n = len(source)
    day = rng.integers(0, days, size=n)
    rate = np.full(n, base_rate)
    for name, factor in (planted or {}).items():
        rate[source == name] *= factor
    for name, factor in (drops or {}).items():
        rate[(source == name) & (day >= days // 2)] *= factor
    converted = rng.random(n) < rate
    frame = pd.DataFrame({
        "visitor_id": np.arange(n).astype(str), "session_id": np.arange(n).astype(str),
        "date": pd.Timestamp("2026-01-05") + pd.to_timedelta(day, unit="D"),
        "device": rng.choice(["desktop", "mobile", "tablet"], p=[0.6, 0.35, 0.05], size=n),
        "country": rng.choice(["United States", "India", "Germany", "France"], size=n),
        "source": source, "pageviews": rng.integers(1, 15, size=n),
        "duration": rng.integers(0, 900, size=n), "transactions": converted.astype(int),
        "revenue": converted * 100.0,
    })
    return to_canonical(frame)


def interval_coverage(segments: int = 20_000, group: int = 50, seed: int = 0) -> dict:
    """Share of simulated segments whose 95% intervals cover their true rate.

    True rates are drawn from a beta distribution around 2% (as web conversion
    rates spread), sample sizes log-uniformly from 100 to 20,000 sessions;
    the empirical-Bayes prior is fitted per group of segments, as the engine
    fits it per dimension.
    """
    rng = np.random.default_rng(seed)
    truth = rng.beta(4, 196, size=segments)
    n = np.round(np.exp(rng.uniform(np.log(100), np.log(20_000), size=segments)))
    k = rng.binomial(n.astype(int), truth)
    low, high = wilson_interval(k, n)
    shrunk_low, shrunk_high = np.empty(segments), np.empty(segments)
    from scipy.stats import beta

    for start in range(0, segments, group):
        part = slice(start, start + group)
        a, b = fit_beta_prior(k[part], n[part])
        shrunk_low[part] = beta.ppf(0.025, k[part] + a, n[part] - k[part] + b)
        shrunk_high[part] = beta.ppf(0.975, k[part] + a, n[part] - k[part] + b)
    return {
        "segments": segments,
        "wilson": float(np.mean((low <= truth) & (truth <= high))),
        "empirical_bayes": float(np.mean((shrunk_low <= truth) & (truth <= shrunk_high))),
    }


#: Planted sizes the engine must find: 4 of 20 sources converting at half the rate of the
#: rest (1% against 2%, 5,000 sessions each), and 3 sources whose rate falls by 60% in the
#: second half of the period (10,000 sessions each, so 5,000 a half).
PLANTED = {"src03": 0.5, "src07": 0.5, "src11": 0.5, "src15": 0.5}
PLANTED_SESSIONS = 5000
DROPS = {"src02": 0.4, "src09": 0.4, "src17": 0.4}
DROP_SESSIONS = 10_000
EDGES = (10, 60, 180, 600)


def _found(table: pd.DataFrame, names) -> set:
    rows = table[table["leak"] & (table["dimension"] == "source")]
    return set(rows["segment"]) & set(names)


def _leak_tables(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(leaks, silent leaks) of a data set, computed as the dashboard does."""
    from .model import SessionModel

    model = SessionModel(sessions=data, duration_edges=list(EDGES), min_sessions=100)
    return model.leaks_table, model.silent_leaks_table


def leak_recall(seeds) -> float:
    """Share of the planted source leaks reported, over the seeds."""
    found = 0
    for s in seeds:
        data = planted_sessions(s, sessions_per_source=PLANTED_SESSIONS, planted=PLANTED)
        found += len(_found(_leak_tables(data)[0], PLANTED))
    return found / (len(PLANTED) * len(seeds))


def silent_recall(seeds) -> float:
    """Share of the planted silent leaks (second-half drops) reported, over the seeds."""
    found = 0
    for s in seeds:
        data = planted_sessions(s, sessions_per_source=DROP_SESSIONS, drops=DROPS)
        found += len(_found(_leak_tables(data)[1], DROPS))
    return found / (len(DROPS) * len(seeds))


def false_leak_rates(seeds) -> dict:
    """Share of seeds, on data with no leak at all, where any leak (or silent leak) is reported.

    With every segment equal, any report is false, so this is the family-wise error
    rate, which Benjamini–Hochberg holds at the false discovery rate (5%).
    """
    leaks = silent = 0
    for s in seeds:
        found, silent_found = _leak_tables(planted_sessions(s))
        leaks += bool(found["leak"].any())
        silent += bool(silent_found["leak"].any())
    return {"leaks": leaks / len(seeds), "silent_leaks": silent / len(seeds), "seeds": len(seeds)}
