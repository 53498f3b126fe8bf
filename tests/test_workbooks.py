"""Workbooks as analysts keep them (Excel's .xlsx and .xls, OpenDocument's .ods): the sheet of
sessions loads as the same sessions as the CSV it holds, on either engine, from a path, a folder, a
.zip or an upload; its sheet is found among others and named in the report; a workbook that cannot be
read, or would take too much memory, is refused by name."""
from __future__ import annotations

import datetime as dt
import json
import zipfile

import openpyxl
import pandas as pd
import pytest
from helpers import ROOT
from test_cli import run
from test_engines import assert_same_report
from test_files_in_the_wild import ENGINES, table
from test_upload import send, upload, zipped  # noqa: F401 - upload: the fixture

from leak_app import load_sessions
from leak_app.data.schema import LoadError
from leak_app.data.sheet_reader import cell_text
from leak_app.data.sources import open_sessions
from leak_app.ui.texts import load_report_html

BOOKS = ROOT / "tests" / "fixtures" / "workbooks"
EXPECTED = BOOKS / "expected.csv"


def book(path, sheets: dict[str, list[list]], hidden: tuple[str, ...] = ()) -> None:
    """Write a workbook of ``sheets`` (name -> rows, the first its header) with openpyxl."""
    written = openpyxl.Workbook()
    written.remove(written.active)
    for name, rows in sheets.items():
        sheet = written.create_sheet(name)
        for row in rows:
            sheet.append(row)
        sheet.sheet_state = "hidden" if name in hidden else "visible"
    written.save(path)


def rows_of(frame: pd.DataFrame) -> list[list]:
    """A CSV's rows as a spreadsheet holds them: numbers as numbers, dates as dates, ids as text."""
    def cell(column: str, value: str):
        if column == "date":
            return dt.date.fromisoformat(value)
        if column in ("pageviews", "duration", "transactions", "revenue"):
            return float(value) if value else None
        return value
    return [list(frame.columns)] + [[cell(c, v) for c, v in zip(frame.columns, row)]
                                    for row in frame.itertuples(index=False)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("suffix", ["xlsx", "xls", "ods"])
def test_a_workbook_a_spreadsheet_saved_loads_as_the_csv_it_holds(suffix, engine):
    """Saved by LibreOffice (fixtures/workbooks/make_workbooks.py): its dates are dates, its
    durations times ("0:01:48"), its numbers floats (Excel 97's integers), its ids text; a comma, quotes,
    emoji and an empty cell in its labels."""
    sessions, report = open_sessions(BOOKS / f"sessions.{suffix}", scan_from=ENGINES[engine])
    expected, expected_report = open_sessions(EXPECTED)
    pd.testing.assert_frame_equal(table(sessions), table(expected))
    assert_same_report(report, expected_report)
    assert report.files == [{"path": str(BOOKS / f"sessions.{suffix}"), "rows": 300, "sheet": "sessions"}]
    assert report.format == expected_report.format + ("_scan" if engine == "duckdb" else "")
    assert "“sessions”" in load_report_html(report.to_dict())
    # what the spreadsheet held, read back: a duration of 1:48 is 108 seconds, cents kept
    frame = table(sessions)
    assert frame["duration"].sum() == pd.read_csv(EXPECTED)["duration"].sum() and frame["duration"].max() > 60
    assert "Côte d’Ivoire" in set(frame["country"])
    assert {"news, weekly", '"quoted" 百度 🛒'} <= set(frame["source"])
    assert frame["revenue"].sum() == pytest.approx(pd.read_csv(EXPECTED)["revenue"].sum())


def test_the_public_loader_and_the_cli_read_a_workbook():
    sessions, report = load_sessions(BOOKS / "sessions.xlsx")
    expected, _ = load_sessions(EXPECTED)
    pd.testing.assert_frame_equal(table(sessions), table(expected))
    assert report.files[0]["sheet"] == "sessions"
    out = json.loads(run("summary", str(BOOKS / "sessions.ods"), "--json").stdout)
    assert out["kpis"] == json.loads(run("summary", str(EXPECTED), "--json").stdout)["kpis"]
    assert out["load_report"]["files"][0]["sheet"] == "sessions"


@pytest.mark.parametrize("engine", ENGINES)
def test_the_real_sample_as_a_workbook_loads_as_the_csv(ga_raw, tmp_path, engine):
    """The GA360 sample's CSV as Excel would hold it once imported: numbers and dates typed, the
    visitor ids (19 digits) kept as text."""
    raw = pd.read_csv(ga_raw, dtype=str, keep_default_na=False)
    numeric = [c for c in raw.columns if c not in ("fullVisitorId", "visitId", "date")
               and pd.to_numeric(raw[c], errors="coerce").notna().all()]
    rows = [list(raw.columns)] + [[float(v) if c in numeric else v for c, v in zip(raw.columns, row)]
                                  for row in raw.itertuples(index=False)]
    book(tmp_path / "sample.xlsx", {"Sheet1": rows})
    sessions, report = open_sessions(tmp_path / "sample.xlsx", scan_from=ENGINES[engine])
    expected, expected_report = open_sessions(ga_raw, scan_from=ENGINES[engine])
    pd.testing.assert_frame_equal(table(sessions), table(expected))
    assert_same_report(report, expected_report)
    assert report.sessions > 9_000 and report.files[0]["sheet"] == "Sheet1"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_second_start_on_an_unchanged_workbook_reads_no_cell(ga_raw, tmp_path, monkeypatch, engine):
    """The sheet was written as CSV again at every start: 18 s for Excel's most rows, where a second
    start on any other file takes under a second. It is kept in the cache folder for the workbook as
    it is: a second start links it (no process reads a cell), gives the same sessions and report,
    and keeps its copy when the kept one is removed; a changed workbook is read again; an upload's
    sheet is never kept."""
    import subprocess

    from leak_app.data.workspace import workspace

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    raw = pd.read_csv(ga_raw, dtype=str, keep_default_na=False)
    book(tmp_path / "sample.xlsx", {"Notes": [["about", "the export"]], "Sessions": [list(raw.columns)]
                                    + [list(row) for row in raw.head(3_000).itertuples(index=False)]})
    first, first_report = open_sessions(tmp_path / "sample.xlsx", scan_from=ENGINES[engine])
    readers = []
    monkeypatch.setattr(subprocess, "Popen", lambda *args, **kwargs: readers.append(args) or 1 / 0)
    again, report = open_sessions(tmp_path / "sample.xlsx", scan_from=ENGINES[engine])
    assert readers == [] and report.files[0]["sheet"] == "Sessions" and report.sessions == 2_999
    assert report.to_dict() == first_report.to_dict()
    pd.testing.assert_frame_equal(table(again), table(first))
    for kept in (tmp_path / "cache" / "leak_app" / "sheets").iterdir():  # (as a later start evicts it)
        kept.unlink()
    pd.testing.assert_frame_equal(table(again), table(first))  # the sessions' own copy, still read
    with pytest.raises(ZeroDivisionError):  # a changed workbook: its cells read again
        book(tmp_path / "sample.xlsx", {"Sessions": [list(raw.columns)]
                                        + [list(row) for row in raw.head(2_000).itertuples(index=False)]})
        open_sessions(tmp_path / "sample.xlsx", scan_from=ENGINES[engine])
    assert len(readers) == 1
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "uploads"))
    uploaded = workspace() / "upload.xlsx"
    uploaded.write_bytes((tmp_path / "sample.xlsx").read_bytes())
    try:
        assert open_sessions(uploaded, scan_from=ENGINES[engine])[1].sessions == 2_000
    finally:
        uploaded.unlink()
    assert not (tmp_path / "uploads" / "leak_app" / "sheets").exists()


def test_the_sheet_of_sessions_is_found_among_others_and_named(tmp_path):
    """A notes sheet first and a hidden sheet of older sessions: the first visible sheet whose
    header is a session export's is read, and the report and page name it."""
    csv = pd.read_csv(EXPECTED, dtype=str, keep_default_na=False)
    book(tmp_path / "book.xlsx", {"Read me": [["Exported from the shop on", dt.date(2026, 11, 2)]],
                                  "Old": rows_of(csv.head(10)), "Sessions": rows_of(csv)}, hidden=("Old",))
    sessions, report = open_sessions(tmp_path / "book.xlsx")
    pd.testing.assert_frame_equal(table(sessions), table(open_sessions(EXPECTED)[0]))
    assert report.files[0]["sheet"] == "Sessions"
    assert "Read from the sheet “Sessions” of the workbook" in load_report_html(report.to_dict())


def test_a_folder_and_a_zip_of_workbooks_load_as_one_table(tmp_path):
    """An export's days kept a workbook each: read as a folder or archive of CSV files is."""
    csv = pd.read_csv(EXPECTED, dtype=str, keep_default_na=False)
    folder = tmp_path / "days"
    folder.mkdir()
    book(folder / "day 1.xlsx", {"Sessions": rows_of(csv.iloc[:150])})
    book(folder / "day 2.xlsx", {"Sessions": rows_of(csv.iloc[150:])})
    archive = tmp_path / "days.zip"
    archive.write_bytes(zipped({f"days/{f.name}": f.read_bytes() for f in sorted(folder.iterdir())}))
    expected = table(open_sessions(EXPECTED)[0])
    for path, names in ((folder, [str(folder / "day 1.xlsx"), str(folder / "day 2.xlsx")]),
                        (archive, [f"{archive}/days/day 1.xlsx", f"{archive}/days/day 2.xlsx"])):
        sessions, report = open_sessions(path)
        pd.testing.assert_frame_equal(table(sessions), expected)
        assert report.files == [{"path": name, "rows": 150, "sheet": "Sessions"} for name in names]


def test_a_workbook_that_cannot_be_read_as_sessions_is_refused_by_name(tmp_path):
    csv = pd.read_csv(EXPECTED, dtype=str, keep_default_na=False)
    book(tmp_path / "two.xlsx", {"Notes": [["to do"]], "Pivot": [["country", "sessions"], ["France", 3.0]]})
    book(tmp_path / "one.xlsx", {"Pivot": [["country", "sessions"], ["France", 3.0]]})
    book(tmp_path / "many.xlsx", {f"s{i:02d}": [["x" * 300, "b"]] for i in range(12)})  # said in brief
    book(tmp_path / "empty.xlsx", {"Sheet1": [], "Hidden": rows_of(csv)}, hidden=("Hidden",))
    (tmp_path / "broken.xlsx").write_bytes(zipped({"[Content_Types].xml": b"<Types/>",
                                                   "xl/workbook.xml": b"<workbook/>"}))
    for name, message in [
        ("two.xlsx", ("two.xlsx: no sheet of the workbook has a session export's header; its sheets begin: "
                      "'Notes': to do; 'Pivot': country, sessions")),
        ("many.xlsx", ("many.xlsx: no sheet of the workbook has a session export's header; its sheets begin: "
                       + "; ".join(f"'s{i:02d}': {'x' * 199}…, b" for i in range(8)) + "; and 4 more")),
        # the one sheet filled is read as any CSV: its header refused as one
        ("one.xlsx", "one.xlsx: not a session export: expected the columns of a Google Analytics"),
        ("empty.xlsx", "empty.xlsx: no visible sheet of the workbook holds any cell"),
        ("broken.xlsx", "broken.xlsx: not a readable workbook ("),
    ]:
        with pytest.raises(LoadError) as refused:
            open_sessions(tmp_path / name, name=name)
        assert str(refused.value).startswith(message), str(refused.value)


def test_cells_are_written_as_a_csv_export_writes_them():
    assert [cell_text(v) for v in (123.0, 45.5, 0.1 + 0.2, 2.0**53, -0.0, 1e-7)] == [
        "123", "45.5", "0.30000000000000004", "9007199254740992.0", "0", "1e-07"]
    assert [cell_text(v) for v in (True, 7, "  x ", dt.date(2026, 9, 21), dt.datetime(2026, 9, 21),
                                   dt.datetime(2026, 9, 21, 23, 59, 5))] == [
        "TRUE", "7", "  x ", "2026-09-21", "2026-09-21", "2026-09-21 23:59:05"]
    durations = (dt.timedelta(hours=25, seconds=3), dt.time(0, 3, 12), dt.time(0, 0, 1, 500000))
    assert [cell_text(v) for v in durations] == ["90003", "192", "1.5"]


def test_a_workbook_is_uploaded_and_one_too_large_for_memory_is_refused(upload, tmp_path):  # noqa: F811
    send(upload, "Sessions (Nov).xlsx", (BOOKS / "sessions.xlsx").read_bytes())
    assert upload.status.object == "Loaded 300 sessions from Sessions (Nov).xlsx.", upload.status.object
    assert upload.model.load_report["files"][0]["sheet"] == "sessions"
    # 3 MB of cells, zipped to a tenth of it: over an upload of at most 1 MB, once unpacked
    csv = pd.read_csv(EXPECTED, dtype=str, keep_default_na=False)
    book(tmp_path / "big.xlsx", {"Sessions": rows_of(pd.concat([csv] * 20))})
    unpacked = sum(m.file_size for m in zipfile.ZipFile(tmp_path / "big.xlsx").infolist())
    assert (tmp_path / "big.xlsx").stat().st_size < 2**20 < 2 * 2**20 < unpacked
    upload.max_mb = 1
    send(upload, "big.xlsx", (tmp_path / "big.xlsx").read_bytes())
    said = upload.status.object.replace("\\", "")
    assert upload.status.alert_type == "danger" and (
        f"big.xlsx: a workbook of {unpacked / 2**20:,.0f} MB once unpacked, more than the 1 MB a workbook "
        f"may be read into memory; save its sheet of sessions as CSV") in said, said
    assert upload.model.load_report["files"][0]["sheet"] == "sessions"  # the data stays



def test_a_workbook_whose_cells_span_the_whole_sheet_is_refused_and_the_process_lives(upload, tmp_path):  # noqa: F811
    """A cell at A1 and one at XFD1048576: a workbook of 5 KB, which calamine holds as the 17 billion
    cells between them (550 GB). The allocation failed and aborted the process (Rust's rule: no
    exception): the command died with no word, a served app for every user. The cells are now read
    in a process of their own, under a cap on its memory."""
    written = openpyxl.Workbook()
    written.active.append(["visitor_id", "session_id", "date", "transactions", "revenue"])
    written.active.append(["1", "1", "2026-01-01", 0, 0])
    written.active.cell(row=1_048_576, column=16_384, value="x")
    written.save(far := tmp_path / "far.xlsx")
    assert far.stat().st_size < 10_000
    refusal = ("reading the workbook's sheet took more than the 1,024 MB of memory it may (a sheet is held "
               "as the whole range its cells span: one cell far out, up to Excel's last, XFD1048576, makes "
               "it immense); save its sheet of sessions as CSV (UTF-8), which is scanned from disk at any "
               "size")
    result = run("summary", "--json", str(far), check=False)
    assert (result.returncode, result.stderr) == (2, f"error: {far}: {refusal}\n"), result
    before = upload.model.load_report
    send(upload, "far.xlsx", far.read_bytes())
    said = upload.status.object.replace("\\", "")
    assert upload.status.alert_type == "danger" and f"far.xlsx: {refusal}" in said, said
    assert upload.model.load_report == before
