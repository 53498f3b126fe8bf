"""The formats a session export comes in, and files read by pandas into the canonical table.

The format is detected from the columns (matched case-insensitively) and named in
the :class:`~leak_app.data.schema.LoadReport`. Each session layout maps its own column
names onto the canonical columns; GA4 event exports are built into sessions
(:mod:`leak_app.data.ga4`). pandas only reads the rows: :mod:`.parse` parses them, as it
does the files DuckDB scans, so a row that cannot be used is dropped with the same reason
either way (``rows_read == rows_kept + sum(dropped)``), and a file that cannot be used at all
raises :class:`~leak_app.data.schema.LoadError` naming the file, column or row and what was
expected.
"""
from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from . import ga4, ua
from .duck import registered
from .file_sets import file_label, file_rows, format_name, refuse_a_mix, session_files
from .interface_reports import totals_clause
from .parse import ROW, counted_events, parse_sessions
from .readers import (
    DECIMAL_COMMA_ATTR,
    SHEET_ATTR,
    as_arrow,
    comma_columns,
    decimal_comma_columns,
    read_raw,
    refuse_repeated_columns,
    with_decimal_point,
)
from .schema import DAY_FIRST, MEASURES, MONTH_FIRST, NUMERIC, TEXT, LoadError, LoadReport, to_canonical

CANONICAL_NAMES = ("visitor_id", "session_id", "date", *TEXT, *NUMERIC)
#: A column that numbers the hits of a session: its rows are hits (Layout.rows), as in tables
#: flattened from GA's BigQuery export (UNNEST(hits)).
HIT_COLUMNS = ("hitnumber", "hits.hitnumber", "hit_number")


@dataclass(frozen=True)
class Layout:
    """How one export names the canonical columns (canonical name -> its lower-case column)."""

    name: str
    label: str
    columns: dict
    revenue_scale: float = 1.0
    #: Canonical columns the file may lack: a label (device, country, source, medium, channel) is
    #: then "(not set)" for every session, pageviews and duration 0 (see ``absent``: the views that
    #: need them say so); without transactions (or where a row writes none), a session with revenue
    #: counts as one transaction.
    optional: tuple = field(default=(*TEXT, *MEASURES))
    #: "sessions" (a row per session) or "hits": a row per hit or product, the session's totals
    #: repeated on each, as flattened Google Analytics tables are (see HIT_COLUMNS); "events" for
    #: GA4's event rows, built into sessions by :mod:`.ga4`.
    rows: str = "sessions"
    #: How its dates are written where not year first (see LoadReport.date_order; parse.dated): told
    #: by the data, or said by a mapping where the data cannot tell it.
    date_order: str = ""
    #: The currency sign the revenue's amounts are written with ("$1,250.00": "$"; see
    #: parse.priced), "" for amounts written as numbers.
    currency: str = ""
    #: Whether a file's header (its lower-cased column names) and kind ("csv", "json", "parquet"…)
    #: are this format's (see FORMATS); None for a user's mapping, which is never guessed.
    recognises: Callable[[set, str], bool] | None = field(default=None, compare=False, repr=False)
    #: The fields of a nested export's records this layout reads, dotted and spelled as the export
    #: writes them: declared to DuckDB when it scans a JSON export, which otherwise knows a record's
    #: fields from a sample of the file (see scan._read_json), and the Kaggle CSV's JSON cells.
    fields: tuple = ()

    def required(self) -> list[str]:
        return [src for canon, src in self.columns.items() if canon not in self.optional]

    def refuse_missing(self, columns, label: str) -> None:
        """A LoadError if a file (or table) with these columns lacks one this layout needs."""
        missing = [c for c in self.required() if c not in columns]
        if missing:
            raise missing_columns(label, missing, self.label)

    def numeric(self) -> list[str]:
        """The columns holding the numbers (pageviews, duration, transactions, revenue)."""
        return [src for canon, src in self.columns.items() if canon in NUMERIC]

    def mapping(self) -> dict:
        """How the load report records a column mapping (empty for a detected layout)."""
        if self.name != "mapped":
            return {}
        return {"columns": dict(self.columns), "revenue_scale": self.revenue_scale, "rows": self.rows,
                "date_order": self.date_order}

    def absent(self, columns) -> list[str]:
        """The labels and measures a file with these (lower-cased) columns lacks."""
        return [canon for canon in (*TEXT, *MEASURES) if self.columns.get(canon) not in columns]


_GA_COLUMNS = {canon: name.lower() for canon, name in ua.FIELDS.items()}
_NESTED_COLUMNS = {canon: name.lower() for canon, name in ua.NESTED.items()}
_NESTED_OPTIONAL = (*TEXT, "pageviews", "duration", "transactions", "revenue")

GA_SESSIONS = Layout("ga_sessions_csv", "Google Analytics session export", _GA_COLUMNS, 1e-6,
                     recognises=lambda cols, kind: "fullvisitorid" in cols)
GA_CLEANED = Layout("ga_sessions_cleaned_csv", "cleaned Google Analytics session export",
                    {**_GA_COLUMNS, "revenue": "revenue"},
                    recognises=lambda cols, kind: {"fullvisitorid", "revenue"} <= cols)
GA_BIGQUERY = Layout("ga_sessions_bigquery_json", "Universal Analytics BigQuery export (ga_sessions_*)",
                     _NESTED_COLUMNS, 1e-6, _NESTED_OPTIONAL,
                     recognises=lambda cols, kind: _ua_totals(cols) and kind != "csv",
                     fields=tuple(ua.NESTED.values()))
GA_KAGGLE = Layout("ga_customer_revenue_csv", "Google Analytics Customer Revenue Prediction CSV",
                   _NESTED_COLUMNS, 1e-6, _NESTED_OPTIONAL,
                   recognises=lambda cols, kind: _ua_totals(cols) and kind == "csv",
                   fields=tuple(ua.NESTED.values()))
CANONICAL = Layout("canonical", "canonical session table", {c: c for c in CANONICAL_NAMES},
                   recognises=lambda cols, kind: "visitor_id" in cols)
#: GA4 events are built into sessions (:mod:`.ga4`), not mapped column by column.
GA4_EVENTS = Layout("ga4_events", "GA4 BigQuery event export (events_*)", {c: c for c in ga4.REQUIRED},
                    rows="events", recognises=lambda cols, kind: ga4.is_ga4(cols), fields=ga4.USED)
#: The formats a file is recognised as, the first whose ``recognises`` holds (a user's mapping
#: overrides them all). A new format is a Layout here, and the readers its kind needs.
FORMATS = (GA4_EVENTS, CANONICAL, GA_KAGGLE, GA_BIGQUERY, GA_CLEANED, GA_SESSIONS)


def _ua_totals(cols: set) -> bool:
    """Universal Analytics' nested session records (``totals.pageviews``…), flattened."""
    return "fullvisitorid" in cols and any(c.startswith("totals.") for c in cols)


def mapped_layout(mapping: dict, revenue_scale: float = 1.0) -> Layout:
    """A layout from a user's column mapping (canonical name -> their column)."""
    unknown = sorted(set(mapping) - set(CANONICAL_NAMES))
    if unknown:
        raise LoadError(f"column mapping: unknown name(s) {', '.join(unknown)}; "
                        f"expected some of {', '.join(CANONICAL_NAMES)}")
    optional = (*TEXT, *MEASURES, "transactions")
    missing = [c for c in CANONICAL_NAMES if c not in mapping and c not in optional]
    if missing:
        raise LoadError(f"column mapping: no column given for {', '.join(missing)}")
    columns = {canon: str(src).strip().lower() for canon, src in mapping.items()}
    return Layout("mapped", "file with a column mapping", columns, revenue_scale, optional)


def read_mapping(path: str | Path, overrides: dict | None = None, revenue_scale: float | None = None,
                 rows: str | None = None, date_order: str | None = None) -> Layout:
    """A mapping layout from a TOML file (``[columns]``, ``revenue_scale``, ``rows`` and
    ``date_order``) and/or overrides of its columns, its revenue scale, its rows and its date order."""
    config = {}
    if path is not None:
        try:
            config = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise LoadError(f"{path}: not a readable column mapping ({exc})") from exc
        _refuse_a_malformed_mapping(config, path)
    columns = {**config.get("columns", {}), **(overrides or {})}
    scale = config.get("revenue_scale", 1.0) if revenue_scale is None else revenue_scale
    if not isinstance(scale, (int, float)) or not 0 < scale < math.inf:  # (TOML writes nan and inf)
        raise LoadError(f"{path or '--revenue-scale'}: revenue_scale must be a positive number, "
                        f"not {scale!r}")
    rows = config.get("rows", "sessions") if rows is None else rows
    if rows not in ("sessions", "hits"):
        raise LoadError(f"{path}: rows must be \"sessions\" (a row per session) or \"hits\" (a row per "
                        f"hit or product, the session's totals repeated on each), not {rows!r}")
    given = config.get("date_order", "") if date_order is None else date_order
    order = str(given).replace("-", " ")  # --date-order day-first
    if order not in ("", DAY_FIRST, MONTH_FIRST):
        raise LoadError(f"{path or '--date-order'}: date_order must be \"{DAY_FIRST}\" (29/09/2026) or "
                        f"\"{MONTH_FIRST}\" (9/29/2026), not {given!r}")
    return replace(mapped_layout(columns, float(scale)), rows=rows, date_order=order)


#: What a mapping file holds beside its [columns].
MAPPING_SETTINGS = ("revenue_scale", "rows", "date_order")


def _refuse_a_malformed_mapping(config: dict, path) -> None:
    """A LoadError for a mapping file's setting that would be ignored or misread: a name not known (a
    misspelt ``revenue-scale`` left the revenue in cents, unsaid), a setting written under
    ``[columns]`` (TOML puts every line after a table's header in it), ``columns`` not a table (a
    traceback) or a column named by other than text (``visitor_id = 3`` looked for a column "3")."""
    unknown = [name for name in config if name not in (*MAPPING_SETTINGS, "columns")]
    if unknown:
        raise LoadError(f"{path}: unknown setting(s) {', '.join(unknown)}; a column mapping holds "
                        f"{', '.join(MAPPING_SETTINGS)} and a [columns] table")
    columns = config.get("columns", {})
    if not isinstance(columns, dict):
        raise LoadError(f"{path}: columns must be a [columns] table of canonical name = \"the file's "
                        f"column\", not {columns!r}")
    if settings := [name for name in columns if name in MAPPING_SETTINGS]:
        raise LoadError(f"{path}: {', '.join(settings)} {'is' if len(settings) == 1 else 'are'} written "
                        "under [columns]: write the settings above it (every line after [columns] is in "
                        "the table)")
    for name, column in columns.items():
        if not isinstance(column, str):
            raise LoadError(f"{path}: {name} = {column!r}: a column is named as text in quotes "
                            f"({name} = \"{column}\")")


def recognised(columns, kind: str, mapping: Layout | None = None) -> Layout | None:
    """The layout of a file with this (lower-cased) header: ``mapping``, else the first of FORMATS
    that recognises it (None if none does), its rows hits where a column numbers them."""
    cols = set(columns)
    layout = mapping or next((known for known in FORMATS if known.recognises(cols, kind)), None)
    if layout is not None and layout.rows == "sessions" and cols & set(HIT_COLUMNS):
        return replace(layout, rows="hits")
    return layout


def detect_layout(columns: list[str], kind: str, label: str, mapping: Layout | None = None) -> Layout:
    """:func:`recognised`, refusing a file that matches no layout or lacks a column its layout needs."""
    layout = recognised(columns, kind, mapping)
    if layout is None:
        raise LoadError(
            f"{label}: not a session export: expected the columns of a Google Analytics "
            f"session export ({', '.join(GA_SESSIONS.required())}), a BigQuery ga_sessions_* "
            f"or events_* export, or the canonical table ({', '.join(CANONICAL.required())}) — "
            f"or give a column mapping; found: {', '.join(columns[:20]) or 'none'}{totals_clause(columns)}"
        )
    layout.refuse_missing(set(columns), label)
    return layout


def missing_columns(label: str, missing: list[str], what: str) -> LoadError:
    """The error for a file or table that lacks columns its layout needs."""
    return LoadError(f"{label}: missing required column(s) {', '.join(repr(c) for c in missing)} "
                     f"for a {what} (column names are matched case-insensitively)")


def load_sessions(path: str | Path, name: str | None = None, mapping: Layout | None = None
                  ) -> tuple[pd.DataFrame, LoadReport]:
    """Load a session file (CSV, NDJSON, Parquet or Avro, gzipped or not) into the canonical table.

    pandas reads the rows (JSON cells of any type, records flattened); :mod:`.parse` parses and
    checks them, on DuckDB, as it does the files DuckDB scans. ``name`` is how messages and the
    report call the file (an upload's own name rather than the temporary file it was saved to);
    ``mapping`` a layout from :func:`mapped_layout` for files in no known format.
    """
    label = name or str(path)
    raw, kind, unreadable, files, commas = read_files(Path(path), label, mapping)
    if raw.empty:
        raise LoadError(f"{label}: has a header but no data rows")
    layout = detect_layout(list(raw.columns), kind, label, mapping)
    report = LoadReport(path=label, format=layout.name, rows_read=sum(unreadable.values()), files=files)
    report.drop_all(unreadable)
    if layout is GA4_EVENTS:
        report.format = f"ga4_events_{kind}"
        with registered(ga4.arrow_events(raw), "events") as events:
            return to_canonical(counted_events(events, report).to_pandas()), report
    report.absent_columns, report.mapping = layout.absent(raw.columns), layout.mapping()
    report.decimal_comma, report.row_level = commas, layout.rows
    mapped = raw[[src for src in dict.fromkeys(layout.columns.values()) if src in raw.columns]]
    with registered(as_arrow(mapped, ROW), "raw") as table:
        sessions = parse_sessions(table, layout, report, hold=True)[0]
        sessions = sessions.order_by(ROW).drop(ROW).to_pandas()
    return to_canonical(sessions), report


def read_files(path: Path, label: str, mapping: Layout | None
               ) -> tuple[pd.DataFrame, str, dict[str, int], list[dict], list[str]]:
    """The raw rows of a file, or of a folder's or a pattern's files as one table (see
    :mod:`.file_sets`: one format, in name order), column names lower-cased; with their kind, the
    rows no file could read by reason, the files read with their rows, and the columns some file
    wrote with a decimal comma (read as numbers with a point, file by file: see
    :func:`_with_decimal_points`)."""
    paths = session_files(path, label)
    parts, commas = [], {}
    for file in paths:
        name = file_label(file, paths, label)
        raw, kind, unreadable = read_raw(file, name, lambda header: recognised(header, "csv", mapping))
        refuse_repeated_columns(raw.columns, name)
        raw.columns = [str(c).strip().lower() for c in raw.columns]
        commas[str(file)] = _with_decimal_points(raw, kind, mapping)
        parts.append((file, raw, kind, unreadable))
    if len(parts) > 1:
        refuse_a_mix([(file, _format(raw, kind, str(file), mapping)) for file, raw, kind, _ in parts])
    unreadable: dict[str, int] = {}
    for *_, dropped in parts:
        for reason, count in dropped.items():
            unreadable[reason] = unreadable.get(reason, 0) + count
    sheets = {str(file): raw.attrs[SHEET_ATTR] for file, raw, *_ in parts if SHEET_ATTR in raw.attrs}
    files = file_rows([(file, len(raw) + sum(dropped.values())) for file, raw, _, dropped in parts], commas,
                      sheets)
    raw = parts[0][1] if len(parts) == 1 else pd.concat([part[1] for part in parts], ignore_index=True)
    return raw, parts[0][2], unreadable, files, comma_columns(commas)


def _with_decimal_points(raw: pd.DataFrame, kind: str, mapping: Layout | None) -> list[str]:
    """Rewrite in place the numeric columns of one file its reader found written with a decimal
    comma (:func:`.readers.decimal_comma_columns`) with a decimal point, and name them. File by
    file: in a folder of two exports, one with "25,99" and one with "25.99", each keeps its own."""
    layout = recognised(list(raw.columns), kind, mapping)
    forms = raw.attrs.get(DECIMAL_COMMA_ATTR)
    if layout is None or not forms:
        return []
    numeric = set(layout.numeric())
    columns = decimal_comma_columns(*(sorted(numeric & {c.strip().lower() for c in forms[k]})
                                      for k in ("written", "commas")))
    for column in columns:
        raw[column] = with_decimal_point(raw[column])
    return columns


def _format(raw: pd.DataFrame, kind: str, label: str, mapping: Layout | None) -> str:
    """A raw table's format, as its load report names it (``ga_sessions_csv``, ``ga4_events_json``)."""
    return format_name(detect_layout(list(raw.columns), kind, label, mapping).name, kind)
