"""Sessions with known truth, to check the leak engine's statistics by simulation.

Used by the tests (small runs) and by ``benchmarks/leak_statistics.py`` (full runs):
power at planted leak sizes, false leaks on data with none but real-world noise,
coverage of the published intervals, parents and children.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.schema import to_canonical
from ..data.sources import session_table
from . import metrics
from .cube import build_cube
from .leaks import newcombe_difference, revenue_lost, value_per_unit
from .shrinkage import fit_beta_prior, shrunk_interval
from .stats import wilson_interval

#: The rate sessions convert at where nothing else is said.
BASE_RATE = 0.02
#: Countries of the simulated traffic, and the share of sessions of each.
COUNTRIES = ("United States", "India", "Germany", "France")
#: Lopsided markets: most sessions and most conversions in one country.
LOPSIDED = {"shares": (0.55, 0.15, 0.15, 0.15), "multipliers": (2.0, 0.4, 0.4, 0.4)}


def planted_sessions(seed: int, sources: int = 20, sessions_per_source: int = 3000,
                     base_rate: float = BASE_RATE, planted: dict | None = None, drops: dict | None = None,
                     days: int = 28, day_sd: float = 0.0, site_drop: float = 1.0, repeat: float = 1.0,
                     lopsided: bool = False, child: tuple | None = None, taste: float = 1.0) -> pd.DataFrame:
    """Every session converts at ``base_rate`` except where a leak is planted.

    ``planted``: source -> multiplier of its rate over the whole period;
    ``drops``: source -> multiplier of its rate in the second half only (a silent leak);
    ``site_drop``: multiplier of every rate in the second half (a site-wide change);
    ``day_sd``: each day's rates multiplied by a log-normal swing of this spread (as real
    daily rates vary far beyond binomial noise); ``repeat``: mean sessions per visitor,
    a visitor keeping its device and country and a propensity of its own (log-normal of
    spread ``taste``, mean 1), so sessions are not independent; ``lopsided``: one country has most
    sessions and converts at five times the others' rate; ``child``: (device, source,
    multiplier), a leak in one child only. Devices, countries and days are otherwise drawn
    independently of conversion. The true rate of every session is kept in ``true_rate``.
    """
    rng = np.random.default_rng(seed)
    names = np.array([f"src{i:02d}" for i in range(sources)])
    source = np.repeat(names, sessions_per_source)
    n = len(source)
    day = rng.integers(0, days, size=n)
    visitor = np.sort(rng.integers(0, max(int(n / repeat), 1), size=n)) if repeat > 1 else np.arange(n)
    visitors = visitor.max() + 1
    shares = LOPSIDED["shares"] if lopsided else (0.25,) * 4
    country = rng.choice(len(COUNTRIES), p=shares, size=visitors)[visitor]
    device = rng.choice(["desktop", "mobile", "tablet"], p=[0.6, 0.35, 0.05], size=visitors)[visitor]
    rate = base_rate * np.exp(rng.normal(0.0, day_sd, size=days) - day_sd**2 / 2)[day]
    if repeat > 1:
        rate *= np.exp(rng.normal(-taste**2 / 2, taste, size=visitors))[visitor]
    if lopsided:
        rate *= np.array(LOPSIDED["multipliers"])[country]
    rate[day >= days // 2] *= site_drop
    for name, factor in (planted or {}).items():
        rate[source == name] *= factor
    for name, factor in (drops or {}).items():
        rate[(source == name) & (day >= days // 2)] *= factor
    if child is not None:
        rate[(device == child[0]) & (source == child[1])] *= child[2]
    rate = np.clip(rate, 0, 1)
    converted = rng.random(n) < rate
    frame = pd.DataFrame({
        "visitor_id": visitor.astype(str), "session_id": np.arange(n).astype(str),
        "date": pd.Timestamp("2026-01-05") + pd.to_timedelta(day, unit="D"),
        "device": device, "country": np.array(COUNTRIES)[country],
        "source": source, "pageviews": rng.integers(1, 15, size=n),
        "duration": rng.integers(0, 900, size=n), "transactions": converted.astype(int),
        "revenue": converted * 100.0,
    })
    canonical = to_canonical(frame)
    return canonical.assign(true_rate=rate[canonical["session_id"].astype(int).to_numpy()])


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
    for start in range(0, segments, group):
        part = slice(start, start + group)
        a, b, _ = fit_beta_prior(k[part], n[part])
        shrunk_low[part], shrunk_high[part] = shrunk_interval(k[part], n[part], a, b)
    return {
        "segments": segments,
        "wilson": float(np.mean((low <= truth) & (truth <= high))),
        "empirical_bayes": float(np.mean((shrunk_low <= truth) & (truth <= shrunk_high))),
    }


def revenue_coverage(replicates: int, sigma: float = 1.5, seed: int = 0) -> dict:
    """Share of simulated data sets whose lost revenue interval (:func:`.leaks.revenue_lost`) covers
    the true loss, the uncertainty of revenue per conversion ``carried`` or ``left_out`` (lost
    conversions' interval times the mean revenue per conversion, as before it was carried).

    A segment of 20,000 sessions converts at 1% against 2% for the rest's 80,000; each order's
    value is log-normal of spread ``sigma`` with a mean of 100 (1.5: the mean of the 1,800 orders is
    known to ±14%, as far as their lost conversions are). The true loss: 20,000 × (2% − 1%) × 100.
    """
    rng = np.random.default_rng(seed)
    n1, p1, n2, p2, value = 20_000, 0.01, 80_000, 0.02, 100.0
    k1, k2 = rng.binomial(n1, p1, replicates), rng.binomial(n2, p2, replicates)
    revenue, squares = np.empty(replicates), np.empty(replicates)
    for i, orders in enumerate(k1 + k2):
        amounts = value * np.exp(rng.normal(-sigma**2 / 2, sigma, orders))
        revenue[i], squares[i] = amounts.sum(), (amounts**2).sum()
    gap, low, high = newcombe_difference(k2, n2, k1, n1)
    lost = [n1 * x for x in (gap, low, high)]
    total = {"revenue": revenue, "revenue_squared": squares, "conversions": k1 + k2}
    _, revenue_low, revenue_high = revenue_lost(*lost, value_per_unit(total, "conversions"))
    truth, mean = n1 * (p2 - p1) * value, revenue / (k1 + k2)
    return {"carried": float(np.mean((revenue_low <= truth) & (truth <= revenue_high))),
            "left_out": float(np.mean((lost[1] * mean <= truth) & (truth <= lost[2] * mean)))}


def darkest_cell_claims(data_sets: int, seed: int = 0, cells: int = 40, spread: float = 0.25) -> dict:
    """What the darkest cell of a map (or heat map) says about the truly best, coloured by shrunk
    rates (:func:`.metrics.shrunk`, as the dashboard colours them) or by raw rates (``raw``, as before).

    Each data set has ``cells`` cells of 100 to 30,000 sessions (log-uniform: every one rated), true
    rates log-normal of ``spread`` around 1.5% (0.25: half of them 15% or more below or 18% above it;
    not the beta the shrinkage assumes). Per kind: the share of data sets where the darkest cell is
    one of the five truly best (``best_five``), or truly converts worse than half the cells
    (``below_median``); and the share where the shrunk colours are nearer the truth (squared error
    summed over cells) than the raw ones (``shrunk_nearer``).
    """
    rng = np.random.default_rng(seed)
    hits = {f"{name}_{kind}": 0 for name in ("shrunk", "raw") for kind in ("best_five", "below_median")}
    nearer = 0
    for _ in range(data_sets):
        n = np.round(np.exp(rng.uniform(np.log(100), np.log(30_000), cells))).astype("int64")
        truth = 0.015 * np.exp(rng.normal(0.0, spread, cells))
        k = rng.binomial(n, truth)
        colours = {"shrunk": metrics.shrunk(k, n)["shrunk_rate"], "raw": k / n}
        best_five = np.argsort(-truth)[:5]
        for name, colour in colours.items():
            darkest = np.argmax(colour)
            hits[f"{name}_best_five"] += bool(darkest in best_five)
            hits[f"{name}_below_median"] += bool(truth[darkest] < np.median(truth))
        nearer += np.sum((colours["shrunk"] - truth) ** 2) < np.sum((colours["raw"] - truth) ** 2)
    return {"data_sets": data_sets, **{name: count / data_sets for name, count in hits.items()},
            "shrunk_nearer": float(nearer / data_sets)}


def repeat_visitor_claims(seeds, taste: float = 1.5) -> dict:
    """How often the site's conversion rate interval (the KPI) covers the true rate, and how often
    the country takeaway's test finds a country converting differently where none does, on
    sessions of repeat visitors (four sessions each on average, each visitor's taste for buying
    log-normal of spread ``taste``: 1.5 makes the design effect about 1.7), counting sessions
    divided by the cube's design effect (``adjusted``) or as independent (``unadjusted``, as before).

    10,000 sessions a data set, converting at 2% on average whatever their country; the rate's
    truth is that mean, which a new visitor's session has, not these visitors' own tastes.
    """
    covered, claimed = {"adjusted": 0, "unadjusted": 0}, {"adjusted": 0, "unadjusted": 0}
    for seed in seeds:
        data = planted_sessions(seed, sources=10, sessions_per_source=1000, repeat=4.0, taste=taste)
        with session_table(data.drop(columns="true_rate")) as table:
            cube = build_cube(table)
        counts = cube.counts(np.ones(cube.cells, dtype=bool), (0, cube.days - 1))[0]
        for name, effect in (("adjusted", cube.design_effect), ("unadjusted", 1.0)):
            kpis = metrics.kpis(counts, effect)
            covered[name] += kpis["ci_low"] <= BASE_RATE <= kpis["ci_high"]
            countries = metrics.by_country(counts, 0, effect)
            claimed[name] += bool((countries["q_value"] <= metrics.DEFAULT_FDR).any())
    hits = {**{f"rate_covered_{name}": count for name, count in covered.items()},
            **{f"country_claimed_{name}": count for name, count in claimed.items()}}
    return {"data_sets": len(seeds), **{name: count / len(seeds) for name, count in hits.items()}}


EDGES = (10, 60, 180, 600)
#: The null scenarios: no segment differs, but the data has what real data has.
NULLS = {
    "day-to-day swings (30%)": {"day_sd": 0.3},
    "repeat visitors (4 sessions each)": {"repeat": 4.0},
    "lopsided markets": {"lopsided": True},
    "site-wide drop (40%)": {"site_drop": 0.6},
    "all of these at once": {"day_sd": 0.3, "repeat": 4.0, "lopsided": True, "site_drop": 0.6},
}


def _leak_tables(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(leaks, silent leaks) of a data set, computed as the dashboard does."""
    from .model import SessionModel

    model = SessionModel(sessions=data.drop(columns="true_rate"), duration_edges=list(EDGES),
                         min_sessions=100)
    return model.leaks_table, model.silent_leaks_table


def power(kind: str, drop: float, size: int, seeds) -> dict:
    """Share of data sets where one source whose rate is ``drop`` lower (``kind`` "leak": than
    the rest, throughout; "silent": in the second half than in the first) is found, by the
    engine and by a plain one-sided Fisher test of that source alone (no multiple testing,
    no allowance for day-to-day swings: the reference a careless analyst would use).

    ``size``: the source's sessions over both halves; the other nine have as many.
    """
    from scipy.stats import fisher_exact

    found = plain = 0
    for seed in seeds:
        planted = {"planted": {"src03": 1 - drop}} if kind == "leak" else {"drops": {"src03": 1 - drop}}
        data = planted_sessions(seed, sources=10, sessions_per_source=size, **planted)
        table = _leak_tables(data)[0 if kind == "leak" else 1]
        found += bool(((table["segment"] == "src03") & table["leak"]).any())
        mine = data["source"] == "src03"
        if kind == "leak":
            cells = [[data["converted"][mine].sum(), mine.sum()],
                     [data["converted"][~mine].sum(), (~mine).sum()]]
        else:
            late = _second_half(data)
            cells = [[data["converted"][mine & late].sum(), (mine & late).sum()],
                     [data["converted"][mine & ~late].sum(), (mine & ~late).sum()]]
        table2 = [[k, n - k] for k, n in cells]
        plain += fisher_exact(table2, alternative="less")[1] < 0.05
    return {"engine": found / len(seeds), "plain_fisher": plain / len(seeds), "seeds": len(seeds)}


def false_alarms(scenario: dict, seeds) -> dict:
    """Share of data sets with any false leak, and any false silent leak, under a null scenario.

    Nothing differs but what the scenario plants: a lopsided market's countries truly differ
    (country leaks are true there), and a site-wide drop is truly the whole site's.
    """
    leaks_found = silent_found = 0
    for seed in seeds:
        found, silent = _leak_tables(planted_sessions(seed, **scenario))
        true_leak = found["dimension"] == "country" if scenario.get("lopsided") else False
        leaks_found += bool((found["leak"] & ~true_leak).any())
        true_silent = silent["dimension"] == "all traffic" if scenario.get("site_drop", 1.0) < 1 else False
        silent_found += bool((silent["leak"] & ~true_silent).any())
    return {"leaks": leaks_found / len(seeds), "silent_leaks": silent_found / len(seeds), "seeds": len(seeds)}


#: The data sets intervals are checked on: real-world noise, and leaks to find.
COVERAGE_SCENARIO = {"day_sd": 0.3, "repeat": 2.0, "sessions_per_source": 8000,
                     "planted": {"src03": 0.5, "src07": 0.6, "src11": 0.7},
                     "drops": {"src02": 0.5, "src09": 0.7, "src17": 0.85}}


def _second_half(data: pd.DataFrame, days: int = 28) -> np.ndarray:
    """Which sessions of a :func:`planted_sessions` data set fall in its second half."""
    return (data["date"] >= data["date"].min() + pd.Timedelta(days=days // 2)).to_numpy()


def _mask(data: pd.DataFrame, values: dict) -> np.ndarray:
    return np.logical_and.reduce([data[c].astype(str).to_numpy() == v for c, v in values.items()])


def interval_coverages(seeds) -> dict:
    """How often the published intervals cover the truth, from the sessions' true rates.

    Lost conversions of every flagged leak: the segment's expected conversions at its
    comparator's true rate, minus at its own. Change beyond the rest of every rated
    one-column segment: its true rate's ratio between the halves over the rest's, less one.
    """
    lost_hits, lost_n, change_hits, change_n = 0, 0, 0, 0
    for seed in seeds:
        data = planted_sessions(seed, **COVERAGE_SCENARIO)
        found, silent = _leak_tables(data)
        truth = data["true_rate"].to_numpy()
        for row in found[found["leak"]].itertuples():
            mine = _mask(data, row.values)
            if row.parent is None:
                rest = ~mine
            else:
                column = next(c for c, v in row.values.items() if row.parent == f"{v} ({c})")
                rest = _mask(data, {column: row.values[column]}) & ~mine
            true_lost = mine.sum() * truth[rest].mean() - truth[mine].sum()
            lost_hits += row.lost_low <= true_lost <= row.lost_high
            lost_n += 1
        late = _second_half(data)
        rated = silent[silent["rated"] & silent["dimension"].isin(["device", "country", "source"])]
        for row in rated.itertuples():
            mine = _mask(data, row.values)
            rate = {(m, p): truth[(mine == m) & (late == p)].mean()
                    for m in (True, False) for p in (True, False)}
            true_change = ((rate[True, True] / rate[True, False])
                           / (rate[False, True] / rate[False, False]) - 1)
            change_hits += row.change_low <= true_change <= row.change_high
            change_n += 1
    return {"lost": lost_hits / max(lost_n, 1), "lost_intervals": lost_n,
            "change": change_hits / max(change_n, 1), "change_intervals": change_n}


def children(seeds) -> dict:
    """Share of data sets where a child-only leak (mobile × src03 at 30% of the rate) is found
    under its parent, and where a parent-only gap (src03 at half the rate on every device)
    names any child of src03 (which would be false)."""
    found = false = 0
    for seed in seeds:
        planted = planted_sessions(seed, sessions_per_source=8000, child=("mobile", "src03", 0.3))
        table = _leak_tables(planted)[0]
        found += bool(((table["segment"] == "mobile × src03") & table["leak"]).any())
        table = _leak_tables(planted_sessions(seed, planted={"src03": 0.5}))[0]
        false += bool((table["leak"] & table["segment"].str.endswith("× src03")).any())
    return {"child_found": found / len(seeds), "false_child": false / len(seeds), "seeds": len(seeds)}
