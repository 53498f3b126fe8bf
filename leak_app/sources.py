"""Where sessions come from: a file loaded into pandas, or an Ibis table on any engine.

The model only needs an Ibis table in the canonical schema to build its cube;
this module turns whatever it is given into one.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import ibis
import pandas as pd

from . import ga4
from .duck import registered
from .file_sets import session_files
from .loaders import GA4_EVENTS, load_sessions, missing_columns
from .scan import counted_events, file_kind, scan_layout, scan_sessions
from .schema import ECOMMERCE_STEPS, MEASURES, NOT_SET, TEXT, LoadError, LoadReport

DEFAULT_DATA = Path(__file__).resolve().parent.parent / "data" / "demo_sessions.parquet"
#: Flat files from this size on are scanned by DuckDB rather than loaded by pandas.
SCAN_FROM_BYTES = int(os.environ.get("LEAK_APP_SCAN_FROM_BYTES", str(16 * 2**20)))
#: The canonical columns the cube reads (the visitor's id for its design effect; session ids
#: are only needed while loading).
CUBE_COLUMNS = ("visitor_id", "date", *TEXT, "pageviews", "duration", "transactions", "revenue",
                *ECOMMERCE_STEPS)


@contextmanager
def session_table(sessions: pd.DataFrame | ibis.Table) -> Iterator[ibis.Table]:
    """An Ibis table of the sessions while the block runs: a DataFrame's cube columns in a DuckDB
    database of their own (see duck.registered)."""
    if isinstance(sessions, ibis.Table):
        yield sessions
        return
    with registered(sessions[[c for c in CUBE_COLUMNS if c in sessions.columns]], "sessions") as table:
        yield table


def has_ecommerce_steps(sessions: pd.DataFrame | ibis.Table) -> bool:
    """Whether the sessions say which GA4 e-commerce steps each reached."""
    return set(ECOMMERCE_STEPS) <= set(sessions.columns)


def open_sessions(path: str | Path, name: str | None = None, mapping=None, scan_from: int | None = None
                  ) -> tuple[pd.DataFrame | ibis.Table, LoadReport]:
    """The sessions of a file, or of a folder's or a pattern's files (:mod:`.file_sets`), and how
    they were loaded.

    Files of ``scan_from`` bytes or more together (default ``SCAN_FROM_BYTES``) in a flat layout
    or of GA4 events are scanned by DuckDB, never held in memory, and so are GA4 events in
    Parquet of any size (DuckDB reads them 15 times as fast as pandas, which gains nothing
    there: a Parquet file has no unreadable lines to count); the rest are loaded by pandas,
    which reads every export layout.
    """
    path = Path(path)
    limit = SCAN_FROM_BYTES if scan_from is None else scan_from
    files = session_files(path, name or str(path))
    large = sum(file.stat().st_size for file in files) >= limit
    layout = scan_layout(files[0], mapping) if large or file_kind(files[0]) == "parquet" else None
    if layout is not None and (large or layout is GA4_EVENTS):
        return scan_sessions(path, name=name, layout=layout, files=files)
    return load_sessions(path, name=name, mapping=mapping)


def open_table(url: str, name: str) -> tuple[ibis.Table, LoadReport]:
    """A session table in a database or warehouse Ibis connects to, left where it is.

    ``url`` is an Ibis connection URL: ``duckdb:///path/to/file.ddb``,
    ``bigquery://project/dataset``, ``postgres://user:pass@host/db``... The table (or
    view) must have the canonical columns (the labels and measures a file may lack, it may
    lack too); its rows are trusted as sessions (build
    such a view with the warehouse's own SQL), and only the cube's aggregate ever
    leaves the engine. A GA4 export's events table is built into sessions there
    (:func:`events_table`).
    """
    label = f"{without_password(url)} table {name}"
    try:
        table = ibis.connect(url).table(name)
    except Exception as exc:  # the backend's own message says what is wrong
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LoadError(f"{label}: cannot be opened ({reason})") from exc
    if ga4.is_ga4(table.columns):
        return events_table(table, label)
    # as in a file: a label or a measure the table lacks is "(not set)" or 0 for every session
    absent = [c for c in (*TEXT, *MEASURES) if c not in table.columns]
    missing = [c for c in CUBE_COLUMNS if c not in table.columns and c not in (*ECOMMERCE_STEPS, *absent)]
    if missing:
        raise missing_columns(label, missing, "canonical session table")
    table = table.mutate(**{c: ibis.literal(NOT_SET if c in TEXT else 0) for c in absent})
    rows = int(table.count().to_pandas())
    return table, LoadReport(path=label, format="ibis_table", rows_read=rows, rows_kept=rows, sessions=rows,
                             absent_columns=absent)


def events_table(events: ibis.Table, label: str) -> tuple[ibis.Table, LoadReport]:
    """A GA4 export's own events table (``events_*``) built into sessions by the engine that holds
    it (:mod:`.ga4`); the events' drops are in the report."""
    GA4_EVENTS.refuse_missing(events.columns, label)
    report = LoadReport(path=label, format="ga4_events_table", rows_read=0)
    return counted_events(events, report), report


def data_path() -> Path:
    """The file served by default: ``LEAK_APP_DATA`` if set, else the bundled demo data."""
    return Path(os.environ.get("LEAK_APP_DATA") or DEFAULT_DATA)


def without_password(url: str) -> str:
    """A connection URL as it may be shown, logged or posted: its password hidden."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def open_data(path: str | Path | None = None, mapping=None, table: tuple[str, str] | None = None
              ) -> tuple[pd.DataFrame | ibis.Table, LoadReport]:
    """The sessions of a file, or of a (connection URL, table name), and how they were loaded."""
    return open_table(*table) if table is not None else open_sessions(path, mapping=mapping)
