"""Universal Analytics' session records as Google names them: in BigQuery's ``ga_sessions_*``
export, and as JSON in the cells of the Kaggle Google Analytics CSV (``totals``, ``device``...)."""
from __future__ import annotations

#: The session fields, canonical name -> Google's (a layout matches them in any case).
FIELDS = {
    "visitor_id": "fullVisitorId", "session_id": "visitId", "date": "date",
    "device": "deviceCategory", "country": "country", "source": "source", "medium": "medium",
    "channel": "channelGrouping", "pageviews": "pageviews", "duration": "timeOnSite",
    "transactions": "transactions", "revenue": "transactionRevenue",
}
#: The record each field is in (the others are the session's own).
RECORDS = {"device": "device", "country": "geoNetwork",
           **dict.fromkeys(("source", "medium"), "trafficSource"),
           **dict.fromkeys(("pageviews", "duration", "transactions", "revenue"), "totals")}
#: The fields as dotted names, record first (``totals.transactionRevenue``).
NESTED = {canon: f"{RECORDS[canon]}.{name}" if canon in RECORDS else name for canon, name in FIELDS.items()}


def json_columns(columns) -> list:
    """The columns of a CSV header that hold the records as JSON, as written: the Kaggle CSV's (a
    ``fullVisitorId`` and a ``totals`` column); none for any other header, whose cells are text."""
    written = {str(column).strip().lower(): column for column in columns}
    if not {"fullvisitorid", "totals"} <= set(written):
        return []
    records = (record.lower() for record in dict.fromkeys(RECORDS.values()))
    return [written[record] for record in records if record in written]


def record_fields(record: str) -> list[str]:
    """The fields the layouts read from one of the records, by its name in any case (``totals`` ->
    pageviews, timeOnSite, transactions, transactionRevenue)."""
    return [FIELDS[canon] for canon, name in RECORDS.items() if name.lower() == str(record).lower()]
