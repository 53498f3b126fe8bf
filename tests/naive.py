"""The dashboard's tables computed the naive way: filter the session DataFrame, group per table.

Written independently of the cube (pandas filtering, ``pd.cut`` buckets, ``np.select``
stages), then passed through the same table functions, so a test can check that
answering filters from the cube changes nothing.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from leak_app import leaks
from leak_app.cube import GROUPINGS, MARGINS, duration_labels
from leak_app.model import TABLES
from leak_app.takeaways import takeaways

MEASURES = {"sessions": ("converted", "size"), "conversions": ("converted", "sum"),
            "transactions": ("transactions", "sum"), "revenue": ("revenue", "sum")}
STAGE_NAMES = ("Browsed", "Engaged", "Deep Engagement", "Converted")


def filtered(data: pd.DataFrame, devices, countries, start, end) -> pd.DataFrame:
    """The filter written as a plain pandas query."""
    return data.query("device in @devices and country in @countries and @start <= date <= @end")


def naive_counts(rows: pd.DataFrame, edges, engaged: int, deep: int) -> dict:
    """Every grouping the tables read, by pandas groupby of the session rows."""
    pageviews, converted = rows["pageviews"].to_numpy(), rows["converted"].to_numpy()
    stage = np.select([converted, (pageviews >= engaged) & (pageviews >= deep), pageviews >= engaged], [3, 2, 1], 0)
    data = pd.DataFrame({
        **{c: _sorted_categories(rows[c]) for c in ("device", "country", "source", "medium")},
        "bucket": pd.cut(rows["duration"], [-np.inf, *edges, np.inf], right=False, labels=duration_labels(edges)),
        "stage": pd.Categorical.from_codes(stage, categories=STAGE_NAMES, ordered=True),
        "converted": converted, "transactions": rows["transactions"].to_numpy(),
        "revenue": rows["revenue"].to_numpy(),
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
                            "revenue": part["revenue"][at_least].sum()})
    out["device × reached"] = pd.DataFrame(reached).astype(
        {"stage": pd.CategoricalDtype(STAGE_NAMES, ordered=True), "device": "category"})
    return NaiveCounts(out)


class NaiveCounts(dict):
    """The frames by grouping name, also read as arrays, as the leak engine reads the cube's counts."""

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
                fdr: float = leaks.DEFAULT_FDR, edges=(10, 60, 180, 300, 600, 1200, 3600),
                engaged: int = 5, deep: int = 10) -> SimpleNamespace:
    """What the model holds for these filtered ``rows`` of ``data``, computed naively."""
    counts = naive_counts(rows, edges, engaged, deep)
    volumes = data["source"].astype(str).value_counts()
    ranked = sorted(volumes.items(), key=lambda kv: (-kv[1], kv[0]))
    periods = ((None, None), (None, None))
    before = now = rows.iloc[:0]
    if len(rows):
        periods = leaks.default_periods(rows["date"].min(), rows["date"].max())
        (b0, b1), (c0, c1) = periods
        before, now = (rows[rows["date"].between(a, b)] for a, b in ((b0, b1), (c0, c1)))
    m = SimpleNamespace(_counts=counts, _top=[name for name, _ in ranked[:top]], min_sessions=min_sessions,
                        fdr=fdr, periods=lambda: periods,
                        _period_counts=[naive_counts(part, edges, engaged, deep) for part in (before, now)])
    for name, (compute, _) in TABLES.items():
        setattr(m, name, compute(m))
    m.takeaways = takeaways(m)
    return m


def assert_same_tables(model, expected) -> None:
    """Every table and the takeaways equal (float sums to rounding: the cube adds in another order)."""
    assert model.kpis == pytest.approx(expected.kpis, rel=1e-9, nan_ok=True)
    for name in TABLES:
        if name == "kpis":
            continue
        got, want = getattr(model, name), getattr(expected, name)
        if want.empty:
            assert got.empty, name
            continue
        pd.testing.assert_frame_equal(
            _comparable(got), _comparable(want), check_dtype=False, check_categorical=False, rtol=1e-9,
            obj=name)
    assert model.takeaways == expected.takeaways


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.reset_index(drop=True).astype({c: str for c in table.columns if table[c].dtype == "category"})
