"""``python -m leak_app``: serve, export, png and summary, for people and scripts alike."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from .schema import LoadError


def _mapping(args):
    """The column mapping given by --mapping FILE and/or --map name=column, if any."""
    from .loaders import read_mapping

    pairs = dict(item.split("=", 1) for item in (args.map or []))
    if args.mapping is None and not pairs:
        return None
    return read_mapping(args.mapping, pairs)


def _table(args) -> tuple[str, str] | None:
    """(connection URL, table name) given by --connect and --table, if any."""
    return (args.connect, args.table) if args.connect else None


def _model(path, args):
    from .app import data_path
    from .model import SessionModel
    from .sources import open_data

    sessions, report = open_data(Path(path or data_path()), _mapping(args), _table(args))
    return SessionModel(sessions=sessions, load_report=report.to_dict())


def serve(args) -> None:
    import panel as pn

    from .app import cached_sessions, create_app, data_path

    path = Path(args.data) if args.data else data_path()
    mapping, table = _mapping(args), _table(args)
    cached_sessions(path, mapping, table)  # data that cannot be loaded stops here, with its error
    origins = [f"{host}:{args.port}" for host in ("localhost", "127.0.0.1", args.address)]
    origins += args.allow_websocket_origin or []
    print(f"Serving {f'{table[0]} table {table[1]}' if table else path} at http://{args.address}:{args.port}",
          flush=True)
    pn.serve(
        {"": lambda: create_app(path, mapping, table)}, port=args.port, address=args.address, show=False,
        allow_websocket_origin=sorted(set(origins)), title="Silent Leak Detector",
        websocket_max_message_size=args.max_upload_mb * 1024 * 1024,
        basic_auth=args.basic_auth, cookie_secret=args.cookie_secret,
    )


def export(args) -> None:
    from .export import export_html

    print(export_html(_model(args.data, args), args.output))


def png(args) -> None:
    from .export import export_pngs

    for path in export_pngs(_model(args.data, args), args.folder):
        print(path)


def _period(text: str) -> tuple:
    try:
        start, end = (pd.Timestamp(part).to_pydatetime() for part in text.split(":"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected START:END dates, e.g. 2026-08-01:2026-08-31") from exc
    if end < start:
        raise argparse.ArgumentTypeError(f"{text!r}: the period ends before it starts")
    return start, end


def summary(args) -> None:
    model = _model(args.path, args)
    model.param.update(baseline_period=args.baseline, current_period=args.current)
    result = model.summary()
    if args.json:
        json.dump(result, sys.stdout, indent=2, ensure_ascii=False, allow_nan=False)
        sys.stdout.write("\n")
        return
    kpis = result["kpis"]
    print(f"{kpis['sessions']:,} sessions, {kpis['converting_sessions']:,} converting "
          f"({kpis['conversion_rate']:.2%}), revenue {kpis['revenue']:,.2f}")
    for sentence in result["takeaways"]:
        print(f"- {sentence}")


def _source_options(p) -> None:
    p.add_argument("--connect", metavar="URL",
                   help="read sessions from a database or warehouse instead of a file: an Ibis URL "
                        "(duckdb:///file.ddb, bigquery://project/dataset, postgres://...)")
    p.add_argument("--table", default="sessions", help="with --connect: the table or view of sessions")
    p.add_argument("--mapping", metavar="FILE.toml",
                   help="column mapping for a file in no known format ([columns] name = \"column\")")
    p.add_argument("--map", action="append", metavar="NAME=COLUMN", type=_pair,
                   help="map one canonical column to the file's column (repeat; overrides --mapping)")


def _pair(text: str) -> str:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=COLUMN, e.g. visitor_id=customer")
    return text


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m leak_app", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the dashboard (default: the bundled demo data)")
    p.add_argument("--data", help="session file to serve (CSV, JSON, Parquet; gzipped or not)")
    _source_options(p)
    p.add_argument("--port", type=int, default=5006)
    p.add_argument("--address", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--allow-websocket-origin", action="append",
                   help="extra host[:port] browsers may connect from when sharing the app")
    p.add_argument("--basic-auth", help="password, or a JSON file of user: password, to require")
    p.add_argument("--cookie-secret", help="cookie secret (required with --basic-auth)")
    p.add_argument("--max-upload-mb", type=int, default=200, help="largest file the upload accepts")
    p.set_defaults(run=serve)

    p = sub.add_parser("export", help="save the dashboard as one offline HTML file")
    p.add_argument("output", nargs="?", default="outputs/dashboard.html")
    p.add_argument("--data", help="session file (default: the bundled demo data)")
    _source_options(p)
    p.set_defaults(run=export)

    p = sub.add_parser("png", help="save every view as a PNG (needs Chromium)")
    p.add_argument("folder", nargs="?", default="outputs")
    p.add_argument("--data", help="session file (default: the bundled demo data)")
    _source_options(p)
    p.set_defaults(run=png)

    p = sub.add_parser("summary", help="print KPIs, tables and takeaways")
    p.add_argument("path", nargs="?", help="session file (default: the bundled demo data)")
    _source_options(p)
    p.add_argument("--json", action="store_true", help="print everything as one JSON object")
    p.add_argument("--baseline", type=_period, metavar="START:END",
                   help="silent leaks: the period to compare against (default: first half of the dates)")
    p.add_argument("--current", type=_period, metavar="START:END",
                   help="silent leaks: the period to check (default: second half of the dates)")
    p.set_defaults(run=summary)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
