"""Bytes to a flat table of raw values: CSV, newline-delimited JSON, Parquet or Avro (BigQuery's
Avro export, read by fastavro), gzipped or not.

Nested records (BigQuery's ``totals``/``device``/``geoNetwork``... and the JSON
strings of the Kaggle CSV) are flattened to dotted column names
(``totals.pageviews``); lists such as GA4's ``event_params`` are kept whole.
Rows that cannot be read at all (a line that is not JSON, a cell whose JSON is
broken) come back as counts by reason, so the caller can account for them.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import json
import math
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import fastavro
import pandas as pd
import pyarrow as pa

from . import ua
from .interface_reports import refuse_a_ga_report
from .schema import CURRENCY_SIGN, SIGN_SPACE, LoadError, not_json, quoted
from .workbooks import MAX_WORKBOOK_BYTES, is_workbook, sheet_text

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
AVRO_MAGIC = b"Obj\x01"
#: Most a gzip file read into memory may expand to, in bytes and times its compressed size
#: (``LEAK_APP_MAX_EXPANDED_MB``): session exports compress 5 to 30 times.
MAX_EXPANDED_BYTES = int(os.environ.get("LEAK_APP_MAX_EXPANDED_MB", "2048")) * 2**20
MAX_EXPANSION = 200
#: Per-hit arrays of BigQuery session exports: large, and not needed for sessions.
SKIPPED_KEYS = ("hits", "customDimensions")
#: Where a table read from a workbook names its sheet.
SHEET_ATTR = "sheet"


def read_raw(path: Path, label: str, recognised=lambda header: None
             ) -> tuple[pd.DataFrame, str, dict[str, int]]:
    """(table, kind, rows dropped by reason); kind is "csv", "json", "parquet" or "avro". A
    workbook's sheet of sessions (the first whose header ``recognised`` takes: see
    :func:`.workbooks.write_sheet`) is read as its CSV text, the sheet named in the table's
    ``attrs[SHEET_ATTR]``."""
    if not path.is_file():
        raise LoadError(f"{label}: no such file")
    if is_workbook(path):
        text, sheet = sheet_text(path, label, recognised, MAX_WORKBOOK_BYTES)
        frame, dropped = _csv(text, label)
        frame.attrs[SHEET_ATTR] = sheet
        return frame, "csv", dropped
    data = path.read_bytes()
    if data[:2] == GZIP_MAGIC:
        data = gunzip(data, label)
    elif path.suffix.lower() == ".gz":
        raise LoadError(f"{label}: not a valid gzip file (it does not start like one)")
    kind = kind_of(data)
    if kind == "parquet":
        return _parquet(data, label), "parquet", {}
    if kind == "avro":
        frame, dropped = _avro(data, label)
        return frame, "avro", dropped
    if not data.strip():
        raise LoadError.empty(label)
    text = decode(data, label)
    frame, dropped = (_ndjson if kind == "json" else _csv)(text, label)
    return frame, kind, dropped


#: What reading a damaged gzip file raises (zlib.error: a damaged block; EOFError, caught before these
#: where it is said as a file cut short).
GZIP_ERRORS = (OSError, EOFError, zlib.error)


def gunzip(data: bytes, label: str) -> bytes:
    """The gzip file's content (see :func:`gunzipped`)."""
    return b"".join(gunzipped(io.BytesIO(data), len(data), label))


def gunzipped(stream: BinaryIO, compressed: int, label: str) -> Iterator[bytes]:
    """A gzip stream's content in parts, or a LoadError once it expands beyond MAX_EXPANDED_BYTES or
    MAX_EXPANSION times its ``compressed`` size: a decompression bomb (10 MB expanding to 10 GB) is
    refused after reading a bounded part of it, before it takes the memory or the time of the process."""
    limit = min(MAX_EXPANDED_BYTES, MAX_EXPANSION * compressed)
    size = 0
    try:
        with gzip.GzipFile(fileobj=stream) as content:
            while part := content.read(2**20):
                size += len(part)
                if size > limit:
                    raise LoadError(
                        f"{label}: expands to more than {limit / 2**20:,.0f} MB ({limit // compressed:,} "
                        f"times its compressed size): refused as a likely decompression bomb; a genuine "
                        f"file this large loads uncompressed (it is then scanned from disk)")
                yield part
    except EOFError as exc:  # (the stream ends before gzip's end marker)
        raise LoadError(f"{label}: the gzip file is cut short: it ends before gzip's end marker (an "
                        "unfinished download or copy?); copy it again") from exc
    except GZIP_ERRORS as exc:
        raise LoadError(f"{label}: not a valid gzip file ({exc})") from exc


def kind_of(head: bytes) -> str:
    """ "parquet", "avro", "json" (records) or "csv", from a file's first uncompressed bytes."""
    if head[:4] == PARQUET_MAGIC:
        return "parquet"
    if head[:4] == AVRO_MAGIC:
        return "avro"
    codec = utf16(head)
    text = head.decode(codec, errors="ignore").encode() if codec else head.removeprefix(codecs.BOM_UTF8)
    return "json" if text.lstrip()[:1] in (b"{", b"[") else "csv"


def utf16(head: bytes) -> str | None:
    """The codec of a file whose first uncompressed bytes are UTF-16 text, None if they are not:
    Excel's "Unicode Text" and the reports of Google's ad tools are so written, with a byte order mark
    ("utf-16"); without one, a line starting with two characters of ASCII, each beside a zero byte,
    tells the byte order (a UTF-8 file, a Parquet, Avro or gzip file never begins so)."""
    if head[:4] in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE):  # (begins as UTF-16's: refused as not UTF-8)
        return None
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    plain = [32 <= byte < 127 or byte in b"\t\r\n" for byte in head[:4]]
    if len(head) >= 4 and plain[0] and plain[2] and head[1] == head[3] == 0:
        return "utf-16-le"
    if len(head) >= 4 and plain[1] and plain[3] and head[0] == head[2] == 0:
        return "utf-16-be"
    return None


#: Excel's first line naming a CSV's delimiter ("sep=;"), which tools writing CSV for Excel add: no
#: header, left out wherever the file is read (it was taken for the header, "found: sep=;").
EXCEL_SEP = re.compile(r"(?i)sep=[^\r\n]?(\r\n?|\n)")


def without_sep_line(text: str) -> str:
    """CSV text without a first line of Excel's "sep=;" (see EXCEL_SEP)."""
    return text[match.end():] if (match := EXCEL_SEP.match(text)) else text


def as_utf8(file: Path, codec: str, out: Path, label: str) -> None:
    """A text file (``codec``: UTF-16's, see :func:`utf16`, or UTF-8's), gzipped or not, written to
    ``out`` as UTF-8 without a first line of Excel's "sep=;", its lines ending in LF alone (a file
    joined from one ending them in CRLF and one in LF, which DuckDB cannot read), in parts
    (:func:`decoded`). ``label``: how messages name the file."""
    first, held = True, ""  # (held: a CR that ended a part, whose LF may begin the next)
    with open(out, "wb") as target:
        for text in decoded(file, codec, label):
            text, held = (held + text[:-1], "\r") if text.endswith("\r") else (held + text, "")
            if first and text:
                text, first = without_sep_line(text), False
            target.write(text.replace("\r\n", "\n").encode("utf-8"))
        target.write(held.encode("utf-8"))


def not_utf8(file: Path, label: str) -> LoadError | None:
    """The refusal of a file (gzipped or not) that is not UTF-8 text, by its first byte that is not,
    as pandas' reading of it is refused (DuckDB names its line only, and of the first part it read);
    None for UTF-8 text."""
    try:
        for _ in decoded(file, "utf-8-sig", label):
            pass
    except LoadError as exc:
        return exc
    return None


def decoded(file: Path, codec: str, label: str) -> Iterator[str]:
    """A text file's text in parts, or its refusal where a byte is not ``codec``'s text (its offset,
    and for UTF-8 its line): a file of any size, a gzip file bounded as :func:`gunzipped` bounds it."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    read = lines = 0
    with open(file, "rb") as source:
        gzipped = source.read(2) == GZIP_MAGIC
        source.seek(0)
        parts = (gunzipped(source, file.stat().st_size, label) if gzipped
                 else iter(lambda: source.read(2**20), b""))
        try:
            for part in parts:
                yield decoder.decode(part)
                read, lines = read + len(part), lines + part.count(b"\n")
            yield decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:  # (exc.object: the bytes the decoder held back, then the part)
            line = lines + exc.object[:exc.start].count(b"\n") + 1 if codec.startswith("utf-8") else None
            raise _not_text(label, codec, exc, read - len(decoder.getstate()[0]), line) from exc


def _not_text(label: str, codec: str, exc: UnicodeDecodeError, offset: int, line: int | None = None
              ) -> LoadError:
    """The refusal of a file that is not the text its beginning said (``offset``: of the bytes
    decoded; ``line``: of the bad byte, where it can be counted)."""
    at = f"byte offset {offset + exc.start:,}"
    at = f"on line {line:,} ({at})" if line is not None else f"at {at}"
    said = (f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x}" if codec.startswith("utf-8")
            else f"begins as UTF-16 text, but is not: {exc.reason}")
    return LoadError(f"{label}: {said} {at}; save the file as UTF-8 (for example Excel's 'CSV UTF-8') and "
                     f"load it again")


def decode(data: bytes, label: str) -> str:
    """UTF-8 (a BOM allowed) or UTF-16 (see :func:`utf16`), or a clear refusal: never silently
    garbled text."""
    codec = utf16(data[:4])
    try:
        return data.decode(codec or "utf-8-sig")
    except UnicodeDecodeError as exc:
        line = None if codec else data[: exc.start].count(b"\n") + 1
        raise _not_text(label, codec or "utf-8", exc, 0, line) from exc


def _parquet(data: bytes, label: str) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise LoadError(f"{label}: not a readable Parquet file ({exc})") from exc
    nested = [c for c in frame.columns  # records come as dicts, in object columns only
              if frame[c].dtype == object and frame[c].map(lambda v: isinstance(v, dict)).any()]
    return flatten(frame, nested)


def refuse_repeated_columns(names, label: str) -> None:
    """A column named twice (case and spaces aside) leaves which one holds the data ambiguous."""
    seen = pd.Index([str(n).strip().lower() for n in names])
    if seen.duplicated().any():
        repeated = ", ".join(repr(c) for c in sorted(set(seen[seen.duplicated()])))
        raise LoadError(f"{label}: column(s) {repeated} appear more than once; rename or remove the copies")


#: The delimiters a CSV may use: Excel writes ";" where the decimal mark is a comma (most of Europe).
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}


def _split_header(text: str, sep: str) -> list[str]:
    """The first line's cells, blank lines before it skipped as pandas and DuckDB skip them (a line
    ends at "\n", "\r\n" or a lone "\r", as the csv module reads them: handed a "\r" inside a line,
    it raises)."""
    line = re.search(r"[^\r\n]+", text)
    return next(csv.reader([line.group(0) if line else ""], delimiter=sep), [])


def delimiter(text: str) -> str:
    """The delimiter of a CSV starting with ``text``: the one that splits its header line into the
    most columns (a comma where none splits it)."""
    return max(DELIMITERS, key=lambda sep: len(_split_header(text, sep)))


def csv_header(text: str, sep: str | None = None) -> list[str]:
    """A CSV's column names as written (pandas renames a repeated one to ``name.1``), split by
    ``sep`` (default: its :func:`delimiter`)."""
    return _split_header(text, sep or delimiter(text))


#: How much of a file's end :func:`refuse_a_cut_end` reads (its last two rows, many times over).
TAIL_BYTES = 2**20


def refuse_a_cut_end(tail: str, whole: bool, label: str, sep: str | None = None, columns: int = 0) -> None:
    """Refuse a file cut short, as an interrupted download or copy leaves one: its last line has no
    line end and is not a whole row — fewer cells than a CSV's header (``sep``, ``columns``), or not
    a JSON record (newline-delimited JSON: no ``sep``) — where the line before is one. Its cells were
    read as a session (a device "mob" counted as another device), or its record dropped as any line
    that is not JSON, and the rows missing after it were said nowhere. ``tail``: the file's end, at
    least its last two lines (``whole``: the whole file). (A line ending inside a quoted cell is
    refused by the CSV readers themselves.)"""
    if tail.endswith(("\n", "\r")):
        return
    lines = re.split(r"\r\n?|\n", tail)
    if len(lines) < (2 if whole else 3) or not lines[-1].strip():  # (the first of a part may be cut)
        return
    if sep is None:
        if _json_record(lines[-1]) or not _json_record(lines[-2]):
            return
        what, lacks, before = "record", "is not a whole JSON record and has no line end", "is one"
    else:
        cells = [None if line.count('"') % 2 else len(next(csv.reader([line], delimiter=sep)))
                 for line in lines[-2:]]
        if None in cells or not cells[1] < columns <= cells[0]:
            return
        what, lacks, before = "row", f"has {cells[1]} of the header's {columns} cells", "has them all"
        lacks += " and no line end"
    raise LoadError(f"{label}: the file ends in the middle of a {what}: its last line, "
                    f"'{quoted(lines[-1])}', {lacks}, where the line before {before}. It looks cut short (an "
                    f"interrupted download or copy?), the {what}s after that line missing: download or copy "
                    f"it again (or, if it is whole, complete that {what})")


def _json_record(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def uneven_row(text: str, sep: str, columns: int) -> tuple[int, int, str] | None:
    """The first data row of a CSV's ``text`` whose cells are more or fewer than ``columns``: (its
    number, its cells, its lines as written), or None. Blank lines are skipped, as every reader
    skips them."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    counted = (_cells_per_row(lines, sep) if '"' in text
               else zip(lines, (n + 1 for n in map(str.count, lines, itertools.repeat(sep)))))
    rows = ((written, cells) for written, cells in counted if written)
    next(rows, None)  # the header
    for row, (written, cells) in enumerate(rows, 1):
        if cells != columns:
            return row, cells, written
    return None


def _cells_per_row(lines: list[str], sep: str) -> Iterator[tuple[str, int]]:
    """Each row's lines as written and its cells, read by the csv module: a quoted cell may hold the
    delimiter or a line break (lines without a quote are counted 20 times as fast by their delimiters)."""
    # A cell of any length, as pandas and DuckDB read it (the module's own limit is 128 KB: a Kaggle
    # CSV's session of many hits holds MBs in one cell); a setting of the process, the most it allows.
    csv.field_size_limit(2**31 - 1)
    reader, start = csv.reader(lines, delimiter=sep), 0
    for cells in reader:
        yield "\n".join(lines[start:reader.line_num]), len(cells)
        start = reader.line_num


def other_cells(label: str, expected: int, row: int, found: int, written: str) -> str:
    """The refusal of a CSV whose data row ``row`` has ``found`` cells where its header has
    ``expected`` (as pandas and DuckDB alike find it): which cells are missing, or which are extra,
    cannot be told, and a row read as if they could would count its values under other columns."""
    return (f"{label}: data row {row:,} has {found} cells where the header has {expected} "
            f"('{quoted(written)}'): every row must have a cell for each column (an empty one where "
            "there is no value); correct that row, or export the file again")


#: Where a table read from a CSV names, of its columns of numbers as a decimal comma writes them
#: (see DECIMAL_COMMA), those that can be (every cell) and those with a comma (some cell): the
#: loader decides with :func:`decimal_comma_columns`.
DECIMAL_COMMA_ATTR = "decimal_comma"
#: A number as Excel writes it where the decimal mark is a comma: "12,5", "1.234,56", "-3", an
#: amount with its currency's sign ("12,50 €", "-R$ 1.234,56": see parse.priced), a dash (a zero in
#: Excel's Accounting format: "- €").
DECIMAL_COMMA = (rf"[+-]?({CURRENCY_SIGN}{SIGN_SPACE})?([+-]?(\d{{1,3}}(\.\d{{3}})+|\d+)(,\d+)?|-)"
                 rf"({SIGN_SPACE}{CURRENCY_SIGN})?")


def decimal_comma_columns(written: list[str], commas: list[str]) -> list[str]:
    """The columns of a ";"- or tab-delimited CSV read with a decimal comma: of those ``written``
    so in every filled cell, all of them where one of them has a comma in some cell (``commas``).

    A file writes its numbers one way: beside revenue's "25,99", a duration's "1.448" is 1448
    seconds, not 1.448. Without a comma anywhere, "1.448" could be either, and is read with a
    decimal point."""
    return sorted(written) if set(written) & set(commas) else []


def comma_columns(by_file: dict[str, list[str]]) -> list[str]:
    """The columns some file wrote with a decimal comma, of those each file did (``by_file``)."""
    return sorted({column for columns in by_file.values() for column in columns})


def _comma_forms(frame: pd.DataFrame, sep: str) -> dict[str, list[str]]:
    """:data:`DECIMAL_COMMA_ATTR` of a CSV read as text (none for a ","-delimited one)."""
    written, commas = [], []
    if sep == ",":
        return {"written": written, "commas": commas}
    for column in frame.columns:
        text = frame[column].str.strip()
        filled = text[text != ""]
        if len(filled) and filled.str.fullmatch(DECIMAL_COMMA).all():
            written.append(column)
            if filled.str.contains(",", regex=False).any():
                commas.append(column)
    return {"written": written, "commas": commas}


def with_decimal_point(values):
    """Numbers written with a decimal comma (see DECIMAL_COMMA) as the usual text: thousands dots
    dropped, the comma a point. For a pandas Series or an Ibis column alike."""
    if isinstance(values, pd.Series):
        return values.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return values.replace(".", "").replace(",", ".")


def _csv(text: str, label: str) -> tuple[pd.DataFrame, dict[str, int]]:
    text = without_sep_line(text)
    refuse_a_ga_report(text, label)
    sep = delimiter(text)
    header = csv_header(text, sep)
    refuse_repeated_columns(header, label)
    refuse_a_cut_end(text[-TAIL_BYTES:], len(text) <= TAIL_BYTES, label, sep, len(header))
    # (pandas reads a row's missing cells as empty ones, and counts blank lines in its line numbers)
    uneven = uneven_row(text, sep, len(header))
    if uneven:
        raise LoadError(other_cells(label, len(header), *uneven))
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LoadError(f"{label}: not a readable CSV file ({exc})") from exc
    forms = _comma_forms(frame, sep)
    # The Kaggle CSV's records (device, totals, ...) are parsed, a row whose cell is not a JSON
    # object dropped; in any other file, a label that starts with "{" is text.
    nested, dropped, bad = ua.json_columns(frame.columns), {}, pd.Series(False, index=frame.index)
    for column in nested:
        parsed = frame[column].map(_json_object)
        broken = parsed.isna()
        if broken.any():
            dropped[not_json(column)] = int((broken & ~bad).sum())
            bad |= broken
        frame[column] = parsed.where(parsed.notna(), None)
    frame = flatten(frame[~bad.to_numpy()], nested)
    # A field no record holds is a column of nulls, as the scan, told the fields, reads it: a file
    # whose totals hold none (empty records) is still the Kaggle CSV, not refused as another export.
    written = {column.lower() for column in frame.columns}
    for column in nested:
        for name in ua.record_fields(column):
            if f"{column}.{name}".lower() not in written:
                frame[f"{column}.{name}"] = None
    frame.attrs[DECIMAL_COMMA_ATTR] = forms
    return frame, dropped


def _json_object(text: str):
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _ndjson(text: str, label: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Newline-delimited JSON (one record a line), or one JSON array of records."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except ValueError as exc:
            raise LoadError(f"{label}: not valid JSON ({exc})") from exc
        lines = records if isinstance(records, list) else []
    else:
        refuse_a_cut_end(text[-TAIL_BYTES:], len(text) <= TAIL_BYTES, label)
        lines = [line for line in text.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line) if isinstance(line, str) else line)
        except ValueError:
            records.append(None)
    return _records(records, label, "JSON records (objects, one a line)")


def _avro(data: bytes, label: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """An Avro container file (BigQuery's Avro export), read by fastavro: its records as JSON's."""
    try:
        records = list(fastavro.reader(io.BytesIO(data)))
    except Exception as exc:  # fastavro raises many types for a damaged file
        raise LoadError(f"{label}: not a readable Avro file ({exc})") from exc
    return _records(records, label, "Avro records")


def avro_as_json(path: Path, out: Path, label: str) -> None:
    """An Avro container file's records written to ``out`` one at a time, as newline-delimited JSON
    (what BigQuery's JSON export of the table holds): the per-hit arrays left out, as
    :func:`_records` leaves them, and values JSON has no type for (dates, decimals) as their text."""
    with open(path, "rb") as source, open(out, "w", encoding="utf-8") as target:
        try:
            records = fastavro.reader(source)
            for record in records:
                if isinstance(record, dict):
                    record = _without_hits(record)
                target.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        except OSError:  # (writing it: a full disk is said as such, not as a damaged file)
            raise
        except Exception as exc:  # fastavro raises many types for a damaged file
            raise LoadError(f"{label}: not a readable Avro file ({exc})") from exc


def _records(records: list, label: str, what: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Records (dicts; anything else is counted as not a record) as a table, nested records one
    level deep as ``record.field`` columns, the per-hit arrays left out."""
    rows = [_without_hits(record) for record in records if isinstance(record, dict)]
    if not rows:
        raise LoadError(f"{label}: no {what} in the file")
    bad = len(records) - len(rows)
    return pd.json_normalize(rows, max_level=1), ({"not a JSON record": bad} if bad else {})


def _without_hits(record: dict) -> dict:
    """A record without its per-hit arrays (SKIPPED_KEYS)."""
    return {key: value for key, value in record.items() if key not in SKIPPED_KEYS}


def flatten(frame: pd.DataFrame, nested: list[str]) -> pd.DataFrame:
    """Expand columns of dicts into ``column.key`` columns, one level deep."""
    if not nested:
        return frame.reset_index(drop=True)
    frame = frame.reset_index(drop=True)
    parts = [frame.drop(columns=nested)]
    for column in nested:
        values = [v if isinstance(v, dict) else {} for v in frame[column]]
        expanded = pd.json_normalize(values, max_level=0)
        expanded.columns = [f"{column}.{c}" for c in expanded.columns]
        parts.append(expanded)
    return pd.concat(parts, axis=1)


def text_cell(value) -> str | None:
    """A cell of any JSON type as text, as DuckDB reads it from the JSON as text (None where empty):
    an integer as pandas reads an int64 column with nulls (a float) written as the integer it is, a
    boolean as JSON writes it (Python's "True" was a source the scan read "true")."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def as_arrow(frame: pd.DataFrame, row: str) -> pa.Table:
    """A table pandas read as Arrow columns for the parser (:mod:`.parse`), with each row's position
    in a ``row`` column: typed columns as they are (a time zone dropped, keeping the time written, as
    in the file), cells of Python objects of one simple type as that type, of mixed types or
    records as text (JSON cells may hold anything)."""
    columns = {row: pa.array(range(len(frame)), pa.int64())}
    for name, values in frame.items():
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            values = values.dt.tz_localize(None)
        try:
            array = pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = None
        if array is None or pa.types.is_nested(array.type):
            array = pa.array([text_cell(v) for v in values], pa.string())
        columns[name] = array
    return pa.table(columns)
