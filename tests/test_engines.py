"""The cube built by other engines: DuckDB scanning files, and Spark in local mode.

Each must give the tables the in-memory path gives, filter after filter.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, settled
from naive import assert_same_tables, naive_design_effect

FIXTURES = ROOT / "tests" / "fixtures"

from leak_app import LoadError, SessionModel, load_sessions
from leak_app.analysis import clustering, simulation
from leak_app.analysis import cube as cube_module
from leak_app.analysis.cube import CellSettings, ScanGrouping, build_cube, duration_labels
from leak_app.data import files, parse, sources
from leak_app.data.demo import generate_sessions
from leak_app.data.files import kept_scan
from leak_app.data.loaders import read_mapping
from leak_app.data.readers import read_raw
from leak_app.data.scan import scan_layout, scan_sessions
from leak_app.data.schema import TEXT
from leak_app.data.sources import CUBE_COLUMNS, open_sessions

FILTERS = [
    {"devices": ["mobile"]},
    {"countries": ["United States", "India", "Canada"], "devices": ["desktop", "tablet"]},
    {"date_range": (pd.Timestamp("2026-09-01").to_pydatetime(), pd.Timestamp("2026-09-20").to_pydatetime())},
    {"top_sources": 3},
    {"sources": ["google", "(other sources)"]},
]


@pytest.fixture(scope="module")
def demo():
    return generate_sessions(20_000, seed=5)


def assert_same_under_filters(model: SessionModel, reference: SessionModel) -> None:
    assert_same_tables(model, reference)
    for change in FILTERS:
        model.param.update(**change)
        reference.param.update(**change)
        assert_same_tables(model, reference)


def messy_csv(frame: pd.DataFrame, path) -> None:
    """The sessions as a canonical CSV, with rows to drop (one sharing a kept session's id; dates of
    1900 and 2999; a 20,000-character country name), exact duplicates and a midnight split."""
    rows = frame.astype({"date": str}).assign(date=lambda f: f["date"].str[:10])
    bad = rows.iloc[:8].copy()
    bad["visitor_id"] = ["", "v1", rows["visitor_id"].iloc[30], "v3", "v4", "v5", "v6", "v7"]
    bad.iloc[2, bad.columns.get_loc("session_id")] = rows["session_id"].iloc[30]
    bad["date"] = ["2026-08-03", "2026-13-45", "2026-08-03", "2026-08-03", "2026-08-03", "1900-01-01",
                   "2999-12-31", "2026-08-03"]
    bad["pageviews"] = ["1", "2", "-3", "1", "1", "1", "1", "1"]
    bad["revenue"] = ["0", "0", "0", "abc", "0", "0", "0", "0"]
    bad["country"] = bad["country"].astype(str)
    bad.iloc[7, bad.columns.get_loc("country")] = "Ruritania" * 2_000
    split = rows.iloc[[10]].assign(date="2026-08-20", pageviews=4, duration=300)
    split_next_day = split.assign(date="2026-08-21", pageviews=2, duration=40)
    rows = rows.drop(index=10)
    messy = pd.concat([rows, bad, rows.iloc[20:22], split, split_next_day], ignore_index=True)
    text = messy.to_csv(index=False)
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())


def as_text_parquet(csv: Path) -> Path:
    """The CSV's cells as written, in a Parquet file beside it: each of its columns is read alone (a
    scan groups its labels by their hashes, see parse._written_labels)."""
    pd.read_csv(csv, dtype=str, keep_default_na=False).to_parquet(path := csv.with_suffix(".parquet"))
    return path


def test_ids_of_white_space_only_are_missing_in_the_scan_as_in_pandas(demo, tmp_path):
    rows = demo.head(12).astype({"date": str}).assign(date=lambda f: f["date"].str[:10])
    rows["visitor_id"] = ["  ", "\t", " \t ", "\t\t  ", " v4 ", "v5", "v6", "v7", "!", "v9", "v10", "v11"]
    rows.loc[rows.index[[5, 6]], "session_id"] = ["   ", " s6"]
    rows.to_csv(tmp_path / "ids.csv", index=False)
    _, scanned = scan_sessions(tmp_path / "ids.csv")
    _, loaded = load_sessions(tmp_path / "ids.csv")
    assert scanned.dropped == loaded.dropped == {"missing visitor_id": 4, "missing session_id": 1}


@pytest.mark.parametrize("name", ["sessions.csv", "sessions.csv.gz"])
def test_a_scanned_file_accounts_for_every_row_as_pandas_does(demo, tmp_path, name):
    path = tmp_path / name
    messy_csv(demo, path)
    scanned, report = scan_sessions(path)
    loaded, expected = load_sessions(path)
    assert report.rows_read == expected.rows_read == len(demo) + 8 + 2 + 1
    assert report.dropped == expected.dropped
    assert report.dropped == {"missing visitor_id": 1, "date: not a date": 1, "negative pageviews": 1,
                              "revenue: not a number": 1, "exact duplicate row": 2,
                              "date: implausible date (before 2005 or after tomorrow)": 2,
                              "country: longer than 200 characters": 1,
                              "repeated session id (merged into its first row)": 1}
    assert (report.rows_kept, report.sessions, report.duplicates_removed) == (
        expected.rows_kept, expected.sessions, expected.duplicates_removed)
    assert report.rows_read == report.rows_kept + sum(report.dropped.values())
    assert (report.unmatched_countries == expected.unmatched_countries
            == {"(not set)": report.unmatched_countries["(not set)"]})
    assert_same_under_filters(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


@pytest.mark.parametrize("kind", ["parquet", "ndjson"])
def test_scanned_parquet_and_json_give_the_in_memory_tables(demo, tmp_path, kind):
    path = tmp_path / f"sessions.{kind}"
    if kind == "parquet":
        demo.to_parquet(path)
    else:
        demo.to_json(path, orient="records", lines=True, date_format="iso")
    scanned, report = scan_sessions(path)
    assert report.rows_read == report.sessions == len(demo) and report.dropped == {}
    assert_same_under_filters(SessionModel(sessions=scanned), SessionModel(sessions=demo))


def test_a_flag_as_the_transactions_and_a_timedelta_as_the_duration_are_read_by_both_engines(demo, tmp_path):
    """A session table made with pandas: converted as True/False (mapped as the transactions), the
    duration a timedelta (the session's end less its start). pandas' path refused both ("should hold
    numbers, but 3000 of 3000 values do not; the first is np.False_"); DuckDB's read the timedelta
    as nanoseconds (129 s as 129,000,000,000 s) and dropped half the rows as too long."""
    typed = demo.assign(converted=demo["transactions"] > 0,
                        duration=pd.to_timedelta(demo["duration"], unit="s")).drop(columns="transactions")
    typed.to_parquet(tmp_path / "typed.parquet")
    mapping = read_mapping(None, {**{name: name for name in ("visitor_id", "session_id", "date", "device",
                                                             "country", "source", "pageviews", "duration",
                                                             "revenue")}, "transactions": "converted"})
    loaded, report = load_sessions(tmp_path / "typed.parquet", mapping=mapping)
    scanned, scan_report = scan_sessions(tmp_path / "typed.parquet", layout=mapping)
    expected = demo.assign(transactions=(demo["transactions"] > 0).astype(int), medium="(not set)",
                           channel="(not set)")
    assert report.dropped == scan_report.dropped == {} and len(loaded) == len(demo)
    assert loaded["duration"].sum() == scanned.to_pandas()["duration"].sum() == demo["duration"].sum()
    assert loaded["transactions"].sum() == (demo["transactions"] > 0).sum()
    assert_same_under_filters(SessionModel(sessions=scanned), SessionModel(sessions=loaded))
    assert_same_under_filters(SessionModel(sessions=loaded), SessionModel(sessions=expected))
    # written as text: pandas' "True"/"False", BigQuery's "true"/"false"
    flags = typed.assign(duration=demo["duration"],
                         converted=typed["converted"].map({True: "true", False: "False"}))
    flags.to_csv(tmp_path / "flags.csv", index=False)
    for read in (load_sessions(tmp_path / "flags.csv", mapping=mapping)[0],
                 scan_sessions(tmp_path / "flags.csv", layout=mapping)[0]):
        assert_same_tables(SessionModel(sessions=read), SessionModel(sessions=expected))


@pytest.mark.parametrize("sep", [",", ";"])
def test_amounts_with_commas_between_thousands_are_numbers_to_both_engines(demo, tmp_path, sep):
    """A shop's export (or a sheet saved as CSV) writes "3,312.45" and "0.00": the largest amounts
    were not numbers, and their rows, every converting session, were dropped; the file loaded with
    no revenue and no conversion. (In a ";"-delimited file "1,000" alone is read with a decimal
    comma, as a European sheet writes it: the pageviews are grouped only in a ","-delimited one.)"""
    written = demo.assign(revenue=demo["revenue"] * 1000)
    written["revenue"] = written["revenue"].map("{:,.2f}".format)
    thousand = 1000 if sep == "," else 1
    written["pageviews"] = (written["pageviews"] * thousand).map("{:,}".format)
    written.to_csv(tmp_path / "shop.csv", index=False, sep=sep)
    loaded, report = load_sessions(tmp_path / "shop.csv")
    scanned, scan_report = scan_sessions(tmp_path / "shop.csv")
    assert report.dropped == scan_report.dropped == {} and report.decimal_comma == []
    assert loaded["revenue"].sum() == pytest.approx((demo["revenue"] * 1000).round(2).sum())
    assert loaded["pageviews"].sum() == demo["pageviews"].sum() * thousand
    assert loaded["converted"].sum() == (demo["transactions"] > 0).sum()
    assert_same_under_filters(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


def test_a_duration_on_a_clock_is_read_in_seconds_by_both_engines(demo, tmp_path):
    """A sheet's duration formatted as a time is written "0:02:09": every row was refused as not a
    number. Hours, minutes and seconds are read; "2:09" (minutes or hours first?) stays not a number."""
    clock = demo.assign(duration=[f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" for s in demo["duration"]])
    clock.loc[0, "duration"] = "2:09"
    clock.to_csv(tmp_path / "clock.csv", index=False)
    for read, report in (load_sessions(tmp_path / "clock.csv"), scan_sessions(tmp_path / "clock.csv")):
        assert report.dropped == {"duration: not a number": 1}
        assert_same_tables(SessionModel(sessions=read), SessionModel(sessions=demo.iloc[1:]))


@pytest.mark.parametrize(("sep", "written", "zero", "sign"), [
    (",", "${:,.2f}", "", "$"),                     # a sheet formatted as US dollars
    (";", "{:,.2f}\u00a0€", "", "€"),               # as a French or German one, a decimal comma
    (",", "US$ {:.2f}", "", "US$"),
    (",", "{:.2f} EUR", "", "EUR"),
    (",", " $ {:,.2f} ", " $ -   ", "$"),           # Excel's Accounting format, its zero a dash
    (";", " {:,.2f} € ", " -   € ", "€"),
])
def test_amounts_written_with_a_currency_sign_are_numbers_to_both_engines(demo, tmp_path, sep, written, zero,
                                                                          sign):
    """A sheet formatted as currency saves its amounts "$1,250.00" or "12,50 €": each one was not a
    number, and every converting row was dropped (or, a few, left out, said only as unusable). They
    are the amounts; the sign is the report's currency, which the page and the leaks' lost revenue
    name. Excel's Accounting format writes a zero as a dash ("$ -"): the file was refused. "-$5.00"
    and "$-5.00" are negative, dropped as such. A second scan of the file, from what the first one
    kept, reads them alike."""
    amounts = ["-" + written.format(5).strip(), written.format(-5),
               *(written.format(v) if v or not zero else zero for v in demo["revenue"][2:])]
    if sep == ";":
        amounts = [a.translate(str.maketrans(",.", ".,")) for a in amounts]
    shop = demo.assign(revenue=amounts)
    shop.to_csv(tmp_path / "shop.csv", index=False, sep=sep)
    read_twice = [scan_sessions(tmp_path / "shop.csv") for _ in range(2)]
    assert read_twice[0][1].cache_key == read_twice[1][1].cache_key != ""
    for read, report in (load_sessions(tmp_path / "shop.csv"), *read_twice):
        assert report.dropped == {"negative revenue": 2}
        assert report.currency == sign
        model = SessionModel(sessions=read)
        assert_same_tables(model, SessionModel(sessions=demo.iloc[2:]))
        assert model.kpis["revenue"] == pytest.approx(demo["revenue"].iloc[2:].round(2).sum())


def test_amounts_in_two_currencies_are_refused_and_one_of_another_sign_is_not_a_number(demo, tmp_path,
                                                                                      monkeypatch):
    """Amounts in two currencies do not add up to one revenue: a file whose first rows write "$" and
    "€" is refused with one of each, an amount (not "$ -", an Accounting zero). A sign that differs
    further on than the rows looked at is not a number, dropped and said as such, never added to the
    others."""
    shop = demo.assign(revenue=[f"${v:.2f}" for v in demo["revenue"]])
    shop.loc[5, "revenue"] = "€3.00"
    shop.loc[(demo["revenue"] == 0).idxmax(), "revenue"] = " $ -   "
    shop.to_csv(tmp_path / "two.csv", index=False)
    for load in (load_sessions, scan_sessions):
        with pytest.raises(LoadError, match=r"two.csv: column 'revenue' writes amounts in more than one "
                                            r"currency \('\$0.00' and '€3.00'\): they do not add up to one "
                                            "revenue"):
            load(tmp_path / "two.csv")
    monkeypatch.setattr(parse, "PRICE_SAMPLE", 5)
    for read, report in (load_sessions(tmp_path / "two.csv"), scan_sessions(tmp_path / "two.csv")):
        assert report.dropped == {"revenue: not a number": 1} and report.currency == "$"
        assert_same_tables(SessionModel(sessions=read), SessionModel(sessions=demo.drop(index=5)))


def test_ids_a_spreadsheet_rounded_are_said_by_both_engines(demo, tmp_path):
    """A GA export opened in Excel and saved again writes its 19-digit visitor ids "2.12195E+18":
    visitors whose ids round alike became one visitor, and nothing said so. Where a file's first
    rows write an id so, the load report names its column and a takeaway says what it does; ids
    written whole say nothing."""
    from leak_app.analysis.takeaways import takeaways

    sample = demo.head(3_000)
    sample.to_csv(tmp_path / "whole.csv", index=False)
    excel = sample.assign(visitor_id=sample["visitor_id"].map(lambda v: f"{int(v):.5E}"))
    assert excel["visitor_id"].iloc[0].endswith("E+18")
    excel.to_csv(tmp_path / "excel.csv", index=False)
    for load in (load_sessions, scan_sessions):
        assert load(tmp_path / "whole.csv")[1].rounded_ids == []
        read, report = load(tmp_path / "excel.csv")
        assert report.rounded_ids == ["visitor_id"] and report.dropped == {}
        said = takeaways(SessionModel(sessions=read, load_report=report.to_dict()))
        assert said[0] == (
            "The visitor ids are written as a spreadsheet rounds long numbers (such as 1.23457E+18), so most "
            "of their digits are lost: visitors whose ids round alike are counted as one visitor (in the "
            "repeat visits the intervals allow for). Export the data again without saving it from a "
            "spreadsheet, or format the ids as text.")
    # fewer visitors, as many sessions: what the sentence says
    assert excel["visitor_id"].nunique() < sample["visitor_id"].nunique()


def test_large_flat_files_are_scanned_and_others_loaded(demo, tmp_path):
    path = tmp_path / "sessions.parquet"
    demo.to_parquet(path)
    assert isinstance(open_sessions(path, scan_from=0)[0], ibis.Table)
    assert isinstance(open_sessions(path)[0], pd.DataFrame)  # small: pandas, for its finer checks
    kaggle = FIXTURES / "train_v2_sample.csv"  # JSON in its cells, scanned as records
    assert isinstance(open_sessions(kaggle, scan_from=0)[0], ibis.Table)
    array = tmp_path / "sessions.json"  # one JSON array of records: pandas reads it, DuckDB does not
    array.write_text(demo.head(50).to_json(orient="records", date_format="iso"))
    assert isinstance(open_sessions(array, scan_from=0)[0], pd.DataFrame)


def test_a_scanned_file_with_no_sessions_columns_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("visitor_id,when\n1,2\n")
    with pytest.raises(Exception, match="missing required column"):
        scan_sessions(path)


def test_spark_local_mode_builds_the_cube_of_the_in_memory_path(spark, demo):
    columns = [c for c in CUBE_COLUMNS if c in demo]
    frame = demo[columns].astype({c: str for c in columns if demo[c].dtype == "category"})
    spark.createDataFrame(frame).createOrReplaceTempView("sessions")
    table = ibis.pyspark.connect(spark).table("sessions")
    on_spark = SessionModel(sessions=table, load_report={"path": "spark table sessions"})
    assert on_spark.kpis["sessions"] == len(demo)
    assert_same_under_filters(on_spark, SessionModel(sessions=demo))
    on_spark.duration_edges = [20, 200]  # a setting that rebuilds the cube: Spark runs it again
    reference = SessionModel(sessions=demo, duration_edges=[20, 200], top_sources=on_spark.top_sources)
    reference.param.update(**{k: getattr(on_spark, k)
                              for k in ("devices", "countries", "date_range", "sources")})
    assert_same_tables(on_spark, reference)
    assert on_spark.duration_table["bucket"].cat.categories.tolist() == duration_labels([20, 200])


def test_a_large_upload_is_scanned_and_survives_a_cube_rebuild(demo, tmp_path, monkeypatch):
    from leak_app.data import sources
    from leak_app.ui.upload import Upload

    monkeypatch.setattr(sources, "SCAN_FROM_BYTES", 0)  # every canonical upload counts as large
    path = tmp_path / "big.parquet"
    demo.to_parquet(path)
    model = SessionModel(sessions=generate_sessions(2_000, seed=9))
    upload = Upload(model=model)
    settled(lambda: upload.receive("big.parquet", path.read_bytes()))
    assert isinstance(model.sessions, ibis.Table) and model.kpis["sessions"] == len(demo)
    model.duration_edges = [15, 150]  # the cube is built again, from the uploaded file
    assert model.duration_table["sessions"].sum() == len(demo)
    settled(lambda: upload.receive("big.parquet", path.read_bytes()))  # the next upload replaces its folder
    model.engaged_pageviews = 4
    funnel = model.funnel_table
    assert funnel[funnel["stage"] == "Browsed"]["sessions"].sum() == len(demo)


def assert_same_report(report, expected) -> None:
    for field in ("rows_read", "rows_kept", "sessions", "duplicates_removed", "dropped",
                  "unmatched_countries"):
        assert getattr(report, field) == getattr(expected, field), field
    assert report.rows_read == report.rows_kept + sum(report.dropped.values())


@pytest.mark.parametrize("name, mapping", [
    ("ga_sessions_export.csv", None), ("ga_sessions_export.csv.gz", None),
    ("train_v2_sample.csv", None), ("train_v2_sample.csv.gz", None),
    ("shop_sessions.csv", "shop_sessions_mapping.toml"),
    ("shop_sessions.parquet", "shop_sessions_mapping.toml"),
])
def test_flat_exports_scan_as_pandas_loads_them(name, mapping):
    path = FIXTURES / name
    layout = read_mapping(FIXTURES / mapping) if mapping else None
    scanned_layout = scan_layout(path, layout)
    assert scanned_layout is not None
    scanned, report = scan_sessions(path, layout=scanned_layout)
    loaded, expected = load_sessions(path, mapping=layout)
    assert report.format == f"{expected.format}_scan"
    assert_same_report(report, expected)
    assert_same_under_filters(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


@pytest.mark.parametrize("written", ["json cells", "dotted columns", "a line of 3 MB"])
def test_the_kaggle_csv_scans_as_pandas_reads_it(tmp_path, written):
    """The Kaggle CSV's records, JSON in its cells, were read by pandas at any size: about 11 times
    the file in memory. Scanned, a filled cell that is not a JSON object drops its row as pandas drops
    it (broken, a list, white space; an empty one is a record of nothing); the same table with its
    records' fields as dotted columns, as a flattened export writes them, scans too; and so does a
    row of a long session, its hits 3 MB (DuckDB's own limit of a line, 2 MB, refused it)."""
    text = (FIXTURES / "train_v2_sample.csv").read_text()
    if written == "a line of 3 MB":
        rows = list(csv.reader(io.StringIO(text)))
        hits = rows[0].index("hits")
        rows[5][hits] = "[" + "{'type': 'PAGE'}, " * 200_000 + "]"
        assert len(rows[5][hits]) > 3 * 2**20
        written_out = io.StringIO()
        csv.writer(written_out, lineterminator="\n").writerows(rows)
        text = written_out.getvalue()
    elif written == "dotted columns":
        frame, _, _ = read_raw(FIXTURES / "train_v2_sample.csv", "train_v2_sample.csv")
        text = frame.to_csv(index=False)
    else:
        rows = list(csv.reader(io.StringIO(text)))
        at = {name: rows[0].index(name) for name in ("totals", "geoNetwork", "device", "trafficSource")}
        rows[1][at["totals"]] = rows[1][at["totals"]].replace('{"visits"', '{"visits" oops', 1)
        rows[2][at["geoNetwork"]] = f"[{rows[2][at['geoNetwork']]}]"
        rows[3][at["device"]] = "  "
        rows[4][at["trafficSource"]] = ""
        written_out = io.StringIO()
        csv.writer(written_out, lineterminator="\n").writerows(rows)
        text = written_out.getvalue()
    path = tmp_path / "train.csv"
    path.write_text(text)
    layout = scan_layout(path)
    assert layout is not None and layout.name == "ga_customer_revenue_csv"
    scanned, report = scan_sessions(path, layout=layout)
    loaded, expected = load_sessions(path)
    assert report.format == f"{expected.format}_scan"
    assert_same_report(report, expected)
    if written == "json cells":
        assert report.dropped == {"totals: not valid JSON": 1, "geoNetwork: not valid JSON": 1,
                                  "device: not valid JSON": 1}
    assert_same_under_filters(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


@pytest.mark.parametrize("record", ["totals", "geoNetwork", "device", "trafficSource"])
def test_a_kaggle_csv_whose_records_hold_no_field_loads_alike_on_both_engines(tmp_path, record):
    """Every record of one column empty ("{}"): the scan, told the fields, read them as empty; pandas
    found no column of that record, so a file whose totals held nothing was no Kaggle CSV to it and
    was refused ("missing required column(s) 'transactions', 'transactionrevenue'")."""
    rows = list(csv.reader(io.StringIO((FIXTURES / "train_v2_sample.csv").read_text())))
    at = rows[0].index(record)
    for row in rows[1:]:
        row[at] = "{}"
    with open(path := tmp_path / "train.csv", "w", newline="") as out:
        csv.writer(out, lineterminator="\n").writerows(rows)
    scanned, report = open_sessions(path, scan_from=0)
    loaded, expected = open_sessions(path, scan_from=10**15)
    assert (report.format, expected.format) == ("ga_customer_revenue_csv_scan", "ga_customer_revenue_csv")
    assert_same_report(report, expected)
    assert report.absent_columns == expected.absent_columns == {
        "totals": ["pageviews", "duration"], "geoNetwork": ["country"], "device": ["device"],
        "trafficSource": ["source", "medium"]}[record]
    assert_same_under_filters(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


def test_a_kaggle_csv_without_transactions_counts_one_per_session_with_revenue(tmp_path):
    """The Kaggle CSV of 2018 (train.csv) writes no ``transactions`` in its totals: a session with
    revenue made one. The scan, which reads the field as empty in every record, counted none (no
    conversion, though revenue); pandas, which finds no such column, one each."""
    rows = list(csv.reader(io.StringIO((FIXTURES / "train_v2_sample.csv").read_text())))
    at = rows[0].index("totals")
    bought = 0
    for row in rows[1:]:
        totals = json.loads(row[at])
        totals.pop("transactions", None)
        bought += float(totals.get("transactionRevenue") or 0) > 0
        row[at] = json.dumps(totals)
    path = tmp_path / "train.csv"
    with open(path, "w", newline="") as file:
        csv.writer(file).writerows(rows)
    scanned, report = scan_sessions(path, layout=scan_layout(path))
    loaded, expected = load_sessions(path)
    assert_same_report(report, expected)
    assert bought and SessionModel(sessions=loaded).kpis["transactions"] == bought
    assert_same_under_filters(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


@pytest.mark.parametrize("name", ["ga_sessions_20260803.json", "ga_sessions_20260803.json.gz", "parquet"])
def test_universal_analytics_bigquery_exports_scan_as_pandas_loads_them(name, tmp_path):
    """BigQuery's nested ga_sessions_* records (totals, device, geoNetwork, trafficSource), as JSON
    and as Parquet: their fields are columns of the scan, as pandas flattens them."""
    path = FIXTURES / name
    if name == "parquet":  # the JSON export's records as Parquet structs, written by DuckDB
        path = tmp_path / "ga_sessions_20260803.parquet"
        duckdb.sql(f"COPY (SELECT * FROM read_json('{FIXTURES / 'ga_sessions_20260803.json'}')) TO '{path}'")
    assert scan_layout(path).name == "ga_sessions_bigquery_json"
    scanned, report = scan_sessions(path, layout=scan_layout(path))
    loaded, expected = load_sessions(path)
    assert report.format == f"{expected.format}_scan"
    assert_same_report(report, expected)
    assert_same_under_filters(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


#: The records DuckDB infers a JSON file's fields from (read_json's sample_size).
SAMPLED = 20_480


def _early(record: dict, i: int, case: str) -> dict:
    """A copy of a fixture record for the rows before it: a session of its own, with nothing bought
    and, as ``case`` says, a record or field it holds left out."""
    if "event_name" in record:  # a GA4 event
        early = {**record, "event_name": "page_view", "user_pseudo_id": f"early{i}"}
        if case == "whole revenue":  # bought, for a whole number
            return {**early, "event_name": "purchase", "ecommerce": {"purchase_revenue": 45}}
        early.pop("ecommerce") if case == "absent" else early.update(ecommerce={"transaction_id": None})
        return early
    totals = {k: v for k, v in record["totals"].items() if k not in ("transactions", "transactionRevenue")}
    return {**record, "fullVisitorId": f"early{i}", "totals": totals}


@pytest.mark.parametrize("name, case", [("events_20260803.json", "absent"),
                                        ("events_20260803.json", "no field"),
                                        ("events_20260803.json", "whole revenue"),
                                        ("ga_sessions_20260803.json", "no field")])
def test_fields_first_written_past_duckdbs_sample_are_scanned_as_pandas_reads_them(name, case, tmp_path):
    """DuckDB infers a JSON file's records from its first 20,480: a record or a field first written
    after them (the revenue of a site whose first day sold nothing) was refused ("unknown key") or read
    as absent (revenue 0) by the scan, though pandas reads it; and a revenue the sample held only whole
    numbers of was read as an integer, 45.50 after them rounded to 46."""
    records = [json.loads(line) for line in (FIXTURES / name).read_text().splitlines()]
    early = [_early(records[i % len(records)], i, case) for i in range(SAMPLED + 100)]
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(record) for record in early + records) + "\n")
    scanned, report = scan_sessions(path, layout=scan_layout(path))
    loaded, expected = load_sessions(path)
    assert_same_report(report, expected)
    model, reference = SessionModel(sessions=scanned), SessionModel(sessions=loaded)
    assert reference.kpis["revenue"] > 0 and model.kpis == reference.kpis
    assert_same_tables(model, reference)


@pytest.mark.parametrize("after", [0, SAMPLED + 100])
def test_a_field_no_record_holds_is_absent_in_the_scan_as_in_pandas(tmp_path, after):
    """A UA export whose records never hold trafficSource.medium nor totals.timeOnSite: pandas found
    no column for them ("Not in the data" in the load report, the duration view saying what it
    needs), the scan, told the fields, read them empty and said nothing (a medium "(not set)") or
    called the duration a column of zeros. Held by one record, past DuckDB's sample, it is there."""
    records = [json.loads(line) for line in (FIXTURES / "ga_sessions_20260803.json").read_text().splitlines()]
    for record in records:
        record["trafficSource"].pop("medium")
        record["totals"].pop("timeOnSite", None)
    early = [_early(records[i % len(records)], i, "") for i in range(after)]
    if after:  # one record, past the sample, holds the medium
        records[-1]["trafficSource"]["medium"] = "referral"
    path = tmp_path / "ga_sessions_20260803.json"
    path.write_text("\n".join(json.dumps(record) for record in early + records) + "\n")
    scanned, report = scan_sessions(path, layout=scan_layout(path))
    loaded, expected = load_sessions(path)
    assert_same_report(report, expected)
    absent = ["duration"] if after else ["medium", "duration"]
    assert report.absent_columns == expected.absent_columns == absent
    assert "duration" not in report.zero_columns
    assert_same_under_filters(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


def test_values_duckdbs_sample_types_are_scanned_after_it_as_pandas_reads_them(tmp_path):
    """A flat JSON file whose first 20,480 revenues were written as whole numbers (45, as JavaScript
    writes 45.0) was scanned with the revenue an integer: a later 45.50 rounded to 46; and one whose
    dates and pageviews there were ISO dates and numbers was refused whole for a later date or
    number that is not one (pandas drops its row)."""
    frame = generate_sessions(SAMPLED + 100, seed=3).astype({"date": str, **dict.fromkeys(TEXT, str)})
    frame["date"] = frame["date"].str[:10]
    frame["revenue"] = frame["revenue"].round().astype(int).astype(object)
    late = frame.index[-100:][frame["transactions"].iloc[-100:] > 0]
    frame.loc[late, "revenue"] = 45.5
    frame.loc[frame.index[-1], "date"] = "not a date"
    frame["pageviews"] = frame["pageviews"].astype(object)
    frame.loc[frame.index[-2], "pageviews"] = "many"
    assert len(late) and frame["revenue"].iloc[:SAMPLED].map(type).eq(int).all()
    path = tmp_path / "sessions.json"
    path.write_text("\n".join(json.dumps(row) for row in frame.to_dict(orient="records")) + "\n")
    scanned, report = scan_sessions(path)
    loaded, expected = load_sessions(path)
    assert_same_report(report, expected)
    assert report.dropped == {"date: not a date": 1, "pageviews: not a number": 1}
    model, reference = SessionModel(sessions=scanned), SessionModel(sessions=loaded)
    kept = frame["revenue"].iloc[:-2].astype(float).sum()
    assert reference.kpis["revenue"] == pytest.approx(kept, rel=1e-12)
    assert model.kpis == reference.kpis


def test_the_real_ga360_sample_scans_as_pandas_loads_it(ga_raw):
    scanned, report = scan_sessions(ga_raw)
    loaded, expected = load_sessions(ga_raw)
    assert_same_report(report, expected)  # 10,000 rows; two midnight splits merged
    assert_same_tables(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


def split_at_midnight(demo, path) -> None:
    """Sessions whose one (the 4th) is split at midnight, its later part written first, on another
    device and in a country no other session has."""
    rows = demo.head(20).astype({"date": str}).assign(date=lambda f: f["date"].str[:10])
    later = rows.iloc[[3]].assign(date="2026-08-21", device="mobile", country="Ruritania", pageviews=2,
                                  duration=40, transactions=0, revenue=0.0)
    earlier = rows.iloc[[3]].assign(date="2026-08-20", device="desktop", country="Japan", pageviews=4,
                                    duration=300, transactions=1, revenue=25.0)
    pd.concat([rows.drop(index=rows.index[3]), later, earlier]).to_csv(path, index=False)


def labels_written_apart(demo, path) -> None:
    """Sessions whose labels are written several ways that read as one ("mobile", " Mobile",
    "MOBILE\t"; "google", " google "; empty and white space: "(not set)"; a device no one groups:
    "other"), with rows dropped for a label too long and for more than one reason."""
    rows = demo.head(400).astype({"date": str, **{name: object for name in TEXT}})
    rows["date"] = rows["date"].str[:10]
    rows.loc[rows.index[:60], "device"] = [" Mobile", "MOBILE\t", "mobile", "Smart TV", "", "  "] * 10
    rows.loc[rows.index[60:120], "source"] = [" google ", "google", "\tgoogle", "", " "] * 12
    rows.loc[rows.index[120:130], "country"] = ["  India", "India  "] * 5
    rows.loc[rows.index[130], ["pageviews", "source"]] = [-2, "s" * 300]  # negative, first
    rows.loc[rows.index[131], ["device", "source"]] = ["d" * 300, "s" * 300]  # device, first
    rows.loc[rows.index[132], "medium"] = " " + "m" * 200  # 201 characters as written
    rows.to_csv(path, index=False)


def test_labels_written_apart_are_read_as_one_by_the_scan_as_by_pandas(demo, tmp_path):
    """The scan's pass that counts the rows groups them by their labels as written and reads each
    distinct label once: the same rows dropped, for the same first reason, as pandas, and the
    same sessions per label."""
    path = tmp_path / "labels.csv"
    labels_written_apart(demo, path)
    grouped, queried, _, report = grouped_and_queried(path)
    _, loaded = load_sessions(path)
    assert report.dropped == loaded.dropped == {
        "negative pageviews": 1, "device: longer than 200 characters": 1,
        "medium: longer than 200 characters": 1}
    assert grouped.labels["device"] == ["(not set)", "desktop", "mobile", "other", "tablet"]
    assert grouped.labels["source"].count("google") == 1 and " google " not in grouped.labels["source"]
    assert_same_cube(grouped, queried)
    [counts] = grouped.counts(np.ones(grouped.cells, dtype=bool), (0, grouped.days - 1))
    kept = pd.read_csv(path, keep_default_na=False).drop(index=[130, 131, 132])
    by_hand = kept["device"].str.strip().str.lower().replace({"": "(not set)", "smart tv": "other"})
    assert counts["device"].set_index("device")["sessions"].to_dict() == by_hand.value_counts().to_dict()


def test_a_split_session_takes_its_earliest_parts_labels_in_both_engines(demo, tmp_path):
    """A session split at midnight, its later part written first (files are not always in date
    order): pandas kept the first row's date and labels, DuckDB the earliest part's, so the two
    engines put the session on different days and devices."""
    split_at_midnight(demo, tmp_path / "split.csv")
    scanned, report = scan_sessions(tmp_path / "split.csv")
    loaded, expected = load_sessions(tmp_path / "split.csv")
    assert report.dropped == expected.dropped == {"repeated session id (merged into its first row)": 1}
    key = demo.iloc[3][["visitor_id", "session_id"]].astype(str)
    for sessions in (scanned.to_pandas(), loaded):
        merged = sessions[(sessions["visitor_id"].astype(str) == key["visitor_id"])
                          & (sessions["session_id"].astype(str) == key["session_id"])]
        assert len(merged) == 1
        assert merged[["device", "country"]].astype(str).iloc[0].tolist() == ["desktop", "Japan"]
        assert str(pd.Timestamp(merged["date"].iloc[0]).date()) == "2026-08-20"
        measures = merged[["pageviews", "duration", "transactions", "revenue"]]
        assert measures.iloc[0].tolist() == [6, 340, 1, 25]
    assert_same_under_filters(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


@pytest.mark.parametrize("first", ["tablet", "desktop"])
def test_a_session_twice_on_one_day_takes_the_least_labels_in_both_engines(demo, tmp_path, first):
    """Two rows of one session id on the same day with other labels: which is the earliest part is a
    tie, which each engine broke by the row it happened to meet first (the order a scan's threads
    read them in). The least labels are taken (device, then country...), whichever row is written
    first, by both engines."""
    rows = demo.head(20).astype({"date": str}).assign(date=lambda f: f["date"].str[:10])
    parts = {device: rows.iloc[[3]].assign(date="2026-08-20", device=device, country=country, pageviews=2,
                                           duration=40, transactions=0, revenue=0.0)
             for device, country in (("tablet", "Japan"), ("desktop", "Ruritania"))}
    later = "desktop" if first == "tablet" else "tablet"
    written = pd.concat([rows.drop(index=rows.index[3]), parts[first], parts[later]])
    written.to_csv(tmp_path / "s.csv", index=False)
    scanned, _ = scan_sessions(tmp_path / "s.csv")
    loaded, _ = load_sessions(tmp_path / "s.csv")
    key = demo.iloc[3][["visitor_id", "session_id"]].astype(str)
    for sessions in (scanned.to_pandas(), loaded):
        merged = sessions[(sessions["visitor_id"].astype(str) == key["visitor_id"])
                          & (sessions["session_id"].astype(str) == key["session_id"])]
        assert merged[["device", "country"]].astype(str).values.tolist() == [["desktop", "Ruritania"]]
        assert merged["pageviews"].tolist() == [4]


def test_impossible_compact_dates_are_dropped_by_the_scan_as_by_pandas(tmp_path):
    """20261345 and 20260230 look like YYYYMMDD: DuckDB's strptime raised on them and the whole
    scan failed, where pandas drops their rows as not dates."""
    lines = (FIXTURES / "ga_sessions_export.csv").read_text().splitlines()
    date = lines[0].split(",").index("date")
    for row, impossible in ((1, "20261345"), (2, "20260230")):
        cells = lines[row].split(",")
        cells[date] = impossible
        lines[row] = ",".join(cells)
    path = tmp_path / "ga_sessions.csv"
    path.write_text("\n".join(lines) + "\n")
    scanned, report = scan_sessions(path)
    loaded, expected = load_sessions(path)
    assert report.dropped == expected.dropped == {"date: not a date": 2}
    assert_same_report(report, expected)
    assert_same_under_filters(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


def test_infinite_numbers_are_dropped_by_the_scan_as_by_pandas(tmp_path, demo):
    """A Parquet column typed as numbers may hold infinities: pandas dropped their rows as not a
    number, the scan kept them (an infinite duration and revenue in the sums)."""
    rows = demo.head(50).astype({"duration": "float64"})
    rows.loc[rows.index[3], "duration"] = float("inf")
    rows.loc[rows.index[7], "revenue"] = float("-inf")
    path = tmp_path / "sessions.parquet"
    rows.to_parquet(path)
    scanned, report = scan_sessions(path)
    loaded, expected = load_sessions(path)
    assert report.dropped == expected.dropped == {"duration: not a number": 1, "revenue: not a number": 1}
    assert_same_report(report, expected)
    assert len(loaded) == 48 and scanned.count().to_pandas() == 48


def test_labels_written_as_booleans_read_as_json_writes_them_by_both_engines(tmp_path, demo):
    """A source written true among texts was "True" to pandas (Python's spelling), "true" to the scan."""
    rows = demo.head(30).astype({"date": str})
    records = [{**record, "source": [True, "google", None][i % 3]}
               for i, record in enumerate(rows.to_dict("records"))]
    path = tmp_path / "sessions.json"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    scanned, report = scan_sessions(path)
    loaded, expected = load_sessions(path)
    assert_same_report(report, expected)
    for table in (loaded, scanned.to_pandas()):
        assert sorted(table["source"].astype(str).unique()) == ["(not set)", "google", "true"]
    assert_same_tables(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


def written_as_python_writes(rows: pd.DataFrame, path: Path, floats: tuple[str, ...]) -> None:
    """``rows`` written to ``path`` as CSV, or (a .json path) as newline-delimited JSON by Python's
    JSON module, which writes a float NaN or infinity as its token: the cells of the ``floats``
    columns that say "nan" or "infinity" are written so."""
    if path.suffix == ".csv":
        rows.to_csv(path, index=False)
        return
    records = rows.astype({"date": str}).to_dict("records")
    for record in records:
        for name in floats:
            value = record[name]
            record[name] = float(value) if str(value).strip().lower() in ("nan", "infinity") else value
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_numbers_written_as_missing_are_empty_in_both_engines(tmp_path, demo, kind):
    """R writes a missing number NA, pandas NaN, SQL dumps NULL: a file whose sessions without
    revenue said NA was refused ("revenue should hold numbers, but 2976 of 3000 values do not").
    They are empty (0), as GA's empty totals are; and Python's JSON token NaN, which pandas read as
    no value and the scan as the text "NaN" (a revenue NaN dropped, a source "NaN"), is read alike.
    A label keeps what it says but NaN ("NA" is Namibia's code)."""
    rows = demo.head(60).astype({name: object for name in ("revenue", "duration", "pageviews", "country")})
    markers = ["NA", "NaN", "null", "NULL", "None", "#N/A", " n/a ", "nan"]
    for i, marker in enumerate(markers):
        rows.iloc[i, rows.columns.get_loc("revenue")] = marker
        rows.iloc[i + 10, rows.columns.get_loc("duration")] = marker
        rows.iloc[i + 20, rows.columns.get_loc("pageviews")] = marker
    rows.iloc[30, rows.columns.get_loc("country")] = "NA"
    rows.iloc[31, rows.columns.get_loc("country")] = "nan"
    rows.iloc[32, rows.columns.get_loc("revenue")] = "Infinity"  # a number, not a missing one
    path = tmp_path / f"sessions.{kind}"
    written_as_python_writes(rows, path, ("revenue", "duration", "pageviews"))
    scanned, report = scan_sessions(path)
    loaded, expected = load_sessions(path)
    assert_same_report(report, expected)
    assert report.dropped == {"revenue: not a number": 1} and report.rows_kept == 59
    for table in (loaded, scanned.to_pandas()):
        assert table["revenue"].isna().sum() == table["duration"].isna().sum() == 0
        assert {"NA", "(not set)"} <= set(table["country"].astype(str)) and "nan" not in set(table["country"])
    assert_same_tables(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_ids_written_as_missing_are_missing_in_both_engines(tmp_path, demo, kind):
    """An id written NaN (Python's JSON token, or the text), NULL, None, NA, #N/A or N/A is no id:
    pandas dropped a JSON file's NaN token as a missing id where the scan kept the text "NaN" as
    one, and both kept a CSV's, every such row one visitor "NaN" or "NULL". Its row is dropped as
    any row without an id; an id that only contains such letters, or white space around them, is
    kept (ids are compared as written)."""
    rows = demo.head(60).astype({"visitor_id": object, "session_id": object})
    markers = ["NA", "NaN", "null", "NULL", "None", "#N/A", "N/A", "nan"]
    for i, marker in enumerate(markers):
        rows.iloc[i, rows.columns.get_loc("visitor_id")] = marker
        rows.iloc[i + 10, rows.columns.get_loc("session_id")] = marker
    rows.iloc[20, rows.columns.get_loc("visitor_id")] = "nana"  # ids, not missing ones
    rows.iloc[21, rows.columns.get_loc("session_id")] = "NULL1"
    rows.iloc[22, rows.columns.get_loc("session_id")] = " NA "  # (ids are compared as written)
    path = tmp_path / f"sessions.{kind}"
    written_as_python_writes(rows, path, ("visitor_id", "session_id"))
    scanned, report = scan_sessions(path)
    loaded, expected = load_sessions(path)
    assert_same_report(report, expected)
    assert report.dropped == {"missing visitor_id": 8, "missing session_id": 8} and report.rows_kept == 44
    for table in (loaded, scanned.to_pandas()):
        assert {"nana"} <= set(table["visitor_id"].astype(str)) and "NULL1" in set(table["session_id"])
    assert_same_tables(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


@pytest.mark.parametrize("kind", ["json", "parquet"])
def test_labels_and_ids_written_as_numbers_read_as_written_by_both_engines(tmp_path, demo, kind):
    """A source or an id written as a number beside an empty one is a float once pandas reads it:
    source 123 was "123.0" where the scan read "123" (a NDJSON file under 16 MB against one above),
    and in a Parquet file written from such a column, in both."""
    rows = demo.head(40).astype({"source": object, "visitor_id": object})
    sources = [123 if i % 3 == 0 else (None if i % 3 == 1 else 7.5) for i in range(len(rows))]
    visitors = [10**12 + i if i != 5 else None for i in range(len(rows))]
    rows["source"], rows["visitor_id"] = sources, visitors
    path = tmp_path / f"sessions.{kind}"
    if kind == "json":  # (pandas writes the numbers of an object column as floats: 123.0; None as NaN)
        records = rows.astype({"date": str}).to_dict("records")
        path.write_text("".join(json.dumps({**record, "source": source, "visitor_id": visitor}) + "\n"
                                for record, source, visitor in zip(records, sources, visitors)))
    else:
        rows.astype({"source": "float64", "visitor_id": "float64"}).to_parquet(path)
    scanned, report = scan_sessions(path)
    loaded, expected = load_sessions(path)
    assert_same_report(report, expected)
    assert expected.dropped == {"missing visitor_id": 1}
    read = scanned.to_pandas()
    for table in (loaded, read):
        assert sorted(table["source"].astype(str).unique()) == ["(not set)", "123", "7.5"]
        assert str(10**12 + 3) in set(table["visitor_id"].astype(str))
    assert_same_tables(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_counts_past_32_bits_are_dropped_by_the_scan_as_by_pandas(tmp_path, demo, kind):
    """pandas holds pageviews, duration and transactions as 32-bit integers: 8,769,421,079 pageviews
    wrapped to -2,147,483,648 there, where the scan kept them. No session counts so many: the row is
    dropped, with its reason, by both."""
    rows = demo.head(50).astype({"pageviews": "int64", "duration": "int64"})
    rows.loc[rows.index[3], "pageviews"] = 8_769_421_079
    rows.loc[rows.index[7], "duration"] = 2**31
    rows.loc[rows.index[9], "duration"] = 2**31 - 1  # 68 years: kept
    path = tmp_path / f"sessions.{kind}"
    rows.to_csv(path, index=False) if kind == "csv" else rows.to_parquet(path)
    scanned, report = scan_sessions(path)
    loaded, expected = load_sessions(path)
    assert report.dropped == expected.dropped == {"pageviews: larger than 2,147,483,647": 1,
                                                  "duration: larger than 2,147,483,647": 1}
    assert_same_report(report, expected)
    assert loaded["pageviews"].min() >= 0 and loaded["duration"].max() == 2**31 - 1
    assert_same_tables(SessionModel(sessions=scanned), SessionModel(sessions=loaded))


def test_a_column_of_mostly_bad_values_is_refused_with_one_of_them(tmp_path, demo):
    """As pandas names the first bad value and its row, the scan names one (its threads meet rows in
    no set order): it named none ("a dollar sign? a time? a typo?" left to the reader to find)."""
    path = tmp_path / "sessions.csv"
    demo.head(50).assign(pageviews="many").to_csv(path, index=False)
    with pytest.raises(LoadError, match="column 'pageviews' should hold numbers, but 50 of 50 values do not; "
                                        "for example 'many'$"):
        scan_sessions(path)
    demo.head(50).assign(date="2026-08-03", revenue="12.50 incl. VAT").astype({"date": str}).to_csv(
        path, index=False)
    with pytest.raises(LoadError, match=r"column 'revenue' should hold numbers, but 50 of 50 values do not; "
                                        r"for example '12.50 incl. VAT'$"):
        scan_sessions(path)
    demo.head(50).assign(date="yesterday").to_csv(path, index=False)
    with pytest.raises(LoadError, match=r"column 'date' should hold dates .* for example 'yesterday'$"):
        scan_sessions(path)


@pytest.mark.parametrize("bad_rows", [6, 4])
def test_a_mostly_empty_column_is_refused_by_the_scan_as_by_pandas(tmp_path, demo, bad_rows):
    """Google Analytics leaves zero totals empty: 10 of 200 revenues written, 6 of them "abc", is a
    wrong column to pandas (most values written fail), which refused it; the scan measured the 6
    against all 200 rows and dropped them. Both now refuse it alike; with 4 bad, both drop those 4."""
    rows = demo.head(200).astype({"revenue": object})
    rows["revenue"] = ""
    rows.iloc[:10, rows.columns.get_loc("revenue")] = ["abc"] * bad_rows + ["12.5"] * (10 - bad_rows)
    path = tmp_path / "sessions.csv"
    rows.to_csv(path, index=False)
    if bad_rows > 5:
        expected = "column 'revenue' should hold numbers, but 6 of 10 values do not"
        with pytest.raises(LoadError, match=expected):
            load_sessions(path)
        with pytest.raises(LoadError, match=expected + "; for example 'abc'$"):
            scan_sessions(path)
    else:
        _, scanned = scan_sessions(path)
        _, loaded = load_sessions(path)
        assert scanned.dropped == loaded.dropped == {"revenue: not a number": 4}


def test_a_second_start_on_an_unchanged_file_runs_no_query(demo, tmp_path, monkeypatch):
    """Start-up: a scanned file's load report, repeated session ids and cube queries are kept on disk
    (keyed by the file, its layout, the code and the day), so a second start reads them back and
    runs no query, with the same numbers; a changed file is scanned again."""
    path = tmp_path / "sessions.csv"
    messy_csv(demo, path)
    first = SessionModel(**_scanned(path))
    first.duration_edges = [15, 150]  # a second cube, kept too
    first.duration_edges = list(first.param.duration_edges.default)

    def refuse(*args, **kwargs):
        raise AssertionError("a query ran on a second start")

    with monkeypatch.context() as patched:
        for name in ("execute", "to_pyarrow", "create_table"):
            patched.setattr(ibis.backends.duckdb.Backend, name, refuse)
        second = SessionModel(**_scanned(path))
        assert second.load_report == first.load_report and second.load_report["cache_key"]
        assert_same_under_filters(second, first)
        third = SessionModel(**_scanned(path))
        third.duration_edges = [15, 150]
        assert third.duration_table["sessions"].sum() == first.load_report["sessions"]
    messy_csv(demo.iloc[:-100], path)  # the file changed: scanned again
    assert SessionModel(**_scanned(path)).load_report["rows_read"] == first.load_report["rows_read"] - 100


def test_servers_starting_together_on_one_file_both_start_and_keep_it_whole(demo, tmp_path):
    """Two processes starting at once on one scanned file both write its kept scan and cube (each
    file written beside its place and renamed over it whole, so neither reads half of the other's):
    both start with the same figures, and a third maps the cube they kept."""
    path = tmp_path / "sessions.csv"
    messy_csv(demo, path)
    code = ("import json, sys; from leak_app import SessionModel; m = SessionModel.from_path(sys.argv[1]); "
            "print(json.dumps({'format': m.load_report['format'],"
            " 'kept': type(m.cube.store.prefix.base).__name__,"
            " 'kpis': {k: float(v) for k, v in m.kpis.items()}}))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "LEAK_APP_SCAN_FROM_BYTES": "0"}

    def started() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", code, str(path)], env=env, cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    together = [started(), started()]
    first, second = (json.loads(process.communicate(timeout=300)[0]) for process in together)
    assert [process.returncode for process in together] == [0, 0]
    third = json.loads(started().communicate(timeout=300)[0])
    assert first["format"].endswith("_scan") and first["kpis"] == second["kpis"] == third["kpis"]
    assert third["kept"] == "memmap"
    assert third["kpis"]["sessions"] == SessionModel(**_scanned(path)).kpis["sessions"]


def test_kept_results_are_keyed_by_every_module_of_the_code_that_made_them(tmp_path, monkeypatch):
    """A scan's kept results were keyed by a hand-kept list of modules, which missed duck.py (the
    labels' hashes) and workbooks.py (the cells of a workbook's sheet): a change to either left results
    made by the old code standing. The key now covers every module the scan's code imports."""
    package = tmp_path / "leak_app"
    shutil.copytree(ROOT / "leak_app", package, ignore=shutil.ignore_patterns("__pycache__"))
    modules = ("data/scan.py", "analysis/cube.py", "data/sources.py")  # as scan.scan_key names them
    running = files.code_digest.__wrapped__(modules)  # (the cached one: of the code when first asked)
    monkeypatch.setattr(files, "PACKAGE", package)
    before = files.code_digest.__wrapped__(modules)
    assert before == running  # the copy is the code running
    for changed, keyed in [("data/duck.py", True), ("data/workbooks.py", True), ("data/ua.py", True),
                           ("analysis/clustering.py", True), ("ui/app.py", False),
                           ("analysis/leaks.py", False)]:
        original = (package / changed).read_text()
        (package / changed).write_text(original + "\n# changed\n")
        assert (files.code_digest.__wrapped__(modules) != before) == keyed, changed
        (package / changed).write_text(original)


def test_the_sessions_of_a_kept_scan_outlive_its_eviction(demo, tmp_path):
    """A second start read the kept repeated session ids lazily from the kept file: once other scans
    evicted it (8 are kept), the sessions' next query (a cube rebuilt for new settings) failed with
    "No files found ... repeated.parquet". They are now held in memory."""
    path = tmp_path / "sessions.csv"
    messy_csv(demo, path)  # with a session split at midnight: a repeated id to keep
    _, first = scan_sessions(path)
    sessions, report = scan_sessions(path)  # from the kept scan
    shutil.rmtree(kept_scan(report.cache_key))  # evicted
    assert int(sessions.count().to_pandas()) == report.sessions == first.sessions
    model = SessionModel(sessions=sessions, load_report=report.to_dict())
    model.duration_edges = [15, 150]  # a cube built anew from the sessions
    assert model.kpis["sessions"] == first.sessions


def test_a_second_start_on_an_unchanged_archive_runs_no_query(demo, tmp_path, monkeypatch):
    """A .zip is unpacked afresh at each start, as new files: its kept results are found by the
    archive itself (and its files' names), so a server restarted on it runs no query; a changed
    archive is scanned again."""
    archive = tmp_path / "exports.zip"

    def zipped(frame):
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
            half = len(frame) // 2
            for name, part in (("day1.csv", frame.iloc[:half]), ("day2.csv", frame.iloc[half:])):
                out.writestr(name, part.to_csv(index=False))

    def opened():
        table, report = open_sessions(archive, scan_from=0)
        assert isinstance(table, ibis.Table)
        return SessionModel(sessions=table, load_report=report.to_dict())

    zipped(demo)
    first = opened()

    def refuse(*args, **kwargs):
        raise AssertionError("a query ran on a second start")

    with monkeypatch.context() as patched:
        for name in ("execute", "to_pyarrow", "create_table"):
            patched.setattr(ibis.backends.duckdb.Backend, name, refuse)
        second = opened()
        files = [second.load_report, first.load_report]
        assert [{**report, "files": []} for report in files] == [{**first.load_report, "files": []}] * 2
        assert second.load_report["cache_key"]
        assert_same_under_filters(second, first)
    # the report names the files as the archive writes them, not where each start unpacked them
    now, before = ([f["path"] for f in report["files"]] for report in files)
    assert now == before == [f"{archive}/day1.csv", f"{archive}/day2.csv"]
    zipped(demo.iloc[:-100])  # the archive changed: scanned again
    assert opened().load_report["rows_read"] == first.load_report["rows_read"] - 100


def _scanned(path) -> dict:
    table, report = scan_sessions(path)
    return {"sessions": table, "load_report": report.to_dict()}


def test_duckdb_draws_no_progress_bar_into_the_output():
    """DuckDB drew a progress bar on standard output for queries over two seconds (10 million
    sessions), even into ``check --json``, which scripts parse: off on every connection the app
    makes. Read in a process of its own, as the commands run (under pytest DuckDB starts with it off)."""
    import subprocess
    import sys

    code = """
import pandas as pd
from leak_app.data.scan import connect
from leak_app.data.sources import session_table
setting = "SELECT current_setting('enable_progress_bar')"
print(connect().raw_sql(setting).fetchone()[0])
with session_table(pd.DataFrame({"visitor_id": ["1"]})) as table:
    print(table.get_backend().raw_sql(setting).fetchone()[0])
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def grouped_and_queried(path, **options):
    """The cube a scan grouped in its pass that counts the rows, the cube query's over the sessions it
    returned, the scan's grouping and its load report."""
    settings = CellSettings()
    grouping = ScanGrouping(settings)
    sessions, report = scan_sessions(path, grouping=grouping, **options)
    assert grouping.result is not None
    return (build_cube(sessions, settings, report.sessions, grouped=grouping.result),
            build_cube(sessions, settings, report.sessions), grouping, report)


def assert_same_cube(cube, other) -> None:
    assert (cube.first_day, cube.days, cube.labels) == (other.first_day, other.days, other.labels)
    assert all(np.array_equal(cube.codes[d], other.codes[d]) for d in cube.codes)
    np.testing.assert_allclose(cube.store.prefix, other.store.prefix, rtol=1e-12, atol=1e-9)
    assert cube.design_effect == pytest.approx(other.design_effect, rel=1e-9)


@pytest.mark.parametrize("case", ["messy csv", "split at midnight", "two files", "parquet", "ga360 sample"])
def test_the_cube_grouped_in_the_scans_counting_pass_is_the_cube_querys(demo, tmp_path, case, request):
    """A cold start groups a scanned file's cube in the pass that counts its rows for the load
    report: the same cube as the query over its sessions, with rows dropped (with every reason),
    exact duplicates, sessions split at midnight (the later part, with a label no other session has,
    taken back), several files, and the real GA 360 sample."""
    path = tmp_path / "sessions.csv"
    if case == "messy csv":
        messy_csv(demo, path)
    elif case == "split at midnight":
        split_at_midnight(demo, path)
    elif case == "two files":
        path = tmp_path / "days"
        path.mkdir()
        messy_csv(demo.iloc[:10_000], path / "a.csv")
        messy_csv(demo.iloc[10_000:].reset_index(drop=True), path / "b.csv")
    elif case == "parquet":
        path = tmp_path / "sessions.parquet"
        demo.to_parquet(path)
    else:  # (a copy: a scan of the file itself by an earlier test of this process is kept, and read back)
        shutil.copy(request.getfixturevalue("ga_raw"), path)
    files = sorted(path.glob("*.csv")) if path.is_dir() else None
    grouped, queried, *_ = grouped_and_queried(path, files=files)
    assert_same_cube(grouped, queried)
    if case == "split at midnight":
        assert "Ruritania" not in grouped.labels["country"]


def test_a_split_session_taken_back_from_a_cell_of_its_own_keeps_the_design_effect(tmp_path):
    """Repeat visitors, and one session split at midnight whose later part is the one session of a
    cell (a country no other session has): the scan takes that part's row back from its cell, whose
    rate was then 0/0, and the NaN made the design effect 1 (no correction) on every scanned file
    with such a split, where pandas' is 1.16."""
    rows = simulation.planted_sessions(1, repeat=4.0).drop(columns=["true_rate", "converted"])
    rows = rows.astype({"date": str}).assign(date=lambda f: f["date"].str[:10])
    later = rows.iloc[[5]].assign(date=str(pd.Timestamp(rows["date"].iloc[5]) + pd.Timedelta(days=1))[:10],
                                  country="Ruritania", pageviews=1, duration=10, transactions=0, revenue=0.0)
    path = tmp_path / "sessions.csv"
    pd.concat([rows, later]).to_csv(path, index=False)
    grouped, queried, *_ = grouped_and_queried(path)
    assert "Ruritania" not in grouped.labels["country"]
    assert grouped.design_effect == pytest.approx(queried.design_effect, rel=1e-9)
    assert grouped.design_effect == pytest.approx(naive_design_effect(load_sessions(path)[0]), rel=1e-9)
    assert grouped.design_effect > 1.05


def test_labels_are_grouped_by_their_hashes_or_by_their_text_where_two_share_one(demo, tmp_path, monkeypatch):
    """The counting pass groups labels by their hashes, read back to the labels as written; a column
    where two labels share a hash (made so here: those of fewer than 8 labels) is grouped by
    its text. Either way, the cube is the cube query's (messy labels: padded, empty, too long)."""
    rows = demo.astype({"source": object})
    rows.loc[rows.index[:40:4], "source"] = ["  google ", "google", "", "(not set)", " ", "bing", "x" * 300,
                                              "Bing", "google\t", "(direct)"]
    messy_csv(rows, tmp_path / "sessions.csv")
    path = as_text_parquet(tmp_path / "sessions.csv")
    shared = []

    def unique(labels):
        shared.append(len(labels) < 8)
        return not shared[-1]

    monkeypatch.setattr(parse, "_hashes_unique", unique)
    grouped, queried, *_ = grouped_and_queried(path)
    assert set(shared) == {False, True}
    assert_same_cube(grouped, queried)
    monkeypatch.undo()
    again = tmp_path / "again.parquet"  # (the first is kept: its next scan would read the kept cube)
    shutil.copy(path, again)
    assert_same_cube(grouped_and_queried(again)[0], queried)


def test_a_file_changed_between_the_scans_queries_is_refused(demo, tmp_path, monkeypatch):
    """A label the counting pass grouped that the query of the labels as written did not meet (the
    file was replaced between them) is refused with the file's name, never read as another label."""
    messy_csv(demo, tmp_path / "sessions.csv")
    path = as_text_parquet(tmp_path / "sessions.csv")
    written_labels = parse._written_labels

    def one_country_fewer(raw, layout):
        labels = written_labels(raw, layout)
        return {**labels, "country": labels["country"].slice(1)}

    monkeypatch.setattr(parse, "_written_labels", one_country_fewer)
    with pytest.raises(LoadError, match=f"{path}: the file changed while it was read"):
        grouped_and_queried(path)


def test_the_scans_sample_of_visitors_is_narrowed_to_the_sessions_one(demo, tmp_path, monkeypatch):
    """The counting pass samples visitors before the sessions are counted, among the fewest the file
    can hold (a quarter of what a CSV's first lines foretell), then keeps the sample the sessions'
    count gives: the design effect is the cube query's, on the same visitors."""
    monkeypatch.setattr(clustering, "SAMPLE_SESSIONS", 2_000)
    path = tmp_path / "sessions.csv"
    messy_csv(simulation.planted_sessions(1, repeat=4.0).drop(columns="true_rate"), path)
    grouped, queried, grouping, _ = grouped_and_queried(path)
    assert grouping.step < clustering.sample_step(60_000) == 32
    assert_same_cube(grouped, queried)
    assert grouped.design_effect > 1.05


def test_a_scan_that_sampled_too_few_visitors_leaves_the_cube_to_its_query(demo, tmp_path, monkeypatch):
    """Fewer sessions than the scan foresaw (most rows dropped): its sample of visitors is too sparse
    for their count, so it groups no cube and the cube query builds it."""
    monkeypatch.setattr(clustering, "SAMPLE_SESSIONS", 50)
    rows = demo.astype({"date": str}).assign(date=lambda f: f["date"].str[:10])
    rows.loc[rows.index[1_000:], "date"] = "1900-01-01"  # implausible: dropped
    path = tmp_path / "sessions.csv"
    rows.to_csv(path, index=False)
    grouping = ScanGrouping(CellSettings())
    scan_sessions(path, grouping=grouping)
    assert grouping.result is None
    monkeypatch.setattr(sources, "SCAN_FROM_BYTES", 0)
    model = SessionModel.from_path(path)
    assert model.kpis["sessions"] == 1_000


def test_a_cold_start_reads_a_scanned_file_twice_not_three_times(demo, tmp_path, monkeypatch):
    """The cube of a scanned file's first start comes from the pass that counts its rows: no cube
    query runs (a third pass over the file: 4-5 s of a 10 million session start), and the model shows
    the tables of the file loaded in memory."""
    monkeypatch.setattr(sources, "SCAN_FROM_BYTES", 0)
    path = tmp_path / "sessions.csv"
    messy_csv(demo, path)

    def refuse(*args):
        raise AssertionError("the cube query ran")

    with monkeypatch.context() as patch:
        patch.setattr(cube_module, "_query_result", refuse)
        scanned = SessionModel.from_path(path)
    assert isinstance(scanned.sessions, ibis.Table)
    assert_same_under_filters(scanned, SessionModel(sessions=load_sessions(path)[0]))


def test_a_value_is_trimmed_only_where_an_end_is_white_space_to_the_same_text_as_a_trim():
    """:func:`parse.trimmed` tests a value's first and last characters before trimming it: every value
    comes out as Ibis' own trim gives it, white space of every kind at either end, inside, alone,
    beside control characters and other scripts, empty and null."""
    rng = np.random.default_rng(3)
    alphabet = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x01", "!", "a", "é", "日", "\u00a0", "0", ","]
    values = ["", " ", "\t", "a", " a", "a ", "\ta\n", "\x01a", "a\x01", " 日本 ", "\u00a0a\u00a0", "!",
              " ! ", *("".join(rng.choice(alphabet, size=rng.integers(1, 6))) for _ in range(2_000)), None]
    table = ibis.memtable(pd.DataFrame({"text": values}, dtype=object), schema={"text": "string"})
    both = table.select(ours=parse.trimmed(table.text), trim=table.text.strip()).to_pandas()
    assert both["ours"].isna().sum() == 1
    assert both["ours"].fillna("<null>").tolist() == both["trim"].fillna("<null>").tolist()


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_files_labels_are_grouped_by_hash_only_where_a_column_is_read_alone(demo, tmp_path, monkeypatch,
                                                                               kind):
    """A Parquet file's label columns are each read alone for their distinct values, to group its
    rows by their hashes; a CSV's are grouped by their text in the counting pass (each column read
    alone parsed the whole file again: 9 s of a 10 million row CSV's start). Both give the tables of
    the file loaded in memory."""
    monkeypatch.setattr(sources, "SCAN_FROM_BYTES", 0)
    path = tmp_path / "sessions.csv"
    messy_csv(demo, path)
    if kind == "parquet":
        path = as_text_parquet(path)
    queried = []
    monkeypatch.setattr(parse, "_written_labels", lambda *args, _real=parse._written_labels:
                        queried.append(_real(*args)) or queried[-1])
    scanned = SessionModel.from_path(path)
    assert isinstance(scanned.sessions, ibis.Table)
    assert (len(queried), kind) in {(1, "parquet"), (0, "csv")}
    assert_same_under_filters(scanned, SessionModel(sessions=load_sessions(tmp_path / "sessions.csv")[0]))
