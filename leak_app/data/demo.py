"""Deterministic, vectorized generator of realistic Google-Analytics-like sessions.

Used for the demo file in ``data/``, for tests that need known structure, and for
benchmarks from 10 thousand to 10 million sessions. The shape follows the GA360
sample: a desktop-heavy device mix, a few sources and countries carrying most
traffic with a long tail, most sessions a single hit of 0 s, and about 1%
conversion that rises with pageviews and time on site. Two leaks are planted on
purpose: mobile sessions convert far less than desktop ones throughout, and a
*silent* one, which starts part-way through the period: from its 50th day on,
desktop visitors from google convert much less (say, a broken landing page for them).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .schema import to_canonical

DEVICES = {"desktop": 0.58, "mobile": 0.36, "tablet": 0.06}
#: Conversion log-odds offset per device (mobile's checkout is the planted leak).
DEVICE_EFFECT = {"desktop": 0.0, "mobile": -1.0, "tablet": -0.4}

COUNTRIES = {
    "United States": 0.41, "India": 0.065, "United Kingdom": 0.06, "Canada": 0.035,
    "Germany": 0.028, "Japan": 0.024, "France": 0.022, "Taiwan": 0.02, "Brazil": 0.018,
    "Australia": 0.018, "Spain": 0.015, "Italy": 0.015, "Mexico": 0.013, "Netherlands": 0.013,
    "Singapore": 0.012, "South Korea": 0.011, "Turkey": 0.011, "Vietnam": 0.01,
    "Philippines": 0.01, "Poland": 0.009, "Russia": 0.009, "Thailand": 0.009,
    "Indonesia": 0.009, "Hong Kong": 0.008, "Israel": 0.007, "Ireland": 0.007,
    "Sweden": 0.007, "Argentina": 0.006, "Switzerland": 0.006, "Colombia": 0.006,
    "Macedonia (FYROM)": 0.002, "Côte d’Ivoire": 0.001, "Nigeria": 0.005, "Egypt": 0.005,
    "South Africa": 0.005, "Belgium": 0.005, "Peru": 0.004, "Chile": 0.004,
    "(not set)": 0.003,
}
#: Log-odds offsets by country: rich markets convert more, as in the GA360 sample.
COUNTRY_EFFECT = {"United States": 0.9, "Canada": 0.5, "India": -1.2, "Vietnam": -1.0}

SOURCES = {
    "google": 0.37, "(direct)": 0.33, "youtube.com": 0.09, "Partners": 0.03,
    "analytics.google.com": 0.025, "m.facebook.com": 0.02, "bing": 0.008,
    "facebook.com": 0.008, "mail.google.com": 0.006, "baidu": 0.005, "reddit.com": 0.005,
    "t.co": 0.004, "quora.com": 0.002, "dfa": 0.004,
}
SOURCE_EFFECT = {"youtube.com": -2.0, "Partners": -1.2, "analytics.google.com": -1.5,
                 "mail.google.com": 1.0, "dfa": 0.8, "m.facebook.com": -1.0}
MEDIUM = {"google": "organic", "(direct)": "(none)", "bing": "organic", "baidu": "organic",
          "Partners": "affiliate", "dfa": "cpm"}
#: GA's default channel group of each medium, and of the social sites among the referrals.
CHANNEL = {"organic": "Organic Search", "(none)": "Direct", "affiliate": "Affiliates", "cpm": "Display",
           "referral": "Referral"}
SOCIAL = ("youtube.com", "m.facebook.com", "facebook.com", "reddit.com", "t.co", "quora.com")
TAIL_SOURCES = 300  # long tail of referring sites sharing the remaining traffic

INTERCEPT = -8.75
#: The silent leak: from this day (0-based) on, this device × source loses this much log-odds.
SILENT_LEAK = {"device": "desktop", "source": "google", "from_day": 50, "effect": -1.2}


def _weighted(rng, table: dict, n: int) -> np.ndarray:
    names = np.array(list(table))
    weights = np.array(list(table.values()), dtype="float64")
    return names[rng.choice(len(names), size=n, p=weights / weights.sum())]


def _sources(rng, n: int) -> np.ndarray:
    head = sum(SOURCES.values())
    tail = 1 / np.arange(1, TAIL_SOURCES + 1) ** 1.1
    names = np.array([*SOURCES, *(f"site{i:03d}.example.com" for i in range(TAIL_SOURCES))])
    weights = np.concatenate([list(SOURCES.values()), tail / tail.sum() * (1 - head)])
    return names[rng.choice(len(names), size=n, p=weights / weights.sum())]


def _effect(values: np.ndarray, effects: dict) -> np.ndarray:
    return pd.Series(values).map(effects).fillna(0.0).to_numpy()


def generate_sessions(n: int = 100_000, seed: int = 7, start: str = "2026-08-03",
                      days: int = 91) -> pd.DataFrame:
    """``n`` sessions over ``days`` days from ``start``, the same for the same seed."""
    rng = np.random.default_rng(seed)
    device = _weighted(rng, DEVICES, n)
    country = _weighted(rng, COUNTRIES, n)
    source = _sources(rng, n)
    medium = pd.Series(source).map(MEDIUM).fillna("referral").to_numpy()
    channel = np.where(np.isin(source, SOCIAL), "Social", pd.Series(medium).map(CHANNEL).to_numpy())

    day = rng.integers(0, days, size=n)
    weekday = (pd.Timestamp(start).dayofweek + day) % 7
    weekend = weekday >= 5
    day = np.where(weekend & (rng.random(n) < 0.3), rng.integers(0, days, size=n), day)
    date = pd.Timestamp(start) + pd.to_timedelta(day, unit="D")

    single = rng.random(n) < 0.52  # bounced: one hit, GA reports no time on site
    pageviews = np.where(single, 1, 2 + rng.geometric(0.22, size=n) - 1)
    per_page = rng.lognormal(mean=3.3, sigma=1.0, size=n)
    duration = np.where(single, 0, np.round(per_page * (pageviews - 1))).astype("int64")

    logit = (INTERCEPT + 1.6 * np.log(pageviews) + 0.35 * np.log1p(duration)
             + _effect(device, DEVICE_EFFECT) + _effect(country, COUNTRY_EFFECT)
             + _effect(source, SOURCE_EFFECT)
             + SILENT_LEAK["effect"] * ((device == SILENT_LEAK["device"]) & (source == SILENT_LEAK["source"])
                                        & (day >= SILENT_LEAK["from_day"])))
    converted = rng.random(n) < 1 / (1 + np.exp(-logit))
    transactions = np.where(converted, 1 + rng.poisson(0.08, size=n), 0)
    revenue = np.where(converted, np.round(rng.lognormal(4.3, 0.8, size=n) * transactions, 2), 0.0)

    visitor = rng.integers(10**18, 10**19 - 1, size=n, dtype=np.uint64)
    epoch = (date - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    session = np.asarray(epoch) + rng.integers(0, 86_400, size=n)
    frame = pd.DataFrame({
        "visitor_id": visitor.astype(str), "session_id": session.astype(str), "date": date,
        "device": device, "country": country, "source": source, "medium": medium,
        "channel": channel, "pageviews": pageviews, "duration": duration, "transactions": transactions,
        "revenue": revenue,
    })
    return to_canonical(frame)


def write_sessions(path, n: int, seed: int = 7, chunk: int = 1_000_000) -> None:
    """Write ``n`` sessions to Parquet a chunk at a time (chunk i drawn with seed + i).

    Memory stays that of one chunk, so benchmarks can write 50 million sessions; up to
    ``chunk`` sessions the file holds exactly ``generate_sessions(n, seed)``.
    """
    writer = None
    try:
        for i, start in enumerate(range(0, n, chunk)):
            table = pa.Table.from_pandas(generate_sessions(min(chunk, n - start), seed=seed + i),
                                         preserve_index=False)
            if writer is None:  # categories differ by chunk: one index width for all
                schema = pa.schema([f.with_type(pa.dictionary(pa.int32(), f.type.value_type))
                                    if pa.types.is_dictionary(f.type) else f for f in table.schema],
                                   metadata=table.schema.metadata)
                writer = pq.ParquetWriter(str(path), schema)
            writer.write_table(table.cast(writer.schema))
    finally:
        if writer is not None:
            writer.close()
