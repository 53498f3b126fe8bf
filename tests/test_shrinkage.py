"""The map and the heat map colour shrunk rates: a small segment's lucky rate is not painted as the
best, segments that differ only by chance share one colour, and the shrinkage is the one the
published numbers say (checked against SciPy's beta distribution)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT
from scipy import stats as scipy_stats

from leak_app import SessionModel
from leak_app.analysis import metrics, shrinkage, simulation
from leak_app.analysis.stats import wilson_interval
from leak_app.ui.cards.country_map import choropleth_values
from leak_app.ui.cards.source_device import HEATMAP
from leak_app.ui.geo import country_shapes


@pytest.fixture(scope="module")
def demo():
    return SessionModel.from_path(ROOT / "data" / "demo_sessions.parquet")


def bounds(share: float, trials: int) -> tuple[float, float]:
    low, high = wilson_interval(round(share * trials), trials)
    return float(low), float(high)


def test_the_darkest_cell_is_one_of_the_truly_best_by_simulation():
    """300 maps of 40 cells of 100 to 30,000 sessions whose true rates spread log-normally (not the
    beta the prior assumes). Coloured by shrunk rates, the darkest cell is one of the five truly best
    in at least 80% of maps and truly worse than half the cells in at most 3%, each judged by the
    pessimistic end of its 95% interval; the shrunk colours are nearer the truth in at least 95%.
    Raw rates, as the map coloured before, fail both bounds: the scenario could refute the claim."""
    result = simulation.darkest_cell_claims(300, seed=3)
    trials = result["data_sets"]
    assert bounds(result["shrunk_best_five"], trials)[0] >= 0.80
    assert bounds(result["shrunk_below_median"], trials)[1] <= 0.03
    assert bounds(result["shrunk_nearer"], trials)[0] >= 0.95
    assert bounds(result["raw_best_five"], trials)[1] < 0.80
    assert bounds(result["raw_below_median"], trials)[1] > 0.03


def test_shrunk_rates_are_the_posterior_of_the_fitted_prior_on_effective_counts():
    """By hand: counts divided by the design effect, the prior fitted to them, the posterior mean
    and SciPy's beta quantiles. A larger design effect trusts a small segment less."""
    k = np.array([3, 30, 300, 2, 45])
    n = np.array([100, 2_000, 20_000, 300, 2_500])
    for effect in (1.0, 2.0):
        a, b, at_bound = shrinkage.fit_beta_prior(k / effect, n / effect)
        got = shrinkage.shrunk_rates(k, n, effect)
        kk, nn = k / effect, n / effect
        np.testing.assert_allclose(got["shrunk_rate"], (kk + a) / (nn + a + b), rtol=1e-12)
        for name, quantile in (("shrunk_low", 0.025), ("shrunk_high", 0.975)):
            expected = scipy_stats.beta.ppf(quantile, kk + a, nn - kk + b)
            np.testing.assert_allclose(got[name], expected, rtol=1e-9)
        assert (got["prior_at_bound"] == at_bound).all()
    pooled = k.sum() / n.sum()
    pulled = [abs(shrinkage.shrunk_rates(k, n, effect)["shrunk_rate"][0] - pooled) for effect in (1.0, 2.0)]
    assert pulled[1] < pulled[0]


def test_the_published_country_and_cell_tables_carry_their_shrunk_rates(demo):
    for table in (demo.country_table, demo.source_device_table):
        expected = metrics.shrunk(table["conversions"], table["sessions"], demo.design_effect())
        for name, values in expected.items():
            np.testing.assert_allclose(table[name], values, rtol=1e-12)
        assert (table["shrunk_low"] <= table["shrunk_rate"]).all()
        assert (table["shrunk_rate"] <= table["shrunk_high"]).all()


def _darkest(values: pd.DataFrame) -> pd.Series:
    return values.loc[values["rate_shown"].idxmax()]


def test_a_small_lucky_segment_is_not_the_darkest_on_the_heat_map_or_the_map(demo):
    """On the demo, site000.example.com on tablet (109 sessions, 3 conversions: 2.8%) and a country of
    108 sessions and 3 conversions have the highest rated rates, and were the darkest cells; the
    darkest are now segments of thousands of sessions, and the small ones' text keeps their own rate."""
    cells = pd.DataFrame(HEATMAP.frame(demo.source_device_table).layers["cells"])
    rated = cells[cells["status"] == "rated"]
    lucky = rated.loc[(rated["conversions"] / rated["sessions"]).idxmax()]
    assert lucky["sessions"] < 200
    darkest = _darkest(cells)
    assert darkest["sessions"] > 1_000 and darkest["source"] != lucky["source"]
    assert cells.loc[lucky.name, "rate_text"] == "2.75%"

    countries = demo.country_table
    small = countries[countries["rated"]].sort_values("rate").iloc[-1]
    assert small["sessions"] < 200
    darkest = _darkest(choropleth_values(countries, country_shapes()))
    assert darkest["sessions"] > 1_000 and darkest["country"] != small["country"]


def test_segments_that_differ_only_by_chance_share_one_colour():
    """Ten sources converting alike: their cells' colours span a small part of the colour bar (it
    spanned exactly their spread before shrinkage, and their raw rates' range after: 0-2.9% here),
    which is as wide as a typical cell's interval, around them (their shrunk rates differ by less)."""
    model = SessionModel(sessions=simulation.planted_sessions(seed=5, sources=10, sessions_per_source=2_000))
    frame = HEATMAP.frame(model.source_device_table)
    cells = pd.DataFrame(frame.layers["cells"])
    low, high = frame.colors
    rated = model.source_device_table[model.source_device_table["rated"]]
    assert high - low == pytest.approx((rated["ci_high"] - rated["ci_low"]).median())
    shown = cells["rate_shown"].dropna()
    assert low < shown.min() and shown.max() < high
    assert (shown.max() - shown.min()) < 0.3 * (high - low)


def test_heat_map_text_is_white_only_on_the_dark_part_of_the_colour_bar(demo):
    """The darkest cell need not be dark (where cells differ by less than chance, the bar is wider
    than their colours): text was white wherever a cell was 60% as dark as the darkest, on the demo
    eleven pale green cells (Partners on tablet, 1.16%, then at a third of the bar). White now only
    past 60% of the bar."""
    frame = HEATMAP.frame(demo.source_device_table)
    cells = pd.DataFrame(frame.layers["cells"])
    low, high = frame.colors
    position = (cells["rate_shown"] - low) / (high - low)
    assert ((cells["text_color"] == "white") == (position > 0.6)).all()
    partners = cells.set_index(["source", "device"]).loc[("Partners", "tablet")]
    assert partners["text_color"] == "#111111" and partners["rate_text"] == "1.16%"
