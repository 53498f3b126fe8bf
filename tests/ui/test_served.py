"""The served dashboard, used as an analyst uses it: click a filter, upload a file."""
from __future__ import annotations

import os
import re
import urllib.request

import pandas as pd
from helpers import GA_HEADER, plot_canvases
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from leak_app.data.sources import DEFAULT_DATA
from leak_app.ui.style import FADE


def kpi(page, label: str):
    return page.locator(f'[data-kpi="{label}"] .kpi-value')


def canvases(page) -> list[str]:
    """What every plot on the page has painted (Playwright pierces Panel's shadow DOM): the
    canvases' own pixels, not screenshots, which also catch whatever overlaps them where the
    page happens to be scrolled (the sticky header, as texts above grow or shrink).

    Empty while a plot is being replaced: callers poll.
    """
    try:
        return [canvas.evaluate("c => c.toDataURL()", timeout=3000) for canvas in plot_canvases(page)]
    except PlaywrightError:
        return []


def same_picture(a: str, b: str) -> bool:
    """Whether two canvases hold the same pixels (their PNG encodings may differ for the same
    pixels, so they are decoded)."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    one, two = (np.asarray(Image.open(io.BytesIO(base64.b64decode(x.split(",", 1)[1]))).convert("RGB"),
                           dtype=int)
                for x in (a, b))
    return np.array_equal(one, two)


def settled(page, count: int) -> list[bytes]:
    """The plots' pictures once ``count`` plots are drawn."""
    for _ in range(60):
        pictures = canvases(page)
        if len(pictures) == count:
            return pictures
        page.wait_for_timeout(500)
    return canvases(page)


def test_device_filter_changes_kpis_and_every_plot(page, served):
    demo = pd.read_parquet(DEFAULT_DATA)
    page.goto(served)
    sessions = kpi(page, "Sessions")
    expect(sessions).to_have_text(f"{len(demo):,}", timeout=60_000)
    expect(page.locator(".kpis")).to_have_css("display", "flex")  # the cards' style reaches them
    page.wait_for_timeout(1000)  # let every canvas paint
    before = settled(page, 7)

    # tablet off: desktop and mobile remain (without desktop no silent leak is left: its chart goes)
    page.get_by_role("button", name="tablet").click()

    rest = demo[demo["device"] != "tablet"]
    expect(sessions).to_have_text(f"{len(rest):,}", timeout=30_000)
    expect(kpi(page, "Converting sessions")).to_have_text(f"{int(rest['converted'].sum()):,}")
    rate = rest["converted"].mean()
    expect(kpi(page, "Conversion rate")).to_have_text(f"{rate:.2%}")
    # silent leaks, leaks, map, funnel (tablet's bars emptied), duration rate and volume, heatmap:
    # each is redrawn in place. Poll, as the server recomputes and the browser repaints at their pace.
    for _ in range(60):
        page.wait_for_timeout(500)
        after = canvases(page)
        same = [same_picture(a, b) for a, b in zip(before, after)]
        if len(after) == 7 and not any(same):
            break
    assert len(before) == 7 and len(after) == 7, (len(before), len(after))
    assert not any(same), same
    assert page.console_errors == []


def test_the_device_buttons_show_the_devices_included(page, served):
    """A selected button is a device included; turning the last one off selects every device again
    (the page shows them all then), where the buttons had all looked off with every session shown."""
    demo = pd.read_parquet(DEFAULT_DATA)
    page.goto(served)
    sessions = kpi(page, "Sessions")
    expect(sessions).to_have_text(f"{len(demo):,}", timeout=60_000)
    buttons = {name: page.get_by_role("button", name=name, exact=True)
               for name in ("desktop", "mobile", "tablet")}
    for button in buttons.values():
        expect(button).to_have_class(re.compile(r"\bbk-active\b"))
    buttons["desktop"].click()
    buttons["mobile"].click()
    expect(sessions).to_have_text(f"{int((demo['device'] == 'tablet').sum()):,}", timeout=30_000)
    expect(buttons["desktop"]).not_to_have_class(re.compile(r"\bbk-active\b"))
    buttons["tablet"].click()  # the last one off: every device again
    expect(sessions).to_have_text(f"{len(demo):,}", timeout=30_000)
    for button in buttons.values():
        expect(button).to_have_class(re.compile(r"\bbk-active\b"), timeout=10_000)
    assert page.console_errors == []


def test_channel_filter_keeps_the_channels_picked(page, served):
    demo = pd.read_parquet(DEFAULT_DATA)
    page.goto(served)
    sessions = kpi(page, "Sessions")
    expect(sessions).to_have_text(f"{len(demo):,}", timeout=60_000)
    page.get_by_placeholder("All channels").click()
    page.get_by_role("option", name="Social", exact=True).click()
    social = demo[demo["channel"] == "Social"]
    expect(sessions).to_have_text(f"{len(social):,}", timeout=30_000)
    expect(kpi(page, "Conversion rate")).to_have_text(f"{social['converted'].mean():.2%}")
    page.get_by_role("option", name="Direct", exact=True).click()  # the list stays open: a second one
    both = demo[demo["channel"].isin(["Social", "Direct"])]
    expect(sessions).to_have_text(f"{len(both):,}", timeout=30_000)
    command = page.get_by_label("The same check, for cron or CI")  # and the check to copy keeps them
    expect(command).to_have_value(f"python -m leak_app check {DEFAULT_DATA} --current 2026-09-18:2026-11-01 "
                                  "--baseline 2026-08-03:2026-09-16 --channel Social --channel Direct")
    assert page.console_errors == []


def test_panel_serve_serves_the_dashboard_on_the_data_given_to_it(page, tmp_path):
    """`panel serve leak_app/dashboard.py`, as anaconda-project and Panel users run it: the data after
    ``--args`` (or in $LEAK_APP_DATA), filters working; data that cannot be loaded said in the page."""
    from ui_serving import serving

    from leak_app.data.demo import generate_sessions

    data = generate_sessions(3_000, seed=5).drop(columns="channel")
    data.to_parquet(tmp_path / "given.parquet")
    with serving("--data", str(tmp_path / "given.parquet"), panel_serve=True) as url:
        page.goto(url)
        expect(kpi(page, "Sessions")).to_have_text(f"{len(data):,}", timeout=60_000)
        page.get_by_role("button", name="desktop").click()
        expect(kpi(page, "Sessions")).to_have_text(f"{(data['device'] != 'desktop').sum():,}", timeout=30_000)
        # data without channels: a filter with one choice, "(not set)", is not offered
        expect(page.get_by_placeholder("All sources")).to_be_visible()
        assert not page.get_by_placeholder("All channels").is_visible()
        page.goto("about:blank")  # leave before the server stops: its page would log the lost connection
    with serving(panel_serve=True, env={"LEAK_APP_DATA": str(tmp_path / "<b>gone</b>.csv")}) as url:
        page.goto(url)
        alert = page.get_by_text("The dashboard cannot start")
        expect(alert).to_contain_text("<b>gone</b>.csv", timeout=60_000)  # the name as text
    assert page.console_errors == []


def test_bad_upload_shows_its_error_and_keeps_the_data(page, served, write):
    page.goto(served)
    sessions = kpi(page, "Sessions")
    expect(sessions).to_have_text("100,000", timeout=60_000)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    bad = write("not sessions <img src=x onerror=alert(1)>.csv", "a,b\n1,2\n")
    page.locator("input[type=file]").set_input_files(str(bad))
    alert = page.locator(".alert-danger")
    expect(alert).to_contain_text("not a session export", timeout=30_000)
    expect(alert).to_contain_text("not sessions <img src=x onerror=alert(1)>.csv")  # shown literally
    expect(sessions).to_have_text("100,000")
    assert dialogs == []

    good = write("two.csv", GA_HEADER + "\n1,10,1,20170704,desktop,France,google,3,20,1,5000000\n"
                 "2,11,1,20170705,mobile,Spain,bing,1,,,\n")
    page.locator("input[type=file]").set_input_files(str(good))
    expect(sessions).to_have_text("2", timeout=30_000)
    expect(page.locator(".alert-success")).to_contain_text("Loaded 2 sessions from two.csv")


def test_a_zip_of_an_exports_files_uploads_as_one_table(page, served):
    """A week of daily files is sent as one .zip: the page reads them as one table and lists them."""
    import io
    import zipfile

    from helpers import ROOT

    lines = (ROOT / "tests" / "fixtures" / "events_20260803.json").read_bytes().splitlines(keepends=True)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("events/events_20260803.json", b"".join(lines[:100]))
        out.writestr("events/events_20260804.json", b"".join(lines[100:]))
    page.goto(served)
    sessions = kpi(page, "Sessions")
    expect(sessions).to_have_text("100,000", timeout=60_000)
    page.locator("input[type=file]").set_input_files(
        {"name": "events.zip", "mimeType": "application/zip", "buffer": archive.getvalue()})
    loaded = page.locator(".alert-success")
    expect(loaded).to_contain_text("Loaded 40 sessions from events.zip.", timeout=30_000)
    expect(sessions).to_have_text("40")
    expect(page.get_by_text("2 files, rows read: events/events_20260803.json (100), "
                            "events/events_20260804.json (119).")).to_be_attached()
    assert page.console_errors == []


def test_an_excel_workbook_uploads_and_the_page_names_its_sheet(page, served):
    """A workbook is picked as any file: its sheet of sessions is read, and the load report says which."""
    from helpers import ROOT

    page.goto(served)
    sessions = kpi(page, "Sessions")
    expect(sessions).to_have_text("100,000", timeout=60_000)
    page.locator("input[type=file]").set_input_files(str(ROOT / "tests/fixtures/workbooks/sessions.xlsx"))
    expect(page.locator(".alert-success")).to_contain_text("Loaded 300 sessions from sessions.xlsx.",
                                                           timeout=30_000)
    expect(sessions).to_have_text("300")
    expect(page.get_by_text("Read from the sheet “sessions” of the workbook")).to_be_attached()
    assert page.console_errors == []


def test_the_uploads_of_a_killed_server_are_removed_when_it_starts_again(page, tmp_path):
    """A server killed (out of memory, SIGKILL) runs no exit handler: the files people had uploaded
    to it stayed in the temporary folder for good. The next server to start removes them; one
    stopped as a service manager stops it (SIGTERM) removes its own."""
    import io
    import signal
    import zipfile

    from helpers import ROOT
    from ui_serving import serving

    from leak_app.data.demo import generate_sessions
    from leak_app.data.workspace import LOCK, PREFIX

    data, temporary = tmp_path / "served.parquet", tmp_path / "tmp"
    generate_sessions(3_000, seed=5).to_parquet(data)
    temporary.mkdir()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as out:
        out.write(ROOT / "tests" / "fixtures" / "events_20260803.json", "events/events_20260803.json")
    env, first, second = {"TMPDIR": str(temporary)}, [], []

    def uploaded() -> list:  # the servers' files but their locks
        return sorted(p for p in temporary.glob(f"{PREFIX}*/**/*") if p.is_file() and p.name != LOCK)
    with serving("--data", str(data), env=env, started=first) as url:
        page.goto(url)
        page.locator("input[type=file]").set_input_files(
            {"name": "events.zip", "mimeType": "application/zip", "buffer": archive.getvalue()})
        expect(page.locator(".alert-success")).to_contain_text("Loaded 40 sessions from events.zip.",
                                                               timeout=60_000)
        # the upload, and the archive's file unpacked
        assert [path.name for path in uploaded()] == ["upload.zip", "events_20260803.json"], uploaded()
        first[0].send_signal(signal.SIGKILL)
        first[0].wait(timeout=30)
    left = uploaded()
    assert len(left) == 2, "killed, the server removed nothing"
    with serving("--data", str(data), env=env, started=second):
        assert uploaded() == [] and not any(path.exists() for path in left)
        assert len(list(temporary.glob(f"{PREFIX}*"))) == 1  # the running server's own
    assert second[0].returncode == 128 + signal.SIGTERM and list(temporary.iterdir()) == []


def test_a_server_stops_at_once_whichever_of_its_threads_the_signal_reaches(tmp_path):
    """The kernel hands a process' SIGTERM to any of its threads that does not block it. Taken by
    another than the event loop's, the server went on sleeping in the loop until Bokeh's next timer
    (about 15 s: longer than docker stop's grace, whose SIGKILL then left the uploads); it now ends
    as at once as when the loop's own thread takes it (0.1 s), its exit handlers run."""
    import signal
    from pathlib import Path

    from ui_serving import serving

    from leak_app.data.demo import generate_sessions
    from leak_app.data.workspace import PREFIX

    data = tmp_path / "served.parquet"
    generate_sessions(3_000, seed=5).to_parquet(data)
    started = []
    with serving("--data", str(data), env={"TMPDIR": str(tmp_path)}, started=started):
        server = started[0]
        threads = [int(task.name) for task in Path(f"/proc/{server.pid}/task").iterdir()]
        other = next(thread for thread in threads if thread != server.pid)  # (the main one's is the pid)
        os.kill(other, signal.SIGTERM)  # a thread's id: the kernel tries that thread first
        assert server.wait(timeout=8) == 128 + signal.SIGTERM
    assert not list(tmp_path.glob(f"{PREFIX}*"))  # its uploads' folder, removed at exit


def test_uploads_the_audit_saw_fail_in_the_log_only_are_said_in_the_page(page, served):
    """The audit's cases, each once "File name too long" or "Is a directory" in the server's log
    and nothing in the page: an empty file, names of 300 bytes (legal on macOS), '..' and '.'. The
    page says what happened to each; the name is only a label."""
    page.goto(served)
    sessions = kpi(page, "Sessions")
    expect(sessions).to_have_text("100,000", timeout=60_000)
    dropper = page.locator("input[type=file]")
    dropper.set_input_files({"name": "empty.csv", "mimeType": "text/csv", "buffer": b""})
    expect(page.locator(".alert-danger")).to_contain_text("empty.csv: file is empty", timeout=30_000)
    expect(sessions).to_have_text("100,000")
    two = (GA_HEADER + "\n1,10,1,20170704,desktop,France,google,3,20,1,5000000\n"
           "2,11,1,20170705,mobile,Spain,bing,1,,,\n").encode()
    for name in ("é" * 150 + ".csv", "..", "."):
        dropper.set_input_files({"name": name, "mimeType": "text/csv", "buffer": two})
        loaded = page.locator(".alert-success")
        # the whole text: the last upload's "Loaded 2 sessions from ..." contains this one's, and
        # clicking before this one was shown had the new data reset the filter between the clicks
        expect(loaded).to_have_text(f"Loaded 2 sessions from {name}.", timeout=30_000)
        expect(sessions).to_have_text("2")
        page.get_by_role("button", name="desktop").click()  # the page answers on the new data
        expect(sessions).to_have_text("1", timeout=30_000)
        page.get_by_role("button", name="desktop").click()
        expect(sessions).to_have_text("2", timeout=30_000)  # answered before the next file is sent
    assert page.console_errors == []


def test_a_file_cut_short_is_refused_in_the_page_and_said_within_its_box(page, served):
    """An upload cut mid-row is refused as cut short, naming the cut line: GA's ids make it one word
    of 45 characters, which ran past the sidebar's box, cut off at its edge. The box wraps any word."""
    page.goto(served)
    sessions = kpi(page, "Sessions")
    expect(sessions).to_have_text("100,000", timeout=60_000)
    cut = (GA_HEADER + "\n1,10,1,20170704,desktop,France,google,3,20,1,5000000\n"
           "5601586402918037032,1499398391,1,20170706,mob").encode()
    page.locator("input[type=file]").set_input_files({"name": "cut.csv", "mimeType": "text/csv",
                                                      "buffer": cut})
    said = page.locator(".alert-danger")
    expect(said).to_contain_text("cut.csv: the file ends in the middle of a row: its last line, "
                                 "'5601586402918037032,1499398391,1,20170706,mob', has 5 of the header's 11 "
                                 "cells", timeout=30_000)
    assert said.evaluate("box => box.scrollWidth <= box.clientWidth"), "the message runs out of its box"
    expect(sessions).to_have_text("100,000")


def test_an_upload_over_the_limit_is_refused_in_the_page(page):
    """The audit's case: a file over --max-upload-mb dropped the websocket and left a dead page with
    no message. The page refuses it before sending a byte, says why, and keeps working."""
    import os
    import tempfile

    from ui_serving import serving

    with serving("--max-upload-mb", "1") as url, tempfile.TemporaryDirectory() as folder:
        page.goto(url)
        sessions = kpi(page, "Sessions")
        expect(sessions).to_have_text("100,000", timeout=60_000)
        big = os.path.join(folder, "big.csv")
        with open(big, "w") as out:
            out.write(GA_HEADER + "\n" + "1,10,1,20170704,desktop,France,google,3,20,1,5000000\n" * 40_000)
        page.locator("input[type=file]").set_input_files(big)
        expect(page.locator(".alert-danger")).to_contain_text(
            f"big.csv: larger than 1 MB ({os.path.getsize(big) / 2**20:.1f} MB)", timeout=30_000)
        page.get_by_role("button", name="desktop").click()  # the page still answers
        expect(sessions).not_to_have_text("100,000", timeout=30_000)
        assert page.console_errors == []


def test_a_file_of_several_chunks_arrives_whole(page, served, write):
    """A file larger than a websocket message (4 MB chunks) is sent chunk by chunk, each once the
    server has taken the last, and loads whole."""
    import os

    rows = "".join(f"{i},{i},1,2017070{1 + i % 9},desktop,France,google,3,20,0,\n" for i in range(200_000))
    big = write("big.csv", GA_HEADER + "\n" + rows)
    assert os.path.getsize(big) > 2 * 4_000_000
    page.goto(served)
    sessions = kpi(page, "Sessions")
    expect(sessions).to_have_text("100,000", timeout=60_000)
    page.locator("input[type=file]").set_input_files(str(big))
    expect(page.locator(".alert-success")).to_contain_text("Loaded 200,000 sessions from big.csv.",
                                                           timeout=60_000)
    expect(sessions).to_have_text("200,000")
    assert page.console_errors == []


def test_a_country_filter_of_thousands_of_names_draws_a_few_and_finds_any_typed(page, served, write):
    """A city column mapped as the country, 2,000 names: the menu draws SHOWN_OPTIONS of them (a page
    drawing all 28,000 of a real file spent 2.5 s more of its browser's time), typing finds one beyond
    them, and the load report names a few of those without a map shape and counts the rest."""
    from leak_app.ui.widgets import SHOWN_OPTIONS

    rows = "".join(f"{i},{i},1,20170704,desktop,Town {i:04d},google,3,20,0,\n" for i in range(2_000))
    towns = write("towns.csv", GA_HEADER + "\n" + rows + "9999,1,1,20170704,mobile,Spain,google,1,,,\n")
    page.goto(served)
    sessions = kpi(page, "Sessions")
    expect(sessions).to_have_text("100,000", timeout=60_000)
    page.locator("input[type=file]").set_input_files(str(towns))
    expect(sessions).to_have_text("2,001", timeout=60_000)
    expect(page.get_by_text("and 1,980 more names (1,980 sessions)")).to_be_attached()
    picker = page.get_by_placeholder("All countries")
    picker.click()
    menu = page.locator(".choices", has=picker).get_by_role("option")
    expect(menu.first).to_be_visible()
    assert menu.count() == SHOWN_OPTIONS
    picker.press_sequentially("Town 1999")
    page.get_by_role("option", name="Town 1999", exact=True).click()
    expect(sessions).to_have_text("1", timeout=30_000)
    assert page.console_errors == []


def test_an_open_page_paints_nothing_while_idle(page, served):
    """Panel's FileDropper (FilePond) repainted every animation frame for as long as a page was
    open (pqina/filepond#243): 5-10% of a core per idle page. An idle page now asks for no frame."""
    page.add_init_script("""(() => { window.__frames = 0;
        const ask = window.requestAnimationFrame.bind(window);
        window.requestAnimationFrame = (callback) => { window.__frames += 1; return ask(callback) } })()""")
    page.goto(served)
    expect(kpi(page, "Sessions")).to_have_text("100,000", timeout=60_000)
    page.wait_for_timeout(2_000)  # the page settles
    before = page.evaluate("window.__frames")
    page.wait_for_timeout(2_000)
    assert page.evaluate("window.__frames") - before < 10  # FilePond asked for ~120 in 2 s


def test_a_failed_setting_change_is_said_in_the_page_and_the_data_stays(page, tmp_path, monkeypatch):
    """The audit's case: the served file deleted, then a setting changed: a database error in the
    server's log only, and stale numbers on the page. Now the page says it, the setting goes back
    and every number stays."""
    import shutil

    from ui_serving import serving

    monkeypatch.setenv("LEAK_APP_SCAN_FROM_BYTES", "0")  # scanned from disk, as a large file is
    served = tmp_path / "served.parquet"
    shutil.copy(DEFAULT_DATA, served)
    with serving("--data", str(served)) as url:
        page.goto(url)
        sessions = kpi(page, "Sessions")
        expect(sessions).to_have_text("100,000", timeout=60_000)
        served.unlink()
        page.get_by_text("Settings").click()
        engaged = page.get_by_label("Engaged at pageviews")
        engaged.fill("4")
        engaged.press("Enter")
        notice = page.locator(".notyf__toast--error")
        expect(notice).to_contain_text("That could not be done; the page shows the data as before.",
                                       timeout=30_000)
        expect(notice).to_contain_text("served.parquet")
        expect(engaged).to_have_value("5")
        expect(sessions).to_have_text("100,000")
        page.get_by_role("button", name="desktop").click()  # the page still answers
        expect(sessions).not_to_have_text("100,000", timeout=30_000)


def test_each_table_downloads_as_csv_following_the_filters(page, served):
    demo = pd.read_parquet(DEFAULT_DATA)
    page.goto(served)
    expect(kpi(page, "Sessions")).to_have_text("100,000", timeout=60_000)
    page.get_by_role("button", name="desktop").click()
    expect(kpi(page, "Sessions")).not_to_have_text("100,000", timeout=30_000)
    with page.expect_download() as download:
        page.get_by_role("button", name="countries.csv").click()
    table = pd.read_csv(download.value.path(), keep_default_na=False)
    rest = demo[demo["device"] != "desktop"]
    expected = rest.groupby("country", observed=True).size()
    assert dict(zip(table["country"], table["sessions"])) == expected.to_dict()
    assert list(table.columns[:4]) == ["country", "iso3", "sessions", "conversions"]


def test_leak_tables_download_too(page, served):
    page.goto(served)
    expect(kpi(page, "Sessions")).to_have_text("100,000", timeout=60_000)
    with page.expect_download() as download:
        page.get_by_role("button", name="silent_leaks.csv").click()
    table = pd.read_csv(download.value.path())
    leaks = table[table["leak"]]
    assert "desktop × google" in set(leaks["segment"]) and (leaks["q_value"] <= 0.05).all()


def test_rolling_periods_and_the_check_command_to_copy(browser, served):
    """An analyst picks rolling periods, narrows the devices, copies the command and runs it:
    the command checks what the page shows."""
    import json
    import shlex
    import subprocess
    import sys

    from helpers import ROOT

    context = browser.new_context(viewport={"width": 1500, "height": 2400})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(served)
    expect(kpi(page, "Sessions")).to_have_text("100,000", timeout=60_000)
    command = page.get_by_label("The same check, for cron or CI")
    expect(command).to_have_value(f"python -m leak_app check {DEFAULT_DATA} --current 2026-09-18:2026-11-01 "
                                  "--baseline 2026-08-03:2026-09-16")
    expect(page.get_by_text("desktop (device) fell from")).to_be_visible()

    page.get_by_role("button", name="Rolling").click()
    expect(page.get_by_text("Comparing 2026-10-26 to 2026-11-01 (7 days) with the baseline 2026-09-28 to "
                            "2026-10-25 (28 days).")).to_be_visible(timeout=30_000)
    expect(command).to_have_value(f"python -m leak_app check {DEFAULT_DATA} --current last-7d "
                                  "--baseline previous-28d")
    expect(page.get_by_text("desktop (device) fell from")).to_have_count(0)
    for label in ("Current: the last … days", "Baseline: the … days before"):  # the six weeks either side
        days = page.get_by_label(label)  # of the demo's planted leak (day 50: 22 Sep)
        days.fill("42")
        days.press("Enter")
    expect(page.get_by_text("Comparing 2026-09-21 to 2026-11-01 (42 days) with the baseline 2026-08-10 to "
                            "2026-09-20 (42 days).")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="tablet").click()
    expect(command).to_have_value(f"python -m leak_app check {DEFAULT_DATA} --current last-42d "
                                  "--baseline previous-42d --device desktop --device mobile", timeout=30_000)

    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    done = subprocess.run([sys.executable, *shlex.split(copied)[1:], "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["silent_periods"] == {"baseline": ["2026-08-10", "2026-09-20"],
                                        "current": ["2026-09-21", "2026-11-01"]}
    assert "desktop × google" in {row["segment"] for row in result["silent_leaks"]}
    for row in result["silent_leaks"]:  # the same sentences, on the page
        expect(page.locator("ol.leaks").first).to_contain_text(row["sentence"])
    context.close()


def test_dates_mode_shows_the_compared_periods_in_its_pickers(page, served):
    """Dates mode starts from the periods compared until then: the model had them, but the pickers
    were filled with their changes discarded, so the page never got their values and showed two
    empty pickers beside "Comparing 2026-09-18 to 2026-11-01"."""
    page.goto(served)
    expect(kpi(page, "Sessions")).to_have_text("100,000", timeout=60_000)
    page.get_by_role("button", name="Dates", exact=True).click()
    for label, shown in (("Current period", "2026-09-18 to 2026-11-01"),
                         ("Baseline period", "2026-08-03 to 2026-09-16")):
        expect(page.locator(".bk-input-group", has_text=label).locator("input").first).to_have_value(
            shown, timeout=30_000)
    expect(page.get_by_label("The same check, for cron or CI")).to_have_value(
        f"python -m leak_app check {DEFAULT_DATA} --current 2026-09-18:2026-11-01 "
        "--baseline 2026-08-03:2026-09-16")


def test_a_number_box_emptied_to_type_another_shows_its_number_again(page, served):
    """A reader empties a number box to type another and leaves it: the page said "That could not be
    done; ... ValueError: String parameter 'SessionModel.current_period' value 'last-Noned' does not
    match regex ..." (the settings: "... only takes numeric values, not <class 'NoneType'>"). The box
    shows its number again, the page compares what it compared, and says nothing."""
    page.goto(served)
    expect(kpi(page, "Sessions")).to_have_text("100,000", timeout=60_000)
    page.get_by_role("button", name="Rolling").click()
    comparing = page.get_by_text("Comparing 2026-10-26 to 2026-11-01 (7 days) with the baseline "
                                 "2026-09-28 to 2026-10-25 (28 days).")
    expect(comparing).to_be_visible(timeout=30_000)
    page.get_by_text("Settings").click()
    numbers = {"Current: the last … days": "7", "Baseline: the … days before": "28",
               "Minimum sessions to rate": "100", "Engaged at pageviews": "5",
               "Deep engagement at pageviews": "10", "Chance of any false leak": "0.025",
               "False discovery rate (countries)": "0.05"}
    for label, number in numbers.items():
        box = page.get_by_label(label)
        expect(box).to_have_value(number, timeout=30_000)
        box.fill("")
        box.press("Enter")
        expect(box).to_have_value(number, timeout=10_000)
    page.wait_for_timeout(1000)
    expect(page.get_by_text("That could not be done")).to_have_count(0)
    expect(comparing).to_be_visible()


def test_the_settings_inputs_stay_inside_their_card(page, served):
    """The sidebar's settings were inputs 300 px wide in a narrower card: they ran past its edge."""
    page.goto(served)
    expect(kpi(page, "Sessions")).to_have_text("100,000", timeout=60_000)
    page.get_by_text("Settings").click()
    labels = ("Minimum sessions to rate", "Engaged at pageviews", "Deep engagement at pageviews",
              "Chance of any false leak", "False discovery rate (countries)")
    expect(page.get_by_label(labels[-1])).to_be_visible(timeout=30_000)
    card = page.locator(".card", has_text="Minimum sessions to rate").last.bounding_box()
    for label in labels:
        box = page.get_by_label(label).bounding_box()
        assert card_of(box, card), (label, box, card)
    slider = page.locator(".card", has_text="Top sources").last.locator(".noUi-target").bounding_box()
    assert card_of(slider, card), (slider, card)


def test_a_phone_shows_the_filters_above_views_as_wide_as_its_screen(browser, served):
    """At 390 px the 330 px sidebar stayed beside the views, which were 60 px wide; now it goes above
    them, and the page scrolls to them; no card is wider than the screen."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(served)
    sessions = kpi(page, "Sessions")
    expect(sessions).to_have_text("100,000", timeout=60_000)
    main, sidebar = (page.locator(f"#{name}").bounding_box() for name in ("main", "sidebar"))
    assert main["width"] >= 380 and main["y"] >= sidebar["y"] + sidebar["height"] - 1, (main, sidebar)
    sessions.scroll_into_view_if_needed()
    expect(sessions).to_be_in_viewport()
    leaks = page.get_by_text("Leaks: segments converting below the rest")
    leaks.scroll_into_view_if_needed()
    box = leaks.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    # the period controls' row counted its hidden inputs' widths: 740 px, cut off at the card's edge
    card = page.locator(".card", has_text="Leaks, ranked by").first
    assert card.evaluate("card => card.scrollWidth <= card.clientWidth")
    context.close()


def _faded(card) -> bool:
    """Whether a card's right edge fades out: its mask (style.SIDEWAYS) is pushed less than half its
    fade past the edge (it moves out as the card scrolls to its end)."""
    size = card.evaluate("e => getComputedStyle(e).maskSize")  # "100% 100%", "calc(100% + 12px) 100%"
    pushed = re.match(r"calc\(100% \+ ([\d.]+)px\)", size)
    half = float(FADE.removesuffix("px")) / 2
    return size.startswith("100% ") or (pushed is not None and float(pushed[1]) < half)


def test_a_phone_scrolls_a_wide_plot_sideways_in_its_card(browser, served):
    """At 390 px every plot was squeezed to the screen: the funnel wrote its bars' numbers and stage
    names over each other, the heat map its cells' counts past their cells, the map was narrower
    than its colour bar. Each plot now keeps the width its labels need, and its card (not the page)
    scrolls sideways to the rest of it; its right edge fades out while there is more to the right
    (the cut-off plot alone gave no cue), and no longer once swiped to the end; its title stays in
    view (it scrolled away with the plot)."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(served)
    expect(kpi(page, "Sessions")).to_have_text("100,000", timeout=60_000)
    # (the funnel: 12 bars of three devices' four stages; the heat map: three devices)
    for title, least in (("Where the funnel leaks", 90 + 56 * 12), ("Where visitors convert", 560),
                         ("Traffic sources × device", 300 + 70 * 3), ("Session duration vs", 480)):
        card = page.locator(".card", has_text=title).first
        figure = card.locator(".bk-Figure").first
        figure.scroll_into_view_if_needed()
        box = figure.bounding_box()
        assert box["width"] >= least, (title, box)
        right = box["x"] + box["width"]
        assert right > 390, (title, box)  # beyond the screen's edge, until the card is scrolled
        assert _faded(card), title
        card.hover()
        page.mouse.wheel(right, 0)  # a person's sideways swipe over the card
        for _ in range(50):  # the wheel scrolls smoothly: up to 5 s
            scrolled = figure.bounding_box()
            if scrolled["x"] + scrolled["width"] <= 390 + 1:
                break
            page.wait_for_timeout(100)
        assert scrolled["x"] + scrolled["width"] <= 390 + 1, (title, scrolled)
        assert not _faded(card), title
        # the card's title stays where it was, not scrolled off the screen's left edge with the plot
        edge, header = card.bounding_box()["x"], card.locator(".card-title").first.bounding_box()
        assert edge - 1 <= header["x"] and header["x"] + header["width"] <= 390, (title, header)
    # the page itself stays as wide as the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_a_wide_card_whose_plot_fits_neither_scrolls_nor_fades(browser, served):
    """Just under the phone layout's 768 px the map, the heat map and the duration plot fit their
    cards; Panel's card header, half an em wider than its card, still made each scroll sideways by
    6 px (and so fade its edge). Only the funnel, of twelve bars, is wider than its card."""
    context = browser.new_context(viewport={"width": 767, "height": 844})
    page = context.new_page()
    page.goto(served)
    expect(kpi(page, "Sessions")).to_have_text("100,000", timeout=60_000)
    for title, wider in (("Where the funnel leaks", True), ("Where visitors convert", False),
                         ("Traffic sources × device", False), ("Session duration vs", False)):
        card = page.locator(".card", has_text=title).first
        card.scroll_into_view_if_needed()
        overflow = card.evaluate("e => e.scrollWidth - e.clientWidth")
        assert (overflow > 0, _faded(card)) == (wider, wider), (title, overflow)
    context.close()


def test_every_card_keeps_its_content_inside_the_page_on_a_laptop(browser, served):
    """At 1280 px, beside the sidebar, the Leaks card is too narrow for its charts and list side by
    side: the list ran on past the card's right edge, its sentences cut off; and the sources × device
    heatmap, squeezed beside the duration card, wrote its cells' text over each other. Both go below
    (the list under the charts, the heatmap under the duration card), as wide as the other cards."""
    context = browser.new_context(viewport={"width": 1280, "height": 2400})
    page = context.new_page()
    page.goto(served)
    listed = page.get_by_text("Leaks: segments converting below the rest of the traffic")
    expect(listed).to_be_visible(timeout=60_000)
    edge = page.get_by_role("button", name="Copy").bounding_box()
    for box in (listed.bounding_box(), page.get_by_text("mobile (device) converts at").last.bounding_box()):
        assert box["x"] + box["width"] <= edge["x"] + edge["width"] + 1, (box, edge)
    funnel = page.locator(".card", has_text="Where the funnel leaks").bounding_box()
    for title in ("Session duration vs conversion", "Traffic sources × device"):
        card = page.locator(".card", has_text=title).bounding_box()
        assert card["width"] >= 520 and card["x"] + card["width"] <= funnel["x"] + funnel["width"] + 1, card
    # the duration card, a row of its own there, is filled by its two plots (540 px wide, they left
    # its right half empty)
    plots = [box for box in (canvas.bounding_box() for canvas in plot_canvases(page))
             if card_of(box, page.locator(".card", has_text="Session duration vs conversion").bounding_box())]
    assert len(plots) == 2 and all(box["width"] >= 0.8 * funnel["width"] for box in plots), (plots, funnel)
    context.close()


def test_a_leak_chart_is_shown_only_with_a_leak_to_draw(page, served):
    """With no leak found, each chart was an empty frame on an axis of 0 to 1, its toolbar folded
    into "⋯", above a list saying no leak was found: now the list alone says it, and the chart comes
    back with the first leak."""
    page.goto(served)
    expect(kpi(page, "Sessions")).to_have_text("100,000", timeout=60_000)
    card = page.locator(".card", has_text="Leaks, ranked by").first
    expect(card.locator("canvas").first).to_be_visible()
    drawn = card.locator("canvas").count()
    for device in ("desktop", "mobile"):  # the tablets alone: no leak, silent or not
        page.get_by_role("button", name=device, exact=True).click()
        page.wait_for_timeout(300)
    expect(card.get_by_text("No segment converts significantly below the rest")).to_be_visible(timeout=30_000)
    expect(card.get_by_text("No segment's rate fell significantly")).to_be_visible()
    expect(card.locator("canvas").first).to_be_hidden()
    page.get_by_role("button", name="desktop", exact=True).click()
    expect(card.locator("ol.leaks").first).to_contain_text("fell from", timeout=30_000)
    expect(card.locator("canvas").first).to_be_visible()
    assert card.locator("canvas").count() == drawn


def test_each_leak_chart_stands_over_its_own_list(browser, served):
    """The Leaks card drew both charts in a column beside one list of both: at 1440 px the list ran
    some 800 px below the charts, a blank column beside it. Now the silent leaks and the leaks are
    halves side by side, each its chart over its own list."""
    context = browser.new_context(viewport={"width": 1440, "height": 2400})
    page = context.new_page()
    page.goto(served)
    headings = [page.get_by_text(text) for text in ("Silent leaks: segments whose rate fell",
                                                    "Leaks: segments converting below the rest")]
    expect(headings[1]).to_be_visible(timeout=60_000)
    card = page.locator(".card", has_text="Leaks, ranked by").bounding_box()
    charts = sorted((box for box in (canvas.bounding_box() for canvas in plot_canvases(page))
                     if card_of(box, card)), key=lambda box: box["x"])
    assert len(charts) == 2 and abs(charts[0]["y"] - charts[1]["y"]) < 1, charts  # side by side
    for chart, heading in zip(charts, headings):
        text = heading.bounding_box()
        assert 0 <= text["y"] - (chart["y"] + chart["height"]) < 60, (chart, text)  # right under it
        assert abs(text["x"] - chart["x"]) < 30, (chart, text)  # and in its half
        assert text["x"] + text["width"] < chart["x"] + chart["width"] + 60, (chart, text)
    context.close()


def card_of(box: dict, card: dict) -> bool:
    """Whether a box lies within a card's."""
    return (card["x"] <= box["x"] and box["x"] + box["width"] <= card["x"] + card["width"] + 1
            and card["y"] <= box["y"] and box["y"] + box["height"] <= card["y"] + card["height"] + 1)


def test_a_page_is_sent_without_the_mathjax_bundle(served):
    """No view typesets mathematics: Panel sent MathJax's 1.8 MB with every page (any HTML pane
    asked for it), a tenth of a new page's time to be drawn."""
    with urllib.request.urlopen(served, timeout=60) as response:
        page = response.read().decode()
    assert "bokeh-widgets" in page and "mathjax" not in page.lower()
