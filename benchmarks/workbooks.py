"""A workbook's sheet of sessions loaded, against the same sessions as CSV (the baseline, in the run).

    python benchmarks/workbooks.py --sessions 100000 --rounds 2

Writes N demo sessions as CSV and as an Excel workbook (openpyxl, write-only: as Excel lays out a
sheet), then opens each as the app does, alternately, each in a fresh process: the workbook's cells
are read by their own process (``leak_app/data/sheet_reader.py``, under its cap on memory) and
written as CSV, which the loader then reads as it reads the CSV. Prints, for each, the seconds to the
sessions and the peak RSS of the process and of its children (the sheet's reader), the ratio of the
workbook's time to the CSV's, and the workbook again in a second start (its sheet kept in the cache
folder: each first start has a new one), and a machine-readable last line ``sessions=N workbook_s=W
csv_s=C ratio=R workbook_rss_mb=M reader_s=S reader_rss_mb=K workbook_again_s=A again_ratio=Q``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from interaction import demo_file

from leak_app.data.workbooks import READER

OPEN = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from leak_app.data.sources import open_sessions
start = time.perf_counter()
sessions, report = open_sessions({path!r})
print(json.dumps({{"seconds": time.perf_counter() - start, "sessions": report.sessions,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
#: The sheet's reader alone, run by a process that imports nothing else (a child's peak RSS counts
#: the pages it shared with its parent when it started: the loader's would count the loader's).
READ = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run([sys.executable, "-P", {reader!r}, {path!r}, {out!r}, str(2**40)], input="true\\n",
               text=True, check=True, capture_output=True)
print(json.dumps({{"seconds": time.perf_counter() - start,
    "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}}))
"""


def opened(path: Path, cache: Path) -> dict:
    """Seconds to the sessions and peak memory of opening ``path`` in a fresh process, with ``cache``
    as the cache folder (a new one: a first start; one a start filled: a second)."""
    out = subprocess.run([sys.executable, "-c", OPEN.format(root=str(ROOT), path=str(path))],
                         check=True, capture_output=True, text=True,
                         env={**os.environ, "XDG_CACHE_HOME": str(cache)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def read_alone(book: Path, out: Path) -> dict:
    """Seconds and peak memory of the sheet's reader writing ``book``'s sheet to ``out``."""
    code = READ.format(reader=READER, path=str(book), out=str(out))
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two files")
    args = parser.parse_args(argv)

    import openpyxl  # (the tests' requirement: benchmarks run where the tests do)
    import pandas as pd

    with demo_file(args.sessions) as demo, tempfile.TemporaryDirectory() as tmp:
        table = pd.read_parquet(demo).drop(columns="converted")
        csv, book = Path(tmp) / "sessions.csv", Path(tmp) / "sessions.xlsx"
        table.to_csv(csv, index=False, date_format="%Y-%m-%d")
        written = openpyxl.Workbook(write_only=True)
        sheet = written.create_sheet("Sessions")
        sheet.append(list(table.columns))
        for row in table.astype({"date": "object"}).itertuples(index=False):
            sheet.append([value.date() if hasattr(value, "date") else value for value in row])
        written.save(book)
        runs = {"workbook": [], "again": [], "csv": []}
        for round_ in range(args.rounds):
            for name, path in (("workbook", book), ("csv", csv)):
                cache = Path(tmp) / f"cache-{name}-{round_}"
                runs[name].append(opened(path, cache))
                if name == "workbook":  # the sheet was kept: written no more
                    runs["again"].append(opened(path, cache))
        assert {run["sessions"] for done in runs.values() for run in done} == {args.sessions}
        sizes = {"workbook": book.stat().st_size / 2**20, "again": book.stat().st_size / 2**20,
                 "csv": csv.stat().st_size / 2**20}
        reader = read_alone(book, Path(tmp) / "sheet.csv")

    seconds = {name: statistics.median(run["seconds"] for run in done) for name, done in runs.items()}
    rss = {name: max(run["rss_mb"] for run in done) for name, done in runs.items()}
    print(f"{'':<10}{'MB':>8}{'to sessions (s), each run':>32}{'median':>8}{'peak RSS (MB)':>15}")
    for name, done in runs.items():
        each = ", ".join(f"{run['seconds']:.2f}" for run in done)
        print(f"{name:<10}{sizes[name]:>8.1f}{each:>32}{seconds[name]:>8.2f}{rss[name]:>15,.0f}")
    ratio, again = seconds["workbook"] / seconds["csv"], seconds["again"] / seconds["csv"]
    print(f"the workbook takes {ratio:.2f}× the CSV's time, {again:.2f}× at a second start (its sheet "
          f"kept); its sheet's reader alone: {reader['seconds']:.2f} s, peak RSS {reader['rss_mb']:,.0f} MB")
    print(f"sessions={args.sessions} workbook_s={seconds['workbook']:.2f} csv_s={seconds['csv']:.2f} "
          f"ratio={ratio:.2f} workbook_rss_mb={rss['workbook']:.0f} reader_s={reader['seconds']:.2f} "
          f"reader_rss_mb={reader['rss_mb']:.0f} workbook_again_s={seconds['again']:.2f} "
          f"again_ratio={again:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
