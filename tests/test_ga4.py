"""GA4 events built into sessions inside the engine: DuckDB over files of any size, DuckDB over what
pandas read, a database's events table and Spark, each equal to a naive loop over the events."""
from __future__ import annotations

import functools
import gzip
import json

import duckdb
import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive_ga4 import naive_sessions
from test_engines import assert_same_report

from leak_app.data import ga4
from leak_app.data.loaders import load_sessions, read_mapping
from leak_app.data.scan import scan_layout, scan_sessions
from leak_app.data.schema import ECOMMERCE_STEPS, LoadError
from leak_app.data.sources import events_table, open_sessions, open_table

FIXTURES = ROOT / "tests" / "fixtures"
EVENT_FILES = ["events_20260803.json", "events_20260803.json.gz", "events_20260803.parquet"]
LABELS = ["device", "country", "source", "medium", "channel"]
COLUMNS = ["visitor_id", "session_id", "date", *LABELS, "pageviews", "duration", "transactions", "revenue",
           *ECOMMERCE_STEPS]
#: 2026-08-03 23:58 UTC in microseconds: sessions cross midnight into the next day.
NEAR_MIDNIGHT = 1_785_801_480_000_000

label = st.sampled_from(["desktop", "Mobile", " tablet ", "smart tv", "", None, "Peru", "\tgoogle\n",
                         "(direct)"])
currency = st.sampled_from(["EUR", "EUR", " usd", "GBP", "", "euro"])


@st.composite
def event_streams(draw) -> list[dict]:
    """Events of a few users' sessions: ties at the first microsecond, labels changing within a
    session, sessions crossing midnight, events without a session or a user or a real date,
    purchases."""
    events = []
    for user in range(draw(st.integers(1, 3))):
        for session in range(draw(st.integers(1, 3))):
            for _ in range(draw(st.integers(1, 5))):
                at = NEAR_MIDNIGHT + draw(st.sampled_from([0, 0, 1, 30_000_000, 150_000_000]))
                name = draw(st.sampled_from(["session_start", "page_view", "page_view", "purchase",
                                             "view_item", "add_to_cart", "begin_checkout"]))
                params = [{"key": "ga_session_id", "value": {"int_value": 1_785_000_000 + session}}]
                if draw(st.integers(0, 9)) == 0:
                    params = []
                if draw(st.booleans()):  # a shop selling in several currencies, or in one
                    params.append({"key": "currency", "value": {"string_value": draw(currency)}})
                if draw(st.booleans()):
                    params.append({"key": "source", "value": {"string_value": draw(label) or ""}})
                day = pd.Timestamp(at, unit="us").strftime("%Y%m%d")
                events.append({
                    "event_date": draw(st.sampled_from([day] * 9 + ["20260231"])),  # no 31 February
                    "event_timestamp": str(at), "event_name": name, "event_params": params,
                    "user_pseudo_id": None if draw(st.integers(0, 19)) == 0 else f"user{user}.17",
                    "device": {"category": draw(label)}, "geo": {"country": draw(label)},
                    "traffic_source": {"source": draw(label), "medium": draw(label)},
                    # older exports have no session traffic; a session's events may disagree on it
                    "session_traffic_source_last_click": draw(st.one_of(st.none(), st.builds(
                        lambda group, source, medium: {"cross_channel_campaign": {
                            "default_channel_group": group, "source": source, "medium": medium}},
                        label, label, label))),
                    "ecommerce": {"purchase_revenue": draw(st.sampled_from([None, 0.0, 12.5, 99.99])),
                                  "purchase_revenue_in_usd": draw(st.sampled_from([None, 0.0, 13.75, 110.0,
                                                                                   -1.0]))},
                })
    return events


def write(events: list[dict], path) -> None:
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(events), path)
    else:
        path.write_text("".join(json.dumps(event) + "\n" for event in events))


def comparable(sessions: pd.DataFrame | ibis.Table) -> pd.DataFrame:
    frame = sessions.to_pandas() if isinstance(sessions, ibis.Table) else sessions
    frame = frame[COLUMNS].sort_values(["visitor_id", "session_id"]).reset_index(drop=True)
    return frame.astype({c: "float64" for c in ("pageviews", "duration", "transactions", "revenue")}).astype(
        {c: str for c in ("visitor_id", "session_id", *LABELS)}).astype(
        {"date": "datetime64[ns]"})


def assert_as_naive(sessions, report, events: list[dict]) -> None:
    expected, dropped, kept, paid = naive_sessions(events)
    pd.testing.assert_frame_equal(comparable(sessions), comparable(expected))
    assert (report.rows_read, report.rows_kept, report.dropped, report.sessions) == (
        len(events), kept, dropped, len(expected))
    assert {"currency": report.currency, "currencies": report.currencies} == paid


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=event_streams(), suffix=st.sampled_from([".json", ".parquet"]))
def test_random_event_streams_give_the_naive_sessions_on_both_paths(tmp_path_factory, events, suffix):
    path = tmp_path_factory.mktemp("events") / f"events{suffix}"
    write(events, path)
    if not naive_sessions(events)[0].shape[0]:
        for load in (load_sessions, lambda p: scan_sessions(p, layout=scan_layout(p))):
            with pytest.raises(LoadError, match="no usable sessions"):
                load(path)
        return
    loaded, report = load_sessions(path)  # pandas reads, DuckDB builds the sessions
    assert_as_naive(loaded, report, events)
    scanned, scan_report = scan_sessions(path, layout=scan_layout(path))  # DuckDB reads and builds
    assert_as_naive(scanned, scan_report, events)


@pytest.mark.parametrize("name", EVENT_FILES)
def test_event_files_scan_as_pandas_loads_them(name):
    """The fixtures' events, on the scan path (DuckDB reading the file) and the in-memory one."""
    path = FIXTURES / name
    assert scan_layout(path).name == "ga4_events"
    scanned, report = open_sessions(path, scan_from=0)
    loaded, expected = load_sessions(path)
    assert report.format == f"{expected.format}_scan"
    assert_same_report(report, expected)
    pd.testing.assert_frame_equal(comparable(scanned), comparable(loaded))
    events = [json.loads(line) for line in (FIXTURES / "events_20260803.json").read_text().splitlines()]
    assert_as_naive(loaded, expected, events)


def test_a_sessions_source_is_the_one_ga4_attributes_it_as_its_channel_is(tmp_path):
    """A user first brought by a search comes back directly: the session's source was the user's
    first-touch one ("google / organic") beside GA4's channel for it, Direct. Both are now the
    session's as GA4 attributes them (session_traffic_source_last_click); an older export without
    it keeps the event's own parameters, else the first touch."""
    def event(name: str, at: int, session_traffic: dict | None) -> dict:
        return {"event_date": "20260803", "event_timestamp": str(NEAR_MIDNIGHT - 10**9 + at),
                "event_name": name, "user_pseudo_id": "u1",
                "event_params": [{"key": "ga_session_id", "value": {"int_value": 2}}],
                "traffic_source": {"source": "google", "medium": "organic"},
                **({"session_traffic_source_last_click": session_traffic} if session_traffic else {})}
    direct = {"cross_channel_campaign": {"source": "(direct)", "medium": "(none)",
                                         "default_channel_group": "Direct"}}
    older = ["google", "organic", "(not set)"]
    for traffic, expected in ((direct, ["(direct)", "(none)", "Direct"]), (None, older)):
        path = tmp_path / "events.json"
        write([event("session_start", 0, traffic), event("page_view", 1, traffic)], path)
        for load in (load_sessions, lambda p: open_sessions(p, scan_from=0)):
            sessions, _ = load(path)
            assert comparable(sessions)[["source", "medium", "channel"]].values.tolist() == [expected]


def priced(currencies: list[str], converted: bool) -> list[dict]:
    """The fixture's events, its five purchases made in these currencies in turn (written as a site
    may: in lower case, padded), each with GA4's conversion to US dollars where ``converted`` (a euro
    at 1.10 dollars)."""
    events = [json.loads(line) for line in (FIXTURES / "events_20260803.json").read_text().splitlines()]
    for i, event in enumerate(e for e in events if e["event_name"] == "purchase"):
        code = currencies[i % len(currencies)]
        event["event_params"].append({"key": "currency",
                                      "value": {"string_value": code if i % 3 else f" {code.lower()}"}})
        if converted:
            rate = 1.10 if code == "EUR" else 1.0
            written = event["ecommerce"]["purchase_revenue"]
            event["ecommerce"]["purchase_revenue_in_usd"] = round(written * rate, 2)
    return events


@pytest.mark.parametrize("currencies, converted, currency, unit, revenue", [
    (["EUR", "USD"], True, "USD", "USD", 259.79),  # several: GA4's conversion to dollars
    (["EUR", "USD"], False, "", "mixed currencies", 248.74),  # several, no conversion: said
    (["EUR"], True, "EUR", "EUR", 248.74),  # one: as written, in it
])
def test_purchases_in_several_currencies_are_added_as_ga4_converted_them_to_us_dollars(
        tmp_path, currencies, converted, currency, unit, revenue):
    """ecommerce.purchase_revenue is in the currency each purchase was made in: a shop selling in
    euros and dollars had them added as one number. Where purchases name several currencies, the
    revenue is GA4's conversion of each to US dollars (purchase_revenue_in_usd); in one, it is as
    written, and named. Pandas' path, the scan, and a second start on the kept scan agree."""
    from leak_app.ui.texts import kpi_cards_html, load_report_html

    events = priced(currencies, converted)
    path = tmp_path / "events.json"
    write(events, path)
    # (the session that bought twice, in both currencies, is counted in each)
    expected = {"EUR": 3, "USD": 2} if len(currencies) > 1 else {"EUR": 4}
    scanned = functools.partial(open_sessions, scan_from=0)
    for open_ in (load_sessions, scanned, scanned):  # the second scan: the kept one
        sessions, report = open_(path)
        assert (report.currency, report.currencies) == (currency, expected)
        assert comparable(sessions)["revenue"].sum() == pytest.approx(revenue)
        assert_as_naive(sessions, report, events)
    model_report = report.to_dict()
    kpis = {"sessions": 40, "converting_sessions": 4, "transactions": 5, "revenue": revenue,
            "conversion_rate": 0.1, "ci_low": 0.04, "ci_high": 0.23, "revenue_per_session": revenue / 40,
            **dict.fromkeys(("revenue_per_conversion", "revenue_per_conversion_low",
                             "revenue_per_conversion_high"), float("nan"))}
    assert f'<div class="kpi-note">{unit}</div>' in kpi_cards_html(kpis, model_report)
    said = load_report_html(model_report)
    assert ("in mixed units" in said) == (currency == ""), said
    assert ("as GA4 converted each purchase" in said) == (currency == "USD"), said


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_timestamps_no_whole_number_can_hold_are_dropped_not_raised(tmp_path, suffix):
    """"NaN" and "1e300" are numbers to a float cast but no microsecond: DuckDB cast every event's
    timestamp to an integer, dropped or not, and the whole load failed with a conversion error."""
    events = [{"event_date": "20260803", "event_timestamp": written, "event_name": "page_view",
               "user_pseudo_id": "u1", "event_params": [{"key": "ga_session_id", "value": {"int_value": 7}}]}
              for written in ("NaN", "1e300", "-inf", str(NEAR_MIDNIGHT))]
    path = tmp_path / f"events{suffix}"
    write(events, path)
    for load in (load_sessions, lambda p: scan_sessions(p, layout=scan_layout(p))):
        sessions, report = load(path)
        assert report.dropped == {"event_timestamp: not a number": 3}
        assert report.sessions == 1 and report.rows_kept == 1
        assert_as_naive(sessions, report, events)


def test_ga4_files_of_any_size_are_scanned_and_json_with_unreadable_lines_loaded(tmp_path):
    """A GA4 export is read by DuckDB at any size (2 million events in Parquet: 2.3 s against 46 s
    through pandas, benchmarks/ga4_events.py); a JSON file under the scan's threshold with a line
    DuckDB cannot read is read by pandas, which counts the line, whether DuckDB meets it in the lines
    it looks at first or later."""
    report = open_sessions(FIXTURES / "events_20260803.parquet")[1]
    assert report.format == "ga4_events_parquet_scan"
    from leak_app.ui.texts import load_report_html  # the page says how many sessions the events made

    page = load_report_html(report.to_dict())
    assert "<td>Rows kept</td><td>219</td></tr><tr><td>Sessions they make</td><td>40</td>" in page
    report = open_sessions(FIXTURES / "events_20260803.json")[1]
    assert report.format == "ga4_events_json_scan" and report.sessions == 40
    lines = (FIXTURES / "events_20260803.json").read_text().splitlines()
    # 120 copies of the 40 sessions, by other users: 26,280 events, past the 20,480 DuckDB samples
    many = [line.replace('"user_pseudo_id": "', f'"user_pseudo_id": "{copy}-') for copy in range(120)
            for line in lines]
    for at in (5, len(many)):  # a broken line among the first events, and after those DuckDB samples
        path = tmp_path / f"broken_at_{at}.json.gz"
        text = "\n".join([*many[:at], '{"event_name": "page_view", "user', *many[at:]]) + "\n"
        path.write_bytes(gzip.compress(text.encode()))
        # (20 MB once expanded: over the default threshold, which weighs a gzip file expanded)
        sessions, report = open_sessions(path, scan_from=64 * 2**20)
        assert report.format == "ga4_events_json" and report.dropped == {"not a JSON record": 1}
        assert len(sessions) == report.sessions == 4_800 and report.rows_read == len(many) + 1
    # a large file is not read into memory: it is refused, naming the line
    with pytest.raises(LoadError, match=f"broken_at_{len(many)}.json.gz: not a readable json file "
                                        f"\\(.*line {len(many) + 2}"):
        open_sessions(path, scan_from=0)
    assert open_sessions(FIXTURES / "shop_sessions.parquet",
                         mapping=read_mapping(FIXTURES / "shop_sessions_mapping.toml"))[1].format == "mapped"


def test_an_events_table_in_a_database_is_built_into_sessions_there(tmp_path):
    """``--connect duckdb:///… --table events``: GA4's own nested table, not a hand-written view."""
    database = tmp_path / "warehouse.ddb"
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE TABLE events AS SELECT * FROM read_parquet(?)",
                    [str(FIXTURES / "events_20260803.parquet")])
    sessions, report = open_table(f"duckdb:///{database}", "events")
    loaded, expected = load_sessions(FIXTURES / "events_20260803.parquet")
    assert report.format == "ga4_events_table"
    assert (report.rows_read, report.rows_kept, report.sessions) == (expected.rows_read, expected.rows_kept,
                                                                     expected.sessions)
    pd.testing.assert_frame_equal(comparable(sessions), comparable(loaded))


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=event_streams())
def test_spark_local_mode_builds_the_sessions_of_random_events(spark, tmp_path_factory, events):
    path = tmp_path_factory.mktemp("spark") / "events.parquet"
    write(events, path)
    table = ibis.pyspark.connect(spark).read_parquet(str(path))
    if not naive_sessions(events)[0].shape[0]:
        with pytest.raises(LoadError, match="no usable sessions"):
            events_table(table, "spark table")
        return
    assert_as_naive(*events_table(table, "spark table"), events)


def test_spark_local_mode_builds_the_sessions_of_the_fixture(spark):
    table = ibis.pyspark.connect(spark).read_parquet(str(FIXTURES / "events_20260803.parquet"))
    sessions, report = events_table(table, "spark table events")
    loaded, expected = load_sessions(FIXTURES / "events_20260803.parquet")
    pd.testing.assert_frame_equal(comparable(sessions), comparable(loaded))
    assert (report.rows_read, report.dropped, report.sessions) == (expected.rows_read, expected.dropped,
                                                                   expected.sessions)


def test_the_query_compiles_for_bigquery_without_ordering_records():
    """BigQuery has no MIN of a STRUCT, which DuckDB and Spark take the first event by: there the
    first event is the first of the session's events sorted so (ARRAY_AGG … ORDER BY … LIMIT 1).
    Checked as BigQuery SQL that sqlglot parses; BigQuery itself is not reachable from here."""
    import sqlglot

    events = ibis.table(ibis.duckdb.connect().read_parquet(FIXTURES / "events_20260803.parquet").schema(),
                        name="events_20260803")
    sql = ibis.to_sql(ga4.sessions(ga4.grouped(events, engine="bigquery")), dialect="bigquery")
    assert "ARRAY_AGG(" in sql and "MIN(STRUCT(" not in sql.upper()
    sqlglot.parse_one(sql, read="bigquery")
    assert "ARRAY_AGG(" not in ibis.to_sql(ga4.grouped(events, engine="duckdb"), dialect="duckdb").upper()
