"""The canonical session table every loader produces and every later layer reads.

One row per session. Keeping this contract in one place lets loaders, the demo
generator and the model agree without importing each other.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import ibis
import pandas as pd

#: Column -> dtype of the canonical session table, in display order.
COLUMNS: dict[str, str] = {
    "visitor_id": "string",
    "session_id": "string",
    "date": "datetime64[ns]",
    "device": "category",
    "country": "category",
    "source": "category",
    "medium": "category",
    #: GA's own grouping of source and medium (UA ``channelGrouping``, GA4's session default channel
    #: group): what marketers budget by.
    "channel": "category",
    "pageviews": "int32",
    "duration": "int32",  # seconds
    "transactions": "int32",
    "revenue": "float64",  # currency units
    "converted": "bool",  # transactions > 0
}

#: Optional columns: which GA4 e-commerce steps a session reached (GA4 event exports only).
ECOMMERCE_STEPS = ("view_item", "add_to_cart", "begin_checkout")

#: A session's identity in every export: a visitor's id and the session's id among theirs.
SESSION_KEY = ["visitor_id", "session_id"]
#: The labels a session is grouped by, and its numbers.
TEXT = ("device", "country", "source", "medium", "channel")
NUMERIC = ("pageviews", "duration", "transactions", "revenue")
#: The numbers a view is drawn from, which a file may lack: the pageview funnel needs pageviews,
#: the duration view durations (see ``needs``).
MEASURES = {"pageviews": "the pageview funnel (Browsed → Engaged → Deep Engagement)",
            "duration": "the session duration view"}


def needs(report: dict, measure: str, funnel: str = "pageviews") -> str | None:
    """What a view cannot show because the data has no ``measure`` column, or one of zeros only (None
    if it has values, or if the measure is pageviews and the ``funnel`` shown is not the pageview one)."""
    if measure == "pageviews" and funnel != "pageviews":
        return None
    if measure in report.get("absent_columns", []):
        return (f"The data has no {measure} column, which {MEASURES[measure]} needs: every session's "
                f"{measure} would read 0. Map the column (--map {measure}=COLUMN) if the file has it under "
                f"another name.")
    if measure in report.get("zero_columns", []):
        return (f"Every session's {measure} in the data is 0 (or empty), so {MEASURES[measure]} has "
                f"nothing to show. Map another column (--map {measure}=COLUMN) if the file has them "
                f"under another name.")
    return None


def above_zero(table: ibis.Table, names) -> dict:
    """The sums of sessions (rows of ``table``) holding each measure of ``names`` above 0: what
    :func:`zero_columns` reads."""
    return {name: (table[name] > 0).cast("int64").sum() for name in names}


def zero_columns(kept, prefix: str = "") -> list[str]:
    """The measures (MEASURES) the ``kept`` sessions' counts of values above 0 (columns named
    ``prefix`` + measure, one for each measure the data has, summed) find none of."""
    return [name for name in MEASURES if prefix + name in kept and not kept[prefix + name].sum()]


def unavailable(report: dict, funnel: str) -> dict:
    """Table name ("funnel", "duration") -> why the data cannot give it (see ``needs``), for those
    it cannot: what the takeaways say and the JSON summary publishes instead of tables of zeros."""
    reasons = {"funnel": needs(report, "pageviews", funnel), "duration": needs(report, "duration")}
    return {name: reason for name, reason in reasons.items() if reason}


DEVICES = ("desktop", "mobile", "tablet")
#: Devices outside DEVICES are grouped here rather than dropped.
OTHER_DEVICE = "other"
NOT_SET = "(not set)"


#: Sessions dated before Google Analytics (2005) or after tomorrow (a file may run a day ahead
#: in its own time zone) are typos or placeholders (1900-01-01, 2099-12-31): one such row would
#: make the cube span centuries of empty days.
EARLIEST_DATE = pd.Timestamp("2005-01-01")
#: A longer label (device, country, source, medium, channel) is no real one (GA caps them far
#: lower); it would only cost memory and time in every lookup.
MAX_LABEL = 200


def quoted(text: str) -> str:
    """A file's text as a message quotes it: cut at MAX_LABEL characters (a header cell or a report's
    title may be of any length)."""
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "…"


def first_of(values, most: int = 20) -> str:
    """Values a message lists, the first ``most`` of them and ", ..." where there are more: a
    filter's choices, a database's tables."""
    return ", ".join(map(str, values[:most])) + (", ..." if len(values) > most else "")


def latest_date() -> pd.Timestamp:
    return pd.Timestamp.now().normalize() + pd.Timedelta(days=1)


def implausible(dates):
    """Which ``dates`` (a pandas Series or an Ibis date column) fall before EARLIEST_DATE or after
    tomorrow: the rule of every loader."""
    first, last = EARLIEST_DATE, latest_date()
    if isinstance(dates, ibis.Expr) and dates.type().is_date():  # compared as dates: not each row cast
        first, last = first.date(), last.date()                   # to a timestamp first
    return (dates < first) | (dates > last)


def compact_date(text):
    """An Ibis text column of YYYYMMDD dates as dates; null where it is no such date. (Ibis'
    ``as_date`` raises on "20261345" in DuckDB and Spark alike; a cast of the ISO form does not.)"""
    iso = text.substr(0, 4) + "-" + text.substr(4, 2) + "-" + text.substr(6, 2)
    return ibis.cases((text.re_search(r"^\d{8}$"), iso.try_cast("date")), else_=ibis.null("date"))


def or_not_set(text, length=None):
    """An Ibis column of trimmed labels, "(not set)" where empty, null or NaN in any case (pandas'
    and JSON's token for no value: see parse.MISSING), the loaders' rule for every format (GA4's
    events kept "NaN" where every other export's loader read "(not set)"). ``length``: the engine's
    quickest length of a text (DuckDB's in bytes), which spares lower-casing every other label."""
    size = text.length() if length is None else length(text)
    nan = ibis.cases((size == 3, text.lower() == "nan"), else_=False)
    return ibis.cases((text.isnull() | (text == "") | nan, ibis.literal(NOT_SET)), else_=text)


def grouped_device(device):
    """An Ibis column of device labels as the loaders keep them: lower case, one of DEVICES or
    "(not set)", any other OTHER_DEVICE."""
    lower = device.lower()
    return ibis.cases((lower.isin([*DEVICES, NOT_SET]), lower), else_=OTHER_DEVICE)


def first_reason(checks) -> ibis.Value:
    """Of (condition, reason) pairs of Ibis expressions, the reason of the first that holds for a
    row: why it is dropped (null if none holds; a null condition does not, as SQL's CASE has it).

    The conditions are not wrapped to make a null false: DuckDB then evaluated each whole, on every
    row, where a CASE condition's ``a AND b`` evaluates ``b`` only where ``a`` holds (the pattern of
    a blank id was matched on all 20 million ids of a 10 million row file: 0.65 s of the pass)."""
    return ibis.cases(*checks, else_=ibis.null("string"))


#: Why rows are dropped, as every loader writes it in the load report (pandas, DuckDB's scan, GA4).
EXACT_DUPLICATE = "exact duplicate row"
REPEATED_SESSION = "repeated session id (merged into its first row)"
#: Rows of a hit-level file after a session's first on a day.
HIT_ROW = "hit row of a session already counted (rows = hits: its totals are the session's)"


def missing(column: str) -> str:
    return f"missing {column}"


def not_a_number(column: str) -> str:
    return f"{column}: not a number"


def not_json(column: str) -> str:
    """Drop reason of a cell that should hold a JSON object (the Kaggle CSV's records) and does not."""
    return f"{column}: not valid JSON"


def negative(column: str) -> str:
    return f"negative {column}"


#: Counts a session holds in whole numbers: a fraction ("2.35") is another column's value (pages per
#: session mapped as pageviews), where the engines had truncated it or kept it (1.5 transactions).
COUNTS = ("pageviews", "transactions")


def not_whole(column: str) -> str:
    """Drop reason of a fraction in a column of COUNTS (the same for every loader)."""
    return f"{column}: not a whole number"


#: The most pageviews, seconds or transactions a session may count: the canonical table holds them
#: as 32-bit integers (68 years of seconds), and a larger value read by pandas wrapped to a negative.
MAX_COUNT = 2**31 - 1


def too_large(column: str) -> str:
    """Drop reason of a count larger than MAX_COUNT (the same for every loader)."""
    return f"{column}: larger than {MAX_COUNT:,}"


#: Drop reason of a row that repeats the header: files joined as text (``cat a.csv b.csv``).
REPEATED_HEADER = "the header repeated as a row (files joined)"


def not_a_date(column: str, expected: str = "") -> str:
    return f"{column}: not a date" + (f" (expected {expected})" if expected else "")


#: A column whose non-empty values mostly fail to parse is a wrong file or mapping, not a few bad
#: rows: it is refused instead of dropping most of the data (by every loader alike).
MAX_BAD_FRACTION = 0.5


def mostly_bad(label: str, column: str, expected: str, bad: int, filled: int,
               first: Callable[[], str] | None = None) -> None:
    """Refuse a column ``bad`` of whose ``filled`` (non-empty) values fail to parse, if that is most of
    them; ``first``: says where the first bad one is, where the loader knows (asked only then)."""
    if bad and bad > MAX_BAD_FRACTION * max(filled, 1):
        raise LoadError(f"{label}: column {column!r} should hold {expected}, but {bad} of {filled} values "
                        f"do not{first() if first else ''}")


#: Dates written as numbers, which a column of dates refused may hold: (what counts them, their day
#: 0, how many make a day); Excel's serial days first (a cell formatted as a number shows them).
NUMBERED_DATES = (("Excel's count of days (a column formatted as numbers)", "1899-12-30", 1),
                  ("seconds of Unix time", "1970-01-01", 86_400),
                  ("milliseconds of Unix time", "1970-01-01", 86_400_000),
                  ("microseconds of Unix time (as GA4's event_timestamp)", "1970-01-01", 86_400_000_000))


def date_as_number(value) -> str:
    """What a value refused as a date is where it is a plausible date written as a number (Excel's
    serial day, a Unix time), and what to do, as a clause; "" otherwise."""
    number = re.fullmatch(r"(\d{1,19})(?:\.\d*)?", str(value).strip())  # (Excel writes a time as a fraction)
    for counted, origin, per_day in NUMBERED_DATES:
        days = int(number.group(1)) // per_day if number else -1
        if 0 <= days < 100_000 and EARLIEST_DATE <= (day := pd.Timestamp(origin) + pd.Timedelta(days=days)) \
                <= latest_date():
            return f": {day:%Y-%m-%d} in {counted}; write the column as dates (YYYY-MM-DD) and load it again"
    return ""


#: What :func:`mostly_bad` says a column should hold.
NUMBERS, DATES = "numbers", "dates (YYYYMMDD, YYYY-MM-DD, DD/MM/YYYY or MM/DD/YYYY, or Sep 28, 2026)"
WHOLE_NUMBERS = "whole numbers (it counts)"
#: A currency's sign as a sheet formatted as currency writes it before or after an amount
#: ("$1,250.00", "12,50 €", "US$5.00", "EUR 12.50"): a symbol, with up to three capitals before it
#: ("US$", "R$", "CA$"), or an ISO 4217 code. A regular expression for Python's and DuckDB's (RE2).
CURRENCY_SIGN = "(?:[A-Z]{0,3}[$€£¥₹₽₩₪₫₱₺₴₦฿¢]|[A-Z]{3})"
#: Spaces between an amount and its sign: a space, or the no-break spaces a locale writes there.
SIGN_SPACE = "[ \u00a0\u202f]*"
#: LoadReport.date_order of dates written "29/09/2026", and of those written "9/29/2026".
DAY_FIRST, MONTH_FIRST = "day first", "month first"


def implausible_date(column: str) -> str:
    """Drop reason of a date outside EARLIEST_DATE..tomorrow (the same for every loader)."""
    return f"{column}: implausible date (before {EARLIEST_DATE.year} or after tomorrow)"


def long_label(column: str) -> str:
    """Drop reason of a label longer than MAX_LABEL characters (the same for every loader)."""
    return f"{column}: longer than {MAX_LABEL} characters"


class LoadError(ValueError):
    """A file could not be turned into sessions; the message names file, row or column."""

    @classmethod
    def empty(cls, label: str) -> LoadError:
        """The refusal of a file with nothing in it (uploaded, read or scanned)."""
        return cls(f"{label}: file is empty")


@dataclass
class LoadReport:
    """Accounts for every row read: ``rows_read == rows_kept + sum(dropped.values())``."""

    path: str
    format: str
    rows_read: int
    rows_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    sessions: int = 0  # rows_kept, or fewer where rows are events (GA4) built into sessions
    duplicates_removed: int = 0
    unmatched_countries: dict[str, int] = field(default_factory=dict)
    #: A scanned file's results are kept on disk under this key (see scan.scan_key); "" if not.
    cache_key: str = ""
    #: The files read, with the rows read from each: {"path", "rows"} (a folder or a pattern
    #: names several; see file_sets).
    files: list[dict] = field(default_factory=list)
    #: The labels (device, country, source, medium, channel) the data has no column for: "(not set)"
    #: for every session; and the measures (pageviews, duration) it has none for (see ``needs``).
    absent_columns: list[str] = field(default_factory=list)
    #: The measures (pageviews, duration) the data has a column for but no kept session holds above 0
    #: (an export's column left empty; a GA4 app stream, which sends screen_view, not page_view):
    #: the views that need them say so, as for an absent one (see ``needs``).
    zero_columns: list[str] = field(default_factory=list)
    #: The column mapping the data was read with, if any: {"columns": {canonical name: column},
    #: "revenue_scale": x}, so that the same data can be read again (the check command to copy).
    mapping: dict = field(default_factory=dict)
    #: The columns of a ";"- or tab-delimited CSV read with a decimal comma ("12,5" = 12.5).
    decimal_comma: list[str] = field(default_factory=list)
    #: How the dates were written where not year first: "day first" ("29/09/2026", "29.09.2026") or
    #: "month first" ("9/29/2026"), as a spreadsheet saves them; "" for YYYYMMDD and YYYY-MM-DD.
    date_order: str = ""
    #: What a row of the data is: "sessions"; "hits" (a row per hit or product, the session's totals
    #: repeated on each: taken once a session and day, the other rows dropped with a reason); or
    #: "events" (GA4: built into sessions).
    row_level: str = "sessions"
    #: The currency of the revenue, where the data say it: GA4's purchases name theirs (ISO 4217); a
    #: file's amounts may be written with one's sign ("$1,250.00": "$"; see parse.priced). "" where
    #: they do not, or where GA4's were made in several and the export has no conversion.
    currency: str = ""
    #: The id columns (visitor_id, session_id) a spreadsheet wrote in scientific notation, rounded to
    #: a few digits ("1.23457E+18": see parse.rounded_ids): ids that share a rounded value are one.
    rounded_ids: list[str] = field(default_factory=list)
    #: The sessions that bought, by the currency they paid in (GA4: see ga4.purchase_currencies).
    #: Where more than one, the revenue is GA4's conversion of each purchase to US dollars.
    currencies: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, count: int) -> None:
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(count)

    def drop_all(self, counts: dict) -> None:
        for reason, count in counts.items():
            self.drop(reason, count)

    def to_dict(self) -> dict:
        return asdict(self)


def to_canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast a frame holding the canonical columns to the canonical dtypes and order.

    The e-commerce step columns are kept only where the frame has them (GA4 data).
    """
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for name, dtype in COLUMNS.items():
        if name == "converted":
            out[name] = out["transactions"] > 0
            continue
        values = frame[name].to_numpy() if name in frame else NOT_SET
        out[name] = pd.Series(values, index=out.index).astype(dtype)
    for step in ECOMMERCE_STEPS:
        if step in frame:
            out[step] = frame[step].to_numpy().astype(bool)
    return out
