"""Read session exports into the canonical table, accounting for every row.

The format is detected from the columns (matched case-insensitively) and named in
the :class:`~leak_app.data.schema.LoadReport`. Each session layout maps its own column
names onto the canonical columns; GA4 event exports are built into sessions first
(:mod:`leak_app.data.ga4`). Values are parsed here, once: a row that cannot be used is
dropped with a reason, so ``rows_read == rows_kept + sum(dropped)``, and a file
that cannot be used at all raises :class:`~leak_app.data.schema.LoadError` naming the
file, column or row and what was expected.
"""
from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import ga4
from .countries import unmatched_countries
from .duck import registered
from .file_sets import file_label, file_rows, format_name, refuse_a_mix, session_files
from .readers import DECIMAL_COMMA_ATTR, read_raw, refuse_repeated_columns, with_decimal_point
from .schema import (
    DATES,
    DEVICES,
    EXACT_DUPLICATE,
    HIT_ROW,
    MEASURES,
    NOT_SET,
    NUMBERS,
    NUMERIC,
    OTHER_DEVICE,
    REPEATED_SESSION,
    SESSION_KEY,
    TEXT,
    LoadError,
    LoadReport,
    implausible,
    implausible_date,
    long_label,
    missing,
    mostly_bad,
    negative,
    not_a_date,
    not_a_number,
    to_canonical,
    too_long,
)

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
    #: need them say so); without transactions, a session with revenue counts as one transaction.
    optional: tuple = field(default=(*TEXT, *MEASURES))
    #: "sessions" (a row per session) or "hits": a row per hit or product, the session's totals
    #: repeated on each, as flattened Google Analytics tables are (see HIT_COLUMNS); "events" for
    #: GA4's event rows, built into sessions by :mod:`.ga4`.
    rows: str = "sessions"
    #: Whether a file's header (its lower-cased column names) and kind ("csv", "json", "parquet"…)
    #: are this format's (see FORMATS); None for a user's mapping, which is never guessed.
    recognises: Callable[[set, str], bool] | None = field(default=None, compare=False, repr=False)

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
        return {"columns": dict(self.columns), "revenue_scale": self.revenue_scale, "rows": self.rows}

    def absent(self, columns) -> list[str]:
        """The labels and measures a file with these (lower-cased) columns lacks."""
        return [canon for canon in (*TEXT, *MEASURES) if self.columns.get(canon) not in columns]


_GA_COLUMNS = {
    "visitor_id": "fullvisitorid", "session_id": "visitid", "date": "date",
    "device": "devicecategory", "country": "country", "source": "source", "medium": "medium",
    "channel": "channelgrouping", "pageviews": "pageviews", "duration": "timeonsite",
    "transactions": "transactions", "revenue": "transactionrevenue",
}
_NESTED_COLUMNS = {
    **_GA_COLUMNS, "device": "device.devicecategory", "country": "geonetwork.country",
    "source": "trafficsource.source", "medium": "trafficsource.medium",
    "pageviews": "totals.pageviews", "duration": "totals.timeonsite",
    "transactions": "totals.transactions", "revenue": "totals.transactionrevenue",
}
_NESTED_OPTIONAL = (*TEXT, "pageviews", "duration", "transactions", "revenue")

GA_SESSIONS = Layout("ga_sessions_csv", "Google Analytics session export", _GA_COLUMNS, 1e-6,
                     recognises=lambda cols, kind: "fullvisitorid" in cols)
GA_CLEANED = Layout("ga_sessions_cleaned_csv", "cleaned Google Analytics session export",
                    {**_GA_COLUMNS, "revenue": "revenue"},
                    recognises=lambda cols, kind: {"fullvisitorid", "revenue"} <= cols)
GA_BIGQUERY = Layout("ga_sessions_bigquery_json", "Universal Analytics BigQuery export (ga_sessions_*)",
                     _NESTED_COLUMNS, 1e-6, _NESTED_OPTIONAL,
                     recognises=lambda cols, kind: _ua_totals(cols) and kind != "csv")
GA_KAGGLE = Layout("ga_customer_revenue_csv", "Google Analytics Customer Revenue Prediction CSV",
                   _NESTED_COLUMNS, 1e-6, _NESTED_OPTIONAL,
                   recognises=lambda cols, kind: _ua_totals(cols) and kind == "csv")
CANONICAL = Layout("canonical", "canonical session table", {c: c for c in CANONICAL_NAMES},
                   recognises=lambda cols, kind: "visitor_id" in cols)
#: GA4 events are built into sessions (:mod:`.ga4`), not mapped column by column.
GA4_EVENTS = Layout("ga4_events", "GA4 BigQuery event export (events_*)", {c: c for c in ga4.REQUIRED},
                    rows="events", recognises=lambda cols, kind: ga4.is_ga4(cols))
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


def read_mapping(path: str | Path, overrides: dict | None = None,
                 revenue_scale: float | None = None, rows: str | None = None) -> Layout:
    """A mapping layout from a TOML file (``[columns]``, ``revenue_scale`` and ``rows``) and/or
    overrides of its columns, its revenue scale and its rows."""
    config = {}
    if path is not None:
        try:
            config = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise LoadError(f"{path}: not a readable column mapping ({exc})") from exc
    columns = {**config.get("columns", {}), **(overrides or {})}
    scale = config.get("revenue_scale", 1.0) if revenue_scale is None else revenue_scale
    if not isinstance(scale, (int, float)) or scale <= 0:
        raise LoadError(f"{path or '--revenue-scale'}: revenue_scale must be a positive number, "
                        f"not {scale!r}")
    rows = config.get("rows", "sessions") if rows is None else rows
    if rows not in ("sessions", "hits"):
        raise LoadError(f"{path}: rows must be \"sessions\" (a row per session) or \"hits\" (a row per "
                        f"hit or product, the session's totals repeated on each), not {rows!r}")
    return replace(mapped_layout(columns, float(scale)), rows=rows)


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
            f"or give a column mapping; found: {', '.join(columns[:20]) or 'none'}"
        )
    layout.refuse_missing(set(columns), label)
    return layout


def missing_columns(label: str, missing: list[str], what: str) -> LoadError:
    """The error for a file or table that lacks columns its layout needs."""
    return LoadError(f"{label}: missing required column(s) {', '.join(repr(c) for c in missing)} "
                     f"for a {what} (column names are matched case-insensitively)")


def nothing_kept(report: LoadReport) -> LoadError:
    """The error for a file whose every row was dropped, with how many for each reason."""
    return LoadError(f"{report.path}: no usable sessions: every row was dropped "
                     f"({', '.join(f'{r}: {n}' for r, n in report.dropped.items())})")


def load_sessions(path: str | Path, name: str | None = None, mapping: Layout | None = None
                  ) -> tuple[pd.DataFrame, LoadReport]:
    """Load a session file (CSV, NDJSON or Parquet, gzipped or not) into the canonical table.

    ``name`` is how messages and the report call the file (an upload's own name
    rather than the temporary file it was saved to); ``mapping`` a layout from
    :func:`mapped_layout` for files in no known format.
    """
    label = name or str(path)
    raw, kind, unreadable, files = read_files(Path(path), label, mapping)
    if raw.empty:
        raise LoadError(f"{label}: has a header but no data rows")
    layout = detect_layout(list(raw.columns), kind, label, mapping)
    if layout is GA4_EVENTS:
        return _load_events(raw, label, kind, unreadable, files)
    report = _new_report(label, layout.name, raw, unreadable, files)
    report.absent_columns, report.mapping = layout.absent(raw.columns), layout.mapping()

    mapped = raw[[src for src in layout.columns.values() if src in raw.columns]]
    report.decimal_comma = sorted(set(layout.numeric()) & set(raw.attrs.get(DECIMAL_COMMA_ATTR, [])))
    mapped = mapped.assign(**{src: with_decimal_point(mapped[src]) for src in report.decimal_comma})
    report.row_level = layout.rows
    if layout.rows == "sessions":  # (hits of a session repeat its columns: not duplicates)
        duplicate = _hashable(mapped).duplicated().to_numpy()
        report.duplicates_removed = int(duplicate.sum())
        report.drop(EXACT_DUPLICATE, report.duplicates_removed)
        mapped = mapped[~duplicate]

    sessions, reasons = _parse(mapped, layout, label)
    report.drop_all(reasons.counts())
    sessions = sessions[reasons.kept()]
    if layout.rows == "hits":
        sessions, repeats = one_row_a_day(sessions)
        report.drop(HIT_ROW, repeats)
    sessions, merged = merge_repeated_sessions(sessions)
    report.drop(REPEATED_SESSION, merged)
    return _finish(sessions, report)


def read_files(path: Path, label: str, mapping: Layout | None
               ) -> tuple[pd.DataFrame, str, dict[str, int], list[dict]]:
    """The raw rows of a file, or of a folder's or a pattern's files as one table (see
    :mod:`.file_sets`: one format, in name order), column names lower-cased; with their kind, the
    rows no file could read by reason, and the files read with their rows."""
    paths = session_files(path, label)
    parts = []
    for file in paths:
        name = file_label(file, paths, label)
        raw, kind, unreadable = read_raw(file, name)
        refuse_repeated_columns(raw.columns, name)
        raw.columns = [str(c).strip().lower() for c in raw.columns]
        parts.append((file, raw, kind, unreadable))
    if len(parts) > 1:
        refuse_a_mix([(file, _format(raw, kind, str(file), mapping)) for file, raw, kind, _ in parts])
    unreadable: dict[str, int] = {}
    for *_, dropped in parts:
        for reason, count in dropped.items():
            unreadable[reason] = unreadable.get(reason, 0) + count
    files = file_rows([(file, len(raw) + sum(dropped.values())) for file, raw, _, dropped in parts])
    raw = parts[0][1] if len(parts) == 1 else pd.concat([part[1] for part in parts], ignore_index=True)
    raw.attrs[DECIMAL_COMMA_ATTR] = sorted({c.strip().lower() for part in parts
                                            for c in part[1].attrs.get(DECIMAL_COMMA_ATTR, [])})
    return raw, parts[0][2], unreadable, files


def _format(raw: pd.DataFrame, kind: str, label: str, mapping: Layout | None) -> str:
    """A raw table's format, as its load report names it (``ga_sessions_csv``, ``ga4_events_json``)."""
    return format_name(detect_layout(list(raw.columns), kind, label, mapping).name, kind)


def _load_events(raw: pd.DataFrame, label: str, kind: str, unreadable: dict,
                 files: list[dict]) -> tuple[pd.DataFrame, LoadReport]:
    """A small GA4 export pandas read, built into sessions by :mod:`.ga4`'s query on DuckDB."""
    report = _new_report(label, f"ga4_events_{kind}", raw, unreadable, files)
    with registered(ga4.arrow_events(raw), "events") as events:
        sessions = ga4.counted(events, report).to_pandas()
    return _finish(sessions, report, rows_kept=report.rows_kept)


class _DropReasons:
    """The first reason each row is dropped for; a row without one is kept."""

    def __init__(self, index: pd.Index):
        self.reasons = pd.Series(np.nan, index=index, dtype=object)

    def flag(self, mask, reason: str) -> None:
        self.reasons.mask(np.asarray(mask) & self.reasons.isna().to_numpy(), reason, inplace=True)

    def kept(self) -> np.ndarray:
        return self.reasons.isna().to_numpy()

    def counts(self) -> dict:
        return self.reasons.value_counts(sort=False).to_dict()


def _new_report(label: str, fmt: str, raw: pd.DataFrame, unreadable: dict, files: list[dict]) -> LoadReport:
    """A report counting the table's rows and those the reader could not read at all."""
    report = LoadReport(path=label, format=fmt, rows_read=len(raw) + sum(unreadable.values()), files=files)
    report.drop_all(unreadable)
    return report


def _finish(sessions: pd.DataFrame, report: LoadReport, rows_kept: int | None = None):
    table = to_canonical(sessions)
    report.rows_kept = len(table) if rows_kept is None else rows_kept
    report.sessions = len(table)
    if table.empty:
        raise nothing_kept(report)
    report.unmatched_countries = unmatched_countries(table["country"])
    return table, report


def one_row_a_day(hits: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """A hit-level file's rows as one row per session and day, and how many rows that folded.

    Each hit repeats its session's totals, so they are taken once (the largest, should a hit
    lack one), never added up; the labels are the least of the session's (a session's are the
    same on every hit). A session crossing midnight keeps a row a day, whose totals
    :func:`merge_repeated_sessions` then adds up, as for a session export.
    """
    keys = [*SESSION_KEY, "date"]
    rows = hits.groupby(keys, sort=False, observed=True).agg(
        **{c: (c, "max") for c in NUMERIC}, **{c: (c, "min") for c in TEXT}).reset_index()
    # In date order, so that a session crossing midnight is dated where it started, whatever the
    # order of the hits in the file (as the scan dates it).
    return rows.sort_values("date", kind="stable", ignore_index=True), len(hits) - len(rows)


def merge_repeated_sessions(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Fold rows sharing (visitor_id, session_id) into one: the date and labels of its earliest part,
    the numbers summed, as the scan merges them (:func:`.scan._merged`).

    Google Analytics splits a session that crosses midnight into two rows with the
    same visitId; counting both would inflate sessions and deflate rates. Files are not always in
    date order: the part where the session started is the earliest, not the first written.
    """
    repeated = frame.duplicated(SESSION_KEY, keep=False).to_numpy()
    if not repeated.any():
        return frame, 0
    frame = frame.copy()
    part = frame[repeated]
    frame.loc[repeated, list(NUMERIC)] = part.groupby(SESSION_KEY, sort=False)[
        list(NUMERIC)
    ].transform("sum")
    by_date = np.argsort(part["date"].to_numpy(), kind="stable")
    earliest = np.flatnonzero(repeated)[by_date[~part.iloc[by_date].duplicated(SESSION_KEY).to_numpy()]]
    keep = ~repeated
    keep[earliest] = True
    return frame[keep], int((~keep).sum())


def _hashable(frame: pd.DataFrame) -> pd.DataFrame:
    """Values pandas can hash (JSON-derived cells may be lists or dicts)."""
    objects = [c for c in frame.columns if frame[c].dtype == object]
    if not objects:
        return frame
    return frame.assign(**{c: frame[c].map(lambda v: repr(v) if isinstance(v, (list, dict)) else v)
                           for c in objects})


def _parse(mapped: pd.DataFrame, layout: Layout, label: str) -> tuple[pd.DataFrame, _DropReasons]:
    """Parse every mapped column; return the values and why rows are dropped."""
    index = mapped.index
    reasons = _DropReasons(index)
    flag = reasons.flag
    out = {}
    for canon in ("visitor_id", "session_id"):
        values = _text(mapped[layout.columns[canon]])
        flag(values == "", missing(canon))
        out[canon] = values
    source = layout.columns["date"]
    out["date"] = _dates(mapped[source], source, label, flag)
    flag(implausible(out["date"]), implausible_date(source))
    for canon in NUMERIC:
        src = layout.columns.get(canon)
        if src not in mapped:
            continue
        values = _numbers(mapped[src], src, label, flag)
        flag(values < 0, negative(src))
        out[canon] = values * layout.revenue_scale if canon == "revenue" else values
    for canon in ("pageviews", "duration", "revenue"):
        out.setdefault(canon, pd.Series(0.0, index=index))
    out.setdefault("transactions", (out["revenue"] > 0).astype(float))
    for canon in TEXT:
        src = layout.columns.get(canon)
        out[canon] = _labels(mapped[src]) if src in mapped else pd.Series(NOT_SET, index=index)
        if src in mapped:
            flag(too_long(mapped[src]), long_label(src))
    out["device"] = _devices(out["device"])
    return pd.DataFrame(out, index=index), reasons


def _devices(devices: pd.Series) -> pd.Series:
    device = devices.str.lower()
    return device.where(device.isin(DEVICES + (NOT_SET,)), OTHER_DEVICE)


def _labels(values: pd.Series) -> pd.Series:
    """Names for grouping: trimmed text, "(not set)" where empty."""
    text = _text(values)
    return text.mask(text == "", NOT_SET)


def _text(values: pd.Series) -> pd.Series:
    if values.dtype == "category":
        return values.astype(str)
    text = values.astype(object).where(values.notna(), "")
    return text.astype(str).str.strip()


def _refuse_if_mostly_bad(bad: np.ndarray, filled: np.ndarray, raw, column, label, expected):
    """:func:`.schema.mostly_bad`, naming the first bad value and its row."""
    at = np.flatnonzero(bad)[:1]
    where = f"; the first is {raw.iloc[at[0]]!r} on data row {raw.index[at[0]] + 1}" if len(at) else ""
    mostly_bad(label, column, expected, int(bad.sum()), int(filled.sum()), where)


def _numbers(raw: pd.Series, column: str, label: str, flag) -> pd.Series:
    """Numbers; an empty cell is 0, as Google Analytics leaves zero totals empty."""
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype("float64").fillna(0)
        bad = ~np.isfinite(values.to_numpy())
        flag(bad, not_a_number(column))
        return values.where(~bad, 0)
    text = _text(raw)
    filled = (text != "").to_numpy()
    values = pd.to_numeric(text.where(filled, "0"), errors="coerce")
    bad = (values.isna() | ~np.isfinite(values.fillna(0))).to_numpy()
    _refuse_if_mostly_bad(bad, filled, raw, column, label, NUMBERS)
    flag(bad, not_a_number(column))
    return values.where(~bad, 0).astype("float64")


def _dates(raw: pd.Series, column: str, label: str, flag) -> pd.Series:
    """Dates as YYYYMMDD (Google Analytics) or ISO 8601, truncated to the day."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        values = raw.dt.tz_localize(None) if raw.dt.tz else raw
        flag(values.isna(), not_a_date(column))
        return values.dt.normalize()
    text = _text(raw)
    compact = text.str.fullmatch(r"\d{8}")
    values = pd.to_datetime(text.where(compact), format="%Y%m%d", errors="coerce")
    values = values.fillna(_iso_dates(text.where(~compact & (text != ""))))
    bad = values.isna().to_numpy()
    # A date whose year pandas cannot hold (before 1678, after 2262) is implausible, as DuckDB finds it.
    year = pd.to_numeric(text.str.extract(r"^(\d{4})(?:\d{4}$|-\d{2}-\d{2})", expand=False), errors="coerce")
    far = bad & ((year < 1678) | (year > 2262)).to_numpy()
    _refuse_if_mostly_bad(bad & ~far, np.ones_like(bad), raw, column, label, DATES)
    flag(bad & ~far, not_a_date(column))
    flag(far, implausible_date(column))
    return values.dt.normalize()


def _iso_dates(text: pd.Series) -> pd.Series:
    """ISO 8601 dates or timestamps; a time zone is dropped, keeping the local date written."""
    try:
        values = pd.to_datetime(text, format="ISO8601", errors="coerce")
    except (ValueError, TypeError):  # mixed offsets: read each on its own
        values = pd.Series([_one_iso_date(t) for t in text], index=text.index, dtype="datetime64[ns]")
    return values.dt.tz_localize(None) if getattr(values.dt, "tz", None) else values


def _one_iso_date(text):
    try:
        return pd.Timestamp(text).tz_localize(None) if isinstance(text, str) else pd.NaT
    except (ValueError, TypeError):
        return pd.NaT
