"""Files as people have them: a folder or a pattern of daily exports, read as one file (the same
sessions, every row accounted for, each file listed; a session split over two days' files is one
session; a mix is refused), BigQuery's Avro exports, and files without a device, country or source
column."""
from __future__ import annotations

import codecs
import csv
import gc
import gzip
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import formats
import ibis
import numpy as np
import pandas as pd
import pytest
from helpers import GA_HEADER, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli import run
from test_engines import assert_same_report
from test_formats import as_loaded, canonical_tables

from leak_app import load_sessions
from leak_app.data import readers
from leak_app.data.demo import generate_sessions
from leak_app.data.loaders import read_mapping
from leak_app.data.scan import mixed_line_ends
from leak_app.data.schema import HIT_ROW, TEXT, LoadError, quoted
from leak_app.data.sources import open_sessions
from leak_app.data.workspace import workspace

FIXTURES = ROOT / "tests" / "fixtures"
#: pandas (every file loaded) and DuckDB (every file scanned)
ENGINES = {"pandas": 10**15, "duckdb": 0}


def write(path, text: str, compress: bool = False) -> None:
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())


def table(sessions) -> pd.DataFrame:
    """The sessions as one comparable frame, whichever engine holds them."""
    frame = sessions if isinstance(sessions, pd.DataFrame) else sessions.to_pandas()
    columns = ["visitor_id", "session_id", "date", "device", "country", "source", "pageviews", "duration",
               "transactions", "revenue"]
    frame = frame.assign(date=pd.to_datetime(frame["date"]).astype("datetime64[ns]"))[columns]
    frame = frame.astype({c: str for c in ("visitor_id", "session_id", "device", "country", "source")})
    frame = frame.astype({c: "float64" for c in ("pageviews", "duration", "transactions", "revenue")})
    return frame.sort_values(["visitor_id", "session_id"]).reset_index(drop=True)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_real_sample_split_by_day_half_gzipped_loads_as_the_whole_file(ga_raw, tmp_path, engine):
    raw = pd.read_csv(ga_raw, dtype=str, keep_default_na=False)
    folder = tmp_path / "exports"
    folder.mkdir()
    days = []
    for i, (day, part) in enumerate(raw.groupby("date")):
        path = folder / f"ga_sessions_{day}.csv{'.gz' * (i % 2)}"
        part = part[part.columns[::-1]] if i % 3 == 1 else part  # another day, the columns in another order
        write(path, part.to_csv(index=False), compress=bool(i % 2))
        days.append((path, len(part)))
    whole, expected = open_sessions(ga_raw, scan_from=ENGINES[engine])
    for named in (folder, folder / "ga_sessions_2017*.csv*"):
        split, report = open_sessions(named, scan_from=ENGINES[engine])
        assert report.format == expected.format and report.path == str(named)
        assert_same_report(report, expected)
        assert report.files == [{"path": str(path), "rows": rows} for path, rows in days]
        assert sum(f["rows"] for f in report.files) == report.rows_read == 10_000
        pd.testing.assert_frame_equal(table(split), table(whole))
    # the folder zipped, as it is sent to the served app: read as the folder, in a private folder
    # removed with the sessions
    archive = tmp_path / "exports.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path, _ in days:
            out.write(path, f"exports/{path.name}")
    before = set(workspace().glob("zip_*"))
    unzipped, report = open_sessions(archive, scan_from=ENGINES[engine])
    assert report.format == expected.format and report.path == str(archive)
    assert_same_report(report, expected)
    # named as the archive writes them, not by the private folder's paths
    assert report.files == [{"path": f"{archive}/exports/{p.name}", "rows": rows} for p, rows in days]
    made = set(workspace().glob("zip_*")) - before
    (inside,) = [kept / "exports.zip" for kept in made if (kept / "exports.zip" / days[0][0].name).is_file()]
    pd.testing.assert_frame_equal(table(unzipped), table(whole))
    del unzipped
    gc.collect()
    assert not inside.exists()
    if engine == "pandas":  # and the command line reads it as the served app does
        assert json.loads(run("summary", str(archive), "--json").stdout)["kpis"] == json.loads(
            run("summary", str(ga_raw), "--json").stdout)["kpis"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_session_crossing_midnight_into_the_next_days_file_is_one_session(tmp_path, engine):
    demo = generate_sessions(6_000, seed=8)
    crossing = demo.groupby(demo["date"].dt.date).head(1).index[:-1]  # a session a day, but the last day's
    later = demo.loc[crossing].assign(date=demo.loc[crossing, "date"] + pd.Timedelta(days=1), pageviews=2,
                                      duration=30, transactions=0, revenue=0.0)
    rows = pd.concat([demo, later])
    folder = tmp_path / "days"
    folder.mkdir()
    for day, part in rows.groupby(rows["date"].dt.date):
        part.to_parquet(folder / f"sessions_{day:%Y%m%d}.parquet")
    rows.sort_values("date", kind="stable").to_parquet(tmp_path / "one.parquet")
    split, report = open_sessions(folder, scan_from=ENGINES[engine])
    whole, expected = open_sessions(tmp_path / "one.parquet", scan_from=ENGINES[engine])
    assert report.sessions == expected.sessions == len(demo)
    assert sum(report.dropped.values()) == len(crossing) and report.dropped == expected.dropped
    merged = table(split).set_index(["visitor_id", "session_id"]).loc[
        list(zip(demo.loc[crossing, "visitor_id"], demo.loc[crossing, "session_id"]))]
    assert (merged["pageviews"].to_numpy() == demo.loc[crossing, "pageviews"].to_numpy() + 2).all()
    assert (merged["date"].to_numpy() == demo.loc[crossing, "date"].to_numpy()).all()  # where it started
    pd.testing.assert_frame_equal(table(split), table(whole))


def test_ga4_events_sharded_as_bigquery_exports_them_give_the_sessions_of_the_whole_export(tmp_path):
    """Every session's events spread over two gzipped shards of one day (BigQuery's names)."""
    lines = (FIXTURES / "events_20260803.json").read_text(encoding="utf-8").splitlines()
    for shard in range(2):
        write(tmp_path / f"events_20260803-00000000000{shard}.json.gz", "\n".join(lines[shard::2]) + "\n",
              compress=True)
    split, report = open_sessions(tmp_path / "events_20260803-*.json.gz")
    whole, expected = open_sessions(FIXTURES / "events_20260803.json")
    assert report.format == expected.format == "ga4_events_json_scan"  # DuckDB reads GA4 JSON
    assert_same_report(report, expected)
    assert [f["rows"] for f in report.files] == [len(lines[0::2]), len(lines[1::2])]
    pd.testing.assert_frame_equal(table(split), table(whole))


@pytest.mark.parametrize("blank", [False, True])
def test_a_ga4_exports_files_are_told_by_their_first_event_and_counted_by_their_lines(tmp_path, monkeypatch,
                                                                                     blank):
    """A folder of a GA4 export's NDJSON files, gzipped or not: each file's layout is told from its
    first event, and its rows are its lines (counted as the bomb check decompresses it) where they
    add up to the events DuckDB read. DuckDB had sampled each file (0.3 s a file) and parsed them all
    again to count each one's rows. With a blank line (more lines than events) DuckDB counts them."""
    from leak_app.data import scan

    lines = (FIXTURES / "events_20260803.json").read_text(encoding="utf-8").splitlines()
    for shard in range(3):
        text = "\n".join(lines[shard::3]) + ("\n\n" if blank and shard == 2 else "\n")
        name = f"events_20260803-{shard}.json" + ("" if shard == 2 else ".gz")
        write(tmp_path / name, text, compress=shard < 2)
    sampled, counted = [], []
    monkeypatch.setattr(scan, "scan_layout",
                        lambda *args, real=scan.scan_layout: sampled.append(args) or real(*args))
    monkeypatch.setattr(scan, "_counted_per_file",
                        lambda *args, real=scan._counted_per_file: counted.append(args) or real(*args))
    report = open_sessions(tmp_path / "events_20260803-*", scan_from=0)[1]
    assert report.format == "ga4_events_json_scan" and report.sessions == 40
    assert [f["rows"] for f in report.files] == [len(lines[shard::3]) for shard in range(3)]
    assert sampled == []  # (the first file's layout chose the scan: no file is sampled again)
    assert len(counted) == (1 if blank else 0)
    write(tmp_path / "events_20260803-3.json", (FIXTURES / "ga_sessions_20260803.json").read_text())
    with pytest.raises(LoadError, match=r"-3\.json: a ga_sessions_bigquery_json file among ga4_events_json"):
        open_sessions(tmp_path / "events_20260803-*", scan_from=0)  # a mix is still told


@pytest.mark.parametrize("engine", ENGINES)
def test_files_of_another_format_among_them_are_refused_by_name(tmp_path, engine):
    generate_sessions(500, seed=1).to_parquet(tmp_path / "a_sessions.parquet")
    (tmp_path / "b_sessions.csv").write_bytes((FIXTURES / "ga_sessions_export.csv").read_bytes())
    with pytest.raises(LoadError, match=r"b_sessions\.csv: a ga_sessions_csv file among canonical_parquet "
                                        r"files \(as a_sessions\.parquet\).*one format"):
        open_sessions(tmp_path, scan_from=ENGINES[engine])
    (tmp_path / "b_sessions.csv").unlink()
    (tmp_path / "c_events.parquet").write_bytes((FIXTURES / "events_20260803.parquet").read_bytes())
    with pytest.raises(LoadError, match=r"c_events\.parquet: a \w*events\w* file among canonical_parquet"):
        open_sessions(tmp_path, scan_from=ENGINES[engine])


@pytest.mark.parametrize("engine", ENGINES)
def test_a_file_of_a_folder_that_is_empty_or_lacks_a_column_is_refused_for_that(ga_raw, tmp_path, engine):
    """An empty file, or one exported without a column, among a folder's: the scan refused the folder as
    holding "a nested_or_events_csv file among ga_sessions_csv files" (its own name for a file it
    cannot read), where pandas says what is wrong with that file."""
    raw = pd.read_csv(ga_raw, dtype=str, keep_default_na=False)
    raw.iloc[:5000].to_csv(tmp_path / "a.csv", index=False)
    (tmp_path / "b.csv").write_text("")
    with pytest.raises(LoadError, match=r"b\.csv: file is empty$"):
        open_sessions(tmp_path, scan_from=ENGINES[engine])
    raw.iloc[5000:].drop(columns="transactionRevenue").to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(LoadError, match=r"b\.csv: missing required column\(s\) 'transactionrevenue' for a "
                                        r"Google Analytics session export"):
        open_sessions(tmp_path, scan_from=ENGINES[engine])


def test_an_empty_folder_or_a_pattern_matching_nothing_is_said(tmp_path):
    with pytest.raises(LoadError, match="the folder holds no files"):
        open_sessions(tmp_path)
    with pytest.raises(LoadError, match="no file matches this pattern"):
        open_sessions(tmp_path / "events_*.parquet")


def test_summary_of_a_pattern_lists_its_files(tmp_path):
    demo = generate_sessions(3_000, seed=2)
    for month, part in demo.groupby(demo["date"].dt.month):
        part.to_parquet(tmp_path / f"sessions_2026{month:02d}.parquet")
    out = json.loads(run("summary", str(tmp_path / "sessions_2026*.parquet"), "--json").stdout)
    assert out["kpis"]["sessions"] == len(demo)
    files = out["load_report"]["files"]
    assert [f["rows"] for f in files] == demo.groupby(demo["date"].dt.month).size().tolist()
    assert all(f["path"].startswith(str(tmp_path)) for f in files)


def test_the_load_report_in_the_page_names_the_files_escaped():
    from leak_app.ui.texts import FILES_LISTED, load_report_html

    files = [{"path": f"/exports/<i>day{i}.csv", "rows": 1000 + i} for i in range(FILES_LISTED + 3)]
    text = load_report_html({"path": "/exports", "format": "ga_sessions_csv", "rows_read": 0, "rows_kept": 0,
                             "dropped": {}, "files": files})
    assert f"{FILES_LISTED + 3} files, rows read: &lt;i&gt;day0.csv (1,000), " in text
    assert "<i>" not in text and f"day{FILES_LISTED}." not in text and " and 3 more." in text


@pytest.mark.parametrize("engine", ENGINES)
def test_a_file_without_device_country_or_source_loads_with_them_not_set(tmp_path, engine):
    """Spreadsheets people pass around lack columns: only the session key, date and numbers are needed."""
    from leak_app import SessionModel

    demo = generate_sessions(3_000, seed=6)
    demo.drop(columns=["device", "country", "source", "medium"]).to_csv(tmp_path / "bare.csv", index=False)
    sessions, report = open_sessions(tmp_path / "bare.csv", scan_from=ENGINES[engine])
    assert report.absent_columns == ["device", "country", "source", "medium"]
    assert report.sessions == len(demo)
    assert report.rows_read == report.rows_kept + sum(report.dropped.values())
    frame = table(sessions)
    assert (frame[["device", "country", "source"]] == "(not set)").all().all()
    model = SessionModel(sessions=sessions, load_report=report.to_dict())
    assert model.kpis["conversion_rate"] == pytest.approx(demo["converted"].mean())
    assert model.takeaways[0].startswith("The data has no device, country or source column: every session's")
    assert "(not set)" in model.takeaways[0]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_file_without_pageviews_or_duration_loads_and_the_views_that_need_them_say_so(tmp_path, engine):
    """Only the session key, a date and a conversion signal are required: the funnel and duration
    views (and their takeaways) say what they need instead of drawing every session at 0."""
    from leak_app import SessionModel
    from leak_app.publish.summary import summary
    from leak_app.ui.app import Dashboard

    demo = generate_sessions(3_000, seed=7)
    demo.drop(columns=["pageviews", "duration"]).to_csv(tmp_path / "orders.csv", index=False)
    sessions, report = open_sessions(tmp_path / "orders.csv", scan_from=ENGINES[engine])
    assert report.absent_columns == ["pageviews", "duration"] and report.sessions == len(demo)
    model = SessionModel(sessions=sessions, load_report=report.to_dict())
    assert model.kpis["converting_sessions"] == demo["converted"].sum()
    assert model.takeaways[0].startswith("The data has no pageviews column, which the pageview funnel")
    assert model.takeaways[1].startswith("The data has no duration column, which the session duration view")
    assert not any("funnel leak" in s or "convert most" in s for s in model.takeaways)
    published = summary(model)  # scripts get no table of zeros either, and why
    assert published["funnel"] == published["step_leaks"] == published["duration"] == []
    assert published["unavailable"] == {"funnel": model.takeaways[0], "duration": model.takeaways[1]}
    assert summary(SessionModel(sessions=demo))["unavailable"] == {}
    funnel, duration = (Dashboard(model=model).views[name] for name in ("funnel", "duration"))
    assert not funnel.plot.shown and "no pageviews column" in funnel.needs.text
    assert not any(plot.shown for plot in duration.plots)
    assert "no duration column" in duration.needs.text
    complete = Dashboard(model=SessionModel(sessions=demo)).views  # a file with both: drawn, nothing said
    assert all(plot.shown for name in ("funnel", "duration") for plot in complete[name].plots)
    assert complete["funnel"].needs.text == complete["duration"].needs.text == ""


@pytest.mark.parametrize("engine", ENGINES)
def test_a_pageviews_or_duration_column_of_zeros_is_said_as_an_absent_one(tmp_path, engine):
    """An export whose pageviews column is left empty and whose durations are all 0: the funnel drew
    every session leaving at Browsed → Engaged, and the takeaway named that the largest funnel leak,
    "worth" the revenue of the devices' conversion gap. Only the kept sessions count: a dropped row's
    pageviews do not make the column one of values."""
    from leak_app import SessionModel
    from leak_app.publish.summary import summary
    from leak_app.ui.app import Dashboard

    demo = generate_sessions(3_000, seed=7)
    written = demo.assign(pageviews="", duration=0, date=demo["date"].dt.strftime("%Y-%m-%d"))
    written.loc[0, ["pageviews", "date"]] = ["7", "not a day"]  # dropped, with its pageviews
    written.to_csv(tmp_path / "orders.csv", index=False)
    sessions, report = open_sessions(tmp_path / "orders.csv", scan_from=ENGINES[engine])
    assert report.zero_columns == ["pageviews", "duration"] and report.absent_columns == []
    assert report.sessions == len(demo) - 1
    model = SessionModel(sessions=sessions, load_report=report.to_dict())
    assert model.takeaways[0].startswith("Every session's pageviews in the data is 0 (or empty), so the "
                                         "pageview funnel (Browsed → Engaged → Deep Engagement) has nothing")
    assert model.takeaways[1].startswith("Every session's duration in the data is 0 (or empty)")
    assert not any("funnel leak" in s or "convert most" in s for s in model.takeaways)
    published = summary(model)
    assert published["funnel"] == published["step_leaks"] == published["duration"] == []
    assert published["unavailable"] == {"funnel": model.takeaways[0], "duration": model.takeaways[1]}
    funnel, duration = (Dashboard(model=model).views[name] for name in ("funnel", "duration"))
    assert not funnel.plot.shown and "pageviews in the data is 0" in funnel.needs.text
    assert not any(plot.shown for plot in duration.plots)
    written.loc[1, "pageviews"] = "1"  # one kept session with a pageview: a column of values
    written.to_csv(tmp_path / "orders.csv", index=False)
    assert open_sessions(tmp_path / "orders.csv", scan_from=ENGINES[engine])[1].zero_columns == ["duration"]


def test_ga4_events_of_an_app_stream_without_page_views_say_the_funnel_has_none(tmp_path):
    """A GA4 app stream sends screen_view, not page_view: every session's pageviews are 0."""
    demo = generate_sessions(300, seed=3).assign(pageviews=0)
    write(tmp_path / "events_20260803.json", formats.ga4_ndjson(demo))
    report = open_sessions(tmp_path / "events_20260803.json")[1]
    assert report.format.startswith("ga4_events_json") and report.zero_columns == ["pageviews"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("separator", [";", "\t"])
def test_csv_files_delimited_by_semicolons_or_tabs_load_as_comma_ones(ga_raw, tmp_path, engine, separator):
    """Excel writes ";" where the decimal mark is a comma; tab-separated exports are common too."""
    raw = pd.read_csv(ga_raw, dtype=str, keep_default_na=False)
    raw.to_csv(tmp_path / "sessions.csv", sep=separator, index=False)
    delimited, report = open_sessions(tmp_path / "sessions.csv", scan_from=ENGINES[engine])
    whole, expected = open_sessions(ga_raw, scan_from=ENGINES[engine])
    assert report.format == expected.format
    assert_same_report(report, expected)
    pd.testing.assert_frame_equal(table(delimited), table(whole))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("compress", [False, True])
def test_a_file_cut_in_the_middle_of_a_row_is_refused_as_cut_short(ga_raw, tmp_path, engine, compress):
    """A download or copy interrupted mid-row: the cut row was read as a session of the cells it
    kept (its device "mob" counted as "other"), and the rows lost after it were said nowhere. In a
    folder of daily files, the cut one is named."""
    text = ga_raw.read_text()
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    cells = last.split(",")
    cut = text[:text.rindex(last)] + ",".join(cells[:4]) + "," + cells[4][:3]
    folder, name = tmp_path / "exports", "ga_sessions_2.csv" + ".gz" * compress
    folder.mkdir()
    write(folder / "ga_sessions_1.csv", text)
    write(folder / name, cut, compress)
    said = (f"{name}: the file ends in the middle of a row: its last line, '{','.join(cells[:4])},"
            f"{cells[4][:3]}', has 5 of the header's 11 cells and no line end, where the line before has "
            "them all. It looks cut short (an interrupted download or copy?)")
    for path in (folder, folder / name):
        with pytest.raises(LoadError, match=re.escape(said)):
            open_sessions(path, scan_from=ENGINES[engine])
    # the header and one row cut: the same
    write(tmp_path / "one.csv", text.split("\n")[0] + "\n" + ",".join(cells[:3]))
    with pytest.raises(LoadError, match="has 3 of the header's 11 cells"):
        open_sessions(tmp_path / "one.csv", scan_from=ENGINES[engine])


def test_a_row_of_more_cells_after_blank_lines_is_refused_by_its_data_row(tmp_path):
    """pandas numbers a row by its line, blank lines counted: the second data row after two blank
    lines was said "data row 4". Every row is now counted as the short ones are, blank lines left out."""
    write(tmp_path / "sessions.csv", GA_HEADER + "\n1,10,1,20170704,desktop,France,google,3,20,1,5000000"
          "\n\n\n2,11,1,20170705,mobile,Spain,bing,1,,,,extra\n")
    said = "data row 2 has 12 cells where the header has 11 ('2,11,1,"
    with pytest.raises(LoadError, match=re.escape(said)):
        load_sessions(tmp_path / "sessions.csv")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_gzip_file_cut_short_or_damaged_is_refused_as_such(tmp_path, engine):
    """A gzip file whose copy stopped halfway was refused with zlib's words, "not a valid gzip file
    (Compressed file ended before the end-of-stream marker was reached)": it is a valid gzip file,
    only cut. Both engines now say so, and what to do; the scan's gave DuckDB's traceback ("Error
    when sniffing file"). A damaged block (zlib.error, not an OSError) gave "error: Error -3 while
    decompressing data" without the file's name, or a traceback."""
    whole = gzip.compress(generate_sessions(2_000, seed=4).to_csv(index=False).encode())
    path = tmp_path / "sessions.csv.gz"
    path.write_bytes(whole[:len(whole) // 2])
    said = ("sessions.csv.gz: the gzip file is cut short: it ends before gzip's end marker (an unfinished "
            "download or copy?); copy it again")
    with pytest.raises(LoadError, match=re.escape(said)):
        open_sessions(path, name=path.name, scan_from=ENGINES[engine])
    for at in (12, len(whole) // 2):  # (just after gzip's header, and halfway)
        path.write_bytes(whole[:at] + b"\xff" * 2_000 + whole[at + 2_000:])
        with pytest.raises(LoadError, match=r"^sessions.csv.gz: not a valid gzip file \(Error -3 while "):
            open_sessions(path, name=path.name, scan_from=ENGINES[engine])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("compress", [False, True])
def test_a_json_file_cut_in_the_middle_of_a_record_is_refused_as_cut_short(tmp_path, engine, compress):
    """The same of newline-delimited JSON: the cut record was dropped as "not a JSON record", one row
    among thousands, and the records lost after it were said nowhere. A GA4 export's daily files,
    counted line by line as they are read through, are checked in that pass."""
    text = generate_sessions(2_000, seed=4).to_json(orient="records", lines=True, date_format="iso")
    cut = text.rstrip("\n")[:-30]
    name = "sessions.json" + ".gz" * compress
    write(tmp_path / name, cut, compress)
    said = (f"{name}: the file ends in the middle of a record: its last line, "
            f"'{quoted(cut.rsplit(chr(10), 1)[1])}', is not a whole JSON record and has no line end, where "
            "the line before is one. It looks cut short")
    with pytest.raises(LoadError, match=re.escape(said)):
        open_sessions(tmp_path / name, name=name, scan_from=ENGINES[engine])
    write(tmp_path / name, text.rstrip("\n"), compress)  # whole, without its last line end: read
    assert open_sessions(tmp_path / name, name=name, scan_from=ENGINES[engine])[1].sessions == 2_000
    events = (FIXTURES / "events_20260803.json").read_text()
    folder = tmp_path / "events"
    folder.mkdir()
    write(folder / "events_20260803.json", events)
    write(folder / f"events_20260804.json{'.gz' * compress}", events.rstrip("\n")[:-200], compress)
    with pytest.raises(LoadError, match=re.escape(f"events_20260804.json{'.gz' * compress}: the file ends in "
                                                  "the middle of a record")):
        open_sessions(folder, scan_from=ENGINES[engine])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("at, cells", [(100, 5), (25_000, 5), (25_000, 14)])
@pytest.mark.parametrize("quoting", [csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
def test_a_row_of_more_or_fewer_cells_than_the_header_is_refused_by_its_number(tmp_path, engine, at, cells,
                                                                               quoting):
    """pandas read a row's missing cells as empty ones (a row cut by a stray line break, "desktop" its
    last cell, counted as a session with no source or revenue) where DuckDB refused the file after
    its scan with "CSV Error on Line: 25001", and such a row among the first DuckDB samples made its
    sniffer fail: the file, however large, was then loaded by pandas, whole. Both engines now refuse
    it by its row, at any place (13 cells; the 100th row is sampled, the 25,000th is not)."""
    frame = generate_sessions(30_000, seed=2)
    lines = frame.to_csv(index=False, quoting=quoting).rstrip("\n").split("\n")
    row = lines[at].split(",")
    lines[at] = ",".join(row[:cells] if cells < len(row) else row + ['"x"'])
    write(tmp_path / "sessions.csv", "\n".join(lines) + "\n")
    said = (f"sessions.csv: data row {at:,} has {cells} cells where the header has 13 ('{lines[at]}'): "
            "every row must have a cell for each column")
    with pytest.raises(LoadError, match=re.escape(said)):
        open_sessions(tmp_path / "sessions.csv", name="sessions.csv", scan_from=ENGINES[engine])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("line, separator, compress, bom", [
    ("sep=;\r\n", ";", False, True), ("SEP=,\n", ",", True, False), ("sep=\t\n", "\t", False, False)])
def test_excels_sep_line_before_the_header_is_left_out(ga_raw, tmp_path, engine, line, separator, compress,
                                                       bom):
    """Tools that write CSV for Excel begin it with a line naming its delimiter ("sep=;"): it was
    taken for the header ("not a session export … found: sep=;"). Left out by either engine, a
    UTF-8 BOM before it or not, gzipped or not, from a file or a folder of such files."""
    raw = pd.read_csv(ga_raw, dtype=str, keep_default_na=False)
    text = ("\ufeff" if bom else "") + line + raw.to_csv(sep=separator, index=False)
    write(tmp_path / f"sessions.csv{'.gz' if compress else ''}", text, compress)
    delimited, report = open_sessions(tmp_path, scan_from=ENGINES[engine])
    whole, expected = open_sessions(ga_raw, scan_from=ENGINES[engine])
    assert report.format == expected.format
    assert report.files[0]["path"] == str(tmp_path / f"sessions.csv{'.gz' if compress else ''}")
    assert_same_report(report, expected)
    pd.testing.assert_frame_equal(table(delimited), table(whole))
    # the line in a UTF-8 file that is not UTF-8 past it: refused as such
    (tmp_path / "bad").mkdir()
    header = text.split("\n", 2)[1].encode()
    (tmp_path / "bad" / "latin.csv").write_bytes(b"sep=;\n" + header + b"\nCaf\xe9\n")
    with pytest.raises(LoadError, match=r"latin\.csv: not UTF-8 text: byte 0xe9 on line 3 "
                                        r"\(byte offset [\d,]+\); save the file as UTF-8"):
        open_sessions(tmp_path / "bad" / "latin.csv", scan_from=ENGINES[engine])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind, compress", [("csv", False), ("csv", True), ("json", False)])
def test_a_file_saved_in_a_windows_code_page_is_refused_by_its_first_byte_not_utf8(ga_raw, tmp_path, engine,
                                                                                   kind, compress):
    """Excel's plain "CSV" is Windows-1252 where a label has an accent: DuckDB refused it as "not a
    readable csv file (Invalid Input Error: CSV Error on Line: 2)" (or the line of a part it read;
    a JSON file "Malformed JSON … invalid UTF-8 encoding in string"), where pandas names the byte,
    its line and what to do; now both do, past DuckDB's sample too."""
    raw = pd.read_csv(ga_raw, dtype=str, keep_default_na=False)
    raw = raw[~raw["country"].str.contains("[^ -~]")]  # ("Réunion": ASCII rows only, but the one below)
    rows = pd.concat([raw] * 3, ignore_index=True)  # 30,000 rows: past the 20,480 DuckDB samples
    rows.loc[25_000, "country"] = "Côte d’Ivoire"
    path = tmp_path / f"sessions.{kind}{'.gz' if compress else ''}"
    text = (rows.to_csv(index=False) if kind == "csv"
            else rows.to_json(orient="records", lines=True, force_ascii=False))
    data = text.encode("cp1252")
    path.write_bytes(gzip.compress(data) if compress else data)
    offset = data.index("Côte".encode("cp1252")) + 1
    line = "25,002" if kind == "csv" else "25,001"  # (a CSV's header is its first line)
    with pytest.raises(LoadError, match=rf"sessions\.{kind}(\.gz)?: not UTF-8 text: byte 0xf4 on line {line} "
                                        rf"\(byte offset {offset:,}\); save the file as UTF-8"):
        open_sessions(path, scan_from=ENGINES[engine])


@pytest.mark.parametrize("engine", ENGINES)
def test_a_count_with_a_fraction_is_dropped_by_both_engines_and_a_column_of_them_refused(tmp_path, engine):
    """Pageviews and transactions are whole numbers: pandas truncated 1.5 transactions to 1 (and 0.5 to
    0: not converting) where DuckDB kept 1.5 (converting), so the engines counted other conversions;
    a column of fractions is another column's values (pages per session mapped as pageviews)."""
    rows = [f"{i},1,1,20170704,desktop,France,google,3,20,1,\n" for i in range(2, 40)]
    rows += ["90,1,1,20170704,desktop,France,google,3,20,0.5,\n",
             "91,1,1,20170704,desktop,France,google,2.5,20,,\n",
             "92,1,1,20170704,desktop,France,google,4.0,20.5,2.0,\n"]  # (whole, with a point; seconds)
    path = tmp_path / "sessions.csv"
    path.write_text(GA_HEADER + "\n" + "".join(rows))
    sessions, report = open_sessions(path, scan_from=ENGINES[engine])
    assert report.dropped == {"transactions: not a whole number": 1, "pageviews: not a whole number": 1}
    assert table(sessions)["transactions"].sum() == 38 + 2 and report.sessions == 39
    assert set(table(sessions)["duration"]) == {20}  # (20.5 s in whole seconds: the scan had kept 20.5)
    path.write_text(GA_HEADER + "\n" + "".join(f"{i},1,1,20170704,desktop,France,google,{i % 7 + 1.25},20,,\n"
                                               for i in range(2, 40)))
    with pytest.raises(LoadError, match=r"column 'pageviews' should hold whole numbers \(it counts\), but "
                                        "38 of 38 values do not"):
        open_sessions(path, scan_from=ENGINES[engine])


@pytest.mark.parametrize("engine", ENGINES)
def test_exports_joined_as_text_drop_the_second_header_as_such(ga_raw, tmp_path, engine):
    """Daily exports joined with ``cat`` repeat their header as a row: it was dropped as "date: not a
    date", which sent the reader looking for a bad date; now it is said for what it is."""
    lines = (ga_raw.read_text().rstrip("\n") + "\n").splitlines(True)
    path = tmp_path / "joined.csv"
    bad_date = "9,9,1,someday,desktop,France,google,1,,,\n"
    path.write_text("".join([*lines[:5001], lines[0], *lines[5001:], bad_date]))
    _, report = open_sessions(path, scan_from=ENGINES[engine])
    _, whole = open_sessions(ga_raw, scan_from=ENGINES[engine])
    assert report.dropped == {"the header repeated as a row (files joined)": 1, "date: not a date": 1,
                              **whole.dropped}
    assert report.sessions == whole.sessions


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("newline, separator", [("\n", ","), ("\r\n", ";")])
def test_blank_lines_before_the_header_are_skipped(ga_raw, tmp_path, engine, newline, separator):
    """Blank lines before a CSV's header, which pandas and DuckDB skip: the header was taken from the
    first line, so pandas' reading was refused ("data row 1 has 11 cells where the header has 0")
    and a scan of a ";"-delimited file was told the delimiter of a blank line (a comma)."""
    raw = pd.read_csv(ga_raw, dtype=str, keep_default_na=False)
    text = newline * 2 + raw.to_csv(sep=separator, index=False, lineterminator=newline)
    (tmp_path / "sessions.csv").write_bytes(text.encode())
    blank, report = open_sessions(tmp_path / "sessions.csv", scan_from=ENGINES[engine])
    whole, expected = open_sessions(ga_raw, scan_from=ENGINES[engine])
    assert_same_report(report, expected)
    pd.testing.assert_frame_equal(table(blank), table(whole))


#: Where a file's lines change from one line end to the other: (name, line ends before, after, at line)
MIXED_LINE_ENDS = [("blank CRLF line first", "\r\n", "\n", 1), ("header CRLF, rows LF", "\r\n", "\n", 1),
                   ("joined: CRLF then LF", "\r\n", "\n", 100),
                   ("joined: LF then CRLF past DuckDB's sample", "\n", "\r\n", 25_000)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name, before, after, at", MIXED_LINE_ENDS, ids=[m[0] for m in MIXED_LINE_ENDS])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_file_whose_line_ends_change_loads_as_with_one_kind(tmp_path, engine, name, before, after, at,
                                                              compress):
    """Files joined from a Windows export (CRLF) and one written elsewhere (LF), which pandas reads:
    a scan was refused ("not a readable csv file (... Error when sniffing file ...)", or past the
    lines DuckDB samples "... state machine reached an invalid state"). Each loads as the file written
    with LF alone does, rows counted alike."""
    sessions = generate_sessions(30_000, seed=5)
    lines = sessions.to_csv(index=False).splitlines()
    lines = [""] + lines if name.startswith("blank") else lines
    path, plain = tmp_path / f"joined.csv{'.gz' * compress}", tmp_path / "plain.csv"
    write(path, before.join(lines[:at]) + before + after.join(lines[at:]) + after, compress)
    write(plain, "\n".join(lines) + "\n")
    mixed, report = open_sessions(path, scan_from=ENGINES[engine])
    whole, expected = open_sessions(plain, scan_from=ENGINES[engine])
    assert report.files == [{"path": str(path), "rows": 30_000}]
    assert_same_report(report, expected)
    pd.testing.assert_frame_equal(table(mixed), table(whole))


def test_a_crlf_split_between_two_parts_read_is_one_line_end(tmp_path):
    """A CRLF whose CR ends one part read (a MiB, gunzipped or decoded) and whose LF begins the next is
    one Windows line end: a file of CRLF alone is not taken for mixed, and is written with LF alone."""
    lines = "".join(f"{i},{i * 7919 % 100_003}\r\n" for i in range(150_000))  # (compressed < 1/200)
    head = lines[:lines.index("\r\n", 2**20 - 40) + 2]
    text = head[:-2] + "x" * (2**20 - len(head) + 1) + "\r\n" + lines[len(head):]  # a CR at byte 2**20
    assert text[2**20 - 1:2**20 + 1] == "\r\n"
    path = tmp_path / "windows.csv.gz"
    write(path, text, compress=True)
    assert not mixed_line_ends(path, "windows.csv.gz")
    readers.as_utf8(path, "utf-8-sig", tmp_path / "out.csv", "windows.csv.gz")
    assert (tmp_path / "out.csv").read_bytes() == text.replace("\r\n", "\n").encode()
    write(path, text.replace("\r\n", "\n", 1), compress=True)
    assert mixed_line_ends(path, "windows.csv.gz")


#: Labels UTF-8 writes in two, three and four bytes (UTF-16 in two, two and four: a surrogate pair)
UNICODE_LABELS = {"country": "Côte d’Ivoire", "source": "百度 🛒"}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("codec, bom, compress", [
    ("utf-16-le", codecs.BOM_UTF16_LE, False),  # Excel's "Unicode Text" and Google Ads' reports
    ("utf-16-be", codecs.BOM_UTF16_BE, True),
    ("utf-16-le", b"", False),  # no byte order mark: the zero bytes beside the header's ASCII tell it
    ("utf-16-be", b"", False),
])
def test_utf16_text_loads_as_the_same_file_in_utf8(ga_raw, tmp_path, engine, codec, bom, compress):
    """A tab-delimited UTF-16 file (Excel's "Unicode Text", the reports of Google's ad tools) was
    refused ("not UTF-8 text: byte 0xff"): it loads as the file saved as UTF-8 does, by both
    engines and by load_sessions, and a folder mixing the two loads as the whole file."""
    raw = pd.read_csv(ga_raw, dtype=str, keep_default_na=False)
    raw.loc[::7, list(UNICODE_LABELS)] = list(UNICODE_LABELS.values())
    utf8 = tmp_path / "sessions_utf8.csv"
    raw.to_csv(utf8, sep="\t", index=False)
    utf16 = tmp_path / f"sessions.txt{'.gz' * compress}"
    write_bytes = (lambda data: utf16.write_bytes(gzip.compress(data))) if compress else utf16.write_bytes
    write_bytes(bom + utf8.read_text(encoding="utf-8").encode(codec))
    expected_table, expected = open_sessions(utf8, scan_from=ENGINES[engine])
    before = set(os.listdir(workspace()))
    sessions, report = open_sessions(utf16, scan_from=ENGINES[engine])
    assert report.path == str(utf16) and report.files == [{"path": str(utf16), "rows": 10_000}]
    assert_same_report(report, expected)
    loaded = table(sessions)
    pd.testing.assert_frame_equal(loaded, table(expected_table))
    assert (loaded["source"] == UNICODE_LABELS["source"]).sum() == len(raw[::7])
    if engine == "pandas":
        pd.testing.assert_frame_equal(table(load_sessions(utf16)[0]), loaded)
    folder = tmp_path / "days"
    folder.mkdir()
    for day, part in raw.groupby("date"):
        text = part.to_csv(sep="\t", index=False)
        path = folder / f"ga_sessions_{day}.csv"
        path.write_bytes(bom + text.encode(codec) if day.endswith(("4", "6")) else text.encode())
    days, report = open_sessions(folder, scan_from=ENGINES[engine])
    assert [f["path"] for f in report.files] == [str(path) for path in sorted(folder.iterdir())]
    pd.testing.assert_frame_equal(table(days), loaded)
    del sessions, days
    gc.collect()  # the UTF-8 copies go with the sessions
    assert set(os.listdir(workspace())) <= before


@pytest.mark.parametrize("engine", ENGINES)
def test_ga4_events_in_utf16_load_as_in_utf8(tmp_path, engine):
    json_path = FIXTURES / "events_20260803.json"
    utf16 = tmp_path / "events_20260803.json"
    utf16.write_bytes(json_path.read_text(encoding="utf-8").encode("utf-16"))
    expected_table, expected = open_sessions(json_path, scan_from=ENGINES[engine])
    sessions, report = open_sessions(utf16, scan_from=ENGINES[engine])
    assert report.format == expected.format
    assert_same_report(report, expected)
    pd.testing.assert_frame_equal(table(sessions), table(expected_table))


@pytest.mark.parametrize("damage, reason", [
    (lambda data: data + b"\x41", "truncated data at byte offset"),  # an odd byte at the end
    (lambda data: data[:300] + "\ud83d".encode("utf-16-le", "surrogatepass") + b"\x41\x00" + data[300:],
     "illegal UTF-16 surrogate at byte offset 300"),  # half a surrogate pair
])
def test_a_file_that_begins_as_utf16_and_is_not_is_refused_by_name(tmp_path, damage, reason):
    data = (FIXTURES / "ga_sessions_export.csv").read_text(encoding="utf-8").encode("utf-16")
    path = tmp_path / "sessions.txt"
    path.write_bytes(damage(data))
    for load in (lambda: open_sessions(path), lambda: open_sessions(path, scan_from=0),
                 lambda: load_sessions(path)):
        with pytest.raises(LoadError, match=rf"sessions\.txt: begins as UTF-16 text, but is not: {reason}"):
            load()
    # UTF-32, whose byte order mark begins as UTF-16's, is not read as UTF-16 (garbled): refused
    path.write_bytes(data.decode("utf-16").encode("utf-32"))
    with pytest.raises(LoadError, match=r"sessions\.txt: not UTF-8 text: byte 0xff on line 1"):
        open_sessions(path)


def decimal_comma(value: str) -> str:
    """A number as Excel writes it where the decimal mark is a comma: 1234.5 → "1.234,50"."""
    return f"{float(value):,.2f}".translate(str.maketrans(",.", ".,")) if value else value


@pytest.mark.parametrize("separator", [";", "\t"])
@pytest.mark.parametrize("engine", ENGINES)
def test_numbers_written_with_a_decimal_comma_load_as_the_original(ga_cleaned, tmp_path, engine, separator):
    """The cleaned sample's pageviews, time on site and revenue written "11,00", "1.448,00",
    "25,99" in a ";"- or tab-delimited file: read as numbers, not dropped as "not a number"."""
    raw = pd.read_csv(ga_cleaned, dtype=str, keep_default_na=False)
    commas = ["pageviews", "revenue", "timeonsite"]
    written = raw.assign(**{column: raw[column].map(decimal_comma) for column in commas})
    assert written["timeonsite"].str.contains(r"\.\d{3},").any()  # thousands separated too
    written.to_csv(tmp_path / "sessions.csv", sep=separator, index=False)
    european, report = open_sessions(tmp_path / "sessions.csv", scan_from=ENGINES[engine])
    whole, expected = open_sessions(ga_cleaned, scan_from=ENGINES[engine])
    assert report.decimal_comma == commas and expected.decimal_comma == []
    from leak_app.ui.texts import load_report_html

    assert "decimal comma: pageviews, revenue, timeonsite." in load_report_html(report.to_dict())
    assert_same_report(report, expected)
    pd.testing.assert_frame_equal(table(european), table(whole))


@pytest.mark.parametrize("engine", ENGINES)
def test_whole_numbers_with_thousands_dots_follow_the_files_decimal_comma(ga_cleaned, tmp_path, engine):
    """Revenue written "25,99" and time on site "1.448" (whole seconds, a thousands dot): a file
    writes its numbers one way, so 1448 s. It was read as 1.448 s (no comma in that column)."""
    raw = pd.read_csv(ga_cleaned, dtype=str, keep_default_na=False)
    whole = raw["timeonsite"].map(lambda v: f"{int(float(v)):,}".replace(",", ".") if v else v)
    assert whole.str.fullmatch(r"\d\.\d{3}").any() and not whole.str.contains(",").any()
    raw.assign(revenue=raw["revenue"].map(decimal_comma), timeonsite=whole).to_csv(
        tmp_path / "sessions.csv", sep=";", index=False)
    european, report = open_sessions(tmp_path / "sessions.csv", scan_from=ENGINES[engine])
    expected_table, expected = open_sessions(ga_cleaned, scan_from=ENGINES[engine])
    assert report.decimal_comma == ["revenue", "timeonsite"]
    assert_same_report(report, expected)
    pd.testing.assert_frame_equal(table(european), table(expected_table))


def test_a_part_with_decimal_points_keeps_them_beside_one_with_decimal_commas(ga_cleaned, tmp_path):
    """A folder of two days, one exported with ";" and "25,99", the other with "," and "25.99":
    the second's revenue lost its point (25.99 read as 2599) because the first's decimal comma
    was taken for every part. DuckDB reads a folder with one delimiter: there it is refused, by
    name (every row of b.csv was "not a date")."""
    raw = pd.read_csv(ga_cleaned, dtype=str, keep_default_na=False)
    first_day = raw["date"] == raw["date"].min()
    folder = tmp_path / "days"
    folder.mkdir()
    raw[first_day].assign(revenue=raw["revenue"].map(decimal_comma)).to_csv(
        folder / "a.csv", sep=";", index=False)
    raw[~first_day].to_csv(folder / "b.csv", index=False)
    assert raw.loc[~first_day, "revenue"].str.contains(r"\.").any()
    split, report = open_sessions(folder, scan_from=ENGINES["pandas"])
    expected_table, _ = open_sessions(ga_cleaned, scan_from=ENGINES["pandas"])
    assert report.decimal_comma == ["revenue"]  # in a.csv; each part's numbers read as written
    pd.testing.assert_frame_equal(table(split), table(expected_table))
    with pytest.raises(LoadError, match=r"b\.csv is delimited by commas and \S*a\.csv by semicolons: the "
                                        r"files are read as one table, so they must be delimited alike"):
        open_sessions(folder, scan_from=ENGINES["duckdb"])


@pytest.mark.parametrize("engine", ENGINES)
def test_files_delimited_alike_keep_each_its_own_decimal_mark(ga_cleaned, tmp_path, engine):
    """Two days both delimited by ";", the first with "25,99", the second with "25.99": each file's
    numbers read as written, again from the kept scan. DuckDB, reading them as one table, decided for
    all files at once: "25.99" is no decimal comma, so the first day's "25,99" were dropped as "not a
    number"."""
    raw = pd.read_csv(ga_cleaned, dtype=str, keep_default_na=False)
    first_day = raw["date"] == raw["date"].min()
    folder = tmp_path / "days"
    folder.mkdir()
    raw[first_day].assign(revenue=raw["revenue"].map(decimal_comma)).to_csv(
        folder / "a.csv", sep=";", index=False)
    raw[~first_day].to_csv(folder / "b.csv", sep=";", index=False)
    assert raw.loc[first_day, "revenue"].str.contains(r"\.").any()
    assert raw.loc[~first_day, "revenue"].str.contains(r"\.").any()
    expected_table, expected = open_sessions(ga_cleaned, scan_from=ENGINES[engine])
    for _ in range(2):  # read, then (DuckDB) from what the first scan kept
        split, report = open_sessions(folder, scan_from=ENGINES[engine])
        assert report.decimal_comma == ["revenue"]
        assert [(Path(f["path"]).name, f.get("decimal_comma")) for f in report.files] == [
            ("a.csv", ["revenue"]), ("b.csv", None)]
        assert report.dropped == expected.dropped and report.rows_kept == expected.rows_kept
        pd.testing.assert_frame_equal(table(split), table(expected_table))
    from leak_app.ui.texts import load_report_html

    assert "decimal comma: revenue (in 1 of 2 files)." in load_report_html(report.to_dict())


@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_ga4_events_exported_to_avro_give_the_sessions_of_the_json_export(tmp_path, codec, monkeypatch):
    """BigQuery's Avro export of events_* (read by fastavro: DuckDB's reader is an extension it
    downloads), one file and a folder of two shards, each session split over both: read into memory
    under the scan's threshold; over it, never (a 3.2 MB Avro file of 197,100 events took 1.9 GB so),
    written as the JSON export's records in a private folder and scanned, the files named as given."""
    json_path = FIXTURES / "events_20260803.json"
    events = [json.loads(line) for line in json_path.read_text().splitlines()]
    expected_table, expected = open_sessions(json_path)
    one = formats.ga4_avro(events, tmp_path / "events_20260803.avro", codec)
    loaded, report = open_sessions(one)
    assert report.format == "ga4_events_avro"
    assert_same_report(report, expected)
    pd.testing.assert_frame_equal(table(loaded), table(expected_table))
    shards = tmp_path / "shards"
    shards.mkdir()
    for shard in range(2):
        formats.ga4_avro(events[shard::2], shards / f"events_20260803-00000000000{shard}.avro", codec)
    loaded, report = open_sessions(shards)
    assert [f["rows"] for f in report.files] == [len(events[0::2]), len(events[1::2])]
    pd.testing.assert_frame_equal(table(loaded), table(expected_table))

    def in_memory(*args):
        raise AssertionError("an Avro file over the threshold was read into memory")

    monkeypatch.setattr(readers, "_avro", in_memory)
    before = set(os.listdir(workspace()))
    for path in (one, shards):
        scanned, report = open_sessions(path, scan_from=0)
        assert report.format == "ga4_events_avro_scan" and isinstance(scanned, ibis.Table)
        assert_same_report(report, expected)
        given = sorted(shards.iterdir()) if path == shards else [one]
        assert [f["path"] for f in report.files] == [str(file) for file in given]
        pd.testing.assert_frame_equal(table(scanned), table(expected_table))
        assert [name for name in set(os.listdir(workspace())) - before if name.startswith("avro_")]
        del scanned
        gc.collect()  # the private folder goes with the sessions
        left = set(os.listdir(workspace())) - before
        assert not [name for name in left if name.startswith("avro_")]


@pytest.mark.parametrize("shards, zipped", [(1, False), (2, False), (2, True)])
def test_a_second_start_on_unchanged_avro_files_decodes_nothing_and_runs_no_query(tmp_path, monkeypatch,
                                                                                   shards, zipped):
    """Decoding is most of an Avro file's start (254,157 GA4 events: 11.7 s of 15-19 s), and it ran
    at every start: the file's records are now kept as Parquet in the cache folder, keyed by the
    file, and the scan of them is kept under the Avro files (a folder of shards' was kept under
    their new Parquet files, never found again; a .zip's, unpacked afresh at each start, under
    those new files, and converted at each start: both are now keyed by the archive and the
    names in it). A changed file is decoded again; sessions in use outlive the eviction of their
    file."""
    from leak_app import SessionModel
    from leak_app.data import avro
    from leak_app.data.files import cache_dir

    events = [json.loads(line) for line in (FIXTURES / "events_20260803.json").read_text().splitlines()]
    folder = tmp_path / "export"
    folder.mkdir()
    for shard in range(shards):
        formats.ga4_avro(events[shard::shards], folder / f"events_20260803-00000000000{shard}.avro")
    path = folder / "events_20260803-000000000000.avro" if shards == 1 else folder

    def archived() -> None:
        with zipfile.ZipFile(tmp_path / "export.zip", "w") as archive:
            for shard in sorted(folder.iterdir()):
                archive.write(shard, f"export/{shard.name}")
    if zipped:
        archived()
        path = tmp_path / "export.zip"
    first, report = open_sessions(path, scan_from=0)
    decoded = []

    def refuse(*args, **kwargs):
        raise AssertionError("a query ran on a second start")
    with monkeypatch.context() as patched:
        patched.setattr(avro, "avro_as_json", lambda *args: decoded.append(args))
        for name in ("execute", "to_pyarrow", "create_table"):
            patched.setattr(ibis.backends.duckdb.Backend, name, refuse)
        second, again = open_sessions(path, scan_from=0)
    assert decoded == [] and again.to_dict() == report.to_dict() and report.format == "ga4_events_avro_scan"
    pd.testing.assert_frame_equal(table(second), table(first))
    shutil.rmtree(cache_dir() / "avro")  # evicted while the sessions are in use
    model = SessionModel(sessions=second, load_report=again.to_dict())
    model.duration_edges = [15, 150]  # a cube built anew from the sessions' files
    assert model.kpis["sessions"] == report.sessions
    formats.ga4_avro(events[:100], folder / "events_20260803-000000000000.avro")  # changed: decoded again
    if zipped:
        archived()
    assert open_sessions(path, scan_from=0)[1].rows_read == 100 + len(events[1::2]) * (shards - 1)


def test_a_damaged_avro_file_is_refused_by_name(tmp_path):
    events = [json.loads(line) for line in (FIXTURES / "events_20260803.json").read_text().splitlines()]
    path = formats.ga4_avro(events, tmp_path / "events.avro")
    path.write_bytes(path.read_bytes()[:700])
    for scan_from in (None, 0):  # read into memory, and converted to be scanned
        with pytest.raises(LoadError, match=r"events\.avro: not a readable Avro file"):
            open_sessions(path, scan_from=scan_from)


def hits_of(sessions: pd.DataFrame, pageviews: str) -> pd.DataFrame:
    """A session table flattened to a row per hit, as UNNEST(hits) does: each session's row
    repeated once per pageview (once at least), its totals on every copy, a hit number added."""
    repeats = pd.to_numeric(sessions[pageviews], errors="coerce").fillna(1).clip(lower=1).astype(int)
    hits = sessions.loc[sessions.index.repeat(repeats)].copy()
    hits.insert(2, "hitNumber", hits.groupby(level=0).cumcount() + 1)
    return hits.sample(frac=1, random_state=4)  # exports are in no particular order


@pytest.mark.parametrize("engine", ENGINES)
def test_hit_level_rows_are_combined_into_the_sessions_of_the_session_export(ga_raw, tmp_path, engine):
    """The real sample flattened to 40,000 hit rows (detected by their hitNumber column): the
    sessions and every KPI are the session export's, the repeated totals counted once, and the
    two sessions crossing midnight still merged across their two days."""
    from leak_app import SessionModel

    raw = pd.read_csv(ga_raw, dtype=str, keep_default_na=False)
    hits_of(raw, "pageviews").to_csv(tmp_path / "hits.csv", index=False)
    from leak_app.analysis.cube import CellSettings
    from leak_app.analysis.model import opened_with_cube

    # opened as every start opens a file: a scan of sessions groups their cube as it counts them
    # (the session export's here), one of hits does not
    sessions, report = opened_with_cube(open_sessions, CellSettings(), tmp_path / "hits.csv",
                                        scan_from=ENGINES[engine])
    whole, expected = opened_with_cube(open_sessions, CellSettings(), ga_raw, scan_from=ENGINES[engine])
    assert report.row_level == "hits" and expected.row_level == "sessions"
    assert report.rows_read > 3 * expected.rows_read
    assert report.rows_read == report.rows_kept + sum(report.dropped.values())
    assert report.sessions == expected.sessions and report.unmatched_countries == expected.unmatched_countries
    folded = report.dropped.pop(HIT_ROW)
    merged = "repeated session id (merged into its first row)"
    assert report.dropped == {merged: expected.dropped[merged]}  # only the midnight splits
    assert folded == report.rows_read - expected.rows_read + expected.duplicates_removed
    pd.testing.assert_frame_equal(table(sessions), table(whole))
    assert SessionModel(sessions=sessions).kpis == SessionModel(sessions=whole).kpis


@pytest.mark.parametrize("rows", ["sessions", "hits"])
@pytest.mark.parametrize("engine", ENGINES)
def test_repeated_ids_are_told_apart_by_their_ids_not_their_hashes(tmp_path, monkeypatch, engine, rows):
    """Repeated session ids are looked for among the rows whose ids' hashes repeat, then told apart by
    the ids themselves: with a hash that a third of the ids share (every id a candidate), a messy file
    (exact duplicates, a midnight split, an id on a kept and a dropped row) gives the sessions and
    report DuckDB's own hash gives; and so do its hit rows, whose ids (sessions' days) are grouped by
    themselves."""
    from test_engines import messy_csv

    from leak_app.data import parse

    messy_csv(generate_sessions(3_000, seed=5), tmp_path / "sessions.csv")
    if rows == "hits":
        raw = pd.read_csv(tmp_path / "sessions.csv", dtype=str, keep_default_na=False)
        hits_of(raw, "pageviews").to_csv(tmp_path / "sessions.csv", index=False)
    opened = [open_sessions(tmp_path / "sessions.csv", scan_from=ENGINES[engine])]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # (a second scan, not the kept first)
    monkeypatch.setattr(parse, "_hashed", lambda rows, columns: rows[columns[0]].cast("string").length() % 3)
    opened.append(open_sessions(tmp_path / "sessions.csv", scan_from=ENGINES[engine]))
    (sessions, report), (colliding, colliding_report) = opened
    assert_same_report(colliding_report, report)
    assert report.dropped["repeated session id (merged into its first row)"] == 1
    assert report.duplicates_removed == (2 if rows == "sessions" else 0)  # (hits: one row a day anyway)
    pd.testing.assert_frame_equal(table(colliding), table(sessions))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_mapping_says_its_rows_are_hits(tmp_path, engine):
    """A file without a hit number column says so in its mapping (rows = "hits")."""
    shop = pd.read_csv(FIXTURES / "shop_sessions.csv", dtype=str, keep_default_na=False)
    hits_of(shop, "Pages").drop(columns="hitNumber").to_csv(tmp_path / "shop_hits.csv", index=False)
    mapping = (FIXTURES / "shop_sessions_mapping.toml").read_text()
    (tmp_path / "hits.toml").write_text('rows = "hits"\n' + mapping)
    sessions, report = open_sessions(tmp_path / "shop_hits.csv", mapping=read_mapping(tmp_path / "hits.toml"),
                                     scan_from=ENGINES[engine])
    whole, expected = open_sessions(FIXTURES / "shop_sessions.csv",
                                    mapping=read_mapping(FIXTURES / "shop_sessions_mapping.toml"),
                                    scan_from=ENGINES[engine])
    assert report.row_level == "hits" and report.mapping["rows"] == "hits"
    assert report.sessions == expected.sessions
    pd.testing.assert_frame_equal(table(sessions), table(whole))
    (tmp_path / "visits.toml").write_text('rows = "visits"\n' + mapping)
    with pytest.raises(LoadError, match=r"visits\.toml: rows must be \"sessions\" .* or \"hits\""):
        read_mapping(tmp_path / "visits.toml")


OPTIONAL = ["device", "country", "source", "medium", "pageviews", "duration"]


@settings(max_examples=25, deadline=None, derandomize=os.environ.get("CI") == "true",
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sessions=canonical_tables(), absent=st.sets(st.sampled_from(OPTIONAL)), parts=st.integers(1, 4),
       engine=st.sampled_from(sorted(ENGINES)), gz=st.booleans())
def test_any_table_split_into_files_without_any_optional_columns_loads_as_the_whole(
        tmp_path_factory, sessions, absent, parts, engine, gz):
    """A canonical table (text of any kind in its labels) written as a folder of up to four files
    in date order, gzipped or not, some of its optional columns left out: the same sessions on
    both engines, the left-out labels "(not set)" and measures 0, every row and file accounted for."""
    folder = tmp_path_factory.mktemp("files")
    written = sessions.drop(columns=["converted", *absent]).sort_values("date", kind="stable")
    for i, rows in enumerate(np.array_split(np.arange(len(written)), parts)):
        text = written.iloc[rows].to_csv(index=False, date_format="%Y-%m-%d")
        write(folder / f"sessions_{i}.csv{'.gz' if gz else ''}", text, compress=gz)
    loaded, report = open_sessions(folder, scan_from=ENGINES[engine])
    assert report.absent_columns == [c for c in OPTIONAL if c in absent]
    assert report.rows_read == report.rows_kept + sum(report.dropped.values()) == len(sessions)
    assert report.dropped == {} and sum(f["rows"] for f in report.files) == len(sessions)
    expected = as_loaded(sessions).assign(**{c: "(not set)" if c in TEXT else 0 for c in absent})
    pd.testing.assert_frame_equal(table(loaded), table(expected))


@pytest.mark.parametrize("written, order", [("%d/%m/%Y", "day first"), ("%d.%m.%Y", "day first"),
                                            ("%m/%d/%Y %H:%M", "month first"), ("%-m/%-d/%Y", "month first")])
@pytest.mark.parametrize("engine", ENGINES)
def test_dates_as_a_spreadsheet_writes_them_load_as_iso_ones(tmp_path, engine, written, order):
    """A file saved from Excel writes its dates as the locale does: "29/09/2026" (UK, France), "29.09.2026"
    (Germany), "9/29/2026" (US). Every row was refused: "should hold dates (YYYYMMDD or YYYY-MM-DD)".
    The order is told by a number above 12 in either place, from the whole column, and said in the
    load report; sessions and report as the ISO file's, read again from the kept scan too."""
    sessions = generate_sessions(3_000, seed=4)
    sessions.to_csv(tmp_path / "iso.csv", index=False)
    expected_table, expected = open_sessions(tmp_path / "iso.csv", scan_from=ENGINES[engine])
    sessions.assign(date=sessions["date"].dt.strftime(written)).to_csv(tmp_path / "excel.csv", index=False)
    for _ in range(2):
        table_read, report = open_sessions(tmp_path / "excel.csv", scan_from=ENGINES[engine])
        assert report.date_order == order and expected.date_order == ""
        assert_same_report(report, expected)
        pd.testing.assert_frame_equal(table(table_read), table(expected_table))
    from leak_app.ui.texts import load_report_html

    assert f"Dates written {order} (" in load_report_html(report.to_dict())


@pytest.mark.parametrize("written", ["%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d-%b-%Y", "%d-%b-%y",
                                     "%A, %B %d, %Y"])
@pytest.mark.parametrize("engine", ENGINES)
def test_dates_with_their_month_named_load_as_iso_ones(tmp_path, engine, written):
    """Looker Studio's and Excel's exports name the month: "Sep 28, 2026", "28-Sep-26", "Monday,
    September 28, 2026" (a sheet's "Long Date"). Every row was
    refused as not a date; they are read in any case ("SEP 28, 2026"), a value in none of the forms
    still a bad date, counted."""
    sessions = generate_sessions(3_000, seed=4)
    sessions.to_csv(tmp_path / "iso.csv", index=False)
    expected = table(open_sessions(tmp_path / "iso.csv", scan_from=ENGINES[engine])[0])
    named = sessions.assign(date=sessions["date"].dt.strftime(written))
    named.loc[::3, "date"] = named["date"].iloc[::3].str.upper()
    named.loc[len(named)] = named.iloc[0].copy()
    named.loc[len(named) - 1, ["date", "session_id"]] = ["Sep 31, 2026", "written-in-no-form"]
    named.to_csv(tmp_path / "named.csv", index=False)
    table_read, report = open_sessions(tmp_path / "named.csv", scan_from=ENGINES[engine])
    assert report.dropped == {"date: not a date": 1} and report.rows_read == len(sessions) + 1
    pd.testing.assert_frame_equal(table(table_read), expected)


@pytest.mark.parametrize("engine", ENGINES)
def test_dates_whose_order_the_data_cannot_tell_load_in_the_order_a_mapping_says(tmp_path, engine):
    """Twelve days of each month written "03/04/2026": no date tells the order, and the file was
    refused with no way to read it but rewriting it. A mapping's date_order (TOML or --date-order)
    says it: the sessions are the ISO file's, the report names the order and the mapping keeps it
    (for the check command). An order the column contradicts is refused, naming a date."""
    sessions = generate_sessions(3_000, seed=4)
    sessions = sessions[sessions["date"].dt.day <= 12].drop(columns=["converted"])
    columns = {name: name for name in sessions.columns}
    sessions.to_csv(tmp_path / "iso.csv", index=False)
    expected_table, expected = open_sessions(tmp_path / "iso.csv", mapping=read_mapping(None, columns),
                                             scan_from=ENGINES[engine])
    sessions.assign(date=sessions["date"].dt.strftime("%d/%m/%Y")).to_csv(tmp_path / "uk.csv", index=False)
    (tmp_path / "uk.toml").write_text('date_order = "day first"\n[columns]\n'
                                      + "".join(f'{k} = "{v}"\n' for k, v in columns.items()))
    for mapping in (read_mapping(tmp_path / "uk.toml"), read_mapping(None, columns, date_order="day-first")):
        table_read, report = open_sessions(tmp_path / "uk.csv", mapping=mapping, scan_from=ENGINES[engine])
        assert report.date_order == report.mapping["date_order"] == "day first"
        pd.testing.assert_frame_equal(table(table_read), table(expected_table))
        assert report.rows_kept == expected.rows_kept == len(sessions) and report.dropped == {}
    with pytest.raises(LoadError, match=r"uk\.csv: column 'date' writes dates as '\d\d/\d\d/2026': whether "
                                        r"the day .* or say it with a mapping's date_order"):
        open_sessions(tmp_path / "uk.csv", mapping=read_mapping(None, columns), scan_from=ENGINES[engine])
    us = generate_sessions(500, seed=4).drop(columns=["converted"])
    us.assign(date=us["date"].dt.strftime("%m/%d/%Y")).to_csv(tmp_path / "us.csv", index=False)
    with pytest.raises(LoadError, match=r"us\.csv: column 'date' writes dates month first "
                                        r"\('\d\d/\d\d/2026'\), not day first as the mapping's "
                                        r"date_order says; write them as YYYY-MM-DD, or set date_order to "
                                        r"\"month first\""):
        open_sessions(tmp_path / "us.csv", mapping=read_mapping(tmp_path / "uk.toml"),
                      scan_from=ENGINES[engine])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("numbered, says", [
    (lambda d: (d - pd.Timestamp("1899-12-30")).dt.days.astype(str), "in Excel's count of days"),
    (lambda d: ((d - pd.Timestamp("1899-12-30")).dt.days + 0.5).astype(str), "in Excel's count of days"),
    (lambda d: (d.astype("int64") // 10**6).astype(str), "in milliseconds of Unix time"),
    (lambda d: (d.astype("int64") // 10**9).astype(str), "in seconds of Unix time")])
def test_dates_written_as_numbers_are_refused_saying_what_they_are(tmp_path, engine, numbered, says):
    """A date column saved from Excel formatted as numbers ("46274"), or written as a Unix time, was
    refused as "should hold dates ... the first is '46274'", which says nothing to whoever sees a
    date in Excel: the refusal says the date the number is, in what count, and what to do."""
    sessions = generate_sessions(500, seed=4)
    sessions.assign(date=numbered(sessions["date"])).to_csv(tmp_path / "numbers.csv", index=False)
    with pytest.raises(LoadError) as refused:
        open_sessions(tmp_path / "numbers.csv", scan_from=ENGINES[engine])
    said = str(refused.value)
    assert said.startswith(f"{tmp_path / 'numbers.csv'}: column 'date' should hold dates")
    assert said.endswith("; write the column as dates (YYYY-MM-DD) and load it again") and says in said
    if engine == "pandas":  # (a scan names a bad value, not the first)
        assert f"on data row 1: {sessions['date'].iloc[0]:%Y-%m-%d} {says}" in said


def test_a_number_is_called_a_date_only_where_it_is_a_plausible_one():
    from leak_app.data.schema import date_as_number

    assert date_as_number("46274").startswith(": 2026-09-09 in Excel's count of days")
    assert date_as_number(" 46274.75 ").startswith(": 2026-09-09 in Excel's count of days")
    assert date_as_number("1788912000000000").startswith(": 2026-09-09 in microseconds of Unix time")
    for value in ("12", "1999", "-46274", "4e4", "20261345", "9" * 25, "", None, "2026-09-09"):
        assert date_as_number(value) == "", value


def test_a_date_order_that_is_neither_is_refused():
    with pytest.raises(LoadError, match=r"--date-order: date_order must be \"day first\" \(29/09/2026\) or "
                                        r"\"month first\" \(9/29/2026\), not 'year first'"):
        read_mapping(None, {"visitor_id": "v", "session_id": "s", "date": "d"}, date_order="year first")


@pytest.mark.parametrize("engine", ENGINES)
def test_dates_whose_order_cannot_be_told_are_refused_by_example(tmp_path, engine):
    """"03/04/2026" is 3 April or 4 March: with no number above 12 in either place the file is refused,
    naming a date; with both (29/09 and 09/29 in one column) too."""
    sessions = generate_sessions(500, seed=4)
    day_first, month_first = (sessions["date"].dt.strftime(f) for f in ("%d/%m/%Y", "%m/%d/%Y"))
    sessions.assign(date=day_first.str.replace(r"^\d\d", "03", regex=True)).to_csv(tmp_path / "early.csv",
                                                                                    index=False)
    with pytest.raises(LoadError, match=r"early\.csv: column 'date' writes dates as '03/\d\d/2026': "
                                        r"whether the day or the month comes first cannot be told "
                                        r"\(no number above 12 in either place\); write them as YYYY-MM-DD"):
        open_sessions(tmp_path / "early.csv", scan_from=ENGINES[engine])
    both = sessions.assign(date=np.where(np.arange(len(sessions)) % 2, day_first, month_first))
    both.to_csv(tmp_path / "both.csv", index=False)
    with pytest.raises(LoadError, match=r"both\.csv: column 'date' writes some dates day first "
                                        r"\('\d\d/\d\d/2026'\) and others month first \('\d\d/\d\d/2026'\); "
                                        r"write them as YYYY-MM-DD"):
        open_sessions(tmp_path / "both.csv", scan_from=ENGINES[engine])


@pytest.mark.parametrize("engine", ENGINES)
def test_a_value_that_is_a_date_in_no_order_is_a_bad_date_not_an_order_to_tell(tmp_path, engine):
    """"07/32/2026" among ISO dates (a pipeline's bad rows) refused the whole file: "whether the day
    or the month comes first cannot be told (no number above 12 in either place)", of a value with
    32 in it, a date in neither order. Its rows are dropped as not dates, and counted."""
    sessions = generate_sessions(500, seed=4)
    dates = sessions["date"].dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    dates[::25] = "07/32/2026"
    sessions.assign(date=dates).to_csv(tmp_path / "bad_rows.csv", index=False)
    _, report = open_sessions(tmp_path / "bad_rows.csv", scan_from=ENGINES[engine])
    assert report.rows_kept == 480 and report.dropped == {"date: not a date": 20} and report.date_order == ""
