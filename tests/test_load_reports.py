"""Every fixture's load report, as the pandas loader wrote it before the one parser (issue 16):
``tests/fixtures/load_reports.json`` was written by the earlier code (``python
tests/test_load_reports.py`` writes it anew; only do so for a change the reports should show)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import ROOT
from test_engines import messy_csv

from leak_app.data.demo import generate_sessions
from leak_app.data.loaders import load_sessions, read_mapping

FIXTURES = ROOT / "tests" / "fixtures"
RECORDED = FIXTURES / "load_reports.json"
#: What a report says of the rows (not where the file lay: path, files, cache key).
FIELDS = ("format", "rows_read", "rows_kept", "dropped", "sessions", "duplicates_removed",
          "unmatched_countries", "absent_columns", "mapping", "decimal_comma", "row_level")
MAPPED = {"shop_sessions.csv", "shop_sessions.parquet"}
CASES = [*sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".csv", ".json", ".gz", ".parquet")
                 and p.name not in ("expected_sessions.parquet", RECORDED.name)),
         "messy.csv", "messy.csv.gz", "demo"]


def report_of(name: str, folder: Path) -> dict:
    """The load report of one case (the messy CSVs made in ``folder``), as FIELDS."""
    path = FIXTURES / name
    if name.startswith("messy"):
        path = folder / name
        messy_csv(generate_sessions(2_000, seed=11), path)
    elif name == "demo":
        path = ROOT / "data" / "demo_sessions.parquet"
    mapping = read_mapping(FIXTURES / "shop_sessions_mapping.toml") if name in MAPPED else None
    report = load_sessions(path, mapping=mapping)[1].to_dict()
    return {field: report[field] for field in FIELDS}


@pytest.mark.parametrize("name", CASES)
def test_every_fixtures_load_report_is_the_one_recorded(name, tmp_path):
    recorded = json.loads(RECORDED.read_text())
    assert name in recorded, f"{name}: no report recorded (python tests/test_load_reports.py)"
    assert report_of(name, tmp_path) == recorded[name]


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        reports = {name: report_of(name, Path(folder)) for name in CASES}
    RECORDED.write_text(json.dumps(reports, indent=1, sort_keys=True) + "\n")
    print(f"{len(reports)} reports written to {RECORDED}")
