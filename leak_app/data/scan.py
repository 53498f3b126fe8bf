"""Session files scanned by DuckDB, never loaded into pandas: larger than memory.

Flat layouts are scanned: the canonical table, the Google Analytics session exports
and files with a column mapping; so are Universal Analytics' BigQuery exports and the Kaggle
CSV (their records' fields read as columns, ``totals.pageviews``, from JSON in the CSV's cells)
and GA4 event exports, built into sessions by :mod:`.ga4`'s query.
The rows are parsed and checked by :mod:`.parse` (the parser of the tables pandas reads
too), so every row is still accounted for, and the session table stays a lazy query that
the cube build runs. DuckDB streams the file
and spills to disk what does not fit in its memory limit.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import duckdb
import fastavro
import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa
import pyarrow.parquet as pq

from . import ga4, ua
from .duck import without_progress_bar
from .file_sets import file_label, file_rows, format_name, refuse_a_mix
from .files import code_digest, identity, kept_scan, replaced
from .interface_reports import refuse_a_ga_report
from .loaders import GA4_EVENTS, GA_KAGGLE, Layout, detect_layout, recognised
from .parse import FILE, NOT_JSON, Grouping, counted_events, kept_rows, merged, parse_sessions, trimmed
from .readers import (
    DECIMAL_COMMA,
    DELIMITER_NAMES,
    EXCEL_SEP,
    GZIP_ERRORS,
    GZIP_MAGIC,
    TAIL_BYTES,
    comma_columns,
    csv_header,
    decimal_comma_columns,
    delimiter,
    gunzipped,
    kind_of,
    not_utf8,
    other_cells,
    refuse_a_cut_end,
    refuse_repeated_columns,
    uneven_row,
    utf16,
    with_decimal_point,
)
from .schema import (
    LoadError,
    LoadReport,
    latest_date,
)
from .workspace import owned, workspace

#: Memory DuckDB may use before spilling to disk (the cube and the app need the rest);
#: ``LEAK_APP_DUCKDB_MEMORY`` sets another.
MEMORY_LIMIT = "1GB"
#: Layouts scanned (flat columns, or records read as columns); the others are read by pandas.
SCANNED = ("canonical", "ga_sessions_csv", "ga_sessions_cleaned_csv", "ga_sessions_bigquery_json",
           "ga_customer_revenue_csv", "mapped")
#: The longest line of a CSV file scanned: DuckDB's own limit (2 MB) refused a Kaggle CSV whose
#: row of a long session held 5 MB of hits, and so sent any such file to pandas, whole. (Its buffers
#: at twice that are the size they are by default: the same speed and memory.)
MAX_LINE_BYTES = 2**24
#: A Parquet or Avro row as bytes of data (about a session's line in a CSV export), in :func:`held_bytes`.
ROW_BYTES = 100


def file_kind(path: Path) -> str:
    """ "parquet", "avro", "json" (newline-delimited) or "csv", from the first bytes (gzip looked
    through)."""
    return kind_of(_head(path, 4096))


def text_codec(path: Path) -> str | None:
    """The codec of a file written as UTF-8 before either engine reads it (readers.as_utf8): UTF-16
    text's (see readers.utf16), or UTF-8's where its first line is Excel's "sep=;" (left out: see
    readers.EXCEL_SEP); gzip looked through. None for any other file."""
    head = _head(path, 16)
    return utf16(head[:4]) or ("utf-8-sig" if EXCEL_SEP.match(head.decode("utf-8-sig", "replace")) else None)


def _head(path: Path, size: int) -> bytes:
    """A file's first ``size`` bytes, gunzipped where it is gzipped; none of a damaged gzip file
    (refused where it is read through, by :func:`.readers.gunzipped`, which names it)."""
    try:
        with _opened(path) as handle:
            return handle.read(size)
    except GZIP_ERRORS:
        return b""


def _first_line(path: Path, most: int = 2**20) -> str:
    """A file's first line that is not blank (a CSV's header, a first record), as pandas and DuckDB
    skip blank lines before it ("" where it has none); at most ``most`` bytes of it."""
    with _opened(path) as handle:
        while line := handle.readline(most).decode("utf-8-sig", errors="replace"):
            if line.strip("\r\n"):
                return line
    return ""


def _gzipped(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _opened(path: Path):
    """The file's bytes, uncompressed if it is gzipped."""
    return (gzip.open if _gzipped(path) else open)(path, "rb")


def refuse_a_bomb(path: Path, label: str) -> None:
    """A LoadError if the file is gzipped and expands beyond the loader's bounds (see
    readers.gunzipped), found by decompressing it once, up to the bound, before DuckDB scans it: a
    10 MB file expanding to 10 GB kept a scan running for over ten minutes. (A genuine file pays a
    decompression here, once: a second start finds its scan kept.)"""
    if _gzipped(path):
        _read_through(path, label)


def held_bytes(files: list[Path], label: str, enough: int) -> int:
    """How much data ``files`` hold, counted until ``enough``: a gzip file's as it expands (within
    :func:`refuse_a_bomb`'s bounds), a Parquet or Avro file's from its rows (ROW_BYTES a row), any
    other file's its size. What a file holds, not what it weighs on disk, decides whether pandas loads it
    whole: an 8.5 MB gzipped CSV expanding 150 times (1.3 GB) took 13.5 GB and 107 s to load, a
    3.7 MB Parquet file of 20 million rows 10.8 GB and 57 s (scanned: 2.0 and 1.4 GB)."""
    total = 0
    for file in files:
        if total >= enough:
            break
        if _gzipped(file):
            with open(file, "rb") as handle:
                for part in _parts(handle, file, file_label(file, files, label)):
                    total += len(part)
                    if total >= enough:
                        break
            continue
        kind = file_kind(file)
        rows = (_parquet_rows(file) if kind == "parquet"
                else _avro_records(file, -(-(enough - total) // ROW_BYTES)) if kind == "avro" else None)
        total += file.stat().st_size if rows is None else rows * ROW_BYTES
    return total


def _avro_records(path: Path, most: int) -> int | None:
    """An Avro file's records, counted from its blocks' headers until ``most`` (each block is
    decompressed, none decoded); None where that cannot be read (the reader then says why)."""
    count = 0
    try:
        with open(path, "rb") as handle:
            for block in fastavro.block_reader(handle):
                count += block.num_records
                if count >= most:
                    break
    except Exception:  # noqa: BLE001 - fastavro raises many types for a damaged file
        return None
    return count


def _parts(handle: BinaryIO, path: Path, label: str) -> Iterator[bytes]:
    """The content of the file open as ``handle``, in parts: gunzipped where it is gzipped, then
    within the bounds of :func:`.readers.gunzipped` (a LoadError beyond them)."""
    if _gzipped(path):
        return gunzipped(handle, path.stat().st_size, label)
    return iter(lambda: handle.read(2**24), b"")


def mixed_line_ends(path: Path, label: str) -> bool:
    """Whether a text file ends some lines in CRLF and others in LF alone (files joined from a
    Windows export and another), which DuckDB cannot read ("Error when sniffing file", or past the
    lines it sampled "state machine reached an invalid state") and pandas reads. Read through, within
    :func:`refuse_a_bomb`'s bounds, until both are seen."""
    crlf = lf = False
    ended_in_cr = False
    with open(path, "rb") as handle:
        for part in _parts(handle, path, label):
            pairs = part.count(b"\r\n") + (ended_in_cr and part.startswith(b"\n"))
            crlf, lf = crlf or pairs > 0, lf or part.count(b"\n") > pairs
            if crlf and lf:
                return True
            ended_in_cr = part.endswith(b"\r")
    return False


def _parquet_rows(path: Path) -> int | None:
    """A Parquet file's row count, from its footer; None where that cannot be read (the reader
    then says why)."""
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, ValueError):  # (pyarrow's ArrowInvalid is a ValueError)
        return None


def _read_through(path: Path, label: str) -> tuple[int, bytes, bool]:
    """The lines of a file (a last one without its line end counted), its last TAIL_BYTES and whether
    they are all of it, read through once, gunzipped where it is gzipped: then within
    :func:`refuse_a_bomb`'s bounds, a LoadError beyond them."""
    with open(path, "rb") as handle:
        lines, tail, size = 0, b"", 0
        for part in _parts(handle, path, label):
            lines, size = lines + part.count(b"\n"), size + len(part)
            tail = (part if len(part) >= TAIL_BYTES else tail + part)[-TAIL_BYTES:]
    return lines + (tail[-1:] not in (b"\n", b"")), tail, size <= TAIL_BYTES


def scan_layout(path: Path, mapping: Layout | None = None, label: str | None = None) -> Layout | None:
    """The layout a file is scanned with, or None if pandas must read it (nested, unknown). With
    ``label`` (how messages name the file), a CSV that DuckDB cannot read is refused, not left to
    pandas: a large one, which pandas would hold whole (a short row among the first DuckDB samples
    sent a file of 300,000 sessions to pandas, 0.9 GB)."""
    kind = file_kind(path)
    if kind == "avro":  # DuckDB reads Avro with an extension it downloads: pandas reads it (fastavro)
        return None
    try:
        raw = _read(ibis.duckdb.connect(), path, kind)
    except Exception as exc:  # (DuckDB raises many types for a file it cannot read)
        if label is not None and kind == "csv":
            raise _unsniffed(path, label) or _unreadable(label, kind, exc) from exc
        return None
    try:
        written = [c.strip().lower() for c in raw.columns]
        if recognised(written, kind, mapping) is GA4_EVENTS:  # its own query reads records and dotted
            return GA4_EVENTS                                  # names alike; the scan refuses what it lacks
        layout = detect_layout(_flattened(raw).columns, kind, str(path), mapping)
    except Exception:  # noqa: BLE001 - unreadable or unknown here: the pandas loader says why
        return None
    return layout if layout.name in SCANNED else None


#: The rows DuckDB's sniffer samples (its ``sample_size``), whose failure :func:`_unsniffed` explains.
SNIFFED_ROWS = 20_480


def _unsniffed(path: Path, label: str) -> LoadError | None:
    """Why DuckDB's sniffer could not read a CSV (it says only that no dialect fits), or None: a gzip
    file cut short or beyond the bounds of one (:func:`refuse_a_bomb`), a report downloaded from an
    analytics interface (:func:`.interface_reports.refuse_a_ga_report`), a file that ends mid-row
    (:func:`.readers.refuse_a_cut_end`), or a row among those it samples with more or fewer cells
    than the header."""
    try:
        refuse_a_bomb(path, label)
    except LoadError as exc:
        return exc
    sep, header = _csv_header(path)
    columns = len(header)
    with _opened(path) as handle:
        lines = list(itertools.islice(io.TextIOWrapper(handle, encoding="utf-8-sig", errors="replace",
                                                       newline=""), SNIFFED_ROWS + 2))
    sampled = "".join(lines[:-1] if len(lines) > SNIFFED_ROWS + 1 else lines)  # (the last may go on)
    try:
        refuse_a_ga_report(sampled, label)
    except LoadError as exc:
        return exc
    cut = _cut_short([path], label, "csv")
    if cut:
        return cut
    uneven = uneven_row(sampled, sep, columns)
    return LoadError(other_cells(label, columns, *uneven)) if uneven else None


def _flattened(raw: ibis.Table) -> ibis.Table:
    """The table with lower-case column names, its records' fields one level deep as columns of
    their own (``totals.pageviews``), as the pandas reader flattens them (GA4's ``event_params``, a
    list, stays whole)."""
    raw = raw.rename({c.strip().lower(): c for c in raw.columns if not c.startswith(NOT_JSON)})
    records = [c for c in raw.columns if raw[c].type().is_struct()]
    return raw.mutate(**{f"{c}.{name.strip().lower()}": raw[c][name]
                         for c in records for name in raw[c].type().names}).drop(*records)


def connect() -> ibis.BaseBackend:
    """An in-memory DuckDB that spills to a temporary directory beyond its memory limit."""
    spill = workspace() / "duckdb"
    spill.mkdir(exist_ok=True)
    limit = os.environ.get("LEAK_APP_DUCKDB_MEMORY", MEMORY_LIMIT)
    con = ibis.duckdb.connect(memory_limit=limit, temp_directory=str(spill))
    without_progress_bar(con.raw_sql)
    # Nothing here depends on the order of rows; keeping it made DuckDB hold the sessions of 100 M
    # GA4 events in memory, past its limit, instead of spilling them.
    con.raw_sql("SET preserve_insertion_order = false")
    return con


#: Seconds in each unit of Arrow's duration type.
_SPAN_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def _spans_in_seconds(table: ibis.Table, path: str) -> ibis.Table:
    """A span of time written by pandas or Arrow (a session's duration as a timedelta) in seconds,
    as pandas reads it: Parquet has no such type, so Arrow stores the count of its unit (nanoseconds)
    with its own schema beside, which DuckDB does not read (it read 129 seconds as 129,000,000,000)."""
    spans = {field.name: _SPAN_UNITS[field.type.unit] for field in pq.read_schema(path)
             if pa.types.is_duration(field.type) and field.name in table.columns}
    return table.mutate(**{name: table[name] * unit for name, unit in spans.items()}) if spans else table


def _read(con, files: Path | list[Path], kind: str, layout: Layout | None = None) -> ibis.Table:
    """A file, or several as one table (their columns matched by name: exports of different days
    may order them differently) with a ``FILE`` column naming each row's; ``layout``: the files',
    where known (default: recognised from them)."""
    paths = [str(file) for file in files] if isinstance(files, list) else [str(files)]
    named = {"filename": True, "union_by_name": True} if len(paths) > 1 else {}
    if kind == "parquet":
        return _spans_in_seconds(con.read_parquet(paths, **named), paths[0])
    if kind == "json":
        return _read_json(con, paths, named, layout)
    return _json_records(con.read_csv(paths, all_varchar=True, delim=delimiter(_first_line(Path(paths[0]))),
                                      max_line_size=MAX_LINE_BYTES, buffer_size=2 * MAX_LINE_BYTES, **named))


def json_as_parquet(source: Path, target: Path, label: str) -> None:
    """A newline-delimited JSON export written to ``target`` as Parquet, its records typed as a scan
    of it reads them (see :func:`_read_json`): scanned as the JSON would be. ``label``: how messages
    name the file the JSON was written from."""
    try:
        _read(connect(), source, "json").to_parquet(target)
    except duckdb.Error as exc:
        raise _unreadable(label, "json", exc) from exc


def _json_records(raw: ibis.Table) -> ibis.Table:
    """A CSV's columns of JSON records (the Kaggle CSV's: ua.json_columns) as records of the fields
    its layout reads, as text, each beside whether its row's cell, written, is not a JSON object
    (parse.NOT_JSON: the row is dropped, as the pandas reader drops it); other CSVs as they are."""
    columns = ua.json_columns(raw.columns)
    if not columns:
        return raw
    records = _declared(GA_KAGGLE.fields)
    parsed, broken = {}, {}
    for column in columns:
        text = raw[column]
        written = text.try_cast("json")
        parsed[column] = written.try_cast(records.fields[_spelled(column, records.fields)])
        broken[NOT_JSON + column] = (text.length() > 0).fill_null(False) & (
            written.isnull() | ~trimmed(text).startswith("{"))
    return raw.mutate(**parsed, **broken)


def _read_json(con, paths: list[str], named: dict, layout: Layout | None) -> ibis.Table:
    """Newline-delimited JSON files. DuckDB knows their records' fields and types from a sample, the
    first 20,480 records: a field first written after them (the revenue of a site whose first days
    sold nothing) was read as absent and a record refused ("unknown key"), and a number written whole
    in them read as an integer (a later 45.50 rounded to 46), though pandas reads all three. So the
    fields a layout reads (:attr:`Layout.fields`) are declared to it (see :func:`_merged`), the other
    columns read as JSON, untyped; a flat layout's columns are read as text, as a CSV's are (a value
    of another type than the sample's after it, a date that is not one, refused the whole file,
    where pandas drops its row)."""
    sampled = con.read_json(paths, format="newline_delimited", **named)
    layout = layout or recognised(_flattened(sampled).columns, "json")
    if layout is None:
        return sampled
    schema = sampled.schema()
    names = [name for name in schema if name != FILE]
    if layout.fields:
        columns = dict.fromkeys(names, dt.json)
        for name, kind in _declared(layout.fields).fields.items():
            written = _spelled(name, names)
            if written is not None:
                columns[written] = _merged(schema[written], kind)
            elif kind.is_struct():  # (a value the sample lacks is not: a required one is refused as missing)
                columns[name] = kind
    else:
        read = {str(column).lower() for column in layout.columns.values()}
        typed = {name for name in names if name.lower() in read and not schema[name].is_string()}
        if not typed:
            return sampled
        columns = {name: dt.string if name in typed else schema[name] for name in names}
    to_string = con.compiler.type_mapper.to_string
    return con.read_json(paths, format="newline_delimited", **named,
                         columns={name: to_string(kind) for name, kind in columns.items()})


def _declared(fields: tuple[str, ...]) -> dt.Struct:
    """The dotted ``fields`` as a record of records: text, but those ga4.TYPED types."""
    tree: dict = {}
    for name in fields:
        *records, leaf = name.split(".")
        node = tree
        for record in records:
            node = node.setdefault(record, {})
        node[leaf] = ibis.dtype(ga4.TYPED.get(name, pa.string()))

    def struct(node: dict) -> dt.Struct:
        return dt.Struct({key: struct(kind) if isinstance(kind, dict) else kind
                          for key, kind in node.items()})
    return struct(tree)


def _spelled(name: str, written) -> str | None:
    """The name of ``written`` that is ``name``, in its case or another (None if none is)."""
    return next((column for column in written if column.lower() == name.lower()), None)


def _merged(sampled: dt.DataType, declared: dt.DataType, in_record: bool = False) -> dt.DataType:
    """A field's type as :func:`_read_json` declares it: a record's declared fields, each named as the
    ``sampled`` record spells it and typed as merged with its type there, or as declared where it has
    none; a list's items likewise. A value keeps its sampled type (a GA4 export's timestamps read as
    text took 13% longer to scan), but is text where the sample held no value (null only: JSON) or a
    record, or, ``in_record``, whole numbers only: DuckDB then rounds a later 45.50 to 46 (a revenue;
    the top-level ids and timestamps, whole by the export's schema, keep their type)."""
    if declared.is_struct():
        fields = sampled.fields if sampled.is_struct() else {}
        merged = {}
        for name, kind in declared.fields.items():
            written = _spelled(name, fields)
            merged[written or name] = kind if written is None else _merged(fields[written], kind, True)
        return dt.Struct(merged)
    if declared.is_array():
        return dt.Array(_merged(sampled.value_type if sampled.is_array() else declared.value_type,
                                declared.value_type, in_record))
    whole = in_record and sampled.is_integer()
    return declared if whole or sampled.is_json() or sampled.is_nested() else sampled


def scan_sessions(path: str | Path, name: str | None = None, layout: Layout | None = None,
                  files: list[Path] | None = None, origin: list[Path] | None = None,
                  grouping: Grouping | None = None) -> tuple[ibis.Table, LoadReport]:
    """A session file, or a folder's or a pattern's ``files`` (:mod:`.file_sets`), as a lazy Ibis
    table of valid sessions, and its load report.

    ``layout``: how the files name the canonical columns (default: detected from them);
    ``origin``: the files they were made from (an archive, Avro files), which key the kept results;
    ``grouping``: what else to group the rows by in the pass that counts them (see parse_sessions),
    where they are read (not kept from an earlier scan).
    """
    path, label = Path(path), name or str(path)
    files = files or [path]
    kind = _one_kind(files, layout, label)
    if kind == "csv":
        _refuse_mixed_delimiters(files, label)
    try:
        raw = _read(connect(), files, kind, layout)
    except Exception as exc:  # DuckDB's own message says what is wrong, unless a file was cut short
        raise _cut_short(files, label, kind) or _unreadable(label, kind, exc, files) from exc
    try:  # a line past those DuckDB looked at first may be unreadable: said when the scan meets it
        return _scanned(_flattened(raw), label, files, kind, layout, origin, grouping)
    except duckdb.Error as exc:
        raise _unreadable(label, kind, exc, files) from exc


def _refuse_mixed_delimiters(files: list[Path], label: str) -> None:
    """Refuse CSV files with a repeated column name, or delimited unlike the first: DuckDB reads
    them as one table with the first's delimiter, and every row of the others came out "not a
    date". (Files small enough for pandas are each read with their own.)"""
    first = None
    for file in files:
        name, (sep, header) = file_label(file, files, label), _csv_header(file)
        refuse_repeated_columns(header, name)
        if first is None:
            first = (name, sep)
        elif sep != first[1]:
            raise LoadError(f"{label}: {name} is delimited by {DELIMITER_NAMES[sep]} and "
                            f"{first[0]} by {DELIMITER_NAMES[first[1]]}: the files are read as one table, "
                            "so they must be delimited alike (export them alike, or load each on its own)")


def _unreadable(label: str, kind: str, exc: Exception, files: list[Path] | None = None) -> LoadError:
    """The error for files DuckDB cannot read, with its own reason (it names the file and line); a
    row of more or fewer cells than the header said, and a file not UTF-8, as pandas' reading of them
    is (``files``: those read, of which the message names the row's)."""
    said = str(exc)
    file = re.search(r"\n\s*file = (.*)\n", said) or re.search(r'Malformed JSON in file "(.*?)"', said)
    if file:
        path = Path(file.group(1))
        label = file_label(path, files, label) if files else label
        encoding = "is not utf-8 encoded" in said or "invalid UTF-8" in said  # (CSV, JSON: its line is
        if encoding and (refusal := not_utf8(path, label)):                  # of the part DuckDB read,
            return refusal                                                   # its byte unsaid)
    row = re.search(r"CSV Error on Line: (\d+)\nOriginal Line: (.*)\nExpected Number of Columns: (\d+) "
                    r"Found: (\d+)", said)
    if row is None:
        return LoadError(f"{label}: not a readable {kind} file ({said.splitlines()[0]})")
    line, written, expected, found = row.groups()
    return LoadError(other_cells(label, int(expected), int(line) - 1, int(found), written))


def _scanned(raw: ibis.Table, label: str, files: list[Path], kind: str, layout: Layout | None,
             origin: list[Path] | None = None, grouping: Grouping | None = None
             ) -> tuple[ibis.Table, LoadReport]:
    """:func:`scan_sessions` of the files DuckDB reads as ``raw``."""
    layout = layout or detect_layout([c for c in raw.columns if c != FILE], kind, label)
    layout.refuse_missing(raw.columns, label)
    key = scan_key(files, layout, origin)
    cached = kept_scan(key) if key else None
    known = _kept_report(cached, label, files) if cached else None
    if layout is GA4_EVENTS:
        return _scan_events(raw, label, files, kind, key, known)
    commas = ({file["path"]: file.get("decimal_comma", []) for file in known.files} if known
              else _decimal_comma_columns(raw, layout, files, kind))
    raw = _with_decimal_points(raw, commas, files)
    try:  # these files, unchanged, scanned before by this code (gone meanwhile: scanned again)
        if known is not None:
            layout = replace(layout, date_order=known.date_order, currency=known.currency)
            # the repeated ids and their rows as written, held in memory, not read from the kept files:
            # another scan may evict them while these sessions are in use (a cube rebuilt for new
            # settings reads them again)
            held = pq.read_table(cached / "repeated.parquet")
            rows = kept_rows(raw, layout)
            if not held.num_rows:
                return rows, known
            written = ibis.memtable(pq.read_table(cached / "parts.parquet"))
            return merged(rows, ibis.memtable(held), kept_rows(written, layout))[0], known
    except OSError:
        pass
    _refuse_bad_files(files, label, kind)
    report = LoadReport(path=label, format=f"{layout.name}_scan", rows_read=0, cache_key=key or "",
                        absent_columns=layout.absent(raw.columns), mapping=layout.mapping(),
                        decimal_comma=comma_columns(commas),
                        row_level=layout.rows)
    sessions, repeated, written, per_file = parse_sessions(
        raw, layout, report, grouping=grouping, columnar=kind == "parquet",
        at_least=_fewest_sessions(raw, files, kind) if grouping is not None else 0)
    if not per_file:
        per_file = {str(files[0]): report.rows_read}
    report.files = file_rows([(file, per_file.get(str(file), 0)) for file in files], commas)
    if cached:
        _keep(cached, report, repeated, written)
    return sessions, report


def _scan_events(raw: ibis.Table, label: str, files: list[Path], kind: str, key: str | None,
                 known: LoadReport | None) -> tuple[ibis.Table, LoadReport]:
    """GA4 event files built into sessions by :mod:`.ga4`'s query, DuckDB streaming the events once
    (their sessions kept in its memory, spilling to disk beyond its limit); ``known``: the report of
    the scan kept under ``key``, if any (None: nothing is kept of them)."""
    if known is not None:  # scanned before: the cube is kept beside the report, the sessions stay lazy
        return ga4.sessions(ga4.grouped(raw), ga4.revenue_in_usd(known)), known
    lines = None
    if kind == "json" and len(files) > 1:  # read through once here anyway where they are gzipped
        lines = []
        for file in files:
            name = file_label(file, files, label)
            count, tail, whole = _read_through(file, name)
            _refuse_a_cut_end(file, name, tail, whole)
            lines.append(count)
    else:
        _refuse_bad_files(files, label, kind)
    report = LoadReport(path=label, format=f"{GA4_EVENTS.name}_{kind}_scan", rows_read=0, cache_key=key or "")
    sessions = counted_events(raw, report)
    report.files = file_rows(list(zip(files, _rows_per_file(raw, files, kind, report.rows_read, lines))))
    if key:
        _keep(kept_scan(key), report)
    return sessions, report


def _fewest_sessions(raw: ibis.Table, files: list[Path], kind: str) -> int:
    """A floor on the sessions of the files, foreseen before their rows are read (see
    :class:`leak_app.analysis.cube.ScanGrouping`): half the rows of Parquet files (their footers
    count them), a quarter of those text files' sizes foretell from the length of their first lines."""
    if kind == "parquet":
        return int(raw.count().to_pyarrow().as_py()) // 2
    with open(files[0], "rb") as file:
        head = file.read(2**20)
    return sum(file.stat().st_size for file in files) * head.count(b"\n") // max(len(head), 1) // 4


def _refuse_bad_files(files: list[Path], label: str, kind: str) -> None:
    """:func:`refuse_a_bomb` for each of the files, and :func:`_refuse_a_cut_end` for each of text
    (its end read in the same pass where it is gzipped)."""
    for file in files:
        name = file_label(file, files, label)
        if kind == "parquet":
            refuse_a_bomb(file, name)
        elif _gzipped(file):
            _refuse_a_cut_end(file, name, *_read_through(file, name)[1:])
        else:
            with open(file, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(size - TAIL_BYTES, 0))
                _refuse_a_cut_end(file, name, handle.read(), size <= TAIL_BYTES)


def _cut_short(files: list[Path], label: str, kind: str) -> LoadError | None:
    """The refusal of :func:`_refuse_bad_files`, or None: why DuckDB could not read the files, where
    one was cut short (DuckDB's reason for a cut JSON record: "Malformed JSON ... unexpected end of
    data")."""
    try:
        _refuse_bad_files(files, label, kind)
    except LoadError as exc:
        return exc
    return None


def _refuse_a_cut_end(file: Path, label: str, tail: bytes, whole: bool) -> None:
    """:func:`.readers.refuse_a_cut_end` of a CSV or newline-delimited JSON file, from its end."""
    sep, header = _csv_header(file) if file_kind(file) == "csv" else (None, [])
    refuse_a_cut_end(tail.decode("utf-8", errors="replace"), whole, label, sep, len(header))


def _csv_header(path: Path) -> tuple[str, list[str]]:
    """A CSV's delimiter and its header's cells as written."""
    header = _first_line(path)
    sep = delimiter(header)
    return sep, csv_header(header, sep)


def _kept_report(folder: Path, label: str, files: list[Path]) -> LoadReport | None:
    """The report of these files kept by an earlier scan (None if there is none), naming them as
    they are now (an archive's files are unpacked elsewhere at each start)."""
    try:
        kept = json.loads((folder / "report.json").read_text())
    except OSError:
        return None
    kept["files"] = [{**read, "path": str(file)} for file, read in zip(files, kept["files"])]
    return LoadReport(**{**kept, "path": label})


def _decimal_comma_columns(raw: ibis.Table, layout: Layout, files: list[Path], kind: str
                          ) -> dict[str, list[str]]:
    """The numeric columns each file of a ";"- or tab-delimited CSV wrote with a decimal comma, by
    the pandas reader's rule (readers.decimal_comma_columns) applied file by file, found in one pass
    over the files: in two days' exports, one with "25,99" and one with "25.99", each keeps its own."""
    columns = [c for c in layout.numeric() if c in raw.columns]
    if kind != "csv" or not columns or delimiter(_first_line(files[0])) == ",":
        return {}
    text = [trimmed(raw[c].cast("string")) for c in columns]
    measures = {
        **{f"comma{i}": t.contains(",").any() for i, t in enumerate(text)},
        **{f"filled{i}": (t != "").any() for i, t in enumerate(text)},
        **{f"form{i}": (t.isnull() | (t == "") | t.re_search(f"^{DECIMAL_COMMA}$")).all()
           for i, t in enumerate(text)}}
    if len(files) > 1:
        found = raw.group_by(FILE).aggregate(**measures).to_pandas().set_index(FILE)
    else:
        found = raw.aggregate(**measures).to_pandas().set_axis([str(files[0])])
    found = found.astype("boolean").fillna(False).astype(bool)  # (no cell: null)
    return {file: decimal_comma_columns(
                [c for i, c in enumerate(columns) if row[f"form{i}"] and row[f"filled{i}"]],
                [c for i, c in enumerate(columns) if row[f"comma{i}"]])
            for file, row in found.iterrows()}


def _with_decimal_points(raw: ibis.Table, commas: dict[str, list[str]], files: list[Path]) -> ibis.Table:
    """The columns some files wrote with a decimal comma (``commas``, by file) read with a point in
    those files' rows."""
    rewritten = {}
    for column in comma_columns(commas):
        written = [file for file, columns in commas.items() if column in columns]
        pointed = with_decimal_point(raw[column])
        rewritten[column] = (pointed if len(written) == len(files)
                             else raw[FILE].isin(written).ifelse(pointed, raw[column]))
    return raw.mutate(**rewritten)


def _rows_per_file(raw: ibis.Table, files: list[Path], kind: str, rows: int,
                   lines: list[int] | None = None) -> list[int]:
    """The rows each file holds, of ``rows`` in all: Parquet's from its footer; JSON's its ``lines``
    where they add up to the rows DuckDB read (a line is at most one record: a blank one would make
    more lines than records), else counted by DuckDB (parsing every file again: 1.9 s of 11.5 s
    for 2 million events in ten files)."""
    if len(files) == 1:
        return [rows]
    if kind == "parquet":
        return [pq.read_metadata(file).num_rows for file in files]
    if lines is not None and sum(lines) == rows:
        return lines
    return _counted_per_file(raw, files)


def _counted_per_file(raw: ibis.Table, files: list[Path]) -> list[int]:
    """The rows of each file, counted by DuckDB (a pass over all of them)."""
    counts = raw.group_by(FILE).aggregate(rows=raw.count()).to_pandas().set_index(FILE)["rows"]
    return [int(counts.get(str(file), 0)) for file in files]


def _one_kind(files: list[Path], layout: Layout | None, label: str) -> str:
    """The files' kind ("csv", "json", "parquet"); a folder's or a pattern's files must share it and
    their layout."""
    if len(files) > 1:
        mapping = layout if layout is not None and layout.name == "mapped" else None
        refuse_a_mix([(file, format_name(_layout_name(file, mapping, file_label(file, files, label)),
                                         file_kind(file))) for file in files])
    return file_kind(files[0])


def _layout_name(file: Path, mapping: Layout | None, label: str) -> str:
    """The name of the layout a file is read with (:func:`scan_layout`'s), for :func:`refuse_a_mix`.
    A GA4 export's file is known by its first event: GA4 is the first layout tried, and the columns
    that make it are in every event, so DuckDB's sample of the file would find them too (sampling
    each of a month's daily files took 0.3 s a file)."""
    if mapping is None and file_kind(file) == "json":
        try:
            first = json.loads(_first_line(file))
        except ValueError:
            first = None
        if isinstance(first, dict) and ga4.is_ga4(c.strip() for c in first):
            return GA4_EVENTS.name
    layout = scan_layout(file, mapping, label)
    if layout is None and file_kind(file) == "csv":  # why not, as pandas says it: not "a nested_or_events
        columns = [c.strip().lower() for c in _csv_header(file)[1]]  # file among ga_sessions_csv files"
        if not any(columns):
            raise LoadError.empty(label)
        layout = detect_layout(columns, "csv", label, mapping)
    return getattr(layout, "name", "nested_or_events")


#: Scans kept in the cache folder (the oldest are removed beyond this).
KEPT_SCANS = 8


def scan_key(files: list[Path], layout: Layout, origin: list[Path] | None = None) -> str | None:
    """What a scan's results depend on: the files (where, size, modification, inode), their layout,
    the code that parses and counts them, and the day (dates after tomorrow are dropped). Files
    made from ``origin`` files (unpacked from an archive, converted from Avro) are new files at
    each start: those stand for them, with their names (a second start on them then finds their
    results kept). None for the process's own files (an upload: see workspace.owned), of which
    nothing is kept: the report, the repeated ids' rows as written and the cubes kept of an upload
    stayed in the cache folder for good, where its records must outlive it nowhere."""
    if any(owned(file) for file in (origin or files)):
        return None
    stats = [identity(file) for file in (origin or files)]
    if origin:
        stats.append([file.name for file in files])
    # the scan, the cubes kept beside its results, and what writes the files it reads (a workbook's
    # sheet, UTF-16 text as UTF-8), with every module of the package they import
    code = code_digest(("data/scan.py", "analysis/cube.py", "data/sources.py"))
    text = json.dumps([stats, repr(layout), str(latest_date().date()), code])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _keep(folder: Path, report: LoadReport, repeated: ibis.Table | None = None,
          written: ibis.Table | None = None) -> None:
    """Keep a scan's report, its repeated session ids and their rows as ``written`` (none: no id
    repeats), for the next start on the same file (a cache: a folder that cannot be written only
    costs the scan again)."""
    try:
        for name, table in (("repeated", repeated), ("parts", written)):
            if table is not None:
                with replaced(folder / f"{name}.parquet") as temporary:
                    table.to_parquet(temporary)
        with replaced(folder / "report.json") as temporary:  # written last: it marks the scan kept
            temporary.write_text(json.dumps(report.to_dict()))
        scans = sorted(folder.parent.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in scans[KEPT_SCANS:]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError:
        pass
