"""The design effect of repeat visitors: the Ibis query against pandas, and what the leak test does with it."""
from __future__ import annotations

import ibis
import numpy as np
import pytest
from naive import naive_design_effect
from scipy.stats import fisher_exact

from leak_app import SessionModel, clustering, simulation


def repeat_visitors(seed: int = 1):
    return simulation.planted_sessions(seed, repeat=4.0).drop(columns="true_rate")


def test_design_effect_equals_pandas_with_unknown_visitors_on_their_own():
    data = repeat_visitors()
    effect = clustering.design_effect(ibis.memtable(data), len(data))
    assert effect == pytest.approx(naive_design_effect(data), rel=1e-9) and effect > 1.05
    ids = data["visitor_id"].astype(object)
    ids[::3], ids[1::7] = "(not set)", " "  # unknown: each such session a visitor of its own
    data["visitor_id"] = ids.astype("string")
    assert clustering.design_effect(ibis.memtable(data), len(data)) == pytest.approx(naive_design_effect(data),
                                                                                     rel=1e-9)


def test_no_repeat_visitors_no_correction_and_no_visitor_column_none():
    data = simulation.planted_sessions(0).drop(columns="true_rate")
    assert clustering.design_effect(ibis.memtable(data), len(data)) == 1.0
    assert clustering.design_effect(ibis.memtable(data.drop(columns="visitor_id")), len(data)) == 1.0


def test_a_sample_of_whole_visitors_estimates_it_on_large_tables(monkeypatch):
    data = repeat_visitors()
    full = clustering.design_effect(ibis.memtable(data), len(data))
    monkeypatch.setattr(clustering, "SAMPLE_SESSIONS", len(data) // 3)
    sampled = clustering.design_effect(ibis.memtable(data), len(data))
    assert sampled != full and sampled == pytest.approx(full, abs=0.08)


def test_leak_test_and_interval_count_sessions_divided_by_the_design_effect():
    """Rao and Scott's adjusted counts, by hand: the one-sided Fisher test of a segment against
    the rest on its table's cells divided by the design effect (rounded), and a loss interval
    wider than the uncorrected one."""
    data = repeat_visitors()
    model = SessionModel(sessions=data, min_sessions=100)
    d = model.cube.design_effect
    assert d == pytest.approx(naive_design_effect(data), rel=1e-9)
    row = model.leaks_table.set_index("segment").loc["src03"]
    mine = data["source"] == "src03"
    k, n = data["converted"][mine].sum(), mine.sum()
    rest_k, rest_n = data["converted"][~mine].sum(), (~mine).sum()
    cells = np.round(np.array([[k, n - k], [rest_k, rest_n - rest_k]]) / d)
    assert row.p_value == pytest.approx(fisher_exact(cells, alternative="less")[1], rel=1e-6)
    plain = SessionModel(sessions=data.assign(visitor_id=data["session_id"]), min_sessions=100)
    assert plain.cube.design_effect == 1.0
    unclustered = plain.leaks_table.set_index("segment").loc["src03"]
    width, plain_width = row.lost_high - row.lost_low, unclustered.lost_high - unclustered.lost_low
    assert width == pytest.approx(plain_width * np.sqrt(d), rel=0.05) and width > plain_width
