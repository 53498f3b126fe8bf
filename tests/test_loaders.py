"""Loading real and hand-made exports: values, the load report, and clear refusals."""
from __future__ import annotations

import csv
import gzip
import re
from collections import defaultdict

import ibis
import numpy as np
import pandas as pd
import pytest
from helpers import GA_HEADER, ROOT
from test_engines import assert_same_report

from leak_app import LoadError, load_sessions
from leak_app.data.demo import generate_sessions
from leak_app.data.loaders import FORMATS, GA_SESSIONS, detect_layout, mapped_layout
from leak_app.data.scan import held_bytes, scan_sessions
from leak_app.data.schema import to_canonical
from leak_app.data.sources import open_sessions, open_table

FIXTURES = ROOT / "tests" / "fixtures"


def accounted(report) -> bool:
    return report.rows_read == report.rows_kept + sum(report.dropped.values())


def hand_totals(path) -> dict:
    """KPIs from the raw rows with the csv module only: an independent computation.

    A session is (fullVisitorId, visitId); empty transactions mean 0; revenue is in micros.
    """
    per_session = defaultdict(lambda: [0, 0])
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            key = (row["fullVisitorId"], row["visitId"])
            per_session[key][0] += int(float(row["transactions"] or 0))
            per_session[key][1] += int(float(row["transactionRevenue"] or 0))
    return {
        "sessions": len(per_session),
        "converting_sessions": sum(1 for t, _ in per_session.values() if t > 0),
        "transactions": sum(t for t, _ in per_session.values()),
        "revenue": sum(r for _, r in per_session.values()) / 1e6,
    }


def test_real_ga_export_matches_hand_computation(ga_raw):
    table, report = load_sessions(ga_raw)
    expected = hand_totals(ga_raw)
    assert len(table) == expected["sessions"] == 9998
    assert int(table["converted"].sum()) == expected["converting_sessions"] == 94
    assert int(table["transactions"].sum()) == expected["transactions"] == 97
    assert table["revenue"].sum() == pytest.approx(expected["revenue"]) == pytest.approx(13383.35)
    assert report.format == "ga_sessions_csv"
    assert report.rows_read == 10000 and report.rows_kept == 9998
    assert report.dropped == {"repeated session id (merged into its first row)": 2}
    assert accounted(report)


def test_real_sample_midnight_split_session_is_merged(ga_raw):
    table, _ = load_sessions(ga_raw)
    row = table[(table["visitor_id"] == "6390996959872074371") & (table["session_id"] == "1499237591")]
    assert len(row) == 1
    # 8 + 5 pageviews and 347 + 41 s from its two rows (2017-07-04 and 2017-07-05)
    assert row["pageviews"].item() == 13 and row["duration"].item() == 388
    assert row["date"].item() == pd.Timestamp("2017-07-04")


def test_real_sample_ids_stay_exact_text(ga_raw):
    table, _ = load_sessions(ga_raw)
    assert table["visitor_id"].iloc[0] == "7007041817691781124"  # 19 digits, no float rounding


def test_cleaned_variant_loads_to_the_same_sessions(ga_raw, ga_cleaned):
    raw, _ = load_sessions(ga_raw)
    cleaned, report = load_sessions(ga_cleaned)
    assert report.format == "ga_sessions_cleaned_csv"
    # That cleaning script read fullVisitorId as a number and lost its leading zeros.
    assert (raw["visitor_id"].str.lstrip("0") == cleaned["visitor_id"]).all()
    pd.testing.assert_frame_equal(raw.drop(columns="visitor_id"), cleaned.drop(columns="visitor_id"))


def test_real_sample_unmatched_countries_are_reported(ga_raw):
    _, report = load_sessions(ga_raw)
    assert report.unmatched_countries["(not set)"] == 7
    assert "United States" not in report.unmatched_countries
    assert "South Korea" not in report.unmatched_countries


def test_ga_empty_cells_follow_ga_semantics(write):
    path = write("s.csv", GA_HEADER + "\n1,10,1,20170704,desktop,France,google,1,,,\n"
                 "2,11,1,20170704,mobile,France,google,,,,\n")
    table, report = load_sessions(path)
    assert table["duration"].tolist() == [0, 0]  # single-hit sessions: no timeOnSite
    assert table["pageviews"].tolist() == [1, 0]
    assert table["transactions"].tolist() == [0, 0] and not table["converted"].any()
    assert accounted(report) and report.rows_kept == 2


def test_revenue_micros_and_converted_flag(write):
    path = write("s.csv", GA_HEADER + "\n1,10,1,20170704,desktop,France,google,12,300,2,45990000\n")
    table, _ = load_sessions(path)
    assert table["revenue"].item() == pytest.approx(45.99)
    assert table["transactions"].item() == 2 and table["converted"].item()


def test_column_names_are_case_insensitive_and_bom_is_accepted(write):
    header = GA_HEADER.upper()
    path = write("s.csv", ("\ufeff" + header + "\n1,10,1,20170704,Desktop,France,google,1,,,\n"))
    table, report = load_sessions(path)
    assert table["device"].tolist() == ["desktop"] and report.rows_kept == 1


def test_unknown_device_becomes_other(write):
    path = write("s.csv", GA_HEADER + "\n1,10,1,20170704,smart tv,France,google,1,,,\n")
    table, _ = load_sessions(path)
    assert table["device"].tolist() == ["other"]


def test_gzip_csv_loads(write):
    body = (GA_HEADER + "\n1,10,1,20170704,desktop,France,google,1,,,\n").encode()
    table, report = load_sessions(write("s.csv.gz", gzip.compress(body)))
    assert len(table) == 1 and accounted(report)


def test_exact_duplicates_and_bad_rows_are_dropped_with_reasons(write):
    rows = [
        "1,10,1,20170704,desktop,France,google,3,20,,",
        "1,10,1,20170704,desktop,France,google,3,20,,",  # exact duplicate
        "2,11,1,20170704,desktop,France,google,-1,20,,",  # negative pageviews
        "3,12,1,2017-13-45,desktop,France,google,3,20,,",  # impossible date
        "4,13,1,20170704,desktop,France,google,abc,20,,",  # not a number
        "5,14,1,20170704,desktop,France,google,2,5,,",
        "6,15,1,20170704,desktop,France,google,2,5,,",
        "7,16,1,20170704,desktop,France,google,2,5,,",
    ]
    table, report = load_sessions(write("s.csv", GA_HEADER + "\n" + "\n".join(rows) + "\n"))
    assert report.rows_read == 8 and report.rows_kept == 4
    assert report.duplicates_removed == 1
    assert report.dropped == {
        "exact duplicate row": 1, "negative pageviews": 1, "date: not a date": 1,
        "pageviews: not a number": 1,
    }
    assert accounted(report)
    assert sorted(table["visitor_id"]) == ["1", "5", "6", "7"]


def test_missing_required_column_is_named(write):
    header = GA_HEADER.replace(",transactions,", ",")
    path = write("s.csv", header + "\n1,10,1,20170704,desktop,France,google,1,,\n")
    with pytest.raises(LoadError, match=r"s\.csv: missing required column\(s\) 'transactions'"):
        load_sessions(path)


def test_unrelated_file_says_what_was_expected(write):
    path = write("s.csv", "a,b\n1,2\n")
    with pytest.raises(LoadError, match=r"not a session export: expected .*fullvisitorid.*found: a, b"):
        load_sessions(path)


def test_wrong_type_column_is_refused_with_column_and_row(write):
    rows = [f"{i},{i},1,20170704,desktop,France,google,many,10,," for i in range(5)]
    path = write("s.csv", GA_HEADER + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(LoadError, match=r"column 'pageviews' should hold numbers.*'many' on data row 1"):
        load_sessions(path)


@pytest.mark.parametrize("content, message", [
    ("", "file is empty"),
    ("\n\n", "file is empty"),
    (GA_HEADER + "\n", "has a header but no data rows"),
])
def test_empty_files_are_refused(write, content, message):
    with pytest.raises(LoadError, match=message):
        load_sessions(write("s.csv", content))


def test_non_utf8_bytes_are_refused_with_line(write):
    body = (GA_HEADER + "\n1,10,1,20170704,desktop,C\xf4te d'Ivoire,google,1,,,\n").encode("latin-1")
    with pytest.raises(LoadError, match=r"not UTF-8 text: byte 0xf4 on line 2"):
        load_sessions(write("latin1.csv", body))


def test_missing_file_and_bad_gzip_are_refused(write, tmp_path):
    with pytest.raises(LoadError, match="no such file"):
        load_sessions(tmp_path / "nope.csv")
    with pytest.raises(LoadError, match="not a valid gzip file"):
        load_sessions(write("s.csv.gz", b"not gzip at all"))


def test_a_decompression_bomb_is_refused_after_a_bounded_read(write):
    """50 MB of zeros in a 50 KB gzip: refused once it expands 200 times its size (10 MB), before
    it is read whole (the audit's 10 MB file expanding to 10.5 GB took a server to 10 GB)."""
    bomb = gzip.compress((GA_HEADER + "\n").encode() + b"0" * 50_000_000)
    assert len(bomb) < 100_000
    expected = r"bomb\.csv\.gz: expands to more than \d+ MB \(200 times its compressed size\)"
    with pytest.raises(LoadError, match=expected):
        load_sessions(write("bomb.csv.gz", bomb))


def test_a_decompression_bomb_is_refused_before_it_is_scanned(write, tmp_path):
    """Files from 16 MB on are scanned by DuckDB, which decompressed whatever they held: the audit's
    bomb ran a scan past ten minutes. 1.6 million identical rows (100 MB) in a 0.3 MB gzip expand
    over 200 times: refused before the scan, on the scan's path as on pandas'."""
    path = tmp_path / "rows.csv.gz"
    with gzip.open(path, "wb") as out:
        out.write((GA_HEADER + "\n").encode())
        for _ in range(16):
            out.write(b"1,10,1,20170704,desktop,France,google,3,20,1,5000000\n" * 100_000)
    assert path.stat().st_size * 200 < 100 * 2**20
    expected = r"rows\.csv\.gz: expands to more than \d+ MB \(200 times its compressed size\)"
    with pytest.raises(LoadError, match=expected):
        scan_sessions(path, layout=GA_SESSIONS)
    with pytest.raises(LoadError, match=expected):
        load_sessions(path)


@pytest.mark.parametrize("name", ["sessions.csv.gz", "sessions.parquet"])
def test_what_a_file_holds_not_its_size_sends_it_to_the_scan(tmp_path, name):
    """An 8.5 MB gzipped CSV expanding 150 times (1.3 GB) was loaded whole by pandas, being under the
    scan's 16 MB: 13.5 GB and 107 s for `summary`; a 3.7 MB Parquet file of 20 million rows 10.8 GB and
    57 s. Compressed files are weighed by what they hold: these, below the threshold on disk and above
    it in data, are scanned, and give the sessions the loader gives."""
    path = tmp_path / name
    sessions = generate_sessions(20_000, seed=5).drop(columns=["converted"])
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(sessions.to_csv(index=False).encode()))
    else:
        sessions.to_parquet(path)
    threshold = 2**20  # (the test's files are small: the rule is the same at 16 MB)
    assert path.stat().st_size < threshold <= held_bytes([path], name, threshold)
    scanned, report = open_sessions(path, scan_from=threshold)
    loaded, expected = open_sessions(path, scan_from=10**15)
    assert report.format == expected.format + "_scan" and isinstance(scanned, ibis.Table)
    assert_same_report(report, expected)
    columns = ["pageviews", "duration", "transactions", "revenue"]
    assert np.allclose(scanned.to_pandas()[columns].sum(), loaded[columns].sum())


@pytest.mark.parametrize("header", ["country,Country", "country, country "])
def test_a_column_named_twice_is_refused(write, header, tmp_path):
    """pandas reads a repeated CSV column as "country.1" and DuckDB as "country_1": the second
    one's data was silently lost. Both paths refuse it, naming it."""
    path = write("twice.csv", GA_HEADER.replace("country", header) + "\n1,10,1,20170704,desktop,France,Spain,"
                 "google,1,,,\n")
    with pytest.raises(LoadError, match=r"twice\.csv: column\(s\) 'country' appear more than once"):
        load_sessions(path)
    with pytest.raises(LoadError, match=r"twice\.csv: column\(s\) 'country' appear more than once"):
        scan_sessions(path, layout=GA_SESSIONS)


def test_events_of_implausible_dates_and_labels_are_dropped(tmp_path):
    """GA4 events dated 1900 or with a 20,000-character country: dropped with the same reasons
    as session rows."""
    events = pd.read_json(FIXTURES / "events_20260803.json", lines=True, dtype=False)
    events.loc[0, "event_date"] = "19000101"
    events.at[1, "geo"] = {**events.at[1, "geo"], "country": "Ruritania" * 2_000}
    events.to_json(tmp_path / "events.json", orient="records", lines=True)
    _, report = load_sessions(tmp_path / "events.json")
    assert report.dropped["event_date: implausible date (before 2005 or after tomorrow)"] == 1
    assert report.dropped["geo.country: longer than 200 characters"] == 1 and accounted(report)


def test_upload_name_replaces_temporary_path_in_messages(write):
    path = write("tmp123.csv", "a,b\n1,2\n")
    with pytest.raises(LoadError, match=r"^my export\.csv: "):
        load_sessions(path, name="my export.csv")


def test_canonical_parquet_round_trips(tmp_path):
    from leak_app.data.demo import generate_sessions

    original = generate_sessions(2_000, seed=3)
    original.to_parquet(tmp_path / "s.parquet")
    table, report = load_sessions(tmp_path / "s.parquet")
    assert report.format == "canonical" and accounted(report)
    pd.testing.assert_frame_equal(table, original)


def test_a_canonical_table_saved_with_its_categories_loads(tmp_path):
    """The canonical table's own dtypes (categories) written by pandas: the nested-record probe
    raised TypeError on a categorical column."""
    from leak_app.analysis.simulation import planted_sessions

    original = planted_sessions(0, sources=3, sessions_per_source=200).drop(columns="true_rate")
    original.to_parquet(tmp_path / "s.parquet")
    table, report = load_sessions(tmp_path / "s.parquet")
    assert report.format == "canonical" and accounted(report) and report.rows_kept == 600
    pd.testing.assert_frame_equal(table, to_canonical(original))


KINDS = {"ga_customer_revenue_csv": "csv", "ga_sessions_bigquery_json": "json"}


@pytest.mark.parametrize("layout", FORMATS, ids=lambda layout: layout.name)
def test_each_format_recognises_its_own_header_before_any_other_does(layout):
    """The registry's order matters (a cleaned export is also a GA export): each format's own
    columns are taken as that format, whatever else the file has."""
    header = [*layout.columns.values(), "some_other_column"]
    assert detect_layout(header, KINDS.get(layout.name, "csv"), "f.csv") is layout


def test_a_mapping_overrides_every_format_and_an_unknown_header_names_what_was_found():
    mapping = mapped_layout({"visitor_id": "fullvisitorid", "session_id": "visitid", "date": "date",
                             "revenue": "transactionrevenue"})
    header = ["fullvisitorid", "visitid", "date", "transactionrevenue"]  # a GA export's names
    assert detect_layout(header, "csv", "f.csv", mapping) is mapping
    with pytest.raises(LoadError, match=r"f\.csv: not a session export.*found: user, when"):
        detect_layout(["user", "when"], "csv", "f.csv")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """A DuckDB file of the same sessions in the shapes warehouses hold them: integer ids, dates as
    text (ISO and GA's YYYYMMDD), as timestamps or integers, measures as text, a few bad dates; and a
    view whose rows the engine cannot compute."""
    import duckdb

    sessions = generate_sessions(3_000, seed=9)
    folder = tmp_path_factory.mktemp("warehouse")
    sessions.to_parquet(folder / "sessions.parquet")
    database = folder / "warehouse.ddb"
    read = f"FROM read_parquet('{folder / 'sessions.parquet'}')"
    one, two, three = sessions["session_id"].iloc[:3]  # (each a session of its own)
    shapes = {
        "canonical": "SELECT *",
        "integer_ids": "SELECT * REPLACE (hash(visitor_id)::HUGEINT AS visitor_id, "
                       "row_number() OVER () AS session_id)",
        "iso_text": "SELECT * REPLACE (strftime(date, '%Y-%m-%d') AS date)",
        "ga_text": "SELECT * REPLACE (strftime(date, '%Y%m%d') AS date)",
        "timestamps": "SELECT * REPLACE (date::TIMESTAMP AS date)",
        "integer_dates": "SELECT * REPLACE (strftime(date, '%Y%m%d')::INT AS date)",
        "text_measures": "SELECT * REPLACE (pageviews::VARCHAR AS pageviews, revenue::VARCHAR AS revenue)",
        "bad_dates": f"SELECT * REPLACE (CASE WHEN session_id IN ('{one}', '{two}') THEN NULL "
                     f"WHEN session_id = '{three}' THEN DATE '1900-01-01' ELSE date END AS date)",
        "bad_text_dates": f"SELECT * REPLACE (CASE WHEN session_id = '{one}' THEN 'someday' "
                          "ELSE strftime(date, '%Y-%m-%d') END AS date)",
    }
    views = {"uncomputable": "SELECT * REPLACE ((pageviews::VARCHAR || 'x')::INTEGER AS pageviews) "
                             "FROM canonical"}
    with duckdb.connect(str(database)) as con:
        for name, select in shapes.items():
            con.execute(f"CREATE TABLE {name} AS {select} {read}")
        for name, select in views.items():
            con.execute(f"CREATE VIEW {name} AS {select}")
    return sessions, database


def test_a_warehouse_table_is_read_whatever_types_hold_its_ids_and_dates(warehouse):
    """Integer visitor ids (a warehouse's own) ended in a ConversionError traceback ("Could not
    convert string '' to INT128"), dates written as text YYYYMMDD in another ("invalid date field
    format"), a row dated 1900 or with no date in a date range of NaT: ids of any type are read as
    text, dates as text as a file's are, and bad dates dropped and counted as a file's are."""
    from leak_app.analysis.model import SessionModel

    sessions, database = warehouse
    url = f"duckdb:///{database}"
    expected = SessionModel(sessions=open_table(url, "canonical")[0]).kpis
    for name in ("integer_ids", "iso_text", "ga_text", "timestamps"):
        table, report = open_table(url, name)
        assert report.dropped == {} and report.rows_kept == 3_000, name
        assert SessionModel(sessions=table).kpis == expected, name
    assert not sessions["session_id"].iloc[:3].isin(sessions["session_id"].iloc[3:]).any()  # (the bad dates')
    table, report = open_table(url, "bad_dates")
    assert report.dropped == {"date: not a date": 2,
                              "date: implausible date (before 2005 or after tomorrow)": 1}
    assert report.rows_read == 3_000 and report.rows_kept == report.sessions == 2_997
    model = SessionModel(sessions=table)
    assert model.kpis["sessions"] == 2_997 and model.param.date_range.bounds[0].year == 2026
    _, report = open_table(url, "bad_text_dates")
    assert report.dropped == {"date: not a date": 1}  # (the reasons of a file's rows)


def test_a_spark_table_of_text_dates_is_read_as_duckdbs(warehouse, spark):
    """Text dates in a warehouse that is not DuckDB (Spark here; BigQuery, Postgres alike) raised
    Spark's own "Cannot resolve routine TRY_STRPTIME": dates with their month named are read by
    DuckDB's function, which no other engine has. There they are read as YYYY-MM-DD or YYYYMMDD."""
    from leak_app.analysis.model import SessionModel

    _, database = warehouse
    url = f"duckdb:///{database}"
    expected = SessionModel(sessions=open_table(url, "canonical")[0]).kpis
    for name in ("iso_text", "ga_text"):
        spark.createDataFrame(ibis.connect(url).table(name).to_pandas()).createOrReplaceTempView(f"spark_{name}")
        table, report = open_table("pyspark://", f"spark_{name}")
        assert report.dropped == {} and report.rows_kept == 3_000, name
        assert SessionModel(sessions=table).kpis == expected, name


def test_a_warehouse_table_of_other_types_or_not_there_is_refused_by_name(warehouse, tmp_path):
    """Dates as integers and measures as text ended in the engine's traceback; a table not there
    was "cannot be opened (nosuch)"; a DuckDB file not there was made, empty, by connecting."""
    _, database = warehouse
    url = f"duckdb:///{database}"
    with pytest.raises(LoadError, match=r"table integer_dates: date is int32, not a date, a timestamp or "
                                        r"text YYYY-MM-DD: convert it in a view of the table"):
        open_table(url, "integer_dates")
    with pytest.raises(LoadError, match=r"table text_measures: pageviews is string, not numbers; revenue is "
                                        r"string, not numbers: convert them in a view"):
        open_table(url, "text_measures")
    with pytest.raises(LoadError, match=r"table nosuch: no such table or view there \(it has bad_dates, "
                                        r"bad_text_dates, canonical, "):
        open_table(url, "nosuch")
    # a view the engine cannot compute fails at the first query, not when opened: its traceback was
    # "summary failed unexpectedly"
    with pytest.raises(LoadError, match=r"table uncomputable: cannot be read \(Conversion Error: Could not "
                                        r"convert string '\d+x' to INT32\)$"):
        open_table(url, "uncomputable")
    absent = tmp_path / "absent.ddb"
    with pytest.raises(LoadError, match=r"absent\.ddb table sessions: no such database file$"):
        open_table(f"duckdb:///{absent}", "sessions")
    assert not absent.exists()
    # a backend not installed here: Ibis says how to install it after its first line, which alone was
    # said ("cannot be opened (Failed to import the postgres backend due to missing dependencies.)")
    with pytest.raises(LoadError, match=re.escape(
            "postgres://u:***@127.0.0.1:9/shop table sessions: cannot be opened: Ibis' backend for postgres "
            'is not installed; install it with: python -m pip install -U "ibis-framework[postgres]"')):
        open_table("postgres://u:secret@127.0.0.1:9/shop", "sessions")
