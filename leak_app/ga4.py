"""GA4 BigQuery event exports (``events_*``) built into sessions.

A session is (``user_pseudo_id``, the ``ga_session_id`` event parameter): it
starts at its first event, lasts until its last, counts its ``page_view`` events
as pageviews and its ``purchase`` events as transactions (revenue from
``ecommerce.purchase_revenue``), and records which GA4 e-commerce steps it
reached (``view_item``, ``add_to_cart``, ``begin_checkout``) for the e-commerce
funnel. Device, country and source are the session's first event's; the source
is the event's own ``source`` parameter where GA4 collected one, else the user's
first-touch ``traffic_source``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .schema import ECOMMERCE_STEPS, NOT_SET, implausible, implausible_date, long_label, too_long

REQUIRED = ("user_pseudo_id", "event_name", "event_timestamp", "event_date", "event_params")


def is_ga4(columns) -> bool:
    return {"event_name", "user_pseudo_id"} <= set(columns)


def event_param(params, key: str):
    """The value of one event parameter (GA4 stores each under string/int/float/double_value)."""
    if params is None or (isinstance(params, float) and np.isnan(params)):
        return None
    for item in params:
        if isinstance(item, dict) and item.get("key") == key:
            value = item.get("value") or {}
            for kind in ("string_value", "int_value", "double_value", "float_value"):
                found = value.get(kind)
                if found is None or (isinstance(found, float) and np.isnan(found)):
                    continue  # Parquet fills every kind of the struct, the unused ones with nulls
                if kind == "int_value":
                    return str(int(found))
                return found
    return None


def sessionize(events: pd.DataFrame, flag) -> pd.DataFrame:
    """Sessions (canonical column names, raw values) from events; bad events flagged, not kept.

    ``flag(mask, reason)`` marks events to drop; returns the sessions of the rest
    and, as ``events_kept``, the number of events they were built from.
    """
    col = events.get
    user = col("user_pseudo_id").astype(str).str.strip().replace({"None": "", "nan": ""})
    params = events["event_params"]
    session = params.map(lambda p: event_param(p, "ga_session_id"))
    flag(user == "", "event without user_pseudo_id")
    flag(session.isna(), "event without a ga_session_id parameter")
    timestamp = pd.to_numeric(col("event_timestamp"), errors="coerce")
    flag(timestamp.isna(), "event_timestamp: not a number")
    date_text = col("event_date").astype(str).str.strip()
    date = pd.to_datetime(date_text.where(date_text.str.fullmatch(r"\d{8}")), format="%Y%m%d",
                          errors="coerce")
    flag(date.isna(), "event_date: not a date (expected YYYYMMDD)")
    flag(implausible(date), implausible_date("event_date"))
    name = col("event_name").astype(str)
    purchase = name == "purchase"
    revenue = pd.to_numeric(events.get("ecommerce.purchase_revenue", pd.Series(np.nan, index=events.index)),
                            errors="coerce").fillna(0.0)
    flag(revenue < 0, "negative ecommerce.purchase_revenue")
    source = params.map(lambda p: event_param(p, "source")).fillna(_column(events, "traffic_source.source"))
    medium = params.map(lambda p: event_param(p, "medium")).fillna(_column(events, "traffic_source.medium"))
    frame = pd.DataFrame({
        "visitor_id": user, "session_id": session.astype(str), "timestamp": timestamp, "date": date,
        "device": _column(events, "device.category"), "country": _column(events, "geo.country"),
        "source": source, "medium": medium,
        "page_view": name == "page_view", "purchase": purchase, "revenue": revenue.where(purchase, 0.0),
        **{step: name == step for step in ECOMMERCE_STEPS},
    })
    for column, where in (("device", "device.category"), ("country", "geo.country"), ("source", "source"),
                          ("medium", "medium")):
        flag(too_long(frame[column]), long_label(where))
    return frame


def aggregate(events: pd.DataFrame) -> pd.DataFrame:
    """One row per session from the kept events of :func:`sessionize`."""
    events = events.sort_values("timestamp", kind="stable")
    grouped = events.groupby(["visitor_id", "session_id"], sort=False)
    sessions = grouped.agg(
        date=("date", "min"), first=("timestamp", "min"), last=("timestamp", "max"),
        device=("device", "first"), country=("country", "first"), source=("source", "first"),
        medium=("medium", "first"), pageviews=("page_view", "sum"), transactions=("purchase", "sum"),
        revenue=("revenue", "sum"), **{step: (step, "any") for step in ECOMMERCE_STEPS},
    ).reset_index()
    sessions["duration"] = ((sessions.pop("last") - sessions.pop("first")) // 1_000_000).astype("int64")
    return sessions


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame:
        return pd.Series(NOT_SET, index=frame.index, dtype=object)
    values = frame[name].astype(object)
    return values.where(values.notna() & (values.astype(str).str.strip() != ""), NOT_SET)
