"""GA4 events built into sessions the naive way: a loop over the event records in plain Python.

Written from the rules in :mod:`leak_app.data.ga4`'s docstring, not from its query, so that a test can
check the engines' sessions (DuckDB over files, DuckDB over what pandas read, Spark) against it.
"""
from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta

import pandas as pd

from leak_app.data.schema import DEVICES, EARLIEST_DATE, ECOMMERCE_STEPS, MAX_LABEL, NOT_SET, OTHER_DEVICE

KINDS = ("string_value", "int_value", "double_value", "float_value")
#: The white space the loader trims from the ends of text.
SPACE = " \t\n\r\x0b\x0c"


def _param(event: dict, key: str):
    for item in event.get("event_params") or []:
        if item.get("key") == key:
            value = item.get("value") or {}
            for kind in KINDS:
                if value.get(kind) is not None:
                    return str(value[kind])
            return None
    return None


def _number(value):
    if value is None:
        return None
    try:
        return float(str(value).strip(SPACE))
    except ValueError:
        return float("nan")


def _label(value) -> str:
    """An event's label as written, trimmed ("" where none): the first event is the least by them."""
    return "" if value is None else str(value).strip(SPACE)


def _kept(label: str) -> str:
    """A session's label as the loaders keep it: "(not set)" where empty or NaN in any case."""
    return NOT_SET if label == "" or label.lower() == "nan" else label


def _reason(event: dict) -> str | None:
    """The first reason an event is dropped for, in the loader's order; None if it is kept."""
    user = event.get("user_pseudo_id")
    if user is None or not str(user).strip(SPACE):
        return "event without user_pseudo_id"
    if _param(event, "ga_session_id") is None:
        return "event without a ga_session_id parameter"
    timestamp = _number(event.get("event_timestamp"))
    if timestamp is None or math.isnan(timestamp) or abs(timestamp) >= 2**63:
        return "event_timestamp: not a number"
    if timestamp < 0:
        return "event_timestamp: before 1970"
    day = _day(event.get("event_date"))
    if day is None:
        return "event_date: not a date (expected YYYYMMDD)"
    if day < EARLIEST_DATE.date() or day > date.today() + timedelta(days=1):
        return "event_date: implausible date (before 2005 or after tomorrow)"
    revenue = _number((event.get("ecommerce") or {}).get("purchase_revenue"))
    if revenue is not None and math.isinf(revenue):
        return "ecommerce.purchase_revenue: not a number"
    if revenue is not None and revenue < 0:
        return "negative ecommerce.purchase_revenue"
    for label, where in _labels(event).items():
        if where is not None and len(str(where)) > MAX_LABEL:
            return f"{_WHERE[label]}: longer than {MAX_LABEL} characters"
    return None


CHANNEL = "session_traffic_source_last_click.cross_channel_campaign.default_channel_group"
_WHERE = {"device": "device.category", "country": "geo.country", "source": "source", "medium": "medium",
          "channel": CHANNEL}


def _at(event: dict, dotted: str):
    """A nested record's field (None where a record on the way is missing or no record)."""
    value = event
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _traffic(event: dict, key: str):
    """The session's source or medium as GA4 attributes it, else the event's own, else the user's
    first-touch one."""
    written = (_at(event, f"session_traffic_source_last_click.cross_channel_campaign.{key}"),
               _param(event, key), _at(event, f"traffic_source.{key}"))
    return next((value for value in written if value is not None), None)


def _labels(event: dict) -> dict:
    return {"device": _at(event, "device.category"), "country": _at(event, "geo.country"),
            **{key: _traffic(event, key) for key in ("source", "medium")}, "channel": _at(event, CHANNEL)}


def _day(text) -> date | None:
    text = "" if text is None else str(text).strip(SPACE)
    if not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def _currency(event: dict) -> str | None:
    """A purchase's currency: its ``currency`` parameter, trimmed, in capitals, if a code of three
    letters."""
    text = (_param(event, "currency") or "").strip(SPACE).upper()
    return text if event.get("event_name") == "purchase" and re.fullmatch("[A-Z]{3}", text) else None


def _in_usd(event: dict) -> float | None:
    """A purchase's revenue as GA4 converted it to US dollars, if a number not below 0."""
    value = _number(_at(event, "ecommerce.purchase_revenue_in_usd"))
    if event.get("event_name") != "purchase" or value is None or math.isnan(value) or math.isinf(value):
        return None
    return value if value >= 0 else None


def naive_sessions(events: list[dict]) -> tuple[pd.DataFrame, dict, int, dict]:
    """(sessions sorted by key, events dropped by reason, events kept, the currencies: {"currency",
    "currencies"} as the load report says them). Where the kept sessions bought in several currencies
    and a purchase holds GA4's conversion to US dollars, the revenue is that conversion."""
    dropped: dict[str, int] = {}
    sessions: dict[tuple, list] = {}
    for event in events:
        reason = _reason(event)
        if reason is not None:
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        key = (str(event["user_pseudo_id"]).strip(SPACE), _param(event, "ga_session_id"))
        sessions.setdefault(key, []).append(event)
    rows, paid_in, usd = [], {}, []
    for (user, session), part in sessions.items():
        codes = sorted({code for code in map(_currency, part) if code is not None})
        for code in dict.fromkeys(codes[:1] + codes[-1:]):  # the first and last, once each
            paid_in[code] = paid_in.get(code, 0) + 1
        usd.append([value for value in map(_in_usd, part) if value is not None])
        times = [math.floor(_number(e["event_timestamp"])) for e in part]
        first = min(times)
        least = min((t, *(_label(_labels(e)[label]) for label in _WHERE)) for e, t in zip(part, times))
        labels = {label: _kept(text) for label, text in zip(_WHERE, least[1:])}
        device = labels["device"].lower()
        names = [e.get("event_name") for e in part]
        revenue = [_number((e.get("ecommerce") or {}).get("purchase_revenue")) for e in part]
        rows.append({
            "visitor_id": user, "session_id": session,
            "date": pd.Timestamp(min(_day(e["event_date"]) for e in part)),
            **labels, "device": device if device in (*DEVICES, NOT_SET) else OTHER_DEVICE,
            "pageviews": names.count("page_view"), "duration": (max(times) - first) // 1_000_000,
            "transactions": names.count("purchase"),
            "revenue": sum(r for n, r in zip(names, revenue) if n == "purchase" and r is not None
                           and not math.isnan(r)),
            **{step: step in names for step in ECOMMERCE_STEPS},
        })
    frame = pd.DataFrame(rows, columns=["visitor_id", "session_id", "date", *_WHERE, "pageviews", "duration",
                                        "transactions", "revenue", *ECOMMERCE_STEPS])
    converted = any(usd)
    if len(paid_in) > 1 and converted:
        frame["revenue"] = [float(sum(values)) for values in usd]
    currency = ("USD" if converted else "") if len(paid_in) > 1 else next(iter(paid_in), "")
    currencies = dict(sorted(paid_in.items(), key=lambda item: (-item[1], item[0])))
    return (frame.sort_values(["visitor_id", "session_id"]).reset_index(drop=True), dropped,
            len(events) - sum(dropped.values()), {"currency": currency, "currencies": currencies})
