"""Where sessions come from: a file loaded into pandas, or an Ibis table on any engine.

The model only needs an Ibis table in the canonical schema to build its cube;
this module turns whatever it is given into one.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import duckdb
import ibis
import pandas as pd

from . import ga4
from .avro import as_parquet
from .duck import registered
from .file_sets import PLAIN_NAME, file_label, named_as_written, plain_suffix, session_files, unzipped
from .files import code_digest, identity
from .loaders import GA4_EVENTS, load_sessions, missing_columns, recognised
from .parse import Grouping, date_of
from .readers import as_utf8, refuse_repeated_columns
from .scan import (
    counted_events,
    file_kind,
    held_bytes,
    mixed_line_ends,
    scan_layout,
    scan_sessions,
    text_codec,
)
from .schema import (
    ECOMMERCE_STEPS,
    MEASURES,
    NOT_SET,
    NUMERIC,
    SESSION_KEY,
    TEXT,
    LoadError,
    LoadReport,
    above_zero,
    first_of,
    implausible,
    implausible_date,
    not_a_date,
    zero_columns,
)
from .workbooks import MAX_WORKBOOK_BYTES, is_workbook, kept_sheet
from .workspace import owned, workspace

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "data" / "demo_sessions.parquet"
#: Flat files holding this much data are scanned by DuckDB rather than loaded by pandas (a gzip
#: file's once expanded, a Parquet file's counted from its rows: see :func:`.scan.held_bytes`).
SCAN_FROM_BYTES = int(os.environ.get("LEAK_APP_SCAN_FROM_BYTES", str(16 * 2**20)))
#: What a .zip archive may unpack to (``LEAK_APP_UNZIP_LIMIT_BYTES``; an upload's: 20 times its limit).
UNZIP_LIMIT_BYTES = int(os.environ.get("LEAK_APP_UNZIP_LIMIT_BYTES", str(4 * 2**30)))
#: How :func:`opened_as_csv` writes a workbook: its sheet of sessions as CSV.
SHEET = "sheet"
#: A zip archive's first bytes (of a file, or of an empty archive's directory).
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
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


def open_sessions(path: str | Path, name: str | None = None, mapping=None, scan_from: int | None = None,
                  unzip_limit: int = UNZIP_LIMIT_BYTES, origin: list[Path] | None = None,
                  grouping: Grouping | None = None, load_limit: int | None = None
                  ) -> tuple[pd.DataFrame | ibis.Table, LoadReport]:
    """The sessions of a file, or of a folder's or a pattern's files (:mod:`.file_sets`), or of a
    .zip archive's files (read as a folder, :func:`opened_zip`), and how they were loaded.

    Files holding ``scan_from`` bytes of data or more together (default ``SCAN_FROM_BYTES``; see
    :func:`.scan.held_bytes`: a gzip file's expanded, a Parquet file's from its rows) in a flat layout
    or of GA4 events are scanned by DuckDB, never held in memory, and so are GA4 events of any
    size (DuckDB reads them 15 times as fast as pandas); the rest are loaded by pandas, which
    reads every export layout, and so are small GA4 JSON files with a line DuckDB cannot read
    (pandas counts such lines; a large file is refused with its line). ``origin``: the files these
    were made from (an archive, Avro files: see :func:`.scan.scan_key`); ``grouping``: what else a
    scan groups the rows by in the pass that counts them (see :func:`.parse.parse_sessions`);
    ``load_limit``: the most data pandas may read into memory (None: any), an upload's: a layout
    only pandas reads (one JSON array of records) takes several times its data in memory (109 MB of
    the Kaggle CSV, read so before it was scanned, took 1.2 GB), and a zip or gzip upload of 200 MB
    may hold 4 GB of it.
    """
    path, label = Path(path), name or str(path)
    if is_zip(path) and not is_workbook(path):
        return opened_zip(path, label, unzip_limit, mapping=mapping, scan_from=scan_from,
                          grouping=grouping, load_limit=load_limit)
    limit = SCAN_FROM_BYTES if scan_from is None else scan_from
    files = session_files(path, label)
    writing = [SHEET if is_workbook(file) else text_codec(file) for file in files]
    if any(writing):
        return opened_as_csv(files, writing, label, origin=origin or files, mapping=mapping,
                             scan_from=scan_from, grouping=grouping, load_limit=load_limit)
    held = held_bytes(files, label, limit)
    kind = file_kind(files[0])
    if kind == "avro" and held >= limit:
        return opened_avro(files, label, origin=origin, mapping=mapping, scan_from=scan_from,
                           grouping=grouping, load_limit=load_limit)
    try:
        return _scanned_or_loaded(path, files, label, kind, held, limit, mapping=mapping, origin=origin,
                                  grouping=grouping, load_limit=load_limit)
    except (LoadError, duckdb.Error):
        scanned_csv = kind == "csv" and held >= limit
        mixed = [scanned_csv and mixed_line_ends(file, file_label(file, files, label)) for file in files]
        if not any(mixed):
            raise
    # DuckDB could not read files whose lines end two ways: scanned as written with LF alone
    return opened_as_csv(files, ["utf-8-sig" if each else None for each in mixed], label,
                         origin=origin or files, mapping=mapping, scan_from=scan_from, grouping=grouping,
                         load_limit=load_limit)


def _scanned_or_loaded(path: Path, files: list[Path], label: str, kind: str, held: int, limit: int, mapping,
                       origin: list[Path] | None, grouping: Grouping | None, load_limit: int | None
                       ) -> tuple[pd.DataFrame | ibis.Table, LoadReport]:
    """:func:`open_sessions` of files read as they are: scanned where they hold ``limit`` bytes of
    data or more (``held``), or are GA4 events, loaded by pandas otherwise."""
    large = held >= limit
    layout = (scan_layout(files[0], mapping, file_label(files[0], files, label) if large else None)
              if large or kind in ("parquet", "json") else None)
    if layout is None or not (large or layout is GA4_EVENTS):
        if load_limit is not None:
            _refuse_loading(files, label, held, limit, load_limit)
        return load_sessions(path, name=label, mapping=mapping)
    try:
        return scan_sessions(path, name=label, layout=layout, files=files, origin=origin, grouping=grouping)
    except (LoadError, duckdb.Error):  # a line it cannot read (past the lines it looked at first)
        if large or kind == "parquet":
            raise
        return load_sessions(path, name=label, mapping=mapping)


def _refuse_loading(files: list[Path], label: str, held: int, counted_to: int, most: int) -> None:
    """A LoadError where ``files`` hold more than ``most`` bytes of data (see :func:`open_sessions`'
    ``load_limit``). ``held``: their data as
    :func:`.scan.held_bytes` counted it until ``counted_to``; counted further only where that stopped
    short of deciding."""
    if counted_to <= held <= most:
        held = held_bytes(files, label, most + 1)
    if held > most:
        raise LoadError(f"{label}: holds more than {most / 2**20:,.0f} MB of data once expanded, in a layout "
                        f"read into memory rather than scanned (such as one JSON array of records): more "
                        f"than an upload may (--max-upload-mb); a flat export of the sessions (CSV, JSON or "
                        f"Parquet) is scanned from disk at any size")


def is_zip(path: Path) -> bool:
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(4) in ZIP_MAGIC


def opened_zip(archive: Path, label: str, limit: int, **options
               ) -> tuple[pd.DataFrame | ibis.Table, LoadReport]:
    """:func:`open_sessions` of a .zip archive's files (an export's daily files, zipped to be sent at
    once), unpacked into a private folder (see :func:`_opened_in`)."""
    def unpacked(inside: Path) -> tuple[Path, dict[str, str]]:
        folder, names = unzipped(archive, inside, label, limit)
        for path, name in names.items():  # (read as text, one was refused as "not UTF-8 text")
            if is_zip(Path(path)) and not is_workbook(Path(path)):
                raise LoadError(f"{name}: an archive inside the archive; zip the files themselves, or load "
                                f"this one on its own")
        return folder, names

    return _opened_in("zip_", label, unpacked, origin=[archive], **options)


def opened_avro(files: list[Path], label: str, origin: list[Path] | None = None, **options
                ) -> tuple[pd.DataFrame | ibis.Table, LoadReport]:
    """:func:`open_sessions` of Avro files holding too much to read into memory: each as the Parquet
    of its records kept by :mod:`.avro` (converted once), which are scanned, in a private folder
    (see :func:`_opened_in`). The report names the format as Avro, and the files as given. A 3.2 MB
    Avro export of 197,100 GA4 events read into memory took 60 s and 1.9 GB; written as JSON and
    scanned, 14 s and 0.35 GB. ``origin``: what the files were unpacked from (a .zip archive), which
    keys their conversions and scan in its place."""
    def written(inside: Path) -> tuple[Path, dict[str, str]]:
        inside.mkdir()
        converted = [as_parquet(file, file_label(file, files, label), inside, origin) for file in files]
        names = {str(parquet): str(file) for parquet, file in zip(converted, files)}
        return (inside if len(files) > 1 else converted[0]), names

    sessions, report = _opened_in("avro_", label, written, origin=origin or files, **options)
    report.format = report.format.replace("_parquet", "_avro")
    return sessions, report


def opened_as_csv(files: list[Path], writing: list[str | None], label: str, mapping=None,
                  load_limit: int | None = None, **options) -> tuple[pd.DataFrame | ibis.Table, LoadReport]:
    """:func:`open_sessions` of files some of which are read as CSV text written from them
    (``writing``: SHEET for a workbook's sheet of sessions, see :mod:`.workbooks`; a UTF-16 codec
    for UTF-16 text, see :func:`.readers.utf16`; None for a file read as it is), each written as
    UTF-8 and the others linked beside them, in a private folder (see :func:`_opened_in`): both
    engines then read them as any file. The report names the sheet each workbook was read from."""
    sheets = {}
    workbook_limit = min(MAX_WORKBOOK_BYTES, load_limit or MAX_WORKBOOK_BYTES)

    def header_layout(header: list[str]):
        return recognised(header, "csv", mapping)

    def written(inside: Path) -> tuple[Path, dict[str, str]]:
        inside.mkdir()
        names = {}
        for i, (file, how) in enumerate(zip(files, writing)):
            name = file_label(file, files, label)
            if how is None:
                (target := inside / f"{i:05d}{plain_suffix(file.name)}").symlink_to(file.resolve())
            elif how == SHEET:
                sheets[name] = kept_sheet(file, target := inside / f"{i:05d}.csv", name, header_layout,
                                          workbook_limit, _sheet_key(file, mapping, workbook_limit))
            else:
                target = inside / f"{i:05d}{plain_suffix(re.sub('(?i)[.]gz$', '', file.name))}"
                as_utf8(file, how, target, name)
            names[str(target)] = name
        return (inside if len(files) > 1 else target), names

    sessions, report = _opened_in("text_", label, written, mapping=mapping, load_limit=load_limit, **options)
    # (one file is opened as ``label`` names it; its entry names the file, as a file read as it is)
    report.files = [{**file, **({"sheet": sheets[file["path"]]} if file["path"] in sheets else {}),
                     **({"path": str(files[0])} if len(files) == 1 else {})} for file in report.files]
    return sessions, report


def _sheet_key(workbook: Path, mapping, limit: int) -> str | None:
    """What a workbook's sheet written as CSV depends on (see :func:`.workbooks.kept_sheet`): the
    workbook (where, size, modification, inode), the mapping that recognises its header, the limit on
    it and the code that writes it. None for the process's own files (an upload: nothing is kept)."""
    if owned(workbook):
        return None
    code = code_digest(("data/workbooks.py", "data/sheet_reader.py"))
    text = json.dumps([identity(workbook), repr(mapping), limit, code])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _opened_in(prefix: str, label: str, fill, **options) -> tuple[pd.DataFrame | ibis.Table, LoadReport]:
    """:func:`open_sessions` of what ``fill`` writes at the path it is given (named as ``label``'s
    file) in a new private folder, and returns with the name each file it wrote is known by (the
    file or folder to open, {path written: name}): the report and any LoadError name the files so
    ("export.zip/days/day 2.csv"), not by the private folder's paths. The folder lasts as long as
    the sessions (a scan reads them from disk) and is removed with them, at exit at the latest; at
    once on any error."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=workspace()))
    named = Path(label).name
    names: dict[str, str] = {}
    try:
        opened, names = fill(folder / (named if PLAIN_NAME.fullmatch(named) else "upload"))
        sessions, report = open_sessions(opened, name=label, **options)
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, LoadError):
            raise LoadError(named_as_written(str(exc), names)) from exc
        raise
    weakref.finalize(sessions, shutil.rmtree, folder, True)
    report.files = [{**file, "path": names.get(file["path"], file["path"])} for file in report.files]
    return sessions, report


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
    table = _opened_table(url, name, label)
    # named as a file's columns are read, in lower case: Snowflake names a view's unquoted columns in
    # capitals (VISITOR_ID), and the refusal said they were matched case-insensitively
    refuse_repeated_columns(table.columns, label)
    table = table.rename({c.strip().lower(): c for c in table.columns if c != c.strip().lower()})
    if ga4.is_ga4(table.columns):
        return events_table(table, label)
    table = _typed(table, label)
    # as in a file: a label or a measure the table lacks is "(not set)" or 0 for every session
    absent = [c for c in (*TEXT, *MEASURES) if c not in table.columns]
    missing = [c for c in CUBE_COLUMNS if c not in table.columns and c not in (*ECOMMERCE_STEPS, *absent)]
    if missing:
        raise missing_columns(label, missing, "canonical session table")
    table = table.mutate(**{c: ibis.literal(NOT_SET if c in TEXT else 0) for c in absent})
    measured = [name for name in MEASURES if name not in absent]
    # a row with no date, or one outside EARLIEST_DATE..tomorrow, dropped and counted as a file's is
    # (a row of 1900 made the cube a day for each day since)
    reasons = {not_a_date("date"): table.date.isnull(),
               implausible_date("date"): table.date.notnull() & implausible(table.date)}
    counting = table.aggregate(rows=table.count(), **above_zero(table, measured),
                               **{f"drop{i}": dropped.cast("int64").sum() for i, dropped in
                                  enumerate(reasons.values())})
    try:  # the first query: a view whose rows the engine cannot compute fails here, not when opened
        counts = counting.to_pandas().fillna(0)
    except Exception as exc:  # the engine's own message says what is wrong
        raise _unopened(label, exc, "read") from exc
    dropped = {reason: count for i, reason in enumerate(reasons)
               if (count := int(counts[f"drop{i}"].iloc[0]))}
    rows = int(counts["rows"].iloc[0])
    kept = rows - sum(dropped.values())
    if dropped:
        table = table.filter(~ibis.or_(*reasons.values()))
    return table, LoadReport(path=label, format="ibis_table", rows_read=rows, rows_kept=kept, sessions=kept,
                             dropped=dropped, absent_columns=absent, zero_columns=zero_columns(counts))


def _opened_table(url: str, name: str, label: str) -> ibis.Table:
    """The table ``name`` of the database at ``url``, or a LoadError: a DuckDB or SQLite file not
    there (connecting made an empty one, which then had no such table), a table not there (named
    beside those that are), or the backend's own reason."""
    parts = urlsplit(url)
    file = parts.netloc + parts.path
    if parts.scheme in ("duckdb", "sqlite") and file not in ("", ":memory:") and not Path(file).exists():
        raise LoadError(f"{label}: no such database file")
    try:
        connection = ibis.connect(url)
    except ImportError as exc:  # (its message's first line left out how to install the backend)
        lines = str(exc).splitlines()
        install = next((line.split("#")[0].strip() for line in lines if "pip install" in line), "")
        raise LoadError(f"{label}: cannot be opened: Ibis' backend for {parts.scheme} is not installed"
                        + (f"; install it with: {install}" if install else "")) from exc
    except Exception as exc:  # the backend's own message says what is wrong
        raise _unopened(label, exc) from exc
    try:
        return connection.table(name)
    except Exception as exc:
        try:
            there = connection.list_tables()
        except Exception:  # noqa: BLE001 - not connected, or not allowed to list: its reason says why
            raise _unopened(label, exc) from exc
        if name in there:
            raise _unopened(label, exc) from exc
        raise LoadError(f"{label}: no such table or view there (it has {first_of(there) or 'none'})") from exc


def _unopened(label: str, exc: Exception, done: str = "opened") -> LoadError:
    """A table that cannot be opened (or ``done`` otherwise), for the backend's reason: its message's
    first line, or its type."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return LoadError(f"{label}: cannot be {done} ({reason})")


def _typed(table: ibis.Table, label: str) -> ibis.Table:
    """A warehouse table's columns as the cube reads them: ids and labels of any type as text (a
    warehouse's visitor ids are often integers, which the cube's comparison with "" made a
    ConversionError), dates as a file's are read (:func:`.parse.date_of`: timestamps, text
    YYYY-MM-DD or GA's YYYYMMDD), and dates and measures of another type refused by column (a
    traceback from the engine before), to be converted in a view."""
    wrong, dates = [], {}
    for column in table.columns:
        kind = table[column].type()
        if column == "date" and (kind.is_string() or kind.is_date() or kind.is_timestamp()):
            # as a file's is read (null where it is no such date)
            dates["date"] = date_of(table.date, named_months=table.get_backend().name == "duckdb")
        elif column == "date":
            wrong.append(f"date is {kind}, not a date, a timestamp or text YYYY-MM-DD")
        elif (column in NUMERIC and not kind.is_numeric()
              or column in ECOMMERCE_STEPS and not (kind.is_numeric() or kind.is_boolean())):
            wrong.append(f"{column} is {kind}, not numbers")
    if wrong:
        raise LoadError(f"{label}: {'; '.join(wrong)}: convert {'them' if len(wrong) > 1 else 'it'} in a "
                        f"view of the table, in the warehouse's own SQL (CAST, PARSE_DATE, ...)")
    return table.mutate(**dates, **{c: table[c].cast("string") for c in (*SESSION_KEY, *TEXT)
                                    if c in table.columns and not table[c].type().is_string()})


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


def open_data(path: str | Path | None = None, mapping=None, table: tuple[str, str] | None = None,
              grouping: Grouping | None = None) -> tuple[pd.DataFrame | ibis.Table, LoadReport]:
    """The sessions of a file, or of a (connection URL, table name), and how they were loaded
    (``grouping``: :func:`open_sessions`')."""
    if table is not None:
        return open_table(*table)
    return open_sessions(path, mapping=mapping, grouping=grouping)
