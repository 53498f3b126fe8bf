"""Session files scanned by DuckDB, never loaded into pandas: larger than memory.

Flat layouts are scanned: the canonical table, the Google Analytics session exports
and files with a column mapping (nested exports and GA4 events are read by pandas).
The rows are parsed and checked in Ibis expressions (the same checks and drop
reasons as :mod:`leak_app.loaders`), so every row is still accounted for, and the
session table stays a lazy query that the cube build runs. DuckDB streams the file
and spills to disk what does not fit in its memory limit.
"""
from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path

import ibis
import pandas as pd

from .countries import unmatched_country_counts
from .loaders import (
    MAX_BAD_FRACTION,
    NUMERIC,
    SESSION_KEY,
    TEXT,
    Layout,
    detect_layout,
    missing_columns,
    nothing_kept,
)
from .readers import GZIP_MAGIC, csv_header, kind_of, refuse_repeated_columns
from .schema import (
    DEVICES,
    EARLIEST_DATE,
    MAX_LABEL,
    NOT_SET,
    OTHER_DEVICE,
    LoadError,
    LoadReport,
    implausible_date,
    latest_date,
    long_label,
)

#: Memory DuckDB may use before spilling to disk (the cube and the app need the rest);
#: ``LEAK_APP_DUCKDB_MEMORY`` sets another.
MEMORY_LIMIT = "1GB"
#: Layouts scanned (flat columns); the others are read by pandas.
SCANNED = ("canonical", "ga_sessions_csv", "ga_sessions_cleaned_csv", "mapped")
EXACT_DUPLICATE = "exact duplicate row"
MERGED = "repeated session id (merged into its first row)"


def file_kind(path: Path) -> str:
    """ "parquet", "json" (newline-delimited) or "csv", from the first bytes (gzip looked through)."""
    with (gzip.open if _gzipped(path) else open)(path, "rb") as handle:
        return kind_of(handle.read(4096))


def _first_line(path: Path, most: int = 2**20) -> str:
    with (gzip.open if _gzipped(path) else open)(path, "rb") as handle:
        return handle.readline(most).decode("utf-8-sig", errors="replace")


def _gzipped(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def scan_layout(path: Path, mapping: Layout | None = None) -> Layout | None:
    """The layout a file is scanned with, or None if pandas must read it (nested, GA4, unknown)."""
    kind = file_kind(path)
    try:
        columns = [c.strip().lower() for c in _read(ibis.duckdb.connect(), path, kind).columns]
        layout = detect_layout(columns, kind, str(path), mapping)
    except Exception:  # noqa: BLE001 - unreadable or unknown here: the pandas loader says why
        return None
    return layout if layout.name in SCANNED and not any("." in c for c in columns) else None


def connect() -> ibis.BaseBackend:
    """An in-memory DuckDB that spills to a temporary directory beyond its memory limit."""
    spill = Path(tempfile.gettempdir()) / "leak_app_duckdb"
    spill.mkdir(exist_ok=True)
    limit = os.environ.get("LEAK_APP_DUCKDB_MEMORY", MEMORY_LIMIT)
    return ibis.duckdb.connect(memory_limit=limit, temp_directory=str(spill))


def _read(con, path: Path, kind: str) -> ibis.Table:
    if kind == "parquet":
        return con.read_parquet(str(path))
    if kind == "json":
        return con.read_json(str(path), format="newline_delimited")
    return con.read_csv(str(path), all_varchar=True)


def scan_sessions(path: str | Path, name: str | None = None, layout: Layout | None = None
                  ) -> tuple[ibis.Table, LoadReport]:
    """A session file as a lazy Ibis table of valid sessions, and its load report.

    ``layout``: how the file names the canonical columns (default: detected from them).
    """
    path, label = Path(path), name or str(path)
    kind = file_kind(path)
    if kind == "csv":
        refuse_repeated_columns(csv_header(_first_line(path)), label)
    try:
        raw = _read(connect(), path, kind)
    except Exception as exc:  # DuckDB's own message says what is wrong
        raise LoadError(f"{label}: not a readable {kind} file ({str(exc).splitlines()[0]})") from exc
    raw = raw.rename({c.strip().lower(): c for c in raw.columns})
    layout = layout or detect_layout(list(raw.columns), kind, label)
    missing = [c for c in layout.required() if c not in raw.columns]
    if missing:
        raise missing_columns(label, missing, layout.label)
    parsed = _parsed(raw, layout)
    counts = parsed.group_by(["reason", "country"]).aggregate(rows=parsed.count()).to_pandas()
    report = LoadReport(path=label, format=f"{layout.name}_scan", rows_read=int(counts["rows"].sum()))
    reasons = counts.groupby("reason")["rows"].sum().to_dict()
    _refuse_if_mostly_bad(reasons, report.rows_read, label)
    report.drop_all(reasons)
    kept = counts[counts["reason"].isna()].groupby("country")["rows"].sum()
    ids = raw.select(**{key: raw[layout.columns[key]].cast("string") for key in SESSION_KEY})
    sessions, merged_away = _merge_repeated(ids, parsed.filter(parsed.reason.isnull()).drop("reason"), report)
    by_country = kept.sub(merged_away, fill_value=0)
    report.sessions = report.rows_kept = int(by_country.sum())
    if not report.sessions:
        raise nothing_kept(report)
    report.unmatched_countries = unmatched_country_counts(by_country[by_country > 0])
    return sessions, report


def _text(column) -> ibis.Value:
    text = column.cast("string").strip()
    return ibis.cases((text.isnull() | (text == ""), ibis.literal(NOT_SET)), else_=text)


def _number(column):
    """(value, not a number?): an empty cell is 0, as Google Analytics leaves zero totals empty."""
    if column.type().is_numeric():
        value = column.cast("float64")
        return value.fill_null(0), value.isnan()
    text = column.cast("string").strip()
    value = text.try_cast("float64")
    empty = text.isnull() | (text == "")
    return ibis.cases((empty, 0.0), else_=value), ~empty & (value.isnull() | value.isnan() | value.isinf())


def _date(column):
    if column.type().is_temporal():
        return column.cast("date")
    text = column.cast("string").strip()
    return ibis.cases((text.re_search(r"^\d{8}$"), text.as_date("%Y%m%d")),
                      else_=text.substr(0, 10).try_cast("date"))


def _refuse_if_mostly_bad(reasons: dict, rows: int, label: str) -> None:
    """A column whose values mostly fail to parse is a wrong file or mapping, as in the pandas loader."""
    for reason, count in reasons.items():
        column, _, problem = reason.rpartition(": not a ")
        if column and count > MAX_BAD_FRACTION * rows:
            raise LoadError(f"{label}: column {column!r} should hold {problem}s, but {count} of {rows} "
                            f"values do not")


def _parsed(raw: ibis.Table, layout: Layout) -> ibis.Table:
    """Canonical values and the first reason each row is dropped for (null when kept)."""
    checks, values = [], {}
    for key in SESSION_KEY:
        # Compared as written (trimming long ids costs more than the rest of the scan).
        values[key] = raw[layout.columns[key]].cast("string")
        checks.append((values[key].isnull() | values[key].re_search(r"^\s*$"), f"missing {key}"))
    source = layout.columns["date"]
    values["date"] = _date(raw[source])
    checks.append((values["date"].isnull(), f"{source}: not a date"))
    checks.append(((values["date"] < EARLIEST_DATE.date()) | (values["date"] > latest_date().date()),
                   implausible_date(source)))
    for name in NUMERIC:
        source = layout.columns.get(name)
        if source not in raw.columns:
            continue
        value, bad = _number(raw[source])
        checks += [(bad, f"{source}: not a number"), (value < 0, f"negative {source}")]
        values[name] = value * layout.revenue_scale if name == "revenue" else value
    for name in ("pageviews", "duration", "revenue"):
        values.setdefault(name, ibis.literal(0.0))
    values.setdefault("transactions", (values["revenue"] > 0).cast("float64"))
    for name in TEXT:
        source = layout.columns.get(name)
        if source in raw.columns:
            values[name] = _text(raw[source])
            checks.append((values[name].length() > MAX_LABEL, long_label(source)))
        else:
            values[name] = ibis.literal(NOT_SET)
    device = values["device"].lower()
    values["device"] = ibis.cases((device.isin([*DEVICES, NOT_SET]), device), else_=OTHER_DEVICE)
    reason = ibis.cases(*((bad.fill_null(False), text) for bad, text in checks), else_=ibis.null("string"))
    return raw.select(**values, reason=reason)


def _merge_repeated(ids: ibis.Table, rows: ibis.Table, report: LoadReport) -> tuple[ibis.Table, pd.Series]:
    """Drop exact duplicate rows and fold rows sharing a session id into one (midnight splits).

    The merged session takes the date and labels of its earliest part (where a split
    session started: the pandas loader's "first row" when the file is in date order) and
    sums the numbers. Also returns the rows folded away per country. Repeated ids are
    found among every row's ``ids`` (as written, not parsed: a quicker scan); an id whose
    other rows were dropped merges one row into itself.
    """
    keys = ids.group_by(SESSION_KEY).aggregate(rows=ids.count())
    repeated = ids.get_backend().create_table(f"repeated_{abs(hash(rows))}", keys.filter(keys.rows > 1), temp=True)
    if not repeated.count().to_pandas():
        return rows, pd.Series(dtype="int64")
    parts = rows.semi_join(repeated, SESSION_KEY)
    distinct = parts.distinct()
    merged = distinct.group_by(SESSION_KEY).aggregate(
        date=distinct.date.min(), **{c: distinct[c].argmin(distinct.date) for c in TEXT},
        **{c: distinct[c].sum() for c in NUMERIC})
    per_country = {name: t.group_by("country").aggregate(rows=t.count()).to_pandas().set_index("country")["rows"]
                   for name, t in (("parts", parts), ("distinct", distinct), ("merged", merged))}
    total, unique, sessions = (int(c.sum()) for c in per_country.values())
    report.duplicates_removed = total - unique
    report.drop(EXACT_DUPLICATE, total - unique)
    report.drop(MERGED, unique - sessions)
    merged_away = per_country["parts"].sub(per_country["merged"], fill_value=0)
    return rows.anti_join(repeated, SESSION_KEY).union(merged.select(rows.columns)), merged_away
