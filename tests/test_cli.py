"""The command line, run as people and scripts run it."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from helpers import ROOT
from test_loaders import hand_totals

from leak_app.data.demo import generate_sessions


def run(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "leak_app", *args], check=False, cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "small.parquet"
    generate_sessions(5_000, seed=2).to_parquet(path)
    return path


def test_a_second_summary_of_a_file_reads_country_codes_kept_by_the_first(ga_raw, tmp_path):
    """A scheduled summary pays neither for country_converter (0.4 s to import, a millisecond a
    name) nor for scipy.stats nor the plotting stack: the names' codes are kept in the cache
    folder by the first run; both runs publish the same summary."""
    code = ("import json, sys; from leak_app.cli import main; main(sys.argv[1:]); print(json.dumps(sorted("
            "m for m in ('country_converter', 'scipy.stats', 'shapefile', 'panel', 'holoviews', 'bokeh', "
            "'geoviews', 'cartopy') if m in sys.modules)))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path)}
    outputs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", code, "summary", str(ga_raw), "--json"], check=True,
                              cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
        *summary, loaded = done.stdout.strip().split("\n")
        outputs.append((json.loads("\n".join(summary)), json.loads(loaded)))
    (first, loaded_first), (second, loaded_second) = outputs
    assert loaded_first == ["country_converter", "shapefile"] and loaded_second == []
    assert first == second  # names without a shape too: "not found" is kept as well
    assert first["load_report"]["unmatched_countries"] == {"(not set)": 7, "Réunion": 2, "Martinique": 2,
                                                           "Mayotte": 1}


def test_summary_json_on_the_real_sample(ga_raw):
    out = json.loads(run("summary", str(ga_raw), "--json").stdout)
    expected = hand_totals(ga_raw)
    kpis = out["kpis"]
    assert kpis["sessions"] == expected["sessions"]
    assert kpis["converting_sessions"] == expected["converting_sessions"]
    assert kpis["transactions"] == expected["transactions"]
    assert kpis["revenue"] == pytest.approx(expected["revenue"])
    assert kpis["conversion_rate"] == pytest.approx(94 / 9998)
    assert out["load_report"]["rows_read"] == 10000 and out["load_report"]["format"] == "ga_sessions_csv"
    assert out["load_report"]["dropped"] == {"repeated session id (merged into its first row)": 2}
    us = next(r for r in out["countries"] if r["country"] == "United States")
    assert (us["sessions"], us["conversions"]) == (4135, 92)
    assert 3 <= len(out["takeaways"]) <= 9
    for name in ("funnel", "duration", "source_device"):
        assert out[name] and all(0 <= row["rate" if name != "funnel" else "pct_of_entry"] <= 1
                                 for row in out[name] if row.get("rate", 0) is not None)


def test_summary_of_a_bad_file_fails_on_stderr(write):
    bad = write("bad.csv", "a,b\n1,2\n")
    result = run("summary", str(bad), "--json", check=False)
    assert result.returncode != 0 and result.stdout == ""
    assert "bad.csv: not a session export" in result.stderr


class Resources(HTMLParser):
    """Every URL an HTML file's tags would fetch."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def test_export_writes_one_self_contained_file(small_demo, tmp_path):
    target = tmp_path / "dashboard.html"
    run("export", str(target), "--data", str(small_demo))
    html = target.read_text(encoding="utf-8")
    parser = Resources()
    parser.feed(html)
    assert not [u for u in parser.urls if u.startswith(("http:", "https:", "//"))]
    assert "cdn.holoviz.org" not in html and "fonts.googleapis" not in html
    assert "The device filter works in this file" in html


def test_png_without_chromium_says_so_in_one_line_before_the_work(tmp_path, monkeypatch, capsys):
    """A machine without Chromium got "png failed unexpectedly" and a traceback, after the data were
    read: the exit status and words of a bug."""
    from leak_app.cli import main

    monkeypatch.setenv("LEAK_APP_CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setattr("leak_app.cli._model", lambda args: pytest.fail("the data were read"))
    assert main(["png", str(tmp_path / "pictures")]) == 2
    assert capsys.readouterr().err == ("error: Chromium was not found: install it (Debian: apt-get install "
                                       "chromium) or set LEAK_APP_CHROMIUM to its executable\n")


def test_an_export_that_cannot_be_written_says_so_in_one_line(small_demo, tmp_path, monkeypatch, capsys):
    """A full disk, found only as the file is written: "export failed unexpectedly" and a traceback,
    the words and status of a bug."""
    import errno

    from leak_app.cli import main

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    target = tmp_path / "dashboard.html"
    assert main(["export", str(target), "--data", str(small_demo)]) == 2
    assert capsys.readouterr().err == f"error: {target}: could not be written (No space left on device)\n"
    assert list(tmp_path.iterdir()) == []


def test_png_writes_a_picture_per_view(small_demo, tmp_path):
    run("png", str(tmp_path), "--data", str(small_demo))
    from PIL import Image

    written = sorted(path.stem for path in tmp_path.glob("*.png"))
    listed = (ROOT / "outputs" / "README.md").read_text(encoding="utf-8").split("one PNG per view", 1)[1]
    # the folder's README says which
    assert sorted(re.findall(r"`(\w+)`", listed.split("\n", 1)[0])) == written
    for name in written:
        image = Image.open(tmp_path / f"{name}.png")
        assert image.width >= 400 and image.height >= 80
        assert len(image.convert("L").getcolors(maxcolors=256) or range(256)) > 20, f"{name}.png is blank"
        # no toolbar, which does nothing in a picture: the Bokeh logo's magenta and purple nowhere
        pixels = np.asarray(image.convert("RGB"), dtype=int)
        for colour in ((238, 16, 101), (135, 50, 143)):
            assert not (np.abs(pixels - colour).sum(axis=2) < 30).any(), (name, colour)


def test_summary_leaks_and_chosen_silent_periods():
    out = json.loads(run("summary", "--json", "--baseline", "2026-08-03:2026-08-31",
                         "--current", "2026-10-01:2026-10-31").stdout)
    assert out["silent_periods"] == {"baseline": ["2026-08-03", "2026-08-31"],
                                     "current": ["2026-10-01", "2026-10-31"]}
    assert out["leaks"] and all(row["q_value"] <= 0.05 for row in out["leaks"])
    lost = [row["lost_conversions"] for row in out["leaks"]]
    assert lost == sorted(lost, reverse=True)  # ranked by expected lost conversions
    assert "desktop × google" in {row["segment"] for row in out["silent_leaks"]}
    result = run("summary", "--current", "2026-10-31:2026-10-01", check=False)
    assert result.returncode == 2 and "ends before it starts" in result.stderr


def test_summary_of_a_warehouse_table(tmp_path, small_demo):
    import duckdb

    database = tmp_path / "warehouse.ddb"
    with duckdb.connect(str(database)) as con:
        con.execute(f"CREATE TABLE web_sessions AS SELECT * FROM read_parquet('{small_demo}')")
        # a view written before channels were read, or for data without them
        con.execute(f"CREATE VIEW no_channels AS SELECT * EXCLUDE (channel) "
                    f"FROM read_parquet('{small_demo}')")
        con.execute(f"CREATE VIEW no_pageviews AS SELECT * REPLACE (0 AS pageviews) "
                    f"FROM read_parquet('{small_demo}')")
        # as Snowflake names a view's unquoted columns: in capitals (they were "missing", "matched
        # case-insensitively")
        columns = con.execute(f"SELECT * FROM read_parquet('{small_demo}') LIMIT 0").fetchdf().columns
        con.execute(f"CREATE VIEW capitals AS SELECT {', '.join(f'{c} AS {c.upper()}' for c in columns)} "
                    f"FROM read_parquet('{small_demo}')")
        con.execute(f"CREATE VIEW twice AS SELECT *, date AS \" date \" FROM read_parquet('{small_demo}')")
    out = json.loads(run("summary", "--connect", f"duckdb:///{database}", "--table", "web_sessions",
                         "--json").stdout)
    expected = json.loads(run("summary", str(small_demo), "--json").stdout)
    assert out["kpis"] == expected["kpis"] and out["takeaways"] == expected["takeaways"]
    assert out["load_report"]["format"] == "ibis_table" and out["load_report"]["rows_read"] == 5_000
    assert out["load_report"]["absent_columns"] == []
    older = json.loads(run("summary", "--connect", f"duckdb:///{database}", "--table", "no_channels",
                           "--json").stdout)
    assert older["load_report"]["absent_columns"] == ["channel"] and older["kpis"] == expected["kpis"]
    assert "channel" in out["rate_change"]["by_dimension"]
    assert "channel" not in older["rate_change"]["by_dimension"]  # one value: nothing to explain
    zeros = json.loads(run("summary", "--connect", f"duckdb:///{database}", "--table", "no_pageviews",
                           "--json").stdout)
    assert zeros["load_report"]["zero_columns"] == ["pageviews"] and zeros["funnel"] == []
    assert zeros["unavailable"]["funnel"].startswith("Every session's pageviews in the data is 0")
    assert out["load_report"]["zero_columns"] == []
    capitals = json.loads(run("summary", "--connect", f"duckdb:///{database}", "--table", "capitals",
                              "--json").stdout)
    assert capitals["kpis"] == expected["kpis"] and capitals["load_report"]["absent_columns"] == []
    twice = run("summary", "--connect", f"duckdb:///{database}", "--table", "twice", check=False)
    assert twice.returncode == 2 and "column(s) 'date' appear more than once" in twice.stderr
    missing = run("summary", "--connect", f"duckdb:///{database}", "--table", "nope", check=False)
    assert missing.returncode == 2 and "table nope: no such table or view there (it has " in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize("command", ["export", "png"])
def test_an_output_that_cannot_be_written_is_refused_before_the_work(command, tmp_path):
    """Export into an unwritable folder raised Python's error after 14 s of work."""
    blocker = tmp_path / "a file"
    blocker.write_text("")
    output = blocker / "out" / ("dashboard.html" if command == "export" else "")
    result = run(command, str(output), check=False)
    assert result.returncode == 2 and f"cannot write in {blocker}" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_output_that_is_a_folder_or_not_html_is_refused_before_the_work(tmp_path, capsys, small_demo):
    """``export FOLDER`` ended in IsADirectoryError and ``export x.txt`` in FileNotFoundError (Panel
    saved it as x.txt.html), each a traceback after the work; so did ``export x.htm``, now written."""
    from leak_app.cli import parser

    folder = tmp_path / "out.html"
    folder.mkdir()
    for args, says in ((["export", str(tmp_path)], "the dashboard is saved as an .html file"),
                       (["export", str(tmp_path / "x.txt")], "the dashboard is saved as an .html file"),
                       (["export", str(folder)], "is a folder; give a file's name"),
                       (["check", "--report", str(folder)], "is a folder; give a file's name")):
        with pytest.raises(SystemExit) as exit_:
            parser().parse_args(args)
        assert exit_.value.code == 2 and says in capsys.readouterr().err, args
    run("export", str(tmp_path / "x.htm"), "--data", str(small_demo))
    assert [p.name for p in tmp_path.glob("x.*")] == ["x.htm"]
    assert "The device filter works in this file" in (tmp_path / "x.htm").read_text(encoding="utf-8")


def test_serve_on_a_port_it_cannot_have_says_so(small_demo, capsys):
    """A port in use ended ``serve`` in OSError's traceback, a port past 65,535 in an AssertionError's."""
    import socket

    from leak_app import cli

    with socket.socket() as held:  # (served in a process of its own, as people start it)
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = run("serve", "--data", str(small_demo), "--port", str(port), check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port} (Address already in use): "
                                    "another server may hold the port (choose another with --port)")
    with pytest.raises(SystemExit) as exit_:
        cli.parser().parse_args(["serve", "--port", "99999"])
    assert exit_.value.code == 2
    assert "'99999': expected a number of at least 0 and at most 65,535" in capsys.readouterr().err


def test_every_command_takes_the_data_as_data_and_serve_summary_and_check_as_their_first_argument(
        small_demo, tmp_path, capsys):
    """The README said every command takes ``--data``: ``summary`` and ``check`` refused it
    ("unrecognized arguments: --data"), and ``serve sessions.csv``, as the others take a path, was
    refused too. Both ways now name the data; two different data are refused."""
    from leak_app import cli

    said = {}
    for args in (["summary", str(small_demo)], ["summary", "--data", str(small_demo)],
                 ["summary", str(small_demo), "--data", str(small_demo)]):
        assert cli.main([*args, "--json"]) == 0
        said[tuple(args)] = json.loads(capsys.readouterr().out)
    assert len({json.dumps(result, sort_keys=True) for result in said.values()}) == 1
    assert next(iter(said.values()))["load_report"]["path"] == str(small_demo)
    assert cli.main(["check", "--data", str(small_demo), "--current", "last-7d", "--json"]) in (0, 1)
    assert json.loads(capsys.readouterr().out)["data"] == str(small_demo)
    assert cli.main(["summary", str(small_demo), "--data", str(tmp_path / "other.csv")]) == 2
    assert capsys.readouterr().err == (f"error: two data given, {str(small_demo)!r} and --data "
                                       f"{str(tmp_path / 'other.csv')!r}: give one\n")
    # serve reads the data before it listens: a path that is not there is said, as --data's is
    result = run("serve", str(tmp_path / "missing.csv"), "--port", "0", check=False)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {tmp_path / 'missing.csv'}: ")


def test_an_output_that_cannot_encode_the_text_gets_it_escaped(small_demo):
    """A console whose code page lacks "–", "×" or "→" (PYTHONIOENCODING=ascii here; a Windows
    console's cp1252 lacks "→" and every Japanese name) ended the command in a UnicodeEncodeError's
    traceback after the work: ``check`` exited 1, "found", whatever it found. Text is now written
    escaped, JSON as JSON escapes it, the same data."""
    ascii_only = {**os.environ, "PYTHONIOENCODING": "ascii"}

    def run_in(env, *args):
        command = [sys.executable, "-m", "leak_app", *args, str(small_demo)]
        return subprocess.run(command, check=False, cwd=ROOT, env=env, capture_output=True, timeout=600)

    text = run_in(ascii_only, "summary")
    assert text.returncode == 0 and b"Traceback" not in text.stderr and b" \\xd7 " in text.stdout
    said = run_in(ascii_only, "summary", "--json")
    assert said.returncode == 0 and said.stdout.isascii()
    assert json.loads(said.stdout) == json.loads(run_in(os.environ, "summary", "--json").stdout)
    for args in (("check", "--current", "last-7d"), ("check", "--current", "last-7d", "--json")):
        statuses = {run_in(env, *args).returncode for env in (ascii_only, os.environ)}
        assert len(statuses) == 1 and statuses <= {0, 1}, (args, statuses)


def test_summary_of_one_session_on_one_day(tmp_path, capsys):
    """The least a file can hold: one session, one day. It said "1 sessions", and compared the halves
    of its one day read backwards ("0 days" each)."""
    from helpers import GA_HEADER

    from leak_app import cli

    path = tmp_path / "one.csv"
    path.write_text(GA_HEADER + "\n1,1,1,20170704,desktop,France,google,3,20,0,\n")
    assert cli.main(["summary", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "1 session, 0 converting (0.00%), revenue 0.00"
    assert lines[1].startswith("- No session converts here (0 of 1), so no leak can be measured.")
    assert lines[2] == ("- Silent leaks not compared. The dates hold one day (2017-07-04): the "
                        "silent-leak comparison needs two periods, so at least two days.")


def test_a_summary_writes_the_revenue_with_the_sign_the_file_wrote(tmp_path, capsys):
    """Amounts written "$125.50" are in dollars: the summary said "revenue 125.50 $", as if in a
    foreign format; a code stays after the amount ("125.50 EUR")."""
    from leak_app import cli
    from leak_app.data.demo import generate_sessions

    shop = generate_sessions(200, seed=1)
    total = f"{shop['revenue'].round(2).sum():,.2f}"
    for written, said in (("${:,.2f}", f"${total}"), ("{:.2f} EUR", f"{total} EUR")):
        shop.assign(revenue=shop["revenue"].map(written.format)).to_csv(tmp_path / "shop.csv", index=False)
        assert cli.main(["summary", str(tmp_path / "shop.csv")]) == 0
        assert capsys.readouterr().out.splitlines()[0].endswith(f" converting (0.50%), revenue {said}")


def test_a_summary_of_filters_that_keep_no_session_says_so(tmp_path, capsys):
    """Filters that keep nothing (a country's sessions on another device) are an answer, not a
    failure: the text summary formatted the missing rate and ended in a TypeError's traceback."""
    from helpers import GA_HEADER

    from leak_app import cli

    path = tmp_path / "two.csv"
    path.write_text(GA_HEADER + "\n1,1,1,20170704,desktop,France,google,3,20,0,\n"
                    "2,1,1,20170705,mobile,Japan,google,3,20,0,\n")
    assert cli.main(["summary", str(path), "--country", "France", "--device", "mobile"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "No sessions match the filters."
    assert cli.main(["summary", str(path), "--country", "France", "--device", "desktop"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "1 session, 0 converting (0.00%), revenue 0.00"


def test_the_same_sessions_in_another_order_publish_the_same_json(tmp_path, capsys):
    """Two runs on the same data must print the same JSON for a script to diff them; sums of money
    in floating point depend on the order rows are added in (a file's, DuckDB's threads'): the lost
    revenue of the 1 M demo differed in its last digits from one run to the next."""
    import numpy as np

    from leak_app import cli

    data = generate_sessions(60_000, seed=3, days=14)  # many orders a day and cell: sums of many
    rng = np.random.default_rng(0)
    data["revenue"] = np.where(data["revenue"] > 0, data["revenue"] * 99_713.7 + rng.random(len(data)), 0.0)
    published = []
    for name, rows in {"written": data, "reversed": data.iloc[::-1],
                       "shuffled": data.sample(frac=1, random_state=1)}.items():
        rows.to_parquet(tmp_path / f"{name}.parquet", index=False)
        for command in ("summary", "check"):
            cli.main([command, "--json", str(tmp_path / f"{name}.parquet"),
                      "--baseline", "2026-08-03:2026-08-09", "--current", "2026-08-10:2026-08-16"])
            out = json.loads(capsys.readouterr().out)
            out.pop("load_report" if command == "summary" else "data")  # (the file's name)
            published.append(out)
    assert published[0]["step_leaks"][0]["lost_revenue"] > 1e6  # (a sum of thousands of orders)
    assert published[0::2] == [published[0]] * 3 and published[1::2] == [published[1]] * 3


def test_a_summary_piped_into_a_reader_that_stops_early_ends_quietly(small_demo):
    """``summary --json | head -1`` printed a BrokenPipeError's traceback: a script that reads the
    first lines of the JSON saw Python's error in its log."""
    with subprocess.Popen([sys.executable, "-m", "leak_app", "summary", str(small_demo), "--json"], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0) as process:
        # the reader stops before the summary is written (its 64 KB would fit in the pipe's buffer):
        # as `| head -1` does a larger file's
        process.stdout.close()
        errors = process.stderr.read().decode()
        status = process.wait(timeout=600)
    assert errors == "" and status == 128 + 13


def test_the_help_is_plain_text():
    """``--help`` printed the module's reST markup: "``python -m leak_app``: serve, ..."."""
    from leak_app import cli

    shown = cli.parser().format_help()
    assert "python -m leak_app: serve, export, png, summary and check" in shown and "``" not in shown
