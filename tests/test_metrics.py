"""Derived tables against values worked out by hand, and Wilson against SciPy."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import counts_of, sessions
from scipy.stats import binomtest

from leak_app.analysis import cube, metrics, takeaways
from leak_app.analysis.stats import wilson_interval

# device, country, source, pageviews, duration (s), transactions
TINY = sessions([
    ("desktop", "France", "google", 1, 0, 0),
    ("desktop", "France", "google", 6, 120, 0),     # engaged
    ("desktop", "France", "(direct)", 12, 700, 1),  # deep, converted
    ("desktop", "Germany", "google", 2, 30, 1),     # converted with 2 pageviews: reached every stage
    ("mobile", "France", "google", 1, 0, 0),
    ("mobile", "Germany", "bing", 1, 5, 0),
    ("mobile", "Germany", "bing", 5, 65, 0),        # engaged exactly at the threshold
    ("tablet", "Germany", "google", 11, 4000, 0),   # deep, not converted
])


@pytest.mark.parametrize("k, n", [(0, 10), (1, 2), (5, 100), (94, 9998), (10, 10)])
def test_wilson_matches_scipy(k, n):
    low, high = wilson_interval(k, n)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert low == pytest.approx(ci.low, abs=1e-12) and high == pytest.approx(ci.high, abs=1e-12)


def test_wilson_of_no_trials_is_undefined():
    low, high = wilson_interval(0, 0)
    assert np.isnan(low) and np.isnan(high)


def test_kpis_by_hand():
    k = metrics.kpis(counts_of(TINY))
    assert k["sessions"] == 8 and k["converting_sessions"] == 2 and k["transactions"] == 2
    assert k["revenue"] == 20.0 and k["conversion_rate"] == 0.25
    assert k["revenue_per_session"] == 2.5
    # two orders of 10: revenue per conversion known exactly; the larger holds at least half of 20
    assert [k[f"revenue_per_conversion{end}"] for end in ("", "_low", "_high")] == [10.0, 10.0, 10.0]
    assert k["largest_revenue_share_min"] == (10**2 + 10**2) / 20**2


def test_funnel_is_cumulative_and_counted_by_hand():
    table = metrics.funnel(counts_of(TINY, engaged_pageviews=5, deep_pageviews=10))
    counts = {(r.device, r.stage): r.sessions for r in table.itertuples()}
    assert [counts[("desktop", s)] for s in cube.STAGES] == [4, 3, 2, 2]
    assert [counts[("mobile", s)] for s in cube.STAGES] == [3, 1, 0, 0]
    assert [counts[("tablet", s)] for s in cube.STAGES] == [1, 1, 1, 0]
    desktop = table[table["device"] == "desktop"].reset_index(drop=True)
    assert desktop["lost"].tolist() == [0, 1, 1, 0]
    assert desktop["pct_of_entry"].tolist() == [1.0, 0.75, 0.5, 0.5]
    assert desktop["drop_rate"].iloc[1:].tolist() == [0.25, 1 / 3, 0.0]
    # the largest leak per device is its step with the highest drop-off rate:
    # mobile loses 2 of 3 at Engaged but 1 of 1 at Deep Engagement
    leaks = table[table["largest_leak"]][["device", "stage"]].astype(str).values.tolist()
    assert leaks == [["desktop", "Deep Engagement"], ["mobile", "Deep Engagement"],
                     ["tablet", "Converted"]]


def test_funnel_thresholds_move_sessions_between_stages():
    table = metrics.funnel(counts_of(TINY, engaged_pageviews=2, deep_pageviews=6))
    desktop = table[table["device"] == "desktop"]["sessions"].tolist()
    assert desktop == [4, 3, 3, 2]  # the 6-pageview session is now deep


def test_duration_labels_and_buckets():
    labels = cube.duration_labels(cube.DEFAULT_DURATION_EDGES)
    assert labels == ["no duration (single page)", "<10 s", "10–60 s", "1–3 min", "3–5 min", "5–10 min",
                      "10–20 min", "20–60 min", ">60 min"]
    durations = [0, 9, 10, 59, 60, 3599, 3600]
    buckets = counts_of(sessions([("desktop", "France", "google", 2, d, 0) for d in durations]
                                 + [("desktop", "France", "google", 1, 0, 0)] * 3))["bucket"]
    # GA records no duration for a single-page session: its own bucket, not "<10 s" (a 2-page
    # session of 0 seconds is a quick visit).
    assert dict(zip(buckets["bucket"].astype(str), buckets["sessions"])) == {
        "no duration (single page)": 3, "<10 s": 2, "10–60 s": 2, "1–3 min": 1, "20–60 min": 1, ">60 min": 1}


def test_duration_table_by_hand():
    table = metrics.by_duration(counts_of(TINY), min_sessions=2)
    row = table[(table["bucket"] == "<10 s") & (table["device"] == "mobile")].iloc[0]
    assert (row.sessions, row.conversions, row.rated) == (1, 0, False)
    row = table[(table["bucket"] == "no duration (single page)") & (table["device"] == "mobile")].iloc[0]
    assert (row.sessions, row.conversions, row.rated) == (1, 0, False)
    row = table[(table["bucket"] == "10–20 min") & (table["device"] == "desktop")].iloc[0]
    assert (row.sessions, row.conversions, row.rate, row.rated) == (1, 1, 1.0, False)
    assert table["sessions"].sum() == len(TINY)


def test_sources_grouped_into_top_and_other():
    top = metrics.top_sources(counts_of(TINY), 1)
    assert top == ["google"]
    table = metrics.by_source_device(counts_of(TINY), top, min_sessions=2)
    other = table[table["source"] == metrics.OTHER_SOURCES]
    assert dict(zip(other["device"], other["sessions"])) == {"desktop": 1, "mobile": 2}
    assert table["sessions"].sum() == len(TINY)


def test_top_sources_break_ties_by_name():
    rows = [("desktop", "France", source, 1, 0, 0) for source in ("b", "a", "c", "c")]
    assert metrics.top_sources(counts_of(sessions(rows)), 2) == ["c", "a"]


def test_country_table_flags_small_samples_and_matches_iso():
    table = metrics.by_country(counts_of(TINY), min_sessions=5)
    assert table["country"].tolist() == ["France", "Germany"]  # 4 sessions each: by name
    assert table["iso3"].tolist() == ["FRA", "DEU"]
    assert not table["rated"].any()
    france = table[table["country"] == "France"].iloc[0]
    low, high = wilson_interval(1, 4)
    assert france.rate == 0.25 and france.ci_low == low and france.ci_high == high


@pytest.mark.parametrize("rows, said", [
    # one rated country, 10% of its 1,000 sessions against 2.5% of the 800 in small ones: the
    # sentence named no country ("Countries converting significantly (5% false discovery rate) .")
    ([("Germany", 1000, 100)] + [(f"c{i:02d}", 40, 1) for i in range(20)],
     "above the rest: Germany 10.0%"),
    # A at 5% and B at 1% are both below the 20% of the rest of the traffic, as the test that found
    # them compares them; A was said "above the rest", the rest of the rated countries only (B)
    ([("A", 1000, 50), ("B", 1000, 10)] + [(f"c{i:02d}", 50, 10) for i in range(40)],
     "below the rest: A 5.00% (95% CI 3.81%–6.53%, n=1,000); B 1.00%"),
    # five countries below: the three of most sessions were named, and the other two left out unsaid
    ([(f"low{i}", 1000 - i, 5) for i in range(5)] + [(f"c{i:02d}", 50, 10) for i in range(40)],
     ("below the rest: low0 0.50% (95% CI 0.21%–1.17%, n=1,000); low1 0.50% (95% CI 0.21%–1.17%, n=999); "
      "low2 0.50% (95% CI 0.21%–1.17%, n=998); and 2 more countries.")),
])
def test_countries_converting_significantly_are_said_against_the_rest_they_were_tested_against(rows, said):
    countries = pd.DataFrame(rows, columns=["country", "sessions", "conversions"])
    countries["country"] = countries["country"].astype("category")
    table = metrics.by_country({"country": countries}, min_sessions=100)
    sentence = takeaways.country_outliers(table, 0.05)
    opening = "Countries converting significantly (5% false discovery rate) "
    assert sentence.startswith(opening + said), sentence
    assert "above" not in sentence.split(said)[1] and not sentence.endswith(") .")
