"""GA4 event exports built into sessions inside DuckDB, against the in-memory (pandas-read) path.

    python benchmarks/ga4_events.py --events 100000000 --days 30 --ndjson-events 10000000

Writes a GA4 ``events_*`` export as BigQuery lays it out — one file a day, nested
``event_params``/``device``/``geo``/``traffic_source``/``ecommerce`` records, about ten
events a session, sessions crossing midnight — as Parquet and as gzipped NDJSON
(written by DuckDB), then opens each folder as the app does, each in a fresh process:
the events are checked, counted by drop reason and built into sessions by DuckDB
(:mod:`leak_app.data.ga4`), then the cube is built. The baseline, measured in the same run,
is the in-memory path (pandas reads the files, DuckDB builds the sessions) on
``--baseline-events`` events, or another checkout's (``--baseline-tree``: the previous
commit's built them in pandas). Prints time to the cube, peak RSS and events a second,
and a machine-readable last line. Targets (2 cores): 100 M events in Parquet ≤ 120 s
and ≤ 3 GB RSS; NDJSON reported.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
FIRST_DAY = "2026-08-01"
EVENTS_PER_SESSION = 10

#: One event a row of ``range(first, last)``: event i belongs to session i // 10, of visitor
#: session // 3; its day is the session's; it happens 25 s after the one before it, so that
#: the last sessions of a day end in the next day's file.
EVENTS = """
SELECT
  strftime(day, '%Y%m%d') AS event_date,
  (epoch_us(day) + (session % {per_day}) * {gap} + (i % 10) * 25000000)::BIGINT AS event_timestamp,
  CASE WHEN i % 10 = 0 THEN 'session_start' WHEN i % 10 = 9 AND session % 31 = 0 THEN 'purchase'
       WHEN i % 10 = 8 AND session % 7 = 0 THEN 'add_to_cart' ELSE 'page_view' END AS event_name,
  [{{'key': 'ga_session_id', 'value': {{'string_value': NULL::VARCHAR, 'int_value': session}}}},
   {{'key': 'source',
     'value': {{'string_value': ['google', '(direct)', 'newsletter', 'facebook.com'][session % 4 + 1],
               'int_value': NULL::BIGINT}}}}] AS event_params,
  'user' || (session // 3)::VARCHAR AS user_pseudo_id,
  {{'category': ['desktop', 'mobile', 'tablet'][session % 3 + 1]}} AS device,
  {{'country': ['United States', 'India', 'Germany', 'Brazil', 'Japan'][session % 5 + 1]}} AS geo,
  {{'source': '(direct)', 'medium': '(none)'}} AS traffic_source,
  {{'purchase_revenue': CASE WHEN i % 10 = 9 AND session % 31 = 0 THEN 42.5 END}} AS ecommerce
FROM (SELECT i, i // 10 AS session, DATE '{first}' + ((i // 10) // {per_day})::INTEGER AS day
      FROM range({start}, {stop}) t(i))
"""


def write_export(folder: Path, events: int, days: int, kind: str) -> float:
    """Write ``events`` events as one file a day; return the megabytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    sessions = events // EVENTS_PER_SESSION
    per_day = -(-sessions // days)
    gap = 86_400_000_000 // per_day
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    for day in range(days):
        start = day * per_day * EVENTS_PER_SESSION
        stop = min((day + 1) * per_day, sessions) * EVENTS_PER_SESSION
        if start >= stop:
            break
        query = EVENTS.format(per_day=per_day, gap=gap, start=start, stop=stop, first=FIRST_DAY)
        name = (duckdb.sql(f"SELECT strftime(DATE '{FIRST_DAY}' + {day}, '%Y%m%d')").fetchone()[0])
        target = folder / (f"events_{name}.parquet" if kind == "parquet" else f"events_{name}.json.gz")
        options = "FORMAT parquet" if kind == "parquet" else "FORMAT json, COMPRESSION gzip"
        con.execute(f"COPY ({query}) TO '{target}' ({options})")
    return sum(f.stat().st_size for f in folder.iterdir()) / 2**20


def measure(path: Path, scan_from: int, tree: Path = ROOT) -> dict:
    """Time to the cube and peak RSS of opening ``path`` in a fresh process, with the code of
    ``tree`` (a checkout)."""
    code = f"""
import json, resource, sys, time
sys.path.insert(0, {str(tree)!r})
from leak_app.analysis.cube import CellSettings
from leak_app.analysis.model import cached_cube
from leak_app.data.sources import open_sessions
start = time.perf_counter()
sessions, report = open_sessions({str(path)!r}, scan_from={scan_from})
cube = cached_cube(sessions, CellSettings(), report.sessions, report.cache_key)
print(json.dumps({{"seconds": time.perf_counter() - start, "format": report.format,
    "events": report.rows_read, "sessions": report.sessions, "cells": cube.cells,
    "accounted": report.rows_read == report.rows_kept + sum(report.dropped.values()),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    with tempfile.TemporaryDirectory() as cache:  # a cold start: no scan or cube kept from before
        env = {**os.environ, "XDG_CACHE_HOME": cache}
        out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                             env=env)
    if out.returncode:
        raise SystemExit(f"opening {path} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--ndjson-events", type=int, default=10_000_000,
                        help="events of the gzipped NDJSON export (0: none)")
    parser.add_argument("--baseline-events", type=int, default=2_000_000)
    parser.add_argument("--baseline-tree", type=Path, default=ROOT,
                        help="a checkout whose in-memory path is the baseline (default: this one), e.g. a "
                             "git worktree of the previous commit")
    parser.add_argument("--folder", default=None,
                        help="where to write the exports (default: a temporary folder)")
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        runs = [("in-memory path (baseline)", "parquet", args.baseline_events, 2**62, args.baseline_tree),
                ("DuckDB, Parquet", "parquet", args.events, 0, ROOT)]
        if args.ndjson_events:
            runs.append(("DuckDB, gzipped NDJSON", "json", args.ndjson_events, 0, ROOT))
        for name, kind, events, scan_from, tree in runs:
            folder = Path(tmp) / f"{kind}-{events}"
            started = time.perf_counter()
            size = write_export(folder, events, args.days, kind) if not folder.exists() else 0
            written = time.perf_counter() - started
            result = measure(folder, scan_from, tree)
            rows.append((name, kind, result, size, written))
    print(f"{'':<28}{'events':>14}{'sessions':>12}{'MB':>8}{'to cube (s)':>13}{'peak RSS (MB)':>15}"
          f"{'events/s':>12}")
    for name, _, result, size, _ in rows:
        print(f"{name:<28}{result['events']:>14,}{result['sessions']:>12,}{size:>8,.0f}"
              f"{result['seconds']:>13.1f}{result['peak_rss_mb']:>15,.0f}"
              f"{result['events'] / result['seconds']:>12,.0f}")
    base = rows[0][2]
    for name, _, result, _, _ in rows[1:]:
        rate = (result["events"] / result["seconds"]) / (base["events"] / base["seconds"])
        print(f"{name}: {rate:.2f}× the baseline's events a second; every event accounted for: "
              f"{'yes' if result['accounted'] else 'NO'}")
    parquet = rows[1][2]
    print(f"events={parquet['events']} parquet_s={parquet['seconds']:.1f} "
          f"parquet_rss_mb={parquet['peak_rss_mb']:.0f}"
          + (f" ndjson_events={rows[2][2]['events']} ndjson_s={rows[2][2]['seconds']:.1f}"
             f" ndjson_rss_mb={rows[2][2]['peak_rss_mb']:.0f}" if len(rows) > 2 else "")
          + f" baseline_events={base['events']} baseline_s={base['seconds']:.1f}"
            f" baseline_rss_mb={base['peak_rss_mb']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
