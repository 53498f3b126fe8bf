"""The dashboard's tables computed the naive way: filter the session DataFrame, group per table.

Written independently of the cube (pandas filtering, ``pd.cut`` buckets, ``np.select``
stages), then passed through the same table functions, so a test can check that
answering filters from the cube changes nothing.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from leak_app.analysis import leaks
from leak_app.analysis.cube import GROUPINGS, MARGINS, duration_labels
from leak_app.analysis.metrics import DEFAULT_FDR
from leak_app.analysis.model import TABLES
from leak_app.analysis.periods import halves
from leak_app.analysis.takeaways import takeaways

MEASURES = {"sessions": ("converted", "size"), "conversions": ("converted", "sum"),
            "transactions": ("transactions", "sum"), "revenue": ("revenue", "sum"),
            "revenue_squared": ("revenue_squared", "sum")}
STAGE_NAMES = ("Browsed", "Engaged", "Deep Engagement", "Converted")


def filtered(data: pd.DataFrame, devices, countries, start, end, channels=()) -> pd.DataFrame:
    """The filter written as a plain pandas query (no channels named: all of them)."""
    rows = data.query("device in @devices and country in @countries and @start <= date <= @end")
    return rows[rows["channel"].isin(channels)] if len(channels) else rows


def naive_counts(rows: pd.DataFrame, edges, engaged: int, deep: int, labelled_by: pd.DataFrame | None = None
                 ) -> dict:
    """Every grouping the tables read, by pandas groupby of the session rows; labels those of
    ``labelled_by`` where given (periods of the same rows: one set of labels, as in one cube)."""
    labelled_by = rows if labelled_by is None else labelled_by
    pageviews, converted = rows["pageviews"].to_numpy(), rows["converted"].to_numpy()
    stage = np.select([converted, (pageviews >= engaged) & (pageviews >= deep), pageviews >= engaged],
                      [3, 2, 1], 0)
    data = pd.DataFrame({
        **{c: pd.Categorical(rows[c].astype(str), categories=_sorted_categories(labelled_by[c]).categories)
           for c in ("device", "country", "source", "medium", "channel")},
        "bucket": pd.Categorical.from_codes(
            np.where((pageviews <= 1) & (rows["duration"].to_numpy() <= 0), 0,
                     1 + pd.cut(rows["duration"], [-np.inf, *edges, np.inf], right=False, labels=False)),
            categories=duration_labels(edges), ordered=True),
        "stage": pd.Categorical.from_codes(stage, categories=STAGE_NAMES, ordered=True),
        "converted": converted, "transactions": rows["transactions"].to_numpy(),
        "revenue": rows["revenue"].to_numpy(), "revenue_squared": rows["revenue"].to_numpy() ** 2,
    })
    out = {}
    for name, dims in {**GROUPINGS, **{m: (dim,) for m, (_, dim) in MARGINS.items()}}.items():
        out[name] = data.groupby(list(dims), observed=True).agg(**MEASURES).reset_index()
    reached = []
    for device in sorted(data["device"].unique()):
        part = data[data["device"] == device]
        for code, name in enumerate(STAGE_NAMES):
            at_least = part["stage"].cat.codes >= code
            reached.append({"device": device, "stage": name, "sessions": int(at_least.sum()),
                            "revenue": part["revenue"][at_least].sum(),
                            "revenue_squared": part["revenue_squared"][at_least].sum()})
    out["device × reached"] = pd.DataFrame(
        reached, columns=["device", "stage", "sessions", "revenue", "revenue_squared"]).astype(
        {"stage": pd.CategoricalDtype(STAGE_NAMES, ordered=True), "device": "category"})
    return NaiveCounts(out, data)


class NaiveCounts(dict):
    """The frames by grouping name, also read as arrays, as the leak engine reads the cube's counts."""

    def __init__(self, frames: dict, rows: pd.DataFrame):
        super().__init__(frames)
        self.rows = rows

    def joint(self, first: str, second: str) -> np.ndarray:
        """Sessions of each pair of labels, by a pandas groupby of the rows."""
        table = self.rows.groupby([first, second], observed=False).size().unstack(fill_value=0)
        return table.reindex(index=list(self.labels(first)), columns=list(self.labels(second)),
                             fill_value=0).to_numpy(dtype="float64")

    def groups(self, name: str) -> tuple[dict, np.ndarray]:
        frame = self[name]
        dims = [c for c in frame.columns if c not in MEASURES]
        return ({d: frame[d].cat.codes.to_numpy() for d in dims},
                frame[list(MEASURES)].to_numpy(dtype="float64"))

    def labels(self, dim: str) -> tuple:
        return tuple(self[dim][dim].cat.categories)


def _sorted_categories(values: pd.Series) -> pd.Categorical:
    text = values.astype(str).to_numpy()
    return pd.Categorical(text, categories=sorted(set(text)))


def naive_model(data: pd.DataFrame, rows: pd.DataFrame, top: int = 10, min_sessions: int = 100,
                fdr: float = DEFAULT_FDR, level: float = leaks.DEFAULT_LEVEL,
                edges=(10, 60, 180, 300, 600, 1200, 3600),
                engaged: int = 5, deep: int = 10) -> SimpleNamespace:
    """What the model holds for these filtered ``rows`` of ``data``, computed naively."""
    counts = naive_counts(rows, edges, engaged, deep)
    volumes = data["source"].astype(str).value_counts()
    ranked = sorted(volumes.items(), key=lambda kv: (-kv[1], kv[0]))
    periods = ((None, None), (None, None))
    before = now = rows.iloc[:0]
    if len(rows):
        periods = halves(rows["date"].min(), rows["date"].max())
        (b0, b1), (c0, c1) = periods
        before, now = (rows[rows["date"].between(a, b)] for a, b in ((b0, b1), (c0, c1)))
    effect = naive_design_effect(data) if "visitor_id" in data else 1.0  # benchmarks read no ids
    cube = SimpleNamespace(site_daily=naive_daily(data), design_effect=effect)
    selection = SimpleNamespace(counts=counts, top=[name for name, _ in ranked[:top]])
    comparison = SimpleNamespace(counts=[naive_counts(part, edges, engaged, deep, labelled_by=rows)
                                         for part in (before, now)],
                                 units=[naive_units(part, period, edges, engaged, deep, labelled_by=rows)
                                        for part, period in zip((before, now), periods)])
    m = SimpleNamespace(selected=lambda: selection, compared=lambda: comparison, current_cube=lambda: cube,
                        design_effect=lambda: effect,
                        min_sessions=min_sessions, fdr=fdr, level=level, periods=lambda: periods,
                        period_problems=tuple, funnel="pageviews",
                        load_report={"absent_columns": [
                            c for c in ("device", "country", "source", "medium", "channel", "pageviews",
                                        "duration")
                            if c not in data]})
    for name, (compute, _) in TABLES.items():
        setattr(m, name, compute(m))
    m.takeaways = takeaways(m)
    return m


def naive_units(rows: pd.DataFrame, period, edges, engaged: int, deep: int,
                labelled_by: pd.DataFrame | None = None) -> NaiveUnits:
    """A period's counts unit by unit: its days cut as :func:`leaks.units` cuts them (labels: see
    :func:`naive_counts`)."""
    start = pd.Timestamp(period[0]) if period[0] is not None else None
    cuts = leaks.units(0, (pd.Timestamp(period[1]) - start).days) if start is not None else []
    parts = [rows[rows["date"].between(start + pd.Timedelta(days=a), start + pd.Timedelta(days=b))]
             for a, b in cuts]
    return NaiveUnits(naive_counts(rows, edges, engaged, deep, labelled_by),
                      [naive_counts(p, edges, engaged, deep, labelled_by) for p in parts])


class NaiveUnits:
    """Each grouping's measures per unit, on a trailing axis, as the leak engine reads the cube's
    stacked counts: the period's groups, each unit's frame matched to them by label."""

    def __init__(self, period: NaiveCounts, parts: list[NaiveCounts]):
        self.period, self.parts = period, parts

    def groups(self, name: str) -> tuple[dict, np.ndarray]:
        codes, measures = self.period.groups(name)
        keys = pd.MultiIndex.from_arrays([np.asarray(self.labels(d), dtype=object)[c]
                                          for d, c in codes.items()])
        out = np.zeros((len(measures), len(MEASURES), len(self.parts)))
        for j, part in enumerate(self.parts):
            if part[name].empty:
                continue
            part_codes, part_measures = part.groups(name)
            at = keys.get_indexer(pd.MultiIndex.from_arrays(
                [np.asarray(part.labels(d), dtype=object)[c] for d, c in part_codes.items()]))
            out[at, :, j] = part_measures
        return codes, out

    def labels(self, dim: str) -> tuple:
        return self.period.labels(dim)


def naive_design_effect(data: pd.DataFrame) -> float:
    """Conversions' squared residuals (around each cell's rate over all sessions) summed by visitor
    over summed by session, for the sessions with a visitor id, plus 1.645 standard errors of that
    ratio (visitors independent), at least 1: the model's design effect, by pandas."""
    converted = data["transactions"].gt(0).astype("float64")
    cells = [data[c].astype(str) for c in ("device", "country", "source", "medium", "channel")]
    residual = converted - converted.groupby(cells).transform("mean")
    visitor = data["visitor_id"].astype(str)  # as written, as the cube query compares them
    known = ~visitor.isin(["", "(not set)", "<NA>", "nan"])
    clustered = residual[known].groupby(visitor[known]).sum() ** 2
    squares = (residual[known] ** 2).groupby(visitor[known]).sum()
    b = squares.sum()
    if b <= 0:
        return 1.0
    d = clustered.sum() / b
    return max(1.0, d + 1.6448536269514722 * np.sqrt(((clustered - d * squares) ** 2).sum()) / b)


def naive_daily(data: pd.DataFrame) -> pd.DataFrame:
    """The whole site's sessions and conversions per day, from its first day to its last."""
    days = pd.date_range(data["date"].min(), data["date"].max(), freq="D")
    grouped = data.groupby(data["date"].dt.normalize())["converted"].agg(sessions="size", conversions="sum")
    return grouped.reindex(days, fill_value=0).rename_axis("date").reset_index()


def assert_same_tables(model, expected) -> None:
    """Every table and the takeaways equal (float sums to rounding: the cube adds in another order)."""
    assert model.kpis == pytest.approx(expected.kpis, rel=1e-9, nan_ok=True)
    for name in TABLES:
        if name == "kpis":
            continue
        got, want = getattr(model, name), getattr(expected, name)
        if name == "rate_change":
            assert json.loads(json.dumps(got), parse_float=lambda x: round(float(x), 12)) == json.loads(
                json.dumps(want), parse_float=lambda x: round(float(x), 12)), name
            continue
        if isinstance(want, list):
            assert got == want, name
            continue
        if want.empty:
            assert got.empty, name
            continue
        pd.testing.assert_frame_equal(
            _comparable(got), _comparable(want), check_dtype=False, check_categorical=False, rtol=1e-9,
            obj=name)
    assert model.takeaways == expected.takeaways


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    categories = {c: str for c in table.columns if table[c].dtype == "category"}
    return table.reset_index(drop=True).astype(categories)
