"""Writers of every supported export format, from a canonical table.

They make the real-looking fixtures in tests/fixtures (see make_fixtures.py) and
the round trips of the property tests: canonical -> format -> canonical.
Field names and value encodings follow the real exports: BigQuery writes INT64
values as JSON strings, revenue in micros for Universal Analytics, GA4 keeps
parameters as key/value records.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import fastavro
import pandas as pd

GA_HEADER = ["fullVisitorId", "visitId", "visitNumber", "date", "deviceCategory", "country", "source",
             "pageviews", "timeOnSite", "transactions", "transactionRevenue"]


def _micros(revenue: float) -> int:
    return round(revenue * 1_000_000)


def _blank_zero(value: int) -> str:
    return "" if value == 0 else str(int(value))


def _epoch(date: pd.Timestamp) -> int:
    return int((date - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1))


def ga_csv(table: pd.DataFrame) -> str:
    """The GA session export: empty cells for zero totals, revenue in micros."""
    rows = pd.DataFrame({
        "fullVisitorId": table["visitor_id"], "visitId": table["session_id"], "visitNumber": 1,
        "date": table["date"].dt.strftime("%Y%m%d"), "deviceCategory": table["device"],
        "country": table["country"], "source": table["source"], "medium": table["medium"],
        "channelGrouping": table["channel"], "pageviews": table["pageviews"].map(_blank_zero),
        "timeOnSite": table["duration"].map(_blank_zero),
        "transactions": table["transactions"].map(_blank_zero),
        "transactionRevenue": table["revenue"].map(lambda r: _blank_zero(_micros(r))),
    })
    return rows.to_csv(index=False)


def _nested(row) -> dict:
    return {
        "device": {"browser": "Chrome", "operatingSystem": "Windows", "isMobile": row.device != "desktop",
                   "deviceCategory": row.device},
        "geoNetwork": {"continent": "(not set)", "subContinent": "(not set)", "country": row.country,
                       "city": "not available in demo dataset"},
        "totals": {"visits": "1", "hits": str(max(row.pageviews, 1)), "pageviews": str(row.pageviews),
                   "timeOnSite": str(row.duration) if row.duration else None,
                   "transactions": str(row.transactions) if row.transactions else None,
                   "transactionRevenue": str(_micros(row.revenue)) if row.revenue else None,
                   "bounces": "1" if row.pageviews <= 1 else None},
        "trafficSource": {"source": row.source, "medium": row.medium, "campaign": "(not set)",
                          "adwordsClickInfo": {}},
    }


def bigquery_ndjson(table: pd.DataFrame) -> str:
    """Universal Analytics ga_sessions_* exported from BigQuery as newline-delimited JSON."""
    lines = []
    for row in table.itertuples():
        nested = _nested(row)
        record = {
            "visitorId": None, "visitNumber": "1", "visitId": row.session_id,
            "visitStartTime": str(_epoch(row.date)), "date": row.date.strftime("%Y%m%d"),
            "totals": {k: v for k, v in nested["totals"].items() if v is not None},
            "trafficSource": nested["trafficSource"], "device": nested["device"],
            "geoNetwork": nested["geoNetwork"], "customDimensions": [],
            "hits": [{"hitNumber": str(i + 1), "type": "PAGE", "page": {"pagePath": "/home"}}
                     for i in range(min(row.pageviews, 3))],
            "fullVisitorId": row.visitor_id, "channelGrouping": row.channel,
            "socialEngagementType": "Not Socially Engaged",
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def kaggle_csv(table: pd.DataFrame) -> str:
    """The "Google Analytics Customer Revenue Prediction" train_v2.csv layout: JSON in cells."""
    rows = []
    for row in table.itertuples():
        nested = _nested(row)
        rows.append({
            "channelGrouping": row.channel, "customDimensions": "[]",
            "date": row.date.strftime("%Y%m%d"),
            "device": json.dumps(nested["device"], ensure_ascii=False), "fullVisitorId": row.visitor_id,
            "geoNetwork": json.dumps(nested["geoNetwork"], ensure_ascii=False), "hits": "[]",
            "sessionId": f"{row.visitor_id}_{row.session_id}", "socialEngagementType": "Not Socially Engaged",
            "totals": json.dumps({k: v for k, v in nested["totals"].items() if v is not None}),
            "trafficSource": json.dumps(nested["trafficSource"], ensure_ascii=False),
            "visitId": row.session_id, "visitNumber": 1, "visitStartTime": _epoch(row.date),
        })
    return pd.DataFrame(rows).to_csv(index=False)


def _param(key: str, value) -> dict:
    kind = "int_value" if isinstance(value, int) else "string_value"
    return {"key": key, "value": {kind: value}}


def ga4_events(table: pd.DataFrame, steps: bool = True) -> list[dict]:
    """GA4 events_* rows: session_start, page_views, e-commerce steps and purchases per session."""
    events = []
    for row in table.itertuples():
        start = _epoch(row.date) * 1_000_000 + 3_600_000_000
        session_id = int(row.session_id)
        names = ["session_start"] + ["page_view"] * row.pageviews
        if steps:
            names += [s for s in ("view_item", "add_to_cart", "begin_checkout") if getattr(row, s, False)]
        names += ["purchase"] * row.transactions
        if row.duration and len(names) == 1:
            names.append("user_engagement")  # GA4 sends it as the visitor leaves
        times = [start] * len(names)
        times[-1] = start + row.duration * 1_000_000
        for i, (name, ts) in enumerate(zip(names, times)):
            purchase = name == "purchase"
            events.append({
                "event_date": pd.Timestamp(ts, unit="us").strftime("%Y%m%d"), "event_timestamp": str(ts),
                "event_name": name,
                "event_params": [_param("ga_session_id", session_id), _param("page_location", "https://shop/"),
                                 _param("source", row.source), _param("medium", row.medium)],
                "user_pseudo_id": row.visitor_id,
                "device": {"category": row.device, "operating_system": "Web"},
                "geo": {"country": row.country, "city": "(not set)"},
                "traffic_source": {"name": "(direct)", "medium": "(none)", "source": "(direct)"},
                "session_traffic_source_last_click": {"cross_channel_campaign": {
                    "source": row.source, "medium": row.medium, "default_channel_group": row.channel}},
                "ecommerce": {
                    "purchase_revenue": (row.revenue if purchase and i == names.index("purchase") else
                                         0.0 if purchase else None),
                    "transaction_id": f"T{session_id}" if purchase else None},
            })
    return events


def _nullable(kind: str) -> list:
    return ["null", kind]


def _record(name: str, leaves) -> dict:
    return {"type": "record", "name": name.title().replace("_", ""),
            "fields": [{"name": leaf, "type": _nullable(kind)} for leaf, kind in leaves]}


#: GA4's events_* table as BigQuery exports it to Avro (INT64 as long, records as nested records,
#: every leaf nullable), for the columns ga4_events writes.
GA4_AVRO_SCHEMA = {"type": "record", "name": "Root", "fields": [
    {"name": "event_date", "type": _nullable("string")},
    {"name": "event_timestamp", "type": _nullable("long")},
    {"name": "event_name", "type": _nullable("string")},
    {"name": "event_params", "type": {"type": "array", "items": {
        "type": "record", "name": "Param", "fields": [
            {"name": "key", "type": _nullable("string")},
            {"name": "value", "type": _nullable({"type": "record", "name": "Value", "fields": [
                {"name": kind, "type": _nullable(avro)} for kind, avro in (
                    ("string_value", "string"), ("int_value", "long"), ("float_value", "double"),
                    ("double_value", "double"))]})}]}}},
    {"name": "user_pseudo_id", "type": _nullable("string")},
    *({"name": name, "type": _nullable(_record(name, leaves))} for name, leaves in (
        ("device", (("category", "string"), ("operating_system", "string"))),
        ("geo", (("country", "string"), ("city", "string"))),
        ("traffic_source", (("name", "string"), ("medium", "string"), ("source", "string"))),
        ("session_traffic_source_last_click", (("cross_channel_campaign", _record("cross_channel_campaign", (
            ("source", "string"), ("medium", "string"), ("default_channel_group", "string")))),)),
        ("ecommerce", (("purchase_revenue", "double"), ("transaction_id", "string"))))),
]}


def ga4_avro(events: list[dict], path: Path, codec: str = "deflate") -> Path:
    """GA4 events written as BigQuery's Avro export writes them (timestamps as numbers)."""
    records = [{**event, "event_timestamp": int(event["event_timestamp"])} for event in events]
    with open(path, "wb") as handle:
        fastavro.writer(handle, fastavro.parse_schema(GA4_AVRO_SCHEMA), records, codec=codec)
    return path


def ga4_ndjson(table: pd.DataFrame, steps: bool = True) -> str:
    return "\n".join(json.dumps(e, ensure_ascii=False) for e in ga4_events(table, steps)) + "\n"


def write(path: Path, text_or_frame, compress: bool = False) -> Path:
    if isinstance(text_or_frame, pd.DataFrame):
        text_or_frame.to_parquet(path)
        return path
    data = text_or_frame.encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path
