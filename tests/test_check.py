"""``check``: exit status, JSON, reports and webhook alerts, on data whose truth is planted."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from helpers import ROOT
from test_cli import Resources

from leak_app.analysis import simulation
from leak_app.analysis.model import SessionModel
from leak_app.cli import _filtered_model, main, parser
from leak_app.data.files import write_atomically
from leak_app.publish import check, webhook
from leak_app.publish.webhook import WebhookError, post, redact

HALVES = ["--current", "last-14d", "--baseline", "previous-14d"]  # the simulated data's 28 days


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Simulated sessions (28 days, the change in the second half): a silent leak of one source
    (with a hostile name), a site-wide drop, and day-to-day swings with no drop."""
    folder = tmp_path_factory.mktemp("check")
    scenarios = {"planted": {"sessions_per_source": 8000, "drops": {"src05": 0.3}},
                 "site_drop": {"site_drop": 0.6}, "swings": {"day_sd": 0.3, "repeat": 2.0}}
    paths = {}
    for name, scenario in scenarios.items():
        frame = simulation.planted_sessions(1, **scenario).drop(columns="true_rate")
        if name == "planted":
            frame["source"] = frame["source"].cat.rename_categories({"src05": "<!channel> *src05*"})
        paths[name] = folder / f"{name}.parquet"
        frame.to_parquet(paths[name])
    return paths


class Receiver(BaseHTTPRequestHandler):
    """A webhook on loopback: records each POST; answers the statuses queued, then 200."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append((self.path, json.loads(body)))
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        time.sleep(self.server.delay)
        try:
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/services/moved")  # (on loopback, as every test's traffic)
            self.end_headers()
            self.wfile.write(b"ok")
        except BrokenPipeError:
            pass  # the client gave up waiting, as it should

    def do_GET(self):  # as a web server answers a page
        self.server.posts.append((self.path, None))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True  # closing never waits for a late answer


@pytest.fixture
def receiver():
    server = Server(("127.0.0.1", 0), Receiver)
    server.posts, server.statuses, server.delay = [], [], 0.0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}/services/T0001/B0002/s3cretT0ken"
    yield server
    server.shutdown()
    server.server_close()


def run_check(capsys, *args):
    status = main(["check", *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_a_planted_silent_leak_exits_1_is_named_first_and_posted(data, receiver, capsys, tmp_path):
    status, out, err = run_check(capsys, str(data["planted"]), *HALVES, "--json", "--webhook", receiver.url,
                                 "--report", str(tmp_path / "leaks.md"))
    result = json.loads(out)
    assert status == 1 and result["status"] == 1
    assert result["silent_leaks"][0]["segment"] == "<!channel> *src05*"
    assert result["silent_periods"] == {"baseline": ["2026-01-05", "2026-01-18"],
                                        "current": ["2026-01-19", "2026-02-01"]}
    [(path, message)] = receiver.posts
    assert path == "/services/T0001/B0002/s3cretT0ken"
    first = message["text"].splitlines()[1]
    assert first.startswith("1. &lt;!channel&gt; *src05* (source) fell from")  # nobody is pinged
    assert message["silent_leaks"] == result["silent_leaks"]
    assert "s3cretT0ken" not in out + err and "webhook: posted to http://127.0.0.1:" in err
    report = (tmp_path / "leaks.md").read_text(encoding="utf-8")
    assert "# 1 silent leak in" in report and "| 1 | \\<!channel> \\*src05\\* (source) |" in report


def test_control_characters_in_a_name_are_shown_never_acted_on(receiver, capsys, tmp_path):
    """Anyone can write a utm_source: a crafted one reaches the data. Its terminal escape sequences
    (a window's title set, the screen cleared) reached the terminal or log of whoever ran ``check``,
    its line break began a line of its own in the output, the Markdown report (a heading) and the
    alert, and U+202E made the numbers after the name read backwards. Each is now written as its
    escape, in every output."""
    frame = simulation.planted_sessions(1, sessions_per_source=8000, drops={"src05": 0.3})
    name = "evil\x1b]0;pwned\x07\x1b[2J\n# ALL CLEAR \u202e0.5%"
    frame["source"] = frame["source"].cat.rename_categories({"src05": name})
    frame.drop(columns="true_rate").to_parquet(tmp_path / "crafted.parquet")
    data, report, page = str(tmp_path / "crafted.parquet"), tmp_path / "leaks.md", tmp_path / "leaks.html"
    status, out, err = run_check(capsys, data, *HALVES, "--webhook", receiver.url, "--report", str(report))
    assert run_check(capsys, data, *HALVES, "--report", str(page))[0] == 1
    shown = r"evil\x1b]0;pwned\x07\x1b[2J\n# ALL CLEAR \u202e0.5% (source) fell from"
    [(_, message)] = receiver.posts
    markdown, html = report.read_text(encoding="utf-8"), page.read_text(encoding="utf-8")
    unprintable = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]")
    assert status == 1 and not unprintable.search(out + err + message["text"] + markdown + html)
    assert out.splitlines()[1].startswith("1. " + shown)
    assert message["text"].splitlines()[1].startswith("1. " + shown)
    assert "\n1. evil\\\\x1b\\]0;pwned\\\\x07\\\\x1b\\[2J\\\\n# ALL CLEAR \\\\u202e0.5% (source)" in markdown
    assert "\n# ALL CLEAR" not in markdown and "<li>" + shown in html


def test_a_site_wide_drop_names_the_whole_site_once(data, capsys):
    status, out, _ = run_check(capsys, str(data["site_drop"]), *HALVES, "--json")
    result = json.loads(out)
    assert status == 1
    assert [row["segment"] for row in result["silent_leaks"]] == ["all traffic"]


def test_day_to_day_swings_alone_exit_0_and_post_nothing(data, receiver, capsys):
    status, out, _ = run_check(capsys, str(data["swings"]), *HALVES, "--webhook", receiver.url)
    assert status == 0 and out.startswith("No silent leak in") and receiver.posts == []


def test_min_lost_raises_the_bar(data, capsys):
    _, out, _ = run_check(capsys, str(data["planted"]), *HALVES, "--json")
    lost = json.loads(out)["silent_leaks"][0]["lost_conversions"]
    assert run_check(capsys, str(data["planted"]), *HALVES, "--min-lost", str(lost + 1))[0] == 0
    assert run_check(capsys, str(data["planted"]), *HALVES, "--min-lost", str(lost - 1))[0] == 1


@pytest.mark.parametrize("args, says", [
    (["--current", "last-14d", "--baseline", "previous-28d"],
     ("The baseline, 2025-12-22 to 2026-01-18 (28 days), reaches outside the data, which run from 2026-01-05 "
      "to 2026-02-01")),
    (["--current", "2026-01-19:2026-01-25", "--baseline", "2026-01-10:2026-01-20"],
     "overlaps the current period"),
    ([*HALVES, "--device", "watch"], "'watch': not among the devices of the data (desktop, mobile, tablet)"),
    ([*HALVES, "--country", "INDIA"],
     "'INDIA': not among the countries of the data ('INDIA' is written 'India')"),
    ([*HALVES, "--dates", "2025-01-01:2026-01-20"], "the data run from 2026-01-05 to 2026-02-01"),
    ([*HALVES, "--level", "0.9"], "--level 0.9: expected from 0.001 to 0.2"),
    ([*HALVES, "--level", "nan"], "--level nan: expected from 0.001 to 0.2"),  # (was a traceback)
    ([*HALVES, "--top-sources", "0"], "--top-sources 0: expected from 1 to 50"),
    ([*HALVES, "--min-sessions", "0"], "--min-sessions 0: expected at least 1"),
    (["--dates", "2026-01-20:2026-01-20", "--current", "", "--baseline", ""],
     "The dates hold one day (2026-01-20): the silent-leak comparison needs two periods"),
    ([*HALVES, "--dates", "2026-01-05:2026-01-20", "--device", "desktop", "--country", "India",
      "--source", "src01", "--current", "last-1d", "--baseline", "previous-1d"], ""),  # a valid control
])
def test_a_check_that_cannot_run_as_asked_exits_2_with_the_reason(data, capsys, args, says):
    status, out, err = run_check(capsys, str(data["swings"]), *args)
    if not says:
        assert status in (0, 1) and err == ""
        return
    assert status == 2 and says in err and out == "" and "Traceback" not in err


def test_a_source_among_the_other_sources_is_said_to_be_one_and_how_to_name_it(data, capsys):
    """A source of the data beyond the sources named was said "not among the sources of the data"."""
    swings = str(data["swings"])
    status, _, err = run_check(capsys, swings, *HALVES, "--top-sources", "2", "--source", "src05", "--source",
                               "src99")
    said = re.fullmatch(r"error: 'src99': not among the sources of the data \(.*\); 'src05': among the "
                        r"\(other sources\), beyond the 2 named; --top-sources (\d+) names it\n", err)
    assert status == 2 and said, err
    named = int(said.group(1))
    assert named > 2 and run_check(capsys, swings, *HALVES, "--top-sources", said.group(1),
                                   "--source", "src05")[0] in (0, 1)
    status, _, err = run_check(capsys, swings, *HALVES, "--top-sources", str(named - 1), "--source", "src05")
    assert status == 2 and f"beyond the {named - 1} named; --top-sources {named} names it" in err


def test_bad_data_and_bad_options_exit_2(write, capsys):
    blocker = write("not a folder", "")
    assert run_check(capsys, str(write("bad.csv", "a,b\n1,2\n")))[0] == 2
    for args in (["--current", "last-7"], ["--baseline", "last-7d"], ["--report", "report.pdf"],
                 ["--report", str(blocker / "report.md")],
                 # (read by pandas as no date, today or an hour: a traceback, or a filter by the clock)
                 ["--dates", ":"], ["--dates", "2026-01-05:"], ["--dates", "today:today"],
                 ["--dates", "2026-01-05T12:2026-01-06"]):
        with pytest.raises(SystemExit) as exit_:
            parser().parse_args(["check", *args])
        assert exit_.value.code == 2
    assert "'2026-01-05:': expected START:END dates, e.g. 2026-08-01:2026-08-31" in capsys.readouterr().err
    # 'nan' passed checks made by comparison: --min-lost nan found no silent leak (exit 0, a false
    # all-clear for cron)
    for args, says in ((["check", "--min-lost", "nan"], "'nan': expected a number of at least 0"),
                       (["check", "--min-lost", "-1"], "'-1': expected a number of at least 0"),
                       (["check", "--min-lost", "inf"], "'inf': expected a number of at least 0"),
                       (["check", "--webhook-timeout", "0"], "'0': expected a number above 0"),
                       (["check", "--webhook-timeout", "nan"], "'nan': expected a number above 0"),
                       (["serve", "--max-upload-mb", "0"], "'0': expected a number of at least 1"),
                       (["serve", "--max-upload-mb", "1.5"], "'1.5': expected a number of at least 1"),
                       # (said as an unknown name "", and as a missing column '')
                       (["summary", "--map", "=x"], "'=x': expected NAME=COLUMN"),
                       (["check", "--map", "visitor_id= "], "'visitor_id= ': expected NAME=COLUMN")):
        with pytest.raises(SystemExit) as exit_:
            parser().parse_args(args)
        assert exit_.value.code == 2 and says in capsys.readouterr().err


def test_a_check_that_fails_unexpectedly_exits_2_never_1(data, capsys, monkeypatch):
    """A bug's exception left the process with Python's status for it, 1: "found", which a scheduler
    reads as a silent leak. It is 2, "cannot check", with the traceback and one line on stderr."""
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(check, "run", broken)
    status, out, err = run_check(capsys, str(data["swings"]), *HALVES)
    assert status == 2 and out == "" and "Traceback" in err
    assert err.splitlines()[-1] == ("error: check failed unexpectedly (ZeroDivisionError: division by zero); "
                                    "the traceback above says where")


def test_an_install_whose_import_fails_exits_2_never_1(tmp_path):
    """A library that no longer imports (an upgrade half done, a binary built for another numpy) failed
    while the package imported its model, before ``main`` ran: Python's status 1, "found"."""
    broken = tmp_path / "pandas"
    broken.mkdir()
    (broken / "__init__.py").write_text('raise ImportError("numpy.core.multiarray failed to import")\n')
    done = subprocess.run([sys.executable, "-m", "leak_app", "check"], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines()[-1] == (
        "error: leak_app cannot start: ImportError: numpy.core.multiarray failed to import "
        "(pip install -r requirements.txt installs what it needs)")


def test_check_runs_headless_and_its_exit_status_reaches_the_shell(data, tmp_path):
    """As cron runs it: a process whose status is the result; no plotting library imported."""
    code = ("import sys; from leak_app.cli import main; status = main(sys.argv[1:]); "
            "loaded = [m for m in ('panel', 'holoviews', 'bokeh', 'geoviews', 'hvplot', 'cartopy') "
            "if m in sys.modules]; print('PLOTTING', loaded); sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code, "check", str(data["planted"]), *HALVES,
                           "--report", str(tmp_path / "r.md")], check=False, cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1, done.stderr
    assert "PLOTTING []" in done.stdout
    done = subprocess.run([sys.executable, "-m", "leak_app", "check", str(data["swings"]), *HALVES],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_the_reports_revenue_lost_is_in_the_revenue_currency_where_the_data_name_it(data):
    """A GA4 export's purchases name their currency: the check's JSON says it and its report's
    table of leaks and its chart's hover text name it beside each amount lost (they gave the bare
    number); a sign a file wrote ("$", see parse.priced) before it, as English writes it."""
    from leak_app.ui.report import facts, html_report

    for currency, written in (("EUR", r"[\d,]+ EUR"), ("$", r"\$[\d,]+"), ("", r"[\d,]+")):
        model = SessionModel.from_path(data["planted"])
        model.load_report = {**model.load_report, "currency": currency}
        result = check.run(model)
        rows = facts(result)["rows"]
        assert result["currency"] == currency and rows
        assert all(re.fullmatch(written, row[5].split(" (")[0]) for row in rows), rows
        # and the HTML report's chart's hover text, as the page's charts say it
        chart = html_report(result, model.silent_leaks_table, "now")
        texts = chart[chart.index('["revenue_text"'):]
        hovered = re.findall(r'"([^"]*?) \(95% CI', texts[:texts.index("]]")])
        assert hovered and all(re.fullmatch(written, each) for each in hovered), hovered


def test_the_html_report_stands_alone(data, capsys, tmp_path):
    target = tmp_path / "report.html"
    status, _, err = run_check(capsys, str(data["planted"]), *HALVES, "--report", str(target))
    assert status == 1 and "report:" in err
    text = target.read_text(encoding="utf-8")
    links = Resources()
    links.feed(text)
    assert not [u for u in links.urls if not u.startswith("data:")] and "Bokeh" in text  # every script inside
    assert "&lt;!channel&gt; *src05* (source) fell from" in text and "<!channel>" not in text
    assert "Why the whole rate moved" in text and "How this was checked" in text


@pytest.mark.parametrize("suffix", [".md", ".html"])
def test_a_report_says_when_the_rates_change_is_within_chance(capsys, tmp_path, suffix):
    """The report's "why the whole rate moved" split 11.1% → 9.09% (40 sessions) into traffic mix and
    rates as a finding; the takeaways said it is within chance, the report did not. It now says as
    they do, and the JSON carries the sentence (``rate_moved``)."""
    data = str(ROOT / "tests" / "fixtures" / "events_20260803.json")
    status, out, _ = run_check(capsys, data, "--json", "--report", str(tmp_path / f"r{suffix}"))
    within = ("The change itself is within what chance and day-to-day swings allow (95% CI -98% to +1102%, "
              "relative to the baseline rate).")
    moved = json.loads(out)["rate_moved"]
    assert status == 0 and moved.startswith("The conversion rate went from 14.3% to 0.00%")
    assert moved.endswith(within)
    assert within in (tmp_path / f"r{suffix}").read_text(encoding="utf-8")


def test_a_change_that_rounds_to_zero_is_never_shown_with_a_minus_sign(data):
    """A traffic mix of -0.00001 points read "-0.00 percentage points", a waterfall step "-0.000 pts",
    and a change's interval ending at -0.4% "-0%": signed zeros, read as a bug or as a tiny loss.
    Points now show a zero as "+0.00"; a relative change under a percent one significant figure
    ("-0.4%"), and "0%" where it is none."""
    from leak_app.analysis.change import dominant_effect
    from leak_app.analysis.takeaways import rate_moved
    from leak_app.analysis.text import signed_pct
    from leak_app.ui.report import facts
    from leak_app.ui.texts import rate_change_html

    assert [signed_pct(v) for v in (0.12, -0.034, -0.004, 0.0004, -0.00004, 0.0, 0.995)] == \
        ["+12%", "-3%", "-0.4%", "+0.04%", "-0.004%", "0%", "+100%"]
    parts = [{"value": "a", "mix_effect": -1e-7, "rate_effect": -0.002}, {"value": "b", "mix_effect": 1e-7,
                                                                          "rate_effect": -1e-8}]
    change = {"baseline_rate": 0.01, "current_rate": 0.008 - 1e-8, "by_dimension": {"source": parts}}
    sentence, waterfall = dominant_effect(change), rate_change_html(change)
    assert "traffic mix accounts for +0.00 percentage points" in sentence
    steps = re.findall(r'class="wf-value">([-+0-9.]+) pts', waterfall)
    assert steps == ["+0.000", "-0.200", "+0.000", "+0.000"]
    # coloured by the sign shown: the first step (below zero) was drawn in the loss colour
    from leak_app.ui.figures import LOST, NO_DATA

    colours = re.findall(r'background:([^"]+)"></div></td><td class="wf-value">[-+0-9.]+ pts', waterfall)
    assert colours == [NO_DATA, LOST, NO_DATA, NO_DATA]
    site = pd.DataFrame({"dimension": ["all traffic"], "change_low": [-0.2], "change_high": [0.004]})
    assert "(95% CI -20% to +0.4%, relative" in rate_moved(change, site)
    result = check.run(SessionModel.from_path(data["planted"]))
    result["silent_leaks"][0].update(change=-0.0001, change_high=-0.004)
    assert re.fullmatch(r"-0.01% \(-\d+% to -0.4%\)", facts(result)["rows"][0][3])


def test_a_check_says_rows_left_out_as_unusable(data, receiver, capsys, tmp_path):
    """A pipeline that began writing bad rows (a date format changed) loses them before any
    comparison: the check compared what was left and said nothing. The JSON carries the sentence
    the takeaways write (``unusable_rows``), the text output, the report and the alert warn with it."""
    frame = pd.read_parquet(data["planted"])
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d").astype(object)
    frame.loc[frame.index[::20], "date"] = "07/32/2026"  # 5% of the rows
    frame.to_csv(tmp_path / "lossy.csv", index=False)
    status, out, _ = run_check(capsys, str(tmp_path / "lossy.csv"), *HALVES, "--json")
    said = json.loads(out)["unusable_rows"]
    bad = len(frame[::20])
    assert status == 1 and said.startswith(f"{bad:,} of the {len(frame):,} rows read (5.0%) were left out as "
                                           "unusable: date: not a date")
    status, out, _ = run_check(capsys, str(tmp_path / "lossy.csv"), *HALVES, "--report",
                               str(tmp_path / "r.md"), "--webhook", receiver.url)
    assert f"warning: {said}" in out.splitlines() and said in (tmp_path / "r.md").read_text(encoding="utf-8")
    assert f"⚠ {said}" in receiver.posts[0][1]["text"]
    _, out, _ = run_check(capsys, str(data["planted"]), *HALVES, "--json")
    assert json.loads(out)["unusable_rows"] is None


def test_an_unwritable_report_exits_3_after_checking(data, capsys, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("leak_app.ui.report.write_atomically", refuse)
    status, _, err = run_check(capsys, str(data["planted"]), *HALVES, "--report", str(tmp_path / "r.md"))
    assert status == check.NOT_DELIVERED and "the report could not be written" in err


def test_a_report_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    target = tmp_path / "report.md"
    target.write_text("last week's report")
    monkeypatch.setattr("os.fsync", lambda fd: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, "this week's report " * 10_000)
    assert target.read_text() == "last week's report" and os.listdir(tmp_path) == ["report.md"]
    monkeypatch.undo()
    write_atomically(target, "this week's report")
    assert target.read_text() == "this week's report" and os.listdir(tmp_path) == ["report.md"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_webhook_retries_server_errors_with_back_off(receiver):
    receiver.statuses = [500, 503]
    lines = []
    assert post(receiver.url, {"text": "hi"}, backoff=0.05, log=lines.append) == 3
    assert [m for _, m in receiver.posts] == [{"text": "hi"}] * 3
    assert len(lines) == 2 and all("HTTP 5" in line and "s3cretT0ken" not in line for line in lines)


def test_the_webhook_gives_up_at_once_on_a_client_error(receiver):
    receiver.statuses = [404]
    with pytest.raises(WebhookError, match="HTTP 404") as error:
        post(receiver.url, {"text": "hi"}, backoff=0.05)
    assert len(receiver.posts) == 1 and "s3cretT0ken" not in str(error.value)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_webhook_that_moved_is_an_alert_not_delivered(receiver, status):
    """An http:// address moved to https://: urllib followed a 301, 302 or 303 with a GET that dropped
    the message, and the GET's 200 read as the alert posted (check then exited 1, not 3)."""
    receiver.statuses = [status]
    said = (rf"HTTP {status} .*, a redirect to http://127\.0\.0\.1:{receiver.server_port}/…: give the "
            "webhook's address as it is now; gave up after 1 attempt")
    with pytest.raises(WebhookError, match=said):
        post(receiver.url, {"text": "hi"}, backoff=0.05)
    assert receiver.posts == [("/services/T0001/B0002/s3cretT0ken", {"text": "hi"})]


def test_the_webhook_never_waits_past_its_timeouts(receiver):
    receiver.delay = 5.0  # answers far too late, every time
    started = time.monotonic()
    with pytest.raises(WebhookError, match="no answer within 0.3 s; gave up after 2 attempts"):
        post(receiver.url, {"text": "hi"}, timeout=0.3, attempts=2, backoff=0.05)
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("raised", [TimeoutError("timed out"),
                                    urllib.error.URLError(TimeoutError("timed out"))])
def test_a_timeout_is_said_alike_whichever_clock_fires_first(monkeypatch, raised):
    """The socket's timeout and the deadline are the same: under load the socket's fired first, and
    the page said "no answer (TimeoutError)" where the test expected the deadline's words."""
    def late(*args, **kwargs):
        raise raised

    monkeypatch.setattr(webhook._OPENER, "open", late)
    with pytest.raises(WebhookError, match=r"http://127\.0\.0\.1:9/…: no answer within 0\.3 s; gave up "):
        post("http://127.0.0.1:9/hook", {"text": "hi"}, timeout=0.3, attempts=1)


def test_the_webhook_reports_a_refused_connection_without_its_secret(receiver):
    url = receiver.url
    receiver.shutdown()
    receiver.server_close()
    with pytest.raises(WebhookError, match="no answer") as error:
        post(url, {"text": "hi"}, attempts=2, backoff=0.01)
    assert "s3cretT0ken" not in str(error.value) and "T0001" not in str(error.value)


@pytest.mark.parametrize("url, shown", [
    ("https://hooks.slack.com/services/T00/B00/XXXX", "https://hooks.slack.com/…"),
    ("https://user:pass@example.org:8443/hook?token=abc", "https://example.org:8443/…"),
    ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
])
def test_redacted_urls_keep_only_where_they_go(url, shown):
    assert redact(url) == shown


def test_the_dashboards_command_checks_what_the_dashboard_shows(data):
    """"Copy as check command": the command, parsed and run as check runs it, gives the model's
    silent leaks for rolling periods, filters and settings."""
    model = SessionModel.from_path(data["planted"], current_period="last-10d", baseline_period="previous",
                                   align_weekdays=False, min_sessions=50)
    model.param.update(devices=["desktop", "mobile"], countries=["India", "Germany"])
    command = check.command(model)
    assert command.startswith(
        f"python -m leak_app check {data['planted']} --current last-10d --baseline previous --no-align "
        "--device desktop --device mobile --country India --country Germany --min-sessions 50")
    args = parser().parse_args(shlex.split(command)[3:])
    again = _filtered_model(args)
    assert again.periods() == model.periods()
    pd.testing.assert_frame_equal(again.silent_leaks_table.drop(columns="values"),
                                  model.silent_leaks_table.drop(columns="values"))
    model.param.update(current_period="", baseline_period="", sources=["<!channel> *src05*"])
    assert check.command(model).endswith(
        "--current 2026-01-19:2026-02-01 --baseline 2026-01-05:2026-01-18 --no-align --device desktop "
        "--device mobile --country India --country Germany --source '<!channel> *src05*' --min-sessions 50")
    model.param.update(current_period="last-10d")  # its baseline left to follow it
    assert "--current last-10d --baseline previous --no-align" in check.command(model)


def test_a_value_beginning_with_a_dash_is_given_to_its_option(tmp_path, monkeypatch):
    """Logs write "-" where a visit had no referrer. The command wrote ``--source -``, which its own
    parser refused ("argument --source: expected one argument"), as it did a file named "-x.parquet"
    given as the path; such values are now joined to their option."""
    frame = simulation.planted_sessions(1, sessions_per_source=500).drop(columns="true_rate")
    frame["source"] = frame["source"].cat.rename_categories({"src01": "-", "src02": "--src02"})
    frame.to_parquet(tmp_path / "-x.parquet")
    model = SessionModel.from_path(tmp_path / "-x.parquet")
    model.load_report = {**model.load_report, "path": "-x.parquet"}  # as given, relative to the folder
    model.param.update(sources=["-", "--src02"])
    command = check.command(model)
    assert command.startswith("python -m leak_app check --data=-x.parquet --current")
    assert command.endswith("--source=- --source=--src02")
    args = parser().parse_args(shlex.split(command)[3:])
    assert (args.data, args.source) == ("-x.parquet", ["-", "--src02"])
    monkeypatch.chdir(tmp_path)
    assert _filtered_model(args).kpis == model.kpis


def test_a_warehouse_table_is_checked_and_its_command_names_it(data, capsys, tmp_path, receiver, monkeypatch):
    """Where a daily GA export lives: --connect URL --table NAME, the webhook from the environment."""
    import duckdb

    database = tmp_path / "warehouse.ddb"
    with duckdb.connect(str(database)) as con:
        con.execute(f"CREATE TABLE web_sessions AS SELECT * FROM read_parquet('{data['planted']}')")
    monkeypatch.setenv("LEAK_APP_WEBHOOK", receiver.url)
    url = f"duckdb:///{database}"
    status, out, _ = run_check(capsys, "--connect", url, "--table", "web_sessions", *HALVES, "--json")
    assert status == 1 and len(receiver.posts) == 1
    monkeypatch.delenv("LEAK_APP_WEBHOOK")
    from_file = json.loads(run_check(capsys, str(data["planted"]), *HALVES, "--json")[1])
    assert json.loads(out)["silent_leaks"] == from_file["silent_leaks"] and len(receiver.posts) == 1
    args = parser().parse_args(["check", "--connect", url, "--table", "web_sessions", *HALVES])
    model = _filtered_model(args)
    assert check.command(model).startswith(f"python -m leak_app check --connect {url} --table web_sessions "
                                           "--current last-14d --baseline previous-14d")


def test_a_warehouse_password_is_never_shown(capsys):
    """The table's label reaches the load report, the page, reports and webhooks: no password in it."""
    status, out, err = run_check(capsys, "--connect", "postgres://analyst:s3cret@127.0.0.1:1/shop", *HALVES)
    assert status == 2 and "postgres://analyst:***@127.0.0.1:1/shop table sessions" in err
    assert "s3cret" not in out + err


def command_reading_as_the_page(path, mapping) -> tuple[str, SessionModel]:
    """The command the page offers for ``path`` read with ``mapping``, and the page's model, once
    the command, parsed and run, is checked to read the file as the page did (the same KPIs)."""
    from leak_app.data.sources import open_data

    sessions, report = open_data(path, mapping)
    model = SessionModel(sessions=sessions, load_report=report.to_dict())
    command = check.command(model)
    args = parser().parse_args(shlex.split(command)[3:])
    assert _filtered_model(args).kpis == model.kpis
    return command, model


def test_the_command_of_a_mapped_file_reads_it_with_the_same_mapping(tmp_path, capsys):
    """A file in no known format, served with a column mapping: the command the page offers names
    the mapping's columns and revenue scale, so that it reads the file as the page did."""
    from leak_app.data.loaders import read_mapping

    fixtures = ROOT / "tests" / "fixtures"
    mapping = read_mapping(fixtures / "shop_sessions_mapping.toml", revenue_scale=0.001)
    command, model = command_reading_as_the_page(fixtures / "shop_sessions.csv", mapping)
    assert "--map visitor_id=customer --map session_id=visit" in command
    assert "--revenue-scale 0.001" in command
    assert model.kpis["revenue"] == pytest.approx(  # read again alike (the helper), to the cent
        pd.read_csv(fixtures / "shop_sessions.csv")["Revenue (cents)"].sum() / 1000, abs=0.005)


def test_the_command_of_a_file_whose_date_order_a_mapping_says_says_it_too(tmp_path, capsys):
    """Dates the data cannot order (every day the 12th or before), read day first as the mapping
    said: the command to copy carries --date-order, without which it would refuse the file."""
    from leak_app.data.demo import generate_sessions
    from leak_app.data.loaders import read_mapping

    sessions = generate_sessions(2_000, seed=3).drop(columns=["converted"])
    sessions = sessions[sessions["date"].dt.day <= 12]
    sessions.assign(date=sessions["date"].dt.strftime("%d/%m/%Y")).to_csv(tmp_path / "uk.csv", index=False)
    mapping = read_mapping(None, {name: name for name in sessions.columns}, date_order="day-first")
    command, _ = command_reading_as_the_page(tmp_path / "uk.csv", mapping)
    assert "--date-order day-first" in command
    status, _, err = run_check(capsys, "--date-order", "day-first", *HALVES)
    assert status == 2 and "--date-order: goes with a column mapping" in err


def test_the_command_of_a_hit_level_file_reads_it_as_hits(tmp_path, capsys):
    """rows = "hits" in the mapping: the command says --rows hits, or it would count each hit's
    copy of the session's totals (the old command read the file as sessions)."""
    from test_files_in_the_wild import hits_of

    from leak_app.data.loaders import read_mapping

    fixtures = ROOT / "tests" / "fixtures"
    shop = pd.read_csv(fixtures / "shop_sessions.csv", dtype=str, keep_default_na=False)
    hits_of(shop, "Pages").to_csv(tmp_path / "shop_hits.csv", index=False)
    mapping = read_mapping(fixtures / "shop_sessions_mapping.toml", rows="hits")
    command, _ = command_reading_as_the_page(tmp_path / "shop_hits.csv", mapping)
    assert "--rows hits" in command


def test_the_command_of_a_ga4_events_table_names_the_table(tmp_path):
    import duckdb

    from leak_app.data.sources import open_data

    database = tmp_path / "ga4.ddb"
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE TABLE events AS SELECT * FROM read_parquet(?)",
                    [str(ROOT / "tests" / "fixtures" / "events_20260803.parquet")])
    sessions, report = open_data(table=(f"duckdb:///{database}", "events"))
    command = check.command(SessionModel(sessions=sessions, load_report=report.to_dict()))
    assert f"--connect duckdb:///{database} --table events" in command


def test_a_revenue_scale_without_a_mapping_is_refused(capsys):
    status, _, err = run_check(capsys, "--revenue-scale", "0.01", *HALVES)
    assert status == 2 and "--revenue-scale: goes with a column mapping" in err
