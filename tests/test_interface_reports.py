"""Reports downloaded from an analytics tool's interface (Google Analytics' "Download file → CSV",
Looker Studio's, Plausible's, Matomo's) are totals, not sessions: refused by every command, on either
engine, saying what they are and what to load instead (a GA4 report was refused as "Expected 1 fields
in line 9, saw 6")."""
from __future__ import annotations

import gzip

import pytest
from test_cli import run
from test_files_in_the_wild import ENGINES
from test_upload import send, upload  # noqa: F401 - upload: the fixture
from test_workbooks import book

from leak_app.data.schema import LoadError
from leak_app.data.sources import open_sessions

#: GA4's "Download file → Download CSV" of a report, as it writes one.
GA4_REPORT = """\
# ----------------------------------------
# Traffic acquisition: Session primary channel group (Default Channel Group)
# Account: Demo Account
# Property: GA4 - Google Merchandise Store
# ----------------------------------------
#
# All Users
# Start date: 20240101
# End date: 20240131
Session primary channel group (Default Channel Group),Sessions,Engaged sessions,Key events,Total revenue
Direct,1200,800,30,1500.5
Organic Search,2500,1700,50,2500
"""
#: Universal Analytics' CSV export of a report: a table per section, each after its comment.
UA_REPORT = """\
# ----------------------------------------
# All Web Site Data
# Channels
# 20200101-20200131
# ----------------------------------------

Default Channel Grouping,Users,New Users,Sessions,Bounce Rate,Transactions,Revenue
Organic Search,"12,000","10,500","15,000",45.10%,120,"$5,400.00"
Direct,"4,000","3,800","5,000",50.00%,40,"$1,900.00"
,"16,000","14,300","20,000",46.33%,160,"$7,300.00"

# ----------------------------------------

Day Index,Sessions
1/1/20,600
1/2/20,640
"""
INSTEAD = "load a session-level export instead: GA4's BigQuery export (events_*)"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("text, title", [
    (GA4_REPORT, ("Traffic acquisition: Session primary channel group (Default Channel Group) — All Users "
                 "— Start date: 20240101 — End date: 20240131")),
    ("\ufeff" + UA_REPORT, "All Web Site Data — Channels — 20200101-20200131"),
], ids=["ga4", "universal analytics"])
def test_a_google_analytics_report_is_refused_as_one_by_its_name(tmp_path, engine, text, title):
    path = tmp_path / "report.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LoadError) as refused:
        open_sessions(path, scan_from=ENGINES[engine])
    assert str(refused.value) == (
        f"{path}: a report downloaded from Google Analytics' interface ({title}): totals by dimension, not "
        f"a row per session, so no rate can be tested nor a leak sized; {INSTEAD}, Universal Analytics' "
        f"ga_sessions_*, or any table of one row per session with a column mapping (README: Data it reads)")


def test_the_cli_refuses_a_gzipped_report_in_one_line(tmp_path):
    path = tmp_path / "acquisition.csv.gz"
    path.write_bytes(gzip.compress(GA4_REPORT.encode()))
    result = run("summary", "--json", str(path), check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {path}: a report downloaded from Google Analytics' interface "
                                    f"(Traffic acquisition: "), result.stderr


def test_a_long_title_is_cut_and_a_comment_elsewhere_is_no_report(tmp_path):
    (path := tmp_path / "long.csv").write_text(f"# {'-' * 40}\n# {'x' * 5000}\nChannel,Sessions\nDirect,1\n")
    with pytest.raises(LoadError, match=f"interface \\({'x' * 199}…\\): totals"):
        open_sessions(path)
    # a label that begins with "#" is data, and a comment not of dashes no report's
    (path := tmp_path / "hash.csv").write_text("# a note\nvisitor_id,session_id,date,transactions,revenue\n")
    with pytest.raises(LoadError) as refused:
        open_sessions(path)
    assert "interface" not in str(refused.value)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("header, column", [
    ("Date,Country,Sessions,Conversions", "sessions"),  # Looker Studio's, GA4's "Export to Sheets"
    ("date,visitors,visits,pageviews,bounce_rate,visit_duration", "visitors"),  # Plausible's
    ("label,nb_uniq_visitors,nb_visits,nb_actions,nb_conversions", "nb_uniq_visitors"),  # Matomo's
], ids=["looker studio", "plausible", "matomo"])
def test_a_table_of_totals_is_refused_saying_its_rows_are_totals(tmp_path, engine, header, column):
    path = tmp_path / "totals.csv"
    path.write_text(f"{header}\n" + ",".join(["1"] * len(header.split(","))) + "\n")
    with pytest.raises(LoadError) as refused:
        open_sessions(path, scan_from=ENGINES[engine])
    said = str(refused.value)
    assert said.startswith(f"{path}: not a session export: expected the columns"), said
    assert said.endswith(f"; its rows are totals (a column {column!r}), as a report downloaded from an "
                         f"analytics tool's interface holds, not one row per session: {INSTEAD}, "
                         f"Universal Analytics' ga_sessions_*, or any table of one row per session with a "
                         f"column mapping (README: Data it reads)"), said
    # a session export of no known layout says nothing of totals
    (path := tmp_path / "other.csv").write_text("visitor,when,bought\n1,2026-01-01,0\n")
    with pytest.raises(LoadError) as refused:
        open_sessions(path, scan_from=ENGINES[engine])
    assert "rows are totals" not in str(refused.value)


def test_a_workbook_of_a_report_is_refused_saying_its_rows_are_totals(tmp_path):
    """Universal Analytics' "Export → Excel (XLSX)": a sheet of what the report is, one of its table."""
    book(tmp_path / "Analytics Channels.xlsx", {
        "Summary": [["All Web Site Data"], ["Channels"], ["20200101-20200131"]],
        "Dataset1": [["Default Channel Grouping", "Users", "New Users", "Sessions"],
                     ["Direct", 4.0, 3.0, 5.0]]})
    with pytest.raises(LoadError) as refused:
        open_sessions(tmp_path / "Analytics Channels.xlsx", name="Analytics Channels.xlsx")
    assert str(refused.value) == (
        "Analytics Channels.xlsx: no sheet of the workbook has a session export's header; its sheets begin: "
        "'Summary': All Web Site Data; 'Dataset1': Default Channel Grouping, Users, New Users, Sessions; its "
        "rows are totals (a column 'users'), as a report downloaded from an analytics tool's interface "
        f"holds, not one row per session: {INSTEAD}, Universal Analytics' ga_sessions_*, or any table of one "
        "row per session with a column mapping (README: Data it reads)")


def test_an_uploaded_report_is_refused_in_the_page_and_the_data_stays(upload):  # noqa: F811
    before = upload.model.load_report
    send(upload, "Traffic acquisition <b>.csv", GA4_REPORT.encode())
    said = upload.status.object.replace("\\", "")
    assert upload.status.alert_type == "danger" and (
        "Traffic acquisition <b>.csv: a report downloaded from Google Analytics' interface (Traffic "
        "acquisition: Session primary channel group (Default Channel Group)") in said, said
    assert upload.model.load_report == before
