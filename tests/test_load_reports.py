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


def test_rows_left_out_as_unusable_are_said_among_the_takeaways(tmp_path):
    """A file that lost 3.6% of its rows to bad dates and negative counts showed its figures as the
    whole, the rows left out said only in the load report at the page's foot. From 1% of the rows
    read they are said first among the takeaways; rows merged into another (repeated ids, hits of a
    session, exact duplicates, a repeated header) lose no session and are not counted."""
    import pandas as pd

    from leak_app.analysis.model import SessionModel
    from leak_app.analysis.takeaways import unusable_rows
    from leak_app.data.schema import HIT_ROW, REPEATED_SESSION

    raw = pd.read_csv(ROOT / "tests" / "fixtures" / "ga_sessions_export.csv", dtype=str)
    raw = pd.concat([raw] * 25, ignore_index=True).assign(visitId=lambda f: [str(i) for i in range(len(f))])
    raw.loc[:29, "date"] = "not a date"
    raw.loc[30:34, "pageviews"] = "-3"
    raw.to_csv(tmp_path / "lossy.csv", index=False)
    model = SessionModel.from_path(tmp_path / "lossy.csv")
    assert model.load_report["rows_read"] == 1_000 and model.load_report["rows_kept"] == 965
    assert model.takeaways[0] == ("35 of the 1,000 rows read (3.5%) were left out as unusable: date: not a "
                                  "date (30); negative pageviews (5). Every figure here leaves them out.")
    few = {"rows_read": 1_000, "dropped": {"date: not a date": 9, REPEATED_SESSION: 500, HIT_ROW: 100}}
    assert unusable_rows(few) is None  # 0.9%: the merged rows lose no session
    many = {"rows_read": 100, "dropped": {f"reason {i}": 6 - i for i in range(5)}}
    assert unusable_rows(many) == ("20 of the 100 rows read (20.0%) were left out as unusable: reason 0 "
                                   "(6); reason 1 (5); reason 2 (4); 2 other reasons (5). Every figure here "
                                   "leaves them out.")


def test_rows_whose_revenue_could_not_be_read_are_said_as_likely_conversions(tmp_path):
    """A shop's export wrote its largest orders "1.250,00" and the rest "12.50": the 8 largest, 0.8%
    of the rows, were left out as not numbers, under the 1% at which unusable rows are said, and the
    page showed 8 of 14 conversions and most of the revenue lost, unsaid. Rows whose revenue or
    transactions cannot be read most often converted: they are said from 0.1% of the rows read."""
    import numpy as np

    from leak_app.analysis.model import SessionModel
    from leak_app.analysis.takeaways import unusable_rows

    demo = generate_sessions(1_000, seed=3)
    orders = np.argsort(-demo["revenue"].to_numpy())[:8]
    written = demo.assign(revenue=demo["revenue"].map("{:.2f}".format))
    written.loc[orders, "revenue"] = [f"{v:,.2f}".translate(str.maketrans(",.", ".,"))
                                      for v in demo["revenue"].iloc[orders]]
    written.to_csv(tmp_path / "shop.csv", index=False)
    model = SessionModel.from_path(tmp_path / "shop.csv")
    assert model.load_report["dropped"] == {"revenue: not a number": 8}
    assert model.kpis["converting_sessions"] == (demo["transactions"] > 0).sum() - 8 == 6
    assert model.takeaways[0] == (
        "8 of the 1,000 rows read (0.8%) were left out as unusable: revenue: not a number (8). Every "
        "figure here leaves them out. The 8 rows whose revenue or transactions could not be read most "
        "likely converted: conversions and revenue here may be short of them.")
    assert unusable_rows({"rows_read": 1_000, "dropped": {"date: not a date": 9}}) is None
    assert unusable_rows({"rows_read": 1_000, "dropped": {"negative transactions": 1}}).endswith(
        "The 1 row whose revenue or transactions could not be read most likely converted: conversions and "
        "revenue here may be short of them.")
