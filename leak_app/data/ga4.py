"""GA4 BigQuery event exports (``events_*``) built into sessions, as one engine query.

A session is (``user_pseudo_id``, the ``ga_session_id`` event parameter): it
starts at its first event, lasts until its last, counts its ``page_view`` events
as pageviews and its ``purchase`` events as transactions (revenue from
``ecommerce.purchase_revenue``, in the currency each purchase names; where they name several, GA4's
conversion of each to US dollars: see :func:`counted`), and records which GA4 e-commerce steps it
reached (``view_item``, ``add_to_cart``, ``begin_checkout``) for the e-commerce
funnel. Device, country, source and channel are the session's first event's (of several
first events in the same microsecond, the one of least labels, compared device
first, then country, source, medium, channel); the source, medium and channel are the
session's as GA4 attributes them, ``session_traffic_source_last_click.cross_channel_campaign``
(exports since October 2024 write it on every event); in older exports the source and medium are the
event's own parameters where GA4 collected them, else the user's first-touch ``traffic_source``.

The rules are one Ibis expression, so the engine that holds the events runs them:
DuckDB over local files of any size (out of core) or over a small file pandas read,
Spark or BigQuery where the export lives. Events are grouped by session and by the
reason they are dropped for in the same pass, so the load report's counts and the
sessions come from one scan of the events.
"""
from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from .readers import text_cell
from .schema import (
    ECOMMERCE_STEPS,
    MAX_LABEL,
    MEASURES,
    SESSION_KEY,
    TEXT,
    LoadReport,
    above_zero,
    compact_date,
    first_reason,
    grouped_device,
    implausible,
    implausible_date,
    long_label,
    negative,
    not_a_date,
    not_a_number,
    or_not_set,
    zero_columns,
)

REQUIRED = ("user_pseudo_id", "event_name", "event_timestamp", "event_date", "event_params")
#: The session's traffic as GA4 attributes it (the last non-direct click, as its reports' session
#: source, medium and default channel group), on every event of exports since October 2024.
SESSION_TRAFFIC = "session_traffic_source_last_click.cross_channel_campaign"
#: Where each label comes from (as the drop reason of a label too long names it).
LABELS = {"device": "device.category", "country": "geo.country", "source": "source", "medium": "medium",
          "channel": f"{SESSION_TRAFFIC}.default_channel_group"}
#: An event parameter's value is in one of these fields of its ``value`` record.
VALUE_KINDS = ("string_value", "int_value", "double_value", "float_value")
#: The user's first-touch source and medium (an event's own parameters come first) and the revenue:
#: in the currency each purchase was made in, and as GA4 converted it to US dollars when collected.
FIRST_TOUCH, REVENUE, REVENUE_USD = "traffic_source", "ecommerce.purchase_revenue", \
    "ecommerce.purchase_revenue_in_usd"
#: The code of a currency (ISO 4217), as a purchase's ``currency`` parameter names it.
CURRENCY_CODE = "^[A-Z]{3}$"
#: A session's columns that say which currencies its purchases were made in and their revenue in US
#: dollars: what :func:`counted` chooses the revenue by, not session columns.
CURRENCY_COLUMNS = ("revenue_usd", "currency_low", "currency_high")


def is_ga4(columns) -> bool:
    return {"event_name", "user_pseudo_id"} <= {str(c).lower() for c in columns}


def field(events: ibis.Table, name: str) -> ibis.Value | None:
    """A column by its dotted name, flattened (``device.category``, as pandas reads a small file)
    or a record's field, at any depth (as engines read the export); None if the data have neither."""
    found = _flattened_as(events.columns, name)
    if found is None:
        return None
    value = events[found[0]]
    for child in found[1]:
        kind = value.type()
        if not (kind.is_struct() and child in kind.names):
            return None
        value = value[child]
    return value


def _flattened_as(columns, name: str) -> tuple[str, list[str]] | None:
    """The column holding a dotted name (its longest prefix that is one: records are flattened into
    ``a.b`` columns only so deep), and the fields below it; None if there is none."""
    parts = name.split(".")
    for depth in range(len(parts), 0, -1):
        if ".".join(parts[:depth]) in columns:
            return ".".join(parts[:depth]), parts[depth:]
    return None


def event_param(params: ibis.Value, key: str) -> ibis.Value:
    """The text of an event's parameter (its first of that key; null if it has none)."""
    item = params.type().value_type if params.type().is_array() else None
    value = item.fields.get("value") if item is not None and item.is_struct() else None
    if value is None or not value.is_struct():  # no event of the file has parameters
        return ibis.null("string")
    kinds = value.names

    def text(item):
        return ibis.coalesce(*(item.value[kind].cast("string") for kind in VALUE_KINDS if kind in kinds))

    found = params.filter(lambda item: item.key == key).map(text)
    # A null appended so that an event without the key reads null on every engine (Spark's
    # ANSI mode refuses an index past the end of an array).
    return found.concat(ibis.literal([None], type="array<string>"))[0]


#: White space trimmed from text (the ASCII white space, written as regular-expression escapes that
#: RE2, Java and BigQuery read alike).
_EDGE_SPACE = r"^[ \t\n\r\x0B\f]+|[ \t\n\r\x0B\f]+$"


def _trimmed(value: ibis.Value) -> ibis.Value:
    """Text without white space at either end, the same on every engine. (Ibis' ``strip`` writes
    its characters as SQL escapes that Spark reads as letters, trimming every "v" and "f" from the
    ends of a label there: ibis-project/ibis#11894.)"""
    return value.cast("string").re_replace(_EDGE_SPACE, "")


def _label(value: ibis.Value | None) -> ibis.Value:
    """An event's label, trimmed ("" where none): the loaders' rule (schema.or_not_set) is applied to
    its session's, chosen from its first event (a tenth of the labels: lower-casing each event's
    three-letter ones to find NaN cost seconds at 100 M events)."""
    return ibis.literal("") if value is None else _trimmed(value).fill_null("")


def _number(value: ibis.Value) -> ibis.Value:
    if value.type().is_numeric():
        return value.cast("float64")
    return _trimmed(value).try_cast("float64")


def _traffic(raw: ibis.Table, key: str) -> ibis.Value:
    """The session's ``source``/``medium`` as GA4 attributes it (SESSION_TRAFFIC), as its channel is;
    in older exports, the event's own parameter, else the user's first-touch one (a direct visit of a
    user first brought by a search was named by that search, its channel Direct)."""
    session, first_touch = (field(raw, f"{record}.{key}") for record in (SESSION_TRAFFIC, FIRST_TOUCH))
    written = [session, event_param(raw.event_params, key), first_touch]
    return ibis.coalesce(*(value.cast("string") for value in written if value is not None))


def events(raw: ibis.Table) -> ibis.Table:
    """Each event's session key, values and the first reason it is dropped for (null if kept)."""
    params = raw.event_params
    user = _trimmed(raw.user_pseudo_id)
    session = event_param(params, "ga_session_id")
    timestamp = _number(raw.event_timestamp)
    date = compact_date(_trimmed(raw.event_date))
    name = raw.event_name.cast("string")
    purchase = name == "purchase"
    written = field(raw, REVENUE)
    revenue = ibis.literal(0.0) if written is None else _number(written)
    in_usd = field(raw, REVENUE_USD)
    revenue_usd = ibis.null("float64") if in_usd is None else _number(in_usd)
    currency = _trimmed(event_param(params, "currency")).upper()
    written_labels = {**{label: field(raw, LABELS[label]) for label in ("device", "country", "channel")},
                      **{key: _traffic(raw, key) for key in ("source", "medium")}}
    checks = [
        (user.isnull() | (user == ""), "event without user_pseudo_id"),
        (session.isnull(), "event without a ga_session_id parameter"),
        # (past 2**63 no whole number of microseconds: nor a time)
        (timestamp.isnull() | timestamp.isnan() | (timestamp.abs() >= 2.0**63),
         not_a_number("event_timestamp")),
        (timestamp < 0, "event_timestamp: before 1970"),
        (date.isnull(), not_a_date("event_date", "YYYYMMDD")),
        (implausible(date), implausible_date("event_date")),
        (~revenue.isnull() & revenue.isinf(), not_a_number(REVENUE)),
        (revenue < 0, negative(REVENUE)),
        *((value.cast("string").length() > MAX_LABEL, long_label(LABELS[label]))
          for label, value in written_labels.items() if value is not None),
    ]
    reason = first_reason(checks)
    revenue = ibis.cases((revenue.isnull() | revenue.isnan(), 0.0), else_=revenue)
    return raw.select(
        visitor_id=user, session_id=session, reason=reason, date=date,
        # only a kept event's: a dropped one's may not be a whole number (DuckDB casts every row's)
        timestamp=ibis.cases((reason.isnull(), timestamp), else_=ibis.null("float64")).floor().cast("int64"),
        **{label: _label(value) for label, value in written_labels.items()},
        page_view=(name == "page_view").cast("int64"), purchase=purchase.cast("int64"),
        revenue=ibis.cases((purchase, revenue), else_=0.0),
        # (a conversion that is no number, or negative, is none: used only where currencies differ)
        revenue_usd=ibis.cases((purchase & ~revenue_usd.isnan() & ~revenue_usd.isinf() & (revenue_usd >= 0),
                                revenue_usd), else_=ibis.null("float64")),
        currency=ibis.cases((purchase & currency.re_search(CURRENCY_CODE), currency),
                            else_=ibis.null("string")),
        **{step: name == step for step in ECOMMERCE_STEPS},
    )


def _first_event(ev: ibis.Table, engine: str) -> ibis.Value:
    """A session's first event: the least (timestamp, labels) record. (Its labels as the argmin of a
    text key, or a sorted aggregate, kept every session's strings in DuckDB's memory: it could not
    spill them, and 100 M events ran out of memory. BigQuery cannot take the least of records, so
    there it is the first of the events sorted so, as BigQuery does it.)"""
    record = ibis.struct({"timestamp": ev.timestamp, **{label: ev[label] for label in TEXT}})
    if engine == "bigquery":
        return record.first(order_by=[ev.timestamp, *(ev[label] for label in TEXT)])
    return record.min()


def grouped(raw: ibis.Table, engine: str | None = None) -> ibis.Table:
    """One row per session and drop reason, with its events: the kept sessions (reason null) and
    the dropped events' counts in one pass over the events. ``engine``: the name of the Ibis
    backend that runs it (default: the events' own)."""
    ev = events(raw)
    first = _first_event(ev, engine or raw.get_backend().name)
    out = ev.group_by([*SESSION_KEY, "reason"]).aggregate(
        events=ev.count(), date=ev.date.min(), first=first, last=ev.timestamp.max(),
        pageviews=ev.page_view.sum().cast("float64"), transactions=ev.purchase.sum().cast("float64"),
        revenue=ev.revenue.sum(), **{step: ev[step].any() for step in ECOMMERCE_STEPS},
        revenue_usd=ev.revenue_usd.sum(), currency_low=ev.currency.min(), currency_high=ev.currency.max(),
    )
    return out.mutate(
        duration=((out["last"] - out["first"]["timestamp"]) // 1_000_000).cast("float64"),
        **{label: or_not_set(out["first"][label]) for label in TEXT if label != "device"},
        device=grouped_device(or_not_set(out["first"]["device"])),
    ).drop("first", "last")


def sessions(grouped_events: ibis.Table, in_usd: bool = False) -> ibis.Table:
    """The kept sessions of :func:`grouped`, in the canonical columns; their revenue as GA4 converted
    it to US dollars where ``in_usd`` (see :func:`revenue_in_usd`)."""
    kept = grouped_events.filter(grouped_events.reason.isnull())
    if in_usd:
        kept = kept.mutate(revenue=kept.revenue_usd.fill_null(0.0))
    return kept.drop("reason", "events", *CURRENCY_COLUMNS)


def purchase_currencies(grouped_events: ibis.Table) -> dict[str, int]:
    """The kept sessions of :func:`grouped` that bought, by the currency of their purchases (the
    ``currency`` parameter GA4 asks of a purchase; a session that paid in several, rare, is counted
    under the first and the last of them in alphabetical order), most first."""
    paid = grouped_events.filter(grouped_events.reason.isnull() & grouped_events.currency_low.notnull())
    first = paid.group_by(currency=paid.currency_low).aggregate(sessions=paid.count())
    other = paid.filter(paid.currency_high != paid.currency_low)
    last = other.group_by(currency=other.currency_high).aggregate(sessions=other.count())
    counts = first.union(last).to_pandas().groupby("currency")["sessions"].sum()
    most_first = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {str(code): int(n) for code, n in most_first}


def revenue_in_usd(report: LoadReport) -> bool:
    """Whether the sessions' revenue is GA4's conversion to US dollars: where their purchases were
    made in more than one currency, which the revenue as written (each purchase's own) would add
    together, and the export has the conversion (see :func:`counted`)."""
    return len(report.currencies) > 1 and report.currency == "USD"


def drop_counts(grouped_events: ibis.Table) -> ibis.Table:
    """Events by drop reason (the kept ones under a null reason), with the sessions of each measure
    above 0 (see schema.zero_columns) and those whose purchases hold GA4's conversion of their
    revenue to US dollars (``converted``)."""
    return grouped_events.group_by("reason").aggregate(events=grouped_events.events.sum(),
                                                        converted=grouped_events.revenue_usd.count(),
                                                        **above_zero(grouped_events, MEASURES))


def counted(raw: ibis.Table, report: LoadReport) -> ibis.Table:
    """The sessions of the events, kept in their engine, and the events' drops in ``report``
    (``rows_kept``: the events the sessions were built from), and the currencies of their purchases
    (``currencies``) and of their revenue (``currency``): the one the purchases name; "USD" where
    they name several (their revenue as written would add euros to dollars) and the export holds
    GA4's conversion to US dollars, which is then the revenue; else "" (several and no conversion,
    or none named)."""
    report.row_level = "events"
    by_session = grouped(raw).cache()  # the events are read once
    counts = drop_counts(by_session).to_pandas()
    kept = counts["reason"].isna()
    report.drop_all(dict(zip(counts["reason"][~kept], counts["events"][~kept])))
    report.rows_kept = int(counts["events"][kept].sum())
    report.zero_columns = zero_columns(counts[kept])
    report.currencies = purchase_currencies(by_session)
    converted = counts["converted"][kept].sum() > 0
    several = len(report.currencies) > 1
    report.currency = ("USD" if converted else "") if several else next(iter(report.currencies), "")
    return sessions(by_session, revenue_in_usd(report))


#: An event parameter as :func:`arrow_events` types it: every kind of value as text.
PARAMS = pa.list_(pa.struct([("key", pa.string()),
                             ("value", pa.struct([(kind, pa.string()) for kind in VALUE_KINDS]))]))
#: The columns of a flattened export the sessions are built from (the fields of a nested one's).
USED = (*REQUIRED, LABELS["device"], LABELS["country"], f"{FIRST_TOUCH}.source", f"{FIRST_TOUCH}.medium",
        f"{SESSION_TRAFFIC}.source", f"{SESSION_TRAFFIC}.medium", LABELS["channel"], REVENUE, REVENUE_USD)
#: Those read as other than text, and the Arrow type they are read as (the others are text).
TYPED = {"event_params": PARAMS}


def arrow_events(frame: pd.DataFrame) -> pa.Table:
    """A small export pandas read (cells of any JSON type) as Arrow text columns, its event
    parameters typed as GA4 types them with every value as text, for :func:`grouped`."""
    columns = {}
    for name in USED:
        values = _dotted(frame, name)
        if values is None:
            continue
        if name == "event_params":
            columns[name] = pa.array([_params(v) for v in values], PARAMS)
        else:
            columns[name] = pa.array([text_cell(v) for v in values], pa.string())
    return pa.table(columns)


def _dotted(frame: pd.DataFrame, name: str) -> pd.Series | list | None:
    """A column by its dotted name, where pandas flattened its records only so deep (a column of
    ``a.b`` dicts holds ``a.b.c``); None if the frame has no such column."""
    found = _flattened_as(frame.columns, name)
    if found is None:
        return None
    values = frame[found[0]]
    for child in found[1]:
        values = [v.get(child) if isinstance(v, dict) else None for v in values]
    return values


def _params(params) -> list[dict] | None:
    if not isinstance(params, (list, tuple, np.ndarray)):
        return None
    out = []
    for item in params:
        if isinstance(item, dict):
            value = item.get("value") if isinstance(item.get("value"), dict) else {}
            out.append({"key": text_cell(item.get("key")),
                        "value": {kind: text_cell(value.get(kind)) for kind in VALUE_KINDS}})
    return out
