"""How fast a filter change updates every derived table, against a naive pandas app.

    python benchmarks/interaction.py --sessions 1000000

Generates N demo sessions, writes them as Parquet, loads them into a SessionModel
(start to ready), then applies 20 random filter changes (devices, countries, dates)
and times each until every table is recomputed. The naive baseline, measured in the
same run on the same changes, filters the session DataFrame and groups it once per
view, as a straightforward pandas app does. The last line is machine-readable:
``sessions=N median_ms=X naive_ms=Y ratio=Z peak_rss_mb=M``.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leak_app import SessionModel  # noqa: E402
from leak_app.demo import generate_sessions  # noqa: E402
from leak_app.metrics import DEFAULT_DURATION_EDGES, duration_buckets  # noqa: E402


def naive_tables(data: pd.DataFrame, devices, countries, start, end) -> None:
    """What a straightforward pandas dashboard does per filter change: filter, group per view."""
    rows = data[data["device"].isin(devices) & data["country"].isin(countries)
                & (data["date"] >= start) & (data["date"] <= end)]
    rows["converted"].agg(["size", "sum"])
    rows.groupby("country", observed=True)["converted"].agg(["size", "sum"])
    rows.groupby("device", observed=True)["pageviews"].agg(
        [lambda p: (p >= 5).sum(), lambda p: (p >= 10).sum(), "size"])
    rows.groupby([duration_buckets(rows["duration"], DEFAULT_DURATION_EDGES), "device"],
                 observed=True)["converted"].agg(["size", "sum"])
    rows.groupby(["source", "device"], observed=True)["converted"].agg(["size", "sum"])


def random_changes(data: pd.DataFrame, count: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    countries = data["country"].value_counts().index[:20].tolist()
    days = sorted(data["date"].unique())
    changes = []
    for _ in range(count):
        i, j = sorted(rng.choice(len(days), size=2, replace=False))
        changes.append({
            "devices": list(rng.choice(["desktop", "mobile", "tablet"], size=rng.integers(1, 4), replace=False)),
            "countries": list(rng.choice(countries, size=rng.integers(1, 8), replace=False)),
            "date_range": (pd.Timestamp(days[i]).to_pydatetime(), pd.Timestamp(days[j]).to_pydatetime()),
        })
    return changes


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sessions.parquet"
        generate_sessions(args.sessions, seed=1).to_parquet(path)
        start = time.perf_counter()
        model = SessionModel.from_path(path)
        ready = time.perf_counter() - start
    data = model.sessions
    changes = random_changes(data, args.changes)
    model_ms, naive_ms = [], []
    for change in changes:
        t = time.perf_counter()
        model.param.update(**change)
        model_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        naive_tables(data, change["devices"], change["countries"], *change["date_range"])
        naive_ms.append((time.perf_counter() - t) * 1000)
    median, naive = statistics.median(model_ms), statistics.median(naive_ms)
    print(f"{'sessions':<28}{args.sessions:>14,}")
    print(f"{'start to ready (s)':<28}{ready:>14.2f}")
    print(f"{'filter change, model (ms)':<28}{median:>14.1f}   median of {args.changes}")
    print(f"{'filter change, naive (ms)':<28}{naive:>14.1f}   (the model also computes the leak engine)")
    print(f"{'speed-up over naive':<28}{naive / median:>14.2f}x")
    print(f"{'peak RSS (MB)':<28}{peak_rss_mb():>14.0f}")
    print(f"sessions={args.sessions} median_ms={median:.1f} naive_ms={naive:.1f} "
          f"ratio={naive / median:.2f} peak_rss_mb={peak_rss_mb():.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
