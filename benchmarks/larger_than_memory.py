"""Files larger than the memory DuckDB may use, aggregated straight into the cube.

    python benchmarks/larger_than_memory.py --sessions 50000000

Writes N demo sessions to Parquet on disk (a million at a time, in a child process),
then opens the file as the app does: DuckDB scans it, checks and counts every row,
merges repeated session ids and builds the cube, with its memory capped at
``--duckdb-memory`` (spilling to disk beyond it); the session table is never built in
memory. Prints the file size, time to ready, the rows accounted for, peak memory
(RSS) of this process, one filter change, and a machine-readable last line
``sessions=N file_mb=F ready_s=T peak_rss_mb=M change_ms=C``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from interaction import demo_file, peak_rss_mb

from leak_app import SessionModel


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50_000_000)
    parser.add_argument("--duckdb-memory", default="1GB", help="DuckDB's memory limit (default 1GB)")
    parser.add_argument("--folder", default=None,
                        help="where to write the file (default: a temporary folder)")
    args = parser.parse_args(argv)
    os.environ["LEAK_APP_DUCKDB_MEMORY"] = args.duckdb_memory

    start = time.perf_counter()
    with demo_file(args.sessions, args.folder) as path:
        written = time.perf_counter() - start
        start = time.perf_counter()
        model = SessionModel.from_path(path)
        ready = time.perf_counter() - start
        size_mb = path.stat().st_size / 2**20
        start = time.perf_counter()
        model.devices = ["mobile"]
        change_ms = (time.perf_counter() - start) * 1000
    report = model.load_report
    peak = peak_rss_mb()
    accounted = report["rows_read"] == report["rows_kept"] + sum(report["dropped"].values())
    figures = [
        ("sessions", f"{args.sessions:,}"),
        ("file on disk (MB)", f"{size_mb:,.0f}"),
        ("written in (s)", f"{written:.0f}"),
        ("DuckDB memory limit", args.duckdb_memory),
        ("start to ready (s)", f"{ready:.1f}"),
        ("rows read / kept", f"{report['rows_read']:,} / {report['rows_kept']:,}"),
        ("every row accounted for", "yes" if accounted else "no"),
        ("cube cells × days", f"{model.cube.cells:,} × {model.cube.days}"),
        ("peak RSS (MB)", f"{peak:,.0f}"),
        ("filter change (ms)", f"{change_ms:.0f}"),
    ]
    for name, value in figures:
        print(f"{name:<28}{value:>24}")
    print(f"sessions={args.sessions} file_mb={size_mb:.0f} ready_s={ready:.1f} peak_rss_mb={peak:.0f} "
          f"change_ms={change_ms:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
