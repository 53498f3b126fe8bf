"""Read session exports into the canonical table, accounting for every row.

Each supported layout maps its own column names (matched case-insensitively) onto
the canonical columns. Values are parsed here, once; a row that cannot be used is
dropped with a reason in the :class:`~leak_app.schema.LoadReport`, and a file that
cannot be used at all raises :class:`~leak_app.schema.LoadError` naming the file,
column or row and what was expected.
"""
from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .countries import unmatched_countries
from .schema import DEVICES, NOT_SET, OTHER_DEVICE, LoadError, LoadReport, to_canonical

#: A column whose non-empty values mostly fail to parse is a wrong file or mapping,
#: not a few bad rows: refuse it instead of dropping most of the data.
MAX_BAD_FRACTION = 0.5

NUMERIC = ("pageviews", "duration", "transactions", "revenue")
TEXT = ("device", "country", "source", "medium")
SESSION_KEY = ["visitor_id", "session_id"]


@dataclass(frozen=True)
class Layout:
    """How one export names the canonical columns (canonical name -> its column)."""

    name: str
    label: str
    columns: dict
    revenue_scale: float = 1.0
    optional: tuple = ("medium",)

    def required(self) -> list[str]:
        return [src for canon, src in self.columns.items() if canon not in self.optional]


_GA_COLUMNS = {
    "visitor_id": "fullvisitorid",
    "session_id": "visitid",
    "date": "date",
    "device": "devicecategory",
    "country": "country",
    "source": "source",
    "medium": "medium",
    "pageviews": "pageviews",
    "duration": "timeonsite",
    "transactions": "transactions",
    "revenue": "transactionrevenue",
}

GA_SESSIONS = Layout(
    "ga_sessions_csv", "Google Analytics session export", _GA_COLUMNS, revenue_scale=1e-6
)
GA_CLEANED = Layout(
    "ga_sessions_cleaned_csv",
    "cleaned Google Analytics session export",
    {**_GA_COLUMNS, "revenue": "revenue"},
)
CANONICAL = Layout(
    "canonical", "canonical session table", {c: c for c in _GA_COLUMNS}
)


def detect_layout(columns: list[str], label: str) -> Layout:
    """Pick the layout from the (lower-cased) header; refuse a file that matches none."""
    cols = set(columns)
    if "visitor_id" in cols:
        layout = CANONICAL
    elif "fullvisitorid" in cols:
        layout = GA_CLEANED if "revenue" in cols else GA_SESSIONS
    else:
        expected = ", ".join(GA_SESSIONS.required())
        raise LoadError(
            f"{label}: not a session export: expected the columns of a Google Analytics "
            f"session export ({expected}) or the canonical table "
            f"({', '.join(CANONICAL.required())}); found: {', '.join(columns) or 'none'}"
        )
    missing = [c for c in layout.required() if c not in cols]
    if missing:
        raise LoadError(
            f"{label}: missing required column(s) {', '.join(repr(c) for c in missing)} "
            f"for a {layout.label} (column names are matched case-insensitively)"
        )
    return layout


def load_sessions(path: str | Path, name: str | None = None) -> tuple[pd.DataFrame, LoadReport]:
    """Load a session file (CSV, CSV.gz or Parquet) into the canonical table and its report.

    ``name`` is how messages and the report call the file (an upload's own name
    rather than the temporary file it was saved to).
    """
    label = name or str(path)
    raw = _read_table(Path(path), label)
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    if raw.columns.duplicated().any():
        dupes = sorted(set(raw.columns[raw.columns.duplicated()]))
        raise LoadError(f"{label}: column(s) {', '.join(dupes)} appear more than once")
    layout = detect_layout(list(raw.columns), label)
    report = LoadReport(path=label, format=layout.name, rows_read=len(raw))

    mapped = raw[[src for src in layout.columns.values() if src in raw.columns]]
    duplicate = mapped.duplicated().to_numpy()
    report.duplicates_removed = int(duplicate.sum())
    report.drop("exact duplicate row", report.duplicates_removed)
    mapped = mapped[~duplicate]

    sessions, reasons = _parse(mapped, layout, label)
    for reason, count in reasons.value_counts(sort=False).items():
        report.drop(reason, count)
    sessions = sessions[reasons.isna().to_numpy()]
    sessions, merged = merge_repeated_sessions(sessions)
    report.drop("repeated session id (merged into its first row)", merged)

    table = to_canonical(sessions)
    report.rows_kept = len(table)
    report.unmatched_countries = unmatched_countries(table["country"])
    return table, report


def merge_repeated_sessions(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Fold rows sharing (visitor_id, session_id) into the first one.

    Google Analytics splits a session that crosses midnight into two rows with the
    same visitId; counting both would inflate sessions and deflate rates.
    """
    repeated = frame.duplicated(SESSION_KEY, keep=False).to_numpy()
    if not repeated.any():
        return frame, 0
    frame = frame.copy()
    part = frame[repeated]
    frame.loc[repeated, list(NUMERIC)] = part.groupby(SESSION_KEY, sort=False)[
        list(NUMERIC)
    ].transform("sum")
    keep = ~frame.duplicated(SESSION_KEY).to_numpy()
    return frame[keep], int((~keep).sum())


def _read_table(path: Path, label: str) -> pd.DataFrame:
    if not path.is_file():
        raise LoadError(f"{label}: no such file")
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".parquet"]:
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types for a bad file
            raise LoadError(f"{label}: not a readable Parquet file ({exc})") from exc
    else:
        frame = _read_csv(path, label, compressed=suffixes[-1:] == [".gz"])
    if frame.empty:
        raise LoadError(f"{label}: has a header but no data rows")
    return frame


def _read_csv(path: Path, label: str, compressed: bool) -> pd.DataFrame:
    data = path.read_bytes()
    if compressed:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise LoadError(f"{label}: not a valid gzip file ({exc})") from exc
    if not data.strip():
        raise LoadError(f"{label}: file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LoadError(
            f"{label}: not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} "
            f"(byte offset {exc.start}); save the file as UTF-8 (for example Excel's "
            f"'CSV UTF-8') and load it again"
        ) from exc
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LoadError(f"{label}: not a readable CSV file ({exc})") from exc


def _parse(mapped: pd.DataFrame, layout: Layout, label: str) -> tuple[pd.DataFrame, pd.Series]:
    """Parse every mapped column; return the values and a drop reason per row (NaN = keep)."""
    index = mapped.index
    reasons = pd.Series(np.nan, index=index, dtype=object)

    def flag(mask, reason):
        reasons.mask(np.asarray(mask) & reasons.isna().to_numpy(), reason, inplace=True)

    out = {}
    for canon in ("visitor_id", "session_id"):
        values = _text(mapped[layout.columns[canon]])
        flag(values == "", f"missing {canon}")
        out[canon] = values
    out["date"] = _dates(mapped[layout.columns["date"]], layout.columns["date"], label, flag)
    for canon in NUMERIC:
        src = layout.columns[canon]
        values = _numbers(mapped[src], src, label, flag)
        flag(values < 0, f"negative {src}")
        out[canon] = values * layout.revenue_scale if canon == "revenue" else values
    for canon in TEXT:
        src = layout.columns[canon]
        values = _text(mapped[src]) if src in mapped else pd.Series(NOT_SET, index=index)
        out[canon] = values.mask(values == "", NOT_SET)
    device = out["device"].str.lower()
    out["device"] = device.where(device.isin(DEVICES + (NOT_SET,)), OTHER_DEVICE)
    return pd.DataFrame(out, index=index), reasons


def _text(values: pd.Series) -> pd.Series:
    return values.astype(str).str.strip() if values.dtype != "category" else values.astype(str)


def _refuse_if_mostly_bad(bad: np.ndarray, filled: np.ndarray, raw, column, label, expected):
    if bad.sum() and bad.sum() > MAX_BAD_FRACTION * max(filled.sum(), 1):
        first = int(np.flatnonzero(bad)[0])
        raise LoadError(
            f"{label}: column {column!r} should hold {expected}, but {int(bad.sum())} of "
            f"{int(filled.sum())} values do not; the first is {raw.iloc[first]!r} on data "
            f"row {raw.index[first] + 1}"
        )


def _numbers(raw: pd.Series, column: str, label: str, flag) -> pd.Series:
    """Numbers; an empty cell is 0, as Google Analytics leaves zero totals empty."""
    if pd.api.types.is_numeric_dtype(raw):
        return raw.fillna(0).astype("float64")
    text = raw.astype(str).str.strip()
    filled = (text != "").to_numpy()
    values = pd.to_numeric(text.where(filled, "0"), errors="coerce")
    bad = values.isna().to_numpy()
    _refuse_if_mostly_bad(bad, filled, raw, column, label, "numbers")
    flag(bad, f"{column}: not a number")
    return values.fillna(0)


def _dates(raw: pd.Series, column: str, label: str, flag) -> pd.Series:
    """Dates as YYYYMMDD (Google Analytics) or ISO 8601, truncated to the day."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        values = raw
    else:
        text = raw.astype(str).str.strip()
        compact = text.str.fullmatch(r"\d{8}")
        values = pd.to_datetime(text.where(compact), format="%Y%m%d", errors="coerce")
        iso = pd.to_datetime(text.where(~compact), format="ISO8601", errors="coerce")
        values = values.fillna(iso)
        filled = (text != "").to_numpy()
        bad = values.isna().to_numpy()
        _refuse_if_mostly_bad(bad, filled | bad, raw, column, label, "dates (YYYYMMDD or YYYY-MM-DD)")
        flag(bad, f"{column}: not a date")
    return values.dt.tz_localize(None).dt.normalize() if values.dt.tz else values.dt.normalize()
