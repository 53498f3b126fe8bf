"""The demo generator: deterministic, realistic in the ways the dashboard relies on."""
from __future__ import annotations

import pandas as pd
import pytest

from leak_app.data.demo import generate_sessions
from leak_app.data.loaders import load_sessions
from leak_app.data.sources import DEFAULT_DATA


@pytest.fixture(scope="module")
def demo():
    return generate_sessions(200_000, seed=5)


def test_same_seed_same_sessions_other_seed_other_sessions():
    pd.testing.assert_frame_equal(generate_sessions(5_000, seed=1), generate_sessions(5_000, seed=1))
    assert not generate_sessions(5_000, seed=1).equals(generate_sessions(5_000, seed=2))


def test_shape_is_ga_like(demo):
    share = demo["device"].value_counts(normalize=True)
    assert share.index[0] == "desktop" and 0.5 < share["desktop"] < 0.65
    assert (demo["duration"] < 10).mean() > 0.5  # most sessions are a bounce
    assert 0.007 < demo["converted"].mean() < 0.013
    sources = demo["source"].value_counts(normalize=True)
    assert sources.iloc[:2].sum() > 0.6 and demo["source"].nunique() > 200  # heavy head, long tail
    assert demo["country"].value_counts(normalize=True).iloc[0] > 0.35


def test_conversion_rises_with_duration_and_pageviews(demo):
    by_duration = demo.groupby(pd.cut(demo["duration"], [-1, 9, 59, 299, 1199, 10**6]), observed=True)
    rates = by_duration["converted"].mean().tolist()
    assert rates == sorted(rates)
    deep, shallow = demo[demo["pageviews"] >= 10], demo[demo["pageviews"] < 5]
    assert deep["converted"].mean() > 5 * shallow["converted"].mean()


def test_bundled_demo_file_is_what_the_generator_makes():
    table, report = load_sessions(DEFAULT_DATA)
    assert report.rows_read == report.rows_kept == 100_000
    pd.testing.assert_frame_equal(table, generate_sessions(100_000, seed=7))
