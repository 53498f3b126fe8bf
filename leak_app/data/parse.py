"""The one parser: raw session rows, as an Ibis table, into canonical sessions and a load report.

Every session layout goes through these expressions, whatever read the rows: DuckDB scanning
files of any size (:mod:`.scan`), or a table pandas read, registered in DuckDB
(:mod:`.loaders`). So one set of rules parses values (an empty number is 0, YYYYMMDD or ISO
dates, trimmed labels), drops rows with the reasons of :mod:`.schema`, refuses a column of
mostly bad values, folds hit rows and sessions split at midnight, and counts every row
(``rows_read == rows_kept + sum(dropped)``). GA4 events are built into sessions by :mod:`.ga4`.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import ga4
from .countries import unmatched_country_counts
from .duck import byte_length, pair_hash, read_by_format, seconds_of, text_hash
from .schema import (
    COUNTS,
    CURRENCY_SIGN,
    DATES,
    DAY_FIRST,
    EXACT_DUPLICATE,
    HIT_ROW,
    MAX_COUNT,
    MAX_LABEL,
    MEASURES,
    MONTH_FIRST,
    NOT_SET,
    NUMBERS,
    NUMERIC,
    REPEATED_HEADER,
    REPEATED_SESSION,
    SESSION_KEY,
    SIGN_SPACE,
    TEXT,
    WHOLE_NUMBERS,
    LoadError,
    LoadReport,
    compact_date,
    date_as_number,
    first_reason,
    grouped_device,
    implausible,
    implausible_date,
    long_label,
    missing,
    mostly_bad,
    negative,
    not_a_date,
    not_a_number,
    not_json,
    not_whole,
    or_not_set,
    too_large,
    zero_columns,
)

if TYPE_CHECKING:
    from .loaders import Layout

#: The column DuckDB names each row's file in when it reads several.
FILE = "filename"
#: Each row's position in a table pandas read (0 for its first data row): it orders the sessions
#: as the file does and names the first bad value's row.
ROW = "leak_app_row"
#: Per column read as text, the sums :func:`_refuse_if_mostly_bad` reads: values that fail to parse,
#: and values written (every row for a date): ``"bad:<column>"``, ``"filled:<column>"``.
BAD, FILLED = "bad:", "filled:"
#: Per measure a view is drawn from (schema.MEASURES) the data has: values above 0, the sums that
#: tell a column of zeros (LoadReport.zero_columns): ``"above_zero:<measure>"``.
ABOVE_ZERO = "above_zero:"
#: Per label and measure field of a nested export's records (a layout with ``fields``): values held,
#: ``"held:<column>"``. A field no record holds is absent (LoadReport.absent_columns), as pandas,
#: which flattens the records, finds no column for it; DuckDB, told the field, reads it empty.
HELD = "held:"
#: Per column of schema.COUNTS not typed as integers: values with a fraction, ``"fraction:<column>"``.
FRACTION = "fraction:"
#: The prefixes of every tally column: summed in the counting pass, dropped from the kept rows.
TALLIES = (BAD, FILLED, ABOVE_ZERO, HELD, FRACTION)
#: A raw column carried beside the canonical ones to quote a bad value (see _refuse_if_mostly_bad).
EXAMPLE = "leak_app_example"
#: Columns carried beside the canonical ones where the rows have them.
CARRIED = (FILE, ROW, EXAMPLE)
#: The prefix of the columns :func:`parsed_rows` parses before it checks them.
PARSED = "parsed:"
#: A column of ``raw`` named so says whether a row's cell of the column named after it should have
#: held a JSON object and did not (the Kaggle CSV's records, read by the scan): the row is dropped.
NOT_JSON = "not_json:"


def nothing_kept(report: LoadReport) -> LoadError:
    """The error for a file whose every row was dropped, with how many for each reason."""
    return LoadError(f"{report.path}: no usable sessions: every row was dropped "
                     f"({', '.join(f'{r}: {n}' for r, n in report.dropped.items())})")


def parse_sessions(raw: ibis.Table, layout: Layout, report: LoadReport, hold: bool = False,
                   grouping: Grouping | None = None, at_least: int = 0, columnar: bool = True
                   ) -> tuple[ibis.Table, ibis.Table, ibis.Table | None, dict]:
    """The valid sessions of ``raw`` (named as ``layout`` says) as a lazy table, their rows read,
    dropped (with reasons), kept and the unmatched countries counted in ``report``.

    Also returns the repeated session ids (a table held by the engine), those sessions' rows as
    written (None where no id repeats; see :func:`_repeated`) and the rows read per file (where
    ``raw`` has a FILE column). Raises a LoadError for a column of mostly bad values or no session.
    ``hold``: keep the parsed rows in the engine (rows that fit in memory): the queries over them
    then take milliseconds to compile, where each over the parsing expression takes ~0.1 s.
    ``grouping``: keys and sums to group the rows by too, in the pass that counts them (the cube's:
    a second pass over a large file costs seconds), for rows of sessions (not hits); ``at_least``:
    the fewest sessions the rows can hold. It is given the kept rows' groups (see :class:`Grouping`).
    ``columnar``: whether a column of ``raw`` is read without the others (Parquet), which grouping
    the labels by their hashes needs (:func:`_written_labels`); a CSV or JSON file's are grouped by
    their text (each column read alone parsed the whole file: 9 s of a 10 million row CSV's start).
    """
    layout = priced(raw, dated(raw, layout, report), report)
    report.rounded_ids = rounded_ids(raw, layout)
    parsed = parsed_rows(raw, layout)
    if hold:
        parsed = held(parsed)
    tallies = [name for name in parsed.columns if name.startswith(TALLIES)]
    rows = valid(parsed, layout)
    # before the counting pass: the memory DuckDB took for ten million ids then serves it, where the
    # other way round it also held that pass's groups (peak 1.5 GB against 1.2 GB at 10 million)
    if layout.rows == "hits":
        ids, grouping = rows.select(*SESSION_KEY), None
        found = _more_than_once(ids, _keys(ids, SESSION_KEY))
    else:
        ids = raw.select(**_keys(raw, [layout.columns[key] for key in SESSION_KEY]))
        found = _repeated_hashes(ids)
    by = ["reason", "country", *([FILE] if FILE in parsed.columns else [])]
    if grouping is None or hold:
        counts, grouped = _counted(parsed, by, tallies, grouping, at_least)
    else:
        written = _written_labels(raw, layout) if columnar else dict.fromkeys(_label_sources(raw, layout))
        hashed = [name for name, labels in written.items() if labels is not None and _hashes_unique(labels)]
        counts, grouped = _counted(parsed_rows(raw, layout, as_written=True, hashed=hashed), by, tallies,
                                   grouping, at_least,
                                   lambda rows: _labelled(rows, written, raw, layout, report.path))
    read = int(counts["rows"].sum())
    report.rows_read += read
    sums = counts[tallies].sum()
    _refuse_if_mostly_bad(sums, read, report.path, parsed, raw, layout)
    report.drop_all(counts.groupby("reason")["rows"].sum().to_dict())
    absent = {*report.absent_columns, *(canon for canon, source in layout.columns.items()
                                        if sums.get(HELD + source, 1) == 0)}
    report.absent_columns = [name for name in (*TEXT, *MEASURES) if name in absent]
    report.zero_columns = [name for name in zero_columns(counts[counts["reason"].isna()], ABOVE_ZERO)
                           if name not in report.absent_columns]
    kept = counts[counts["reason"].isna()].groupby("country")["rows"].sum()
    if layout.rows == "hits":
        folded = per_country(rows)
        report.drop(HIT_ROW, int(kept.sum() - folded.sum()))
        kept = folded
    repeated, written = _repeated(ids, found, None if hold else raw, layout)
    sessions, merged_away, changed = _merge_repeated(rows, repeated, written, report, layout)
    by_country = kept.sub(merged_away, fill_value=0)
    report.sessions = report.rows_kept = int(by_country.sum())
    if not report.sessions:
        raise nothing_kept(report)
    report.unmatched_countries = unmatched_country_counts(by_country)
    if grouping is not None:
        taken_back, added = (None, None) if changed is None else (
            _grouped(table, grouping, at_least) for table in changed)
        grouping.take(grouped, taken_back, added, report.sessions)
    per_file = counts.groupby(FILE)["rows"].sum().to_dict() if FILE in counts else {}
    return sessions, repeated, written, per_file


class Grouping(Protocol):
    """More keys and sums to group rows by in :func:`parse_sessions`' pass (see
    :class:`leak_app.analysis.cube.ScanGrouping`)."""

    def columns(self, rows: ibis.Table, at_least: int) -> tuple[dict, dict]:
        """The keys and sums of parsed ``rows``, of at least ``at_least`` sessions."""

    def take(self, kept: pa.Table, taken_back: pa.Table | None, added: pa.Table | None,
             sessions: int) -> None:
        """The ``kept`` rows grouped, those of them ``taken_back`` (repeated session ids) and the
        sessions they merged into (``added``) grouped alike, and how many ``sessions`` there are."""


def _counted(parsed: ibis.Table, by: list[str], tallies: list[str], grouping: Grouping | None,
             at_least: int, labelled: Callable[[pa.Table], pa.Table] | None = None
             ) -> tuple[pd.DataFrame, pa.Table | None]:
    """The rows and tallies of ``parsed`` per ``by``, in one pass with the kept rows grouped by
    ``grouping`` (None without one); ``labelled`` parses the grouped rows' labels, where ``parsed``
    has them as written."""
    # counts with a filter, not sums of flags: a tenth of the pass's time at 10 million rows
    sums = {"rows": parsed.count(), **{name: parsed.count(where=parsed[name]) for name in tallies}}
    if grouping is None:
        return parsed.group_by(by).aggregate(**sums).to_pandas(), None
    keys, more = grouping.columns(parsed, at_least)
    grouped = parsed.group_by(*(k for k in by if k not in keys), **keys).aggregate(**sums, **more)
    grouped = grouped.to_pyarrow()
    if labelled is not None:
        grouped = labelled(grouped)
    counts = grouped.group_by(by, use_threads=False).aggregate([(name, "sum") for name in sums])
    counts = counts.rename_columns([name.removesuffix("_sum") if name.removesuffix("_sum") in sums else name
                                    for name in counts.column_names])
    if grouped["reason"].null_count < len(grouped):  # (a copy of every group: 0.3-0.7 s at 10 million)
        grouped = grouped.filter(pc.is_null(grouped["reason"]))
    return _decoded(counts).to_pandas(), grouped.select([*keys, *more])


def _decoded(table: pa.Table) -> pa.Table:
    """``table`` with its dictionary-encoded columns as their values (small tables: pandas makes
    categories of them, which group by every label, used or not)."""
    return table.cast(pa.schema([f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
                                 for f in table.schema]))


def _grouped(rows: ibis.Table, grouping: Grouping, at_least: int) -> pa.Table:
    keys, sums = grouping.columns(rows, at_least)
    return rows.group_by(**keys).aggregate(**sums).to_pyarrow()


def counted_events(events: ibis.Table, report: LoadReport) -> ibis.Table:
    """The sessions of GA4 ``events`` in their engine (:func:`.ga4.counted`), with the report's
    rows read, sessions and unmatched countries counted there."""
    sessions = ga4.counted(events, report)
    report.rows_read = report.rows_kept + sum(report.dropped.values())
    by_country = per_country(sessions)
    report.sessions = int(by_country.sum())
    if not report.sessions:
        raise nothing_kept(report)
    report.unmatched_countries = unmatched_country_counts(by_country)
    return sessions


def per_country(rows: ibis.Table) -> pd.Series:
    """The rows of each country."""
    return rows.group_by("country").aggregate(rows=rows.count()).to_pandas().set_index("country")["rows"]


#: What tools write in a text file for a missing value, in any case: R's NA, Python's NaN (pandas,
#: and its JSON module's token, which DuckDB reads as that text), SQL's NULL, Python's None, Excel's
#: #N/A. A number so written is empty (0): a file R wrote, its revenue NA for every session without
#: one, was refused as "should hold numbers". A label keeps what it says but NaN ("NA" is Namibia's
#: code, "null" a source a link may name): pandas reads the token as no value. An id written as one
#: of them, as tools spell it (MISSING_IDS), is missing.
MISSING = ("na", "n/a", "nan", "null", "none", "#n/a")


def _text(column) -> ibis.Value:
    """A label column's labels: trimmed, "(not set)" where empty or NaN (see MISSING). A label is
    lower-cased only where it has three bytes: lower-casing 10 million took 0.3 s, their lengths 16 ms."""
    return or_not_set(trimmed(as_text(column)), byte_length)


def as_text(column) -> ibis.Value:
    """A label's or an id's column as text, a whole number of a floating-point column as the integer
    it is: a JSON file's numbers beside an empty value are floats once pandas reads them (and in a
    Parquet file written from such a column), so a source written 123 read "123.0", where the scan
    of the JSON reads the text written."""
    if not column.type().is_floating():
        return column.cast("string")
    whole = (column == column.round()) & (column.abs() < 2**53)  # (exact: an int64 holds it)
    return ibis.cases((whole, column.cast("int64").cast("string")), else_=column.cast("string"))


def trimmed(text) -> ibis.Value:
    """An Ibis text column without white space at either end, trimmed only where its first or last
    character sorts before "!" (white space, a control character): a test of two characters, where
    trimming each value took three times as long (0.27 s against 0.08 s for 2 million labels in DuckDB;
    a CSV's dates and numbers are text: five columns of each row of its counting pass)."""
    return ibis.cases(((text < "!") | (text.right(1) < "!"), text.strip()), else_=text)


def _blank(text) -> ibis.Value:
    """Whether an Ibis text column is empty or white space only. The pattern is matched only where
    the text sorts before "!" (empty, or its first byte white space or a control character: every
    text the pattern matches, RE2's ``\\s`` being ASCII), a comparison of its first bytes: the first
    character's code, asked for before, took 0.5 s of a pass over 10 million ids."""
    return (text < "!") & text.re_search(r"^\s*$")


#: An id written as missing, as tools spell MISSING: as is, in capitals, capitalized, and "NaN".
MISSING_IDS = sorted({spelled for token in MISSING for spelled in (token, token.upper(), token.capitalize())}
                     | {"NaN"})


def _written_missing(text) -> ibis.Value:
    """Whether an Ibis text column's id is written as missing (MISSING_IDS: pandas read JSON's NaN
    token so, and dropped its row, where the scan kept the text as an id, and both kept "NULL" or
    "NaN" written in a CSV). Matched as written, as ids are compared: a match of the text costs
    nothing a start can measure, where lower-casing it, even only for short ids (a CASE), made a
    start of 10 million sessions 3-4 s slower."""
    return text.isin(MISSING_IDS)


def _label(column, name: str) -> tuple[ibis.Value, ibis.Value]:
    """(the canonical label of a text column's value, whether it is too long to keep). The text as
    written is measured: measuring the trimmed labels took 1.5 s per pass over 10 million rows."""
    label = _text(column)
    return (grouped_device(label) if name == "device" else label,
            as_text(column).length() > MAX_LABEL)


def _written_labels(raw: ibis.Table, layout: Layout) -> dict[str, pa.Table]:
    """Each label column's distinct values as written (``written``, as text) and their hashes
    (``hash``), by canonical name: the counting pass groups by a label's hash, a number, where no two
    of its values share one (0.6 s of that pass at 10 million rows, against grouping by text), and
    they are read back from it (:func:`_labelled`). One query, its columns read once each; in TEXT's
    order (see :func:`_labelled`)."""
    sources = _label_sources(raw, layout)
    if not sources:
        return {}
    tables = [raw.select(written=as_text(raw[source])).distinct().mutate(column=ibis.literal(name))
              for name, source in sources.items()]
    found = ibis.union(*tables)
    found = found.mutate(hash=text_hash(found.written)).to_pyarrow()
    return {name: found.filter(pc.equal(found["column"], name)).select(["written", "hash"])
            for name in sources}


def _label_sources(raw: ibis.Table, layout: Layout) -> dict[str, str]:
    """The label columns ``raw`` has: canonical name -> its name in ``raw``, in TEXT's order."""
    return {name: layout.columns[name] for name in TEXT if layout.columns.get(name) in raw.columns}


def _hashes_unique(labels: pa.Table) -> bool:
    """Whether no two labels as written share a hash (64 bits: in practice always; where two do, their
    column is grouped by its text)."""
    return len(pc.unique(labels["hash"])) == len(labels)


def _labelled(grouped: pa.Table, written: dict[str, pa.Table | None], raw: ibis.Table, layout: Layout,
              path: str) -> pa.Table:
    """Rows grouped by labels as written (:func:`parsed_rows` ``as_written``; their hashes for those
    of ``written``, :func:`_written_labels`, that are unique; None: not looked for), keyed by the
    canonical labels, dictionary-encoded, and those dropped for no other reason dropped for their
    first label too long to keep (the last of parsed_rows' checks): each distinct label is parsed
    once, not on each of its rows (1.3 s of a pass over 10 million). Rows whose labels are written
    apart keep a row each. A row's first label too long is the first of ``written``."""
    reason = grouped["reason"].combine_chunks()
    for name, distinct in written.items():
        if pa.types.is_uint64(grouped[name].type):  # grouped by hash
            at, texts = pc.index_in(grouped[name], value_set=distinct["hash"]), distinct["written"]
            if at.null_count:  # a hash the first query did not meet: the file changed between them
                raise LoadError(f"{path}: the file changed while it was read; load it again")
        else:
            encoded = pc.dictionary_encode(grouped[name], null_encoding="encode").combine_chunks()
            at, texts = encoded.indices, encoded.dictionary
        at = at.to_numpy(zero_copy_only=False)
        # in the order given (an engine returns rows in any order: the labels of a table of several
        # chunks came back shuffled)
        table = ibis.memtable(pa.table({"written": texts, "at": np.arange(len(texts))}))
        label, long = _label(table.written, name)
        parsed = table.select("at", label=label, long=long.fill_null(False)).order_by("at")
        parsed = raw.get_backend().to_pyarrow(parsed)
        labels, canonical = np.unique(parsed["label"].to_numpy(zero_copy_only=False), return_inverse=True)
        is_long = parsed["long"].to_numpy(zero_copy_only=False)[at]
        reason = pc.if_else(pc.and_(pc.is_null(reason), pa.array(is_long)), long_label(layout.columns[name]),
                            reason)
        canonical = pa.DictionaryArray.from_arrays(pa.array(canonical.astype(np.int32)[at]),
                                                   pa.array(labels, pa.string()))
        grouped = grouped.set_column(grouped.schema.get_field_index(name), name, canonical)
    return grouped.set_column(grouped.schema.get_field_index("reason"), "reason", reason)


#: A number with commas between its thousands, as English spreadsheets and GA's reports write large
#: amounts ("1,234.56"): the largest orders, read as not numbers, lost every converting session of
#: a shop whose others are "0.00". (A column written with a decimal comma is read before: see
#: readers.with_decimal_point.)
THOUSANDS = r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"
#: A number written as a dash alone: a zero, as Excel's Accounting format writes one, or no value.
DASH = "-"
#: A time on a clock, hours:minutes:seconds, as a sheet writes a duration formatted as one ("0:02:09";
#: "2:09" alone is not read: minutes and seconds or hours and minutes, it cannot be told).
CLOCK = r"^(\d+):([0-5]\d):([0-5]\d)$"


def _number(column, clock: bool = False, sign: str = ""):
    """(value, not a number?, written?): an empty cell is 0, as Google Analytics leaves zero totals
    empty, and so is a cell written as missing (MISSING); a flag (typed so, or written "true" or
    "false", as BigQuery writes one: a ``converted`` column mapped as the transactions) is 1 or 0,
    a dash (:data:`DASH`) 0; with ``clock`` (the duration), a time on a clock is its seconds
    (:data:`CLOCK`); an amount written with the currency ``sign`` (the revenue's, see
    :func:`priced`) is the amount;
    ``not a number?`` is None for a column of integers or decimals (none is: the check of 10 million
    values took about 0.1 s), ``written`` for a column typed as numbers (only text is tallied: BAD,
    FILLED)."""
    if column.type().is_integer() or column.type().is_decimal():  # never NaN nor infinite
        return column.cast("float64").fill_null(0), None, None
    if column.type().is_interval():  # a time typed as one (pandas' timedelta, Parquet's duration)
        return seconds_of(column).fill_null(0), None, None
    if column.type().is_numeric():
        value = column.cast("float64")
        return value.fill_null(0), value.isnan() | value.isinf(), None
    text = trimmed(column.cast("string"))
    if sign:
        text = _unsigned(text, sign)
    value = text.try_cast("float64")
    # (a case's later conditions are evaluated only for the rows its earlier ones did not take: the
    # pattern only for values that are not numbers as written)
    lowered = text.lower()
    forms = [(text.re_search(THOUSANDS), text.replace(",", "").try_cast("float64")),
             (lowered.isin(("true", "false")), (lowered == "true").cast("float64"))]
    if clock:
        forms.append((text.re_search(CLOCK), sum(text.re_extract(CLOCK, part).cast("float64") * unit
                                                 for part, unit in ((1, 3600), (2, 60), (3, 1)))))
    value = ibis.cases((value.notnull(), value), *forms, else_=value)
    # the text looked at only where it is not a number ("NaN" is one to DuckDB): a CASE's branch is
    # evaluated for the rows it takes, a condition elsewhere for every row
    empty = ibis.cases((value.isnull() | value.isnan(),
                        text.isnull() | (text == "") | lowered.isin((*MISSING, DASH))), else_=False)
    bad = ~empty & (value.isnull() | value.isnan() | value.isinf())
    return ibis.cases((empty, 0.0), else_=value), bad, ~empty


#: An amount with a currency's sign before it ("$1,250.00", "-$5", "$-5", "EUR 12.50"), and one with
#: the sign after it ("12.50 €"; "12,50 €" once its decimal comma is a point), the amount a dash
#: where Excel's Accounting format writes a zero ("$ -"): the sign is group 2; the amount is groups
#: 1 and 3 of the first, group 1 of the second.
SIGN_BEFORE = rf"^([+-]?){SIGN_SPACE}({{sign}}){SIGN_SPACE}([+-]?\d.*|-)$"
SIGN_AFTER = rf"^([+-]?\d.*?|-){SIGN_SPACE}({{sign}})$"
#: The rows whose revenue :func:`priced` looks at for a currency sign: the first (DuckDB stops
#: reading there; a tenth of a second of a CSV).
PRICE_SAMPLE = 100_000


def _signs(sign: str) -> tuple[str, str]:
    """(:data:`SIGN_BEFORE`, :data:`SIGN_AFTER`) of a regular expression of the sign."""
    return SIGN_BEFORE.format(sign=sign), SIGN_AFTER.format(sign=sign)


def _unsigned(text, sign: str) -> ibis.Value:
    """An Ibis text column's amounts written with the currency ``sign`` without it, the others as
    they are ("$-5" and "-$5" are "-5"; "€5" in a column of dollars stays not a number)."""
    before, after = _signs(re.escape(sign))
    return ibis.cases((text.re_search(before), text.re_extract(before, 1) + text.re_extract(before, 3)),
                      (text.re_search(after), text.re_extract(after, 1)), else_=text)


def priced(raw: ibis.Table, layout: Layout, report: LoadReport) -> Layout:
    """The layout reading the revenue's amounts with the currency sign they are written with
    ("$1,250.00", "12,50 €", as a sheet formatted as currency saves them: each was not a number,
    every converting row dropped), the sign the report's currency. The sign is found in the first
    :data:`PRICE_SAMPLE` rows; a column that writes two there is refused, as amounts in two currencies
    do not add up. An amount with another sign further on is not a number, said as such."""
    source = layout.columns.get("revenue")
    if source not in raw.columns or not raw[source].type().is_string():
        return layout
    text = trimmed(raw[source])
    before, after = _signs(CURRENCY_SIGN)
    sign = ibis.coalesce(text.re_extract(before, 2).nullif(""), text.re_extract(after, 2).nullif(""))
    head = raw.limit(PRICE_SAMPLE).select(sign=sign, text=text)
    # an example with a digit where there is one: "$ -", an Accounting zero, shows no amount
    example = ibis.coalesce(ibis.cases((head.text.re_search(r"\d"), head.text)).min(), head.text.min())
    found = head.filter(head.sign.notnull()).group_by("sign").aggregate(example=example).to_pandas()
    if found.empty:
        return layout
    if len(found) > 1:
        examples = " and ".join(repr(example) for example in found.sort_values("sign")["example"][:2])
        raise LoadError(f"{report.path}: column {source!r} writes amounts in more than one currency "
                        f"({examples}): they do not add up to one revenue; convert them to one currency, "
                        "or load each currency's rows apart")
    report.currency = found["sign"].iloc[0]
    return replace(layout, currency=report.currency)


#: The first rows looked at to tell how a column was saved, before (or instead of) the whole column:
#: dates written day or month first (none there, none is read so), ids rounded.
HEAD_SAMPLE = 1000
#: A number as a spreadsheet writes one too long for its cell, rounded to a few digits: "1.23457E+18",
#: a GA ``fullVisitorId`` (19 digits) in Excel's General format, saved so in a CSV.
SCIENTIFIC = r"^\d(\.\d+)?[Ee]\+\d+$"


def rounded_ids(raw: ibis.Table, layout: Layout) -> list[str]:
    """The session key's columns whose first values (:data:`HEAD_SAMPLE`) a spreadsheet wrote in
    scientific notation (:data:`SCIENTIFIC`): their digits are lost, and ids that share a rounded
    value are one (visitors counted as one, or sessions merged). Ids are compared as written
    (see :func:`parsed_rows`): the file's first rows tell how a column was saved."""
    sources = {key: source for key in SESSION_KEY
               if (source := layout.columns[key]) in raw.columns and raw[source].type().is_string()}
    if not sources:
        return []
    head = raw.limit(HEAD_SAMPLE)
    found = head.aggregate(**{key: trimmed(head[source]).re_search(SCIENTIFIC).any()
                              for key, source in sources.items()}).to_pandas().iloc[0]
    return [key for key in sources if found[key]]


#: A date as a spreadsheet saves it where the locale writes the day or the month first:
#: "29/09/2026", "29.09.2026", "9/29/2026" (a time after it ignored).
DAY_MONTH = r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})(\D|$)"


#: Dates with their month named in English, as Looker Studio's and Excel's exports write them:
#: "Sep 28, 2026", "September 28, 2026", "28 Sep 2026", "28-Sep-2026", "28-Sep-26", and as their
#: "Long Date" format writes one, "Monday, September 28, 2026" (any case; the year of two digits
#: tried first: "26" is also the year 26 to "%Y").
NAMED_MONTH = ("%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%d-%b-%y", "%d-%b-%Y", "%d-%B-%Y",
               "%A, %B %d, %Y")


def date_of(column, order: str = "", named_months: bool = True):
    """Dates as YYYYMMDD (Google Analytics) or ISO 8601, a time of day or zone after the date
    ignored (the local date written), with their month named (:data:`NAMED_MONTH`) where
    ``named_months`` (DuckDB's: no other engine has its try_strptime, and a warehouse table's
    text dates on Spark or BigQuery raised that the routine does not exist); as :data:`DAY_MONTH`
    where ``order`` says which comes first."""
    if column.type().is_temporal():
        return column.cast("date")
    text = trimmed(column.cast("string"))
    dates = [compact_date(text), text.substr(0, 10).try_cast("date")]
    if named_months:
        dates.append(read_by_format(text, ibis.literal(list(NAMED_MONTH), type="array<string>")).cast("date"))
    if order:
        day, month = (1, 2) if order == DAY_FIRST else (2, 1)
        iso = (text.re_extract(DAY_MONTH, 3) + "-" + text.re_extract(DAY_MONTH, month).lpad(2, "0") + "-"
               + text.re_extract(DAY_MONTH, day).lpad(2, "0"))
        dates.append(ibis.cases((text.re_search(DAY_MONTH), iso.try_cast("date")), else_=ibis.null("date")))
    return ibis.coalesce(*dates)


def dated(raw: ibis.Table, layout: Layout, report: LoadReport) -> Layout:
    """The layout reading the date column in the order it is written (see :data:`DAY_MONTH`), said in
    the report. The order is told by a number above 12 in one place and none in the other, over the
    whole column (a day is at most 31), or said by the layout (a mapping's ``date_order``) where the
    column cannot tell it; where no value is a date in either order ("07/32/2026" among ISO dates),
    none needs it. A column where it is neither told nor said, is told both ways, or is told
    the other way than said is refused with an example. The column is read whole only where its first
    values are so written."""
    column = raw[layout.columns["date"]]
    if column.type().is_temporal():
        return layout
    text = trimmed(column.cast("string"))
    head = raw.select(text=text).limit(HEAD_SAMPLE).to_pyarrow()["text"]
    if not pc.any(pc.match_substring_regex(head, DAY_MONTH)).as_py():
        return layout
    first, second = (text.re_extract(DAY_MONTH, i).try_cast("int64") for i in (1, 2))
    day = (first <= 31) & (second <= 31)
    either = day & (first <= 12) & (second <= 12)  # (a date in either order)
    found = raw.aggregate(
        day_first=(day & (first > 12)).any(), month_first=(day & (second > 12)).any(),
        example=ibis.cases((either, text), else_=ibis.null("string")).arbitrary(),
        day_example=ibis.cases((day & (first > 12), text), else_=ibis.null("string")).arbitrary(),
        month_example=ibis.cases((day & (second > 12), text), else_=ibis.null("string")).arbitrary(),
    ).to_pandas().iloc[0]
    name, said = layout.columns["date"], layout.date_order
    told = [order for order in (DAY_FIRST, MONTH_FIRST) if found[order.replace(" ", "_")]]
    fix = "write them as YYYY-MM-DD"
    if len(told) == 2:
        raise LoadError(f"{report.path}: column {name!r} writes some dates {DAY_FIRST} "
                        f"({found['day_example']!r}) and others {MONTH_FIRST} "
                        f"({found['month_example']!r}); {fix}")
    if told and said and told[0] != said:
        example = found["day_example" if told[0] == DAY_FIRST else "month_example"]
        raise LoadError(f"{report.path}: column {name!r} writes dates {told[0]} ({example!r}), not {said} as "
                        f"the mapping's date_order says; {fix}, or set date_order to \"{told[0]}\"")
    if not (told or said or found["example"]):  # (no value a date in either order: each one dropped)
        return layout
    if not (told or said):
        raise LoadError(f"{report.path}: column {name!r} writes dates as {found['example']!r}: whether the "
                        "day or the month comes first cannot be told (no number above 12 in either place); "
                        f"{fix}, or say it with a mapping's date_order (--date-order day-first or "
                        "month-first)")
    report.date_order = told[0] if told else said
    return replace(layout, date_order=report.date_order)


def _refuse_if_mostly_bad(tallies: pd.Series, rows: int, label: str, parsed: ibis.Table,
                          raw: ibis.Table, layout: Layout) -> None:
    """:func:`.schema.mostly_bad` of each column read as text (every bad value, whatever else is
    wrong with its row; of the values written) and of each count's fractions, naming the first bad
    value and its data row where the rows are numbered (ROW: pandas read them), else a bad value
    (a scan's threads meet rows in no set order)."""
    for name, bad in tallies.items():
        prefix = next((p for p in (BAD, FRACTION) if name.startswith(p)), None)
        if prefix is None:
            continue
        column = name.removeprefix(prefix)
        # (fractions of every row: a column typed as numbers has no count of values written)
        filled = None if prefix == FRACTION else tallies.get(FILLED + column)
        expected = WHOLE_NUMBERS if prefix == FRACTION else DATES if filled is None else NUMBERS
        written = rows if filled is None else int(filled)

        def first(name=name, column=column, expected=expected) -> str:
            def hint(value) -> str:
                return date_as_number(value) if expected == DATES else ""
            if ROW in parsed.columns:
                at = parsed.filter(parsed[name] == 1)[ROW].min().to_pandas()
                value = raw.filter(raw[ROW] == at)[column].to_pandas().iloc[0]
                return f"; the first is {value!r} on data row {at + 1}{hint(value)}"
            again = parsed_rows(raw.mutate(**{EXAMPLE: raw[column]}), layout)  # (the refusal's own pass)
            found = again.filter(again[name]).select(EXAMPLE).limit(1).to_pandas()[EXAMPLE]
            return f"; for example {found.iloc[0]!r}{hint(found.iloc[0])}" if len(found) else ""
        mostly_bad(label, column, expected, int(bad), written, first)


def parsed_rows(raw: ibis.Table, layout: Layout, as_written: bool = False, hashed: Collection[str] = ()
                ) -> ibis.Table:
    """Canonical values, the first reason each row is dropped for (null when kept), and for each
    column read as text whether its value fails to parse and is written (see BAD, FILLED).

    ``as_written``: labels as written and not checked, those named in ``hashed`` as their hashes (see
    :func:`_labelled`). The date and the numbers (values, whether bad, written) are parsed in a
    projection before the checks, which refer to them: the first reason's conditions parsed them
    again in each one (DuckDB evaluates a CASE's conditions row by row, its shared parts too: a
    CSV's text dates and numbers, 1.1 of the 10.8 CPU seconds of a 10 million row pass)."""
    date = layout.columns["date"]
    parses = {"date": date_of(raw[date], layout.date_order)}
    numbers = {name: source for name in NUMERIC if (source := layout.columns.get(name)) in raw.columns}
    for name, source in numbers.items():
        parsed_number = _number(raw[source], clock=name == "duration",
                                sign=layout.currency if name == "revenue" else "")
        parses.update(zip((name, BAD + source, FILLED + source), parsed_number))
    parses = {name: parse for name, parse in parses.items() if parse is not None}  # (typed: no tallies)
    rows = raw.mutate(**{PARSED + name: parse for name, parse in parses.items()})
    parsed = {name: rows[PARSED + name] for name in parses}
    # A row whose record is not JSON is dropped first, and its values left out of the tallies: the
    # pandas reader drops it before it reads them.
    checks, values, tallies = [(rows[name], not_json(name.removeprefix(NOT_JSON)))
                               for name in raw.columns if name.startswith(NOT_JSON)], {}, {}
    unread = [check for check, _ in checks]
    for key in SESSION_KEY:
        # Compared as written (trimming long ids costs more than the rest of the scan).
        values[key] = id_ = as_text(rows[layout.columns[key]])
        checks.append((id_.isnull() | _blank(id_) | _written_missing(id_), missing(key)))
    values["date"] = parsed["date"]
    if raw[date].type().is_string():  # (only where no date is read: the header's name is none)
        checks.append((values["date"].isnull() & (trimmed(raw[date]).lower() == date.strip().lower()),
                       REPEATED_HEADER))
    checks.append((values["date"].isnull(), not_a_date(date)))
    checks.append((implausible(values["date"]), implausible_date(date)))
    if not raw[date].type().is_temporal():
        tallies[BAD + date] = values["date"].isnull()
    for name, source in numbers.items():
        value, bad, written = (parsed.get(part) for part in (name, BAD + source, FILLED + source))
        if bad is not None:
            checks.append((bad, not_a_number(source)))
        checks.append((value < 0, negative(source)))
        if name in COUNTS and not raw[source].type().is_integer():
            fraction = value % 1 != 0  # (floor() casts to an integer: inf cannot be one)
            tallies[FRACTION + source] = fraction = fraction if bad is None else fraction & ~bad
            checks.append((fraction, not_whole(source)))
        if name != "revenue":
            checks.append((value > MAX_COUNT, too_large(source)))
        if written is not None:
            tallies[BAD + source], tallies[FILLED + source] = bad, written
        if name in MEASURES:
            tallies[ABOVE_ZERO + name] = value > 0
        # (seconds may have a fraction: kept in whole seconds, as the canonical table's int32 holds them)
        values[name] = (value * layout.revenue_scale if name == "revenue"
                        else value - value % 1 if name == "duration" else value)
        if name == "transactions":
            unwritten = rows[source].isnull() if written is None else ~written
    for name in ("pageviews", "duration", "revenue"):
        values.setdefault(name, ibis.literal(0.0))
    # A session with revenue made a transaction where none is written: in a file without the column,
    # or in a record without the field (the Kaggle CSV of 2018 has none; the scan reads it as empty).
    bought = values["revenue"] > 0
    values["transactions"] = (bought.cast("float64") if "transactions" not in values
                              else ibis.cases((unwritten & bought, 1.0), else_=values["transactions"]))
    if layout.fields:
        held = [source for name in (*TEXT, *MEASURES) if (source := layout.columns.get(name)) in raw.columns]
        tallies.update({HELD + source: rows[source].notnull() for source in held})
    for name in TEXT:
        source = layout.columns.get(name)
        if source not in raw.columns:
            values[name] = ibis.literal(NOT_SET)
        elif as_written:
            values[name] = as_text(rows[source])
            if name in hashed:
                values[name] = text_hash(values[name])
        else:
            values[name], long = _label(rows[source], name)
            checks.append((long, long_label(source)))  # the last checks: see _labelled
    if unread:
        tallies = {name: tally & ~ibis.or_(*unread) for name, tally in tallies.items()}
    return rows.select(**values, reason=first_reason(checks),
                       **{name: tally.fill_null(False) for name, tally in tallies.items()},
                       **{name: rows[name] for name in CARRIED if name in raw.columns})


def valid(parsed: ibis.Table, layout: Layout) -> ibis.Table:
    """The parsed rows kept, in the canonical columns and ROW where the rows have it (one a session
    and day where rows are hits)."""
    rows = parsed.filter(parsed.reason.isnull()).drop(
        "reason", *(c for c in parsed.columns if c.startswith(TALLIES) or c == FILE))
    return _one_row_a_day(rows) if layout.rows == "hits" else rows


def _one_row_a_day(hits: ibis.Table) -> ibis.Table:
    """A hit-level file's rows as one a session and day.

    Each hit repeats its session's totals, so they are taken once (the largest, should a hit lack
    one), never added up; the labels are the least of the session's (a session's are the same on
    every hit). A session crossing midnight keeps a row a day, merged as a session export's are.
    """
    return hits.group_by([*SESSION_KEY, "date"]).aggregate(
        **{c: hits[c].max() for c in NUMERIC}, **{c: hits[c].min() for c in TEXT},
        **({ROW: hits[ROW].min()} if ROW in hits.columns else {}))


def _hashed(table: ibis.Table, columns: list[str]) -> ibis.Value:
    """The hash of each row's session id, read from ``columns`` as text."""
    return pair_hash(*_keys(table, columns).values())


def _keys(table: ibis.Table, columns: list[str]) -> dict[str, ibis.Value]:
    """A session's id (SESSION_KEY) read from ``table``'s ``columns`` as text."""
    return {key: as_text(table[column]) for key, column in zip(SESSION_KEY, columns)}


def _more_than_once(table: ibis.Table, keys: dict[str, ibis.Value]) -> ibis.Table:
    """The ``keys`` (name: value of each row of ``table``) met on more than one row, and on how many
    (``rows``), held by the engine."""
    counts = table.group_by(**keys).aggregate(rows=table.count())
    return held(counts.filter(counts.rows > 1))


def _repeated_hashes(ids: ibis.Table) -> ibis.Table:
    """The hashes of the session ids on more than one row (a small table held by the engine; a pair of
    ids that share a hash is among them, told apart by :func:`_repeated`).

    Found among every row's ``ids`` (as written, not parsed: a quicker scan) grouped by one integer,
    not by two texts: 1.3 s against 1.6 s at 10 million rows.
    """
    return _more_than_once(ids, {"hash": _hashed(ids, SESSION_KEY)})


def _repeated(ids: ibis.Table, found: ibis.Table, raw: ibis.Table | None, layout: Layout
              ) -> tuple[ibis.Table, ibis.Table | None]:
    """(The session ids on more than one of the ``ids``' rows, and on how many; the rows of ``raw``
    with those ids, as written), both held by the engine; the rows None where no id repeats. An id
    whose other rows were dropped merges one row into itself.

    ``found``: what the pass before the counting one found. For a session export, the hashes of
    its repeated ids (:func:`_repeated_hashes`): the ids are told apart among the rows of those
    hashes, found in one search of the file that also gives their rows as written (those rows
    themselves where none is of an id met once, sharing a hash with a repeated one). For a hit
    export, its ``ids`` are its sessions' days, of the parsed rows (each reading of them a pass
    that parses the file): the repeated ids themselves, grouped in that pass.

    ``raw``: the rows as written, read with ``layout``, whose repeated ones are found before any row is
    parsed (parsing every row to keep a few in a hundred, midnight splits, took twice the scan; left to
    DuckDB, the parsed rows' checks ran on every row of the file before the join: 5.6 s, against 0.3 s
    to find them, for a million rows). None where the parsed rows are held in the engine (their
    repeated ones are taken from them).
    """
    written = [layout.columns[key] for key in SESSION_KEY]
    if layout.rows == "hits":
        repeated, rows = found, raw
    elif not found.count().to_pandas():
        return _more_than_once(ids.limit(0), _keys(ids, SESSION_KEY)), None
    else:
        table, columns = (ids, SESSION_KEY) if raw is None else (raw, written)
        rows = held(table.semi_join(found, _hashed(table, columns) == found.hash))
        repeated = _more_than_once(rows, _keys(rows, columns))
    if raw is None or not (ids_rows := int(repeated["rows"].sum().fill_null(0).to_pandas())):
        return repeated, None
    if layout.rows != "hits" and ids_rows == int(rows.count().to_pandas()):
        return repeated, rows  # no id shares its hash with another met once: every row found is wanted
    return repeated, held(rows.semi_join(repeated, [id_ == repeated[key]
                                                    for key, id_ in _keys(rows, written).items()]))


def held(table: ibis.Table) -> ibis.Table:
    """The table computed once and held by its engine, as long as its connection lives (a temporary
    table: Ibis' ``cache`` drops its tables when they are collected, which fails once
    :func:`.duck.registered` has closed the connection.)"""
    return table.get_backend().create_table(f"held_{uuid.uuid4().hex}", table, temp=True)


def merged(rows: ibis.Table, repeated: ibis.Table, parts: ibis.Table, hold: bool = False
           ) -> tuple[ibis.Table, ibis.Table, ibis.Table]:
    """(sessions, the repeated sessions merged, their distinct rows), as expressions; ``parts``:
    the repeated sessions' rows, parsed (:func:`kept_rows`); ``hold``: the last two held by the
    engine (a scan counts and groups each of them: computed once, not at each query).

    Google Analytics splits a session that crosses midnight into rows with the same visitId;
    counting both would inflate sessions and deflate rates. The merged session takes the date and
    labels of its earliest part (where it started, whatever the order of the file's rows; of parts
    on the same day, the one of least labels, device first: an engine met them in no set order) and
    sums the numbers; rows alike in every canonical value are one (exact duplicates).
    """
    keep = held if hold else (lambda table: table)
    values = [c for c in parts.columns if c != ROW]
    distinct = keep(parts.group_by(values).aggregate(**{ROW: parts[ROW].min()}) if ROW in parts.columns
                    else parts.distinct())
    # the least of (date, labels...): the earliest part's date and labels in one comparison a row (an
    # argmin of that order for each label took 0.27 s against 0.20 s for 200,000 split sessions)
    earliest = ibis.struct({"date": distinct.date, **{c: distinct[c] for c in TEXT}})
    grouped = distinct.group_by(SESSION_KEY).aggregate(
        earliest=earliest.min(), **{c: distinct[c].sum() for c in NUMERIC},
        **({ROW: distinct[ROW].min()} if ROW in distinct.columns else {}))
    folded = keep(grouped.select(*SESSION_KEY, *(grouped.earliest[c] for c in ["date", *TEXT]),
                                 *(c for c in grouped.columns if c in NUMERIC or c == ROW)))
    sessions = rows.anti_join(repeated, SESSION_KEY).union(folded.select(rows.columns))
    return sessions, folded, distinct


def kept_rows(raw: ibis.Table, layout: Layout) -> ibis.Table:
    """The rows of ``raw`` that are kept, parsed (:func:`valid` of :func:`parsed_rows`)."""
    return valid(parsed_rows(raw, layout), layout)


def _merge_repeated(rows: ibis.Table, repeated: ibis.Table, written: ibis.Table | None, report: LoadReport,
                    layout: Layout) -> tuple[ibis.Table, pd.Series, tuple | None]:
    """Drop exact duplicate rows and fold rows sharing a session id into one (midnight splits),
    counting both in the report; also returns the rows folded away per country, and the repeated
    sessions' kept rows with the sessions they make (None where no id repeats). ``written``: their
    rows as written, read with ``layout`` (see :func:`_repeated`); None where ``rows`` are held in the
    engine (theirs are among them)."""
    if not repeated.count().to_pandas():
        return rows, pd.Series(dtype="int64"), None
    # their rows held by the engine: counted three ways below and merged again by every cube query,
    # where each had read and parsed the whole file again
    if written is None:
        parts = held(rows.semi_join(repeated, SESSION_KEY))
    else:
        parts = held(kept_rows(written, layout))  # a few rows in a hundred: queried in milliseconds
    sessions, folded, distinct = merged(rows, repeated, parts, hold=True)
    counted = {name: per_country(t) for name, t in (("parts", parts), ("distinct", distinct),
                                                    ("merged", folded))}
    total, unique, merged_sessions = (int(c.sum()) for c in counted.values())
    report.duplicates_removed = total - unique
    report.drop(EXACT_DUPLICATE, total - unique)
    report.drop(REPEATED_SESSION, unique - merged_sessions)
    return sessions, counted["parts"].sub(counted["merged"], fill_value=0), (parts, folded)
