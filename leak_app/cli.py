"""``python -m leak_app``: serve, export, png, summary and check, for people and scripts alike."""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .analysis import periods
from .analysis.text import counted, money, pct, printable, revenue_unit
from .data.schema import LoadError, first_of
from .publish.check import DEFAULT_BASELINE, DEFAULT_CURRENT, CheckError
from .publish.summary import summary as summary_of

#: What a command's data may be (see file_sets).
SESSION_FILES = "session file, or folder or glob pattern of files of one format (default: the demo data)"
SERVED_FILES = ("session file, folder or glob pattern of files to serve (CSV, JSON, Parquet; gzipped or not; "
                "default: $LEAK_APP_DATA, else the bundled demo data)")
#: Largest websocket message: an upload comes in chunks of 4 MB (upload.UPLOAD_CHUNK), whatever its size.
WEBSOCKET_MESSAGE_BYTES = 20 * 2**20


def _mapping(args):
    """The column mapping given by --mapping FILE and/or --map name=column, if any."""
    from .data.loaders import read_mapping

    pairs = dict(item.split("=", 1) for item in (args.map or []))
    if args.mapping is None and not pairs:
        for option, given in (("--revenue-scale", args.revenue_scale), ("--rows", args.rows),
                              ("--date-order", args.date_order)):
            if given is not None:
                raise LoadError(f"{option}: goes with a column mapping (--mapping or --map); the exports "
                                f"this app recognizes have their own")
        return None
    return read_mapping(args.mapping, pairs, args.revenue_scale, args.rows, args.date_order)


def _table(args) -> tuple[str, str] | None:
    """(connection URL, table name) given by --connect and --table, if any."""
    return (args.connect, args.table) if args.connect else None


def _path_options(p, help_text: str, positional: bool = True) -> None:
    """The data's path, as ``--data`` and, where no other positional argument is taken, as the first
    (``serve sessions.csv`` was refused as "unrecognized arguments", ``summary --data`` too)."""
    if positional:
        p.add_argument("data_file", nargs="?", metavar="path", help=f"{help_text} (or --data)")
    p.add_argument("--data", help=help_text)


def _data_file(args) -> Path:
    """The data's path given as ``--data`` or as the first argument (:func:`_path_options`), else the
    default: $LEAK_APP_DATA or the demo data."""
    from .data.sources import data_path

    given = list(dict.fromkeys(value for value in (getattr(args, "data_file", None), args.data) if value))
    if len(given) > 1:
        raise LoadError(f"two data given, {given[0]!r} and --data {given[1]!r}: give one")
    return Path(given[0]) if given else data_path()


def _model(args, **params):
    from .analysis.cube import CellSettings
    from .analysis.model import SessionModel, opened_with_cube
    from .data.sources import open_data

    sessions, report = opened_with_cube(open_data, CellSettings(), _data_file(args), _mapping(args),
                                        _table(args))
    return SessionModel(sessions=sessions, load_report=report.to_dict(), **params)


def _naming_nothing(model, name: str, unknown: list[str], known: list) -> str:
    """Why filter values name nothing, and what would: "baidu" is a source of the data among the
    "(other sources)" (it was said not to be one), "united states" is written "United States"."""
    said = []
    if name == "sources":
        rank = {source: i for i, source in enumerate(model.sources_by_sessions(), 1)}
        if other := [v for v in unknown if v in rank]:
            most, limit = max(rank[v] for v in other), model.param.top_sources.bounds[1]
            naming = (f"--top-sources {most} names {'it' if len(other) == 1 else 'them'}" if most <= limit
                      else f"at most {limit} can be named")
            said.append(f"{', '.join(map(repr, other))}: among the (other sources), beyond the "
                        f"{model.top_sources} named; {naming}")
            unknown = [v for v in unknown if v not in rank]
    if unknown:
        folded = {str(value).casefold(): value for value in known}
        written = [f"{v!r} is written {folded[v.casefold()]!r}" for v in unknown if v.casefold() in folded]
        said.insert(0, f"{', '.join(map(repr, unknown))}: not among the {name} of the data "
                       f"({'; '.join(written) or first_of(known)})")
    return "; ".join(said)


def _filtered_model(args):
    """The model of the data with the filters, settings and periods of ``summary``/``check``'s options."""
    settings = {"level": args.level, "min_sessions": args.min_sessions, "top_sources": args.top_sources}
    _refuse_out_of_bounds(settings)
    model = _model(args, current_period=args.current, baseline_period=args.baseline,
                   align_weekdays=not args.no_align,
                   **{name: value for name, value in settings.items() if value is not None})
    changes = {}
    for name, values in (("devices", args.device), ("countries", args.country), ("sources", args.source),
                         ("channels", args.channel)):
        known = model.param[name].objects
        unknown = [v for v in values or () if v not in known]
        if unknown:
            raise CheckError(_naming_nothing(model, name, unknown, known))
        if values:
            changes[name] = list(values)
    if args.dates:
        low, high = model.param.date_range.bounds
        if args.dates[0] < low or args.dates[1] > high:
            raise CheckError(f"--dates {args.dates[0]:%Y-%m-%d}:{args.dates[1]:%Y-%m-%d}: the data run from "
                             f"{low:%Y-%m-%d} to {high:%Y-%m-%d}")
        changes["date_range"] = args.dates
    model.param.update(changes)
    return model


def _refuse_out_of_bounds(settings: dict) -> None:
    """A setting outside the model's bounds, refused by its option's name (param's message names
    'SessionModel.top_sources')."""
    from .analysis.model import SessionModel

    for name, value in settings.items():
        low, high = SessionModel.param[name].bounds
        # (written as what a value must be: 'nan' is neither below nor above any bound)
        if value is not None and not ((low is None or value >= low) and (high is None or value <= high)):
            expected = f"at least {low}" if high is None else f"from {low} to {high}"
            raise CheckError(f"--{name.replace('_', '-')} {value}: expected {expected}")


def served_data(args) -> tuple[Path, object, tuple[str, str] | None]:
    """(file, column mapping, warehouse table) that the served dashboard shows (:func:`data_options`)."""
    return _data_file(args), _mapping(args), _table(args)


def serve(args) -> None:
    import panel as pn
    from bokeh.settings import settings

    from .data.sources import without_password
    from .ui.actions import PAGE_CONFIG
    from .ui.page import serve_page, start_serving

    path, mapping, table = served_data(args)
    start_serving(path, mapping, table)  # data that cannot be loaded stops here, with its error
    # Every page is the one layout, whose documents the tests check (test_views): Bokeh checking
    # each new page's again took about 60 ms of the server's thread a page.
    settings.perform_document_validation.set_value(False)
    origins = [f"{host}:{args.port}" for host in ("localhost", "127.0.0.1", args.address)]
    origins += args.allow_websocket_origin or []
    pn.config.param.update(**PAGE_CONFIG)
    _say(f"Serving {f'{without_password(table[0])} table {table[1]}' if table else path} at http://{args.address}:{args.port}",
         flush=True)
    try:
        server = pn.serve(
            {"": lambda: serve_page(path, mapping, table, args.max_upload_mb)}, port=args.port,
            address=args.address, show=False, start=False,
            allow_websocket_origin=sorted(set(origins)), title="Silent Leak Detector",
            websocket_max_message_size=WEBSOCKET_MESSAGE_BYTES,
            basic_auth=args.basic_auth, cookie_secret=args.cookie_secret,
        )
    except OSError as exc:  # (a traceback before: a port in use, an address not this machine's)
        raise CheckError(f"cannot listen on {args.address}:{args.port} ({exc.strerror}): another server "
                         f"may hold the port (choose another with --port), or the address is not this "
                         f"machine's") from exc
    # Stopped (kill, systemd, docker stop), the server exits as from Ctrl-C, its exit handlers run:
    # the uploads it holds are removed (see data.workspace), where SIGTERM ended it without them.
    # Through the event loop, not signal.signal: the kernel may hand the signal to any of the
    # process's threads, and a Python handler then waited for the loop's thread to wake by itself
    # (up to 15 s, Bokeh's next timer; past a service manager's grace). The loop's handler wakes it.
    server.io_loop.asyncio_loop.add_signal_handler(signal.SIGTERM, _stopped, signal.SIGTERM)
    server.start()
    server.io_loop.start()


def _stopped(signum: int) -> None:
    sys.exit(128 + signum)  # raised out of the loop's run: the process ends with the exit handlers


def export(args) -> None:
    from .ui.export import export_html

    model = _model(args)
    with _written(args.output):
        _say(export_html(model, args.output))


def png(args) -> None:
    from .ui.browser import chromium_path
    from .ui.export import export_pngs

    try:  # before the data are read: a missing browser was said after the work, as a bug's traceback
        chromium_path()
    except RuntimeError as exc:
        raise CheckError(str(exc)) from exc
    model = _model(args)
    with _written(args.folder):
        for path in export_pngs(model, args.folder):
            _say(path)


@contextmanager
def _written(target: str) -> Iterator[None]:
    """Writing found impossible only as it is done (a full disk, a file system that takes no new
    file) refused as such: it ended as a bug does, "failed unexpectedly" and a traceback."""
    try:
        yield
    except OSError as exc:
        raise CheckError(f"{target}: could not be written ({exc.strerror or exc})") from exc


def summary(args) -> None:
    result = summary_of(_filtered_model(args))
    if args.json:
        _print_json(result)
        return
    kpis = result["kpis"]
    if not kpis["sessions"]:  # (no rate to print: the page says the same)
        _say("No sessions match the filters.")
        return
    revenue = money(f"{kpis['revenue']:,.2f}", revenue_unit(result["load_report"]))
    _say(f"{counted(kpis['sessions'], 'session')}, {kpis['converting_sessions']:,} converting "
         f"({pct(kpis['conversion_rate'])}), revenue {revenue}")
    for sentence in result["takeaways"]:
        _say(f"- {sentence}")


def check(args) -> int:
    """Exit status 0: no silent leak; 1: found; 2: cannot check; 3: report or alert not delivered."""
    from .publish import check as job

    model = _filtered_model(args)
    result = job.run(model, args.min_lost)
    status = result["status"]
    if args.json:
        _print_json(result)
    else:
        _say(job.headline(result))
        for i, row in enumerate(result["silent_leaks"], 1):
            _say(f"{i}. {row['sentence']}")
        for warning in job.warnings(result):
            _say(f"warning: {warning}")
    if args.report:
        from .ui.report import write_report

        try:
            _say(f"report: {write_report(args.report, result, model.silent_leaks_table)}", file=sys.stderr)
        except OSError as exc:
            _say(f"error: the report could not be written: {exc}", file=sys.stderr)
            status = job.NOT_DELIVERED
    if args.webhook and result["silent_leaks"]:
        from .publish.webhook import WebhookError, post, redact

        def log(line):
            _say(f"webhook: {line}", file=sys.stderr)

        try:
            post(args.webhook, job.message(result), timeout=args.webhook_timeout, log=log)
            log(f"posted to {redact(args.webhook)}")
        except WebhookError as exc:
            _say(f"error: the alert could not be posted: {exc}", file=sys.stderr)
            status = job.NOT_DELIVERED
    return status


def _say(text: str, file=None, flush: bool = False) -> None:
    """Print a line of text, where names from the data stay text (:func:`.text.printable`): a source
    name's line break or terminal escape sequence would act on the reader's terminal or log."""
    print(printable(text), file=file or sys.stdout, flush=flush)


def _print_json(result: dict) -> None:
    """The result as JSON: its text as written where the output takes any character, else escaped
    as JSON escapes it (a console's backslashreplace wrote invalid JSON: "\\xe9")."""
    json.dump(result, sys.stdout, indent=2, ensure_ascii=not _writes_any_text(sys.stdout), allow_nan=False)
    sys.stdout.write("\n")


def _writes_any_text(stream) -> bool:
    try:
        "\u2192\U0001f600".encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _escaped_where_unwritable() -> None:
    """Text an output cannot encode (a Windows console's code page, PYTHONIOENCODING=ascii: "→", a
    Japanese source name) written escaped: it ended in a UnicodeEncodeError's traceback after the
    work, and ``check`` exited 1 whether or not it found a leak."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def data_options(p) -> None:
    """What the served dashboard shows: for ``serve``, and after ``--args`` for ``panel serve``
    (:mod:`leak_app.dashboard`)."""
    _path_options(p, SERVED_FILES)
    _source_options(p)
    p.add_argument("--max-upload-mb", type=_number(int, 1), default=200,
                   help="largest file the upload accepts (checked in the browser before it is sent)")


def _source_options(p) -> None:
    p.add_argument("--connect", metavar="URL",
                   help="read sessions from a database or warehouse instead of a file: an Ibis URL "
                        "(duckdb:///file.ddb, bigquery://project/dataset, postgres://...)")
    p.add_argument("--table", default="sessions", help="with --connect: the table or view of sessions")
    p.add_argument("--mapping", metavar="FILE.toml",
                   help="column mapping for a file in no known format ([columns] name = \"column\")")
    p.add_argument("--map", action="append", metavar="NAME=COLUMN", type=_pair,
                   help="map one canonical column to the file's column (repeat; overrides --mapping)")
    p.add_argument("--revenue-scale", type=float, metavar="X",
                   help="with a mapping: the revenue column's unit in currency units (0.01 for cents, "
                        "0.000001 for GA's micros; overrides the mapping file's)")
    p.add_argument("--rows", choices=("sessions", "hits"),
                   help="with a mapping: a row per session, or per hit or product with the session's "
                        "totals repeated on each (overrides the mapping file's rows)")
    p.add_argument("--date-order", choices=("day-first", "month-first"),
                   help="with a mapping: dates such as 03/04/2026 are 3 April (day-first) or 4 March "
                        "(month-first), where no date above the 12th tells it (overrides the mapping file's)")


def _comparison_options(p, current: str, baseline: str, default: str) -> None:
    """The periods, filters and settings of the silent-leak comparison (``summary`` and ``check``)."""
    p.add_argument("--current", type=_spec("current"), default=current, metavar="PERIOD",
                   help=f"the period checked: {periods.EXAMPLES['current']} (default: {default[0]})")
    p.add_argument("--baseline", type=_spec("baseline"), default=baseline, metavar="PERIOD",
                   help=f"the period it is compared with: {periods.EXAMPLES['baseline']}; previous-N "
                        f"ends the day before the current period starts (default: {default[1]})")
    p.add_argument("--no-align", action="store_true",
                   help="keep a rolling baseline in days as written (default: shortened to whole weeks)")
    p.add_argument("--dates", type=_dates, metavar="START:END",
                   help="only these days of the data (rolling periods end on the last of them)")
    for name, plural in (("device", "devices"), ("country", "countries"), ("source", "top sources"),
                         ("channel", "channels")):
        p.add_argument(f"--{name}", action="append", metavar=name.upper(),
                       help=f"only these {plural} (repeat the option for more than one)")
    p.add_argument("--level", type=float, help="chance of any false leak (default 0.025)")
    p.add_argument("--min-sessions", type=int,
                   help="fewest sessions a segment needs to be rated (default 100)")
    p.add_argument("--top-sources", type=int, help="sources named; the rest are one group (default 10)")


def _spec(role: str):
    def parse(text: str) -> str:
        try:
            return periods.validate(text, role)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc
    return parse


def _dates(text: str) -> tuple:
    try:
        return tuple(day.to_pydatetime() for day in periods.dates(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _output_file(suffixes: tuple[str, ...], what: str):
    """An argument type: a file to write, of one of ``suffixes``, checked before the work (a folder
    given, or another suffix, ended in a traceback after it: Panel saves "x.txt" as "x.txt.html")."""
    def check(text: str) -> str:
        if Path(text).suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text!r}: {what}")
        if Path(text).is_dir():
            raise argparse.ArgumentTypeError(f"{text!r}: is a folder; give a file's name")
        return _in_parent(text)
    return check


_report_file = _output_file((".md", ".markdown", ".html", ".htm"), "a report is a .md or .html file")
_html_file = _output_file((".html", ".htm"), "the dashboard is saved as an .html file")


def _writable(folder_of):
    """An argument type: the output is checked before the work, not after it (``folder_of`` gives
    the folder a value writes in; folders not there yet are made in the nearest existing one)."""
    def check(text: str) -> str:
        folder = Path(folder_of(text)).resolve()
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            raise argparse.ArgumentTypeError(f"{text!r}: cannot write in {existing}")
        return text
    return check


_in_parent = _writable(lambda text: Path(text).parent)


def _number(convert, low, above: bool = False, high=None):
    """An argument type: a number of at least ``low`` (above it, where ``above``) and at most
    ``high``, finite: 'nan' passed every check made by comparison (``check --min-lost nan`` found no
    silent leak, exit 0)."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = math.nan
        within = (value > low if above else value >= low) and value <= (math.inf if high is None else high)
        if not within or math.isinf(value):
            bound = f"above {low}" if above else f"of at least {low}"
            raise argparse.ArgumentTypeError(f"{text!r}: expected a number {bound}"
                                             + (f" and at most {high:,}" if high is not None else ""))
        return value
    return parse


def _pair(text: str) -> str:
    """A ``--map`` NAME=COLUMN, both given ("=x" was said as an unknown name "", "visitor_id=" as a
    missing column '')."""
    name, _, column = text.partition("=")
    if not (name.strip() and column.strip()):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=COLUMN, e.g. visitor_id=customer")
    return text


def parser() -> argparse.ArgumentParser:
    job_defaults = (DEFAULT_CURRENT, DEFAULT_BASELINE)
    top = argparse.ArgumentParser(prog="python -m leak_app", description=__doc__.replace("``", ""))
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the dashboard (default: the bundled demo data)")
    data_options(p)
    p.add_argument("--port", type=_number(int, 0, high=65_535), default=5006)  # (0: any free port)
    p.add_argument("--address", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--allow-websocket-origin", action="append",
                   help="extra host[:port] browsers may connect from when sharing the app")
    p.add_argument("--basic-auth", help="password, or a JSON file of user: password, to require")
    p.add_argument("--cookie-secret", help="cookie secret (required with --basic-auth)")
    p.set_defaults(run=serve)

    p = sub.add_parser("export", help="save the dashboard as one offline HTML file")
    p.add_argument("output", nargs="?", default="outputs/dashboard.html", type=_html_file)
    _path_options(p, SESSION_FILES, positional=False)
    _source_options(p)
    p.set_defaults(run=export)

    p = sub.add_parser("png", help="save every view as a PNG (needs Chromium)")
    p.add_argument("folder", nargs="?", default="outputs", type=_writable(Path))
    _path_options(p, SESSION_FILES, positional=False)
    _source_options(p)
    p.set_defaults(run=png)

    p = sub.add_parser("summary", help="print KPIs, tables and takeaways")
    _path_options(p, SESSION_FILES)
    _source_options(p)
    p.add_argument("--json", action="store_true", help="print everything as one JSON object")
    _comparison_options(p, "", "", ("the second half of the dates", "the first half"))
    p.set_defaults(run=summary)

    p = sub.add_parser("check", help="look for silent leaks, for cron and CI: exit status 0 none found, "
                       "1 found, 2 cannot check, 3 found or not but the report or alert failed")
    _path_options(p, SESSION_FILES)
    _source_options(p)
    _comparison_options(p, job_defaults[0], job_defaults[1], job_defaults)
    p.add_argument("--min-lost", type=_number(float, 0), default=1, metavar="N",
                   help="report only silent leaks losing at least N conversions (default 1)")
    p.add_argument("--report", type=_report_file, metavar="FILE",
                   help="write a report of what was found: FILE.md (Markdown) or FILE.html (offline page)")
    p.add_argument("--webhook", default=os.environ.get("LEAK_APP_WEBHOOK"), metavar="URL",
                   help="POST the silent leaks found (Slack/Teams {\"text\": ...} plus the rows) to this "
                        "URL; default: the LEAK_APP_WEBHOOK environment variable, which keeps the secret "
                        "out of crontabs and process lists")
    p.add_argument("--webhook-timeout", type=_number(float, 0, above=True), default=10, metavar="SECONDS",
                   help="longest wait for one attempt (4 attempts, waits doubling from 1 s)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(run=check)
    return top


#: The status of a command whose reader closed its output (``summary --json | head``): a shell's for a
#: program that SIGPIPE ended, as ``yes | head`` leaves it.
CLOSED_OUTPUT = 128 + 13
#: The status of a command that failed where nothing was expected to (a bug): ``check``'s "cannot
#: check", never its 1, "found", which a scheduler would read as a leak.
UNEXPECTED = 2


def main(argv=None) -> int:
    _escaped_where_unwritable()
    args = parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except (LoadError, CheckError) as exc:
        _say(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Quietly, as Python's signal module documents (SIGPIPE's default would also end the server
        # when a browser drops its connection): Python flushes stdout again on exit, so it is pointed
        # at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return CLOSED_OUTPUT
    except Exception as exc:  # noqa: BLE001 - a bug: Python's own status for it, 1, is check's "found"
        traceback.print_exc()
        _say(f"error: {args.command} failed unexpectedly ({type(exc).__name__}: {exc}); the traceback above "
             "says where", file=sys.stderr)
        return UNEXPECTED
