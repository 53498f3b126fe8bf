"""Reports downloaded from an analytics tool's interface (Google Analytics' "Download file → CSV",
Looker Studio's, Matomo's): totals by channel, country or day, not a row per session. No rate can be
tested from them nor a leak sized, so they are refused, saying so and what to load instead (a
GA4 report's CSV was refused as "Expected 1 fields in line 9, saw 6", an aggregate table as a
file whose columns were not an export's).
"""
from __future__ import annotations

import itertools
import re

from .schema import LoadError, quoted

#: The first line of a report Google Analytics' interface downloads (Universal Analytics' and GA4's
#: CSV): a comment of dashes, then the report's name, view or property and dates, then its table.
GA_REPORT_START = re.compile(r"#\s*-{8,}\s*$")
#: Columns of counts of sessions or people (Google Analytics', Plausible's, Matomo's): a table holding
#: them has rows of totals.
TOTALS_COLUMNS = ("sessions", "users", "visits", "visitors", "new users", "total users", "active users",
                  "unique visitors", "nb_visits", "nb_uniq_visitors")
#: What to load instead, said by every refusal of a report.
INSTEAD = ("load a session-level export instead: GA4's BigQuery export (events_*), Universal Analytics' "
           "ga_sessions_*, or any table of one row per session with a column mapping (README: Data it reads)")


def refuse_a_ga_report(text: str, label: str) -> None:
    """Refuse CSV ``text`` that is a report downloaded from Google Analytics' interface, naming it by
    the comment lines it begins with (its name, view and dates; its account and property left out)."""
    lines = text[:8192].lstrip("\ufeff").splitlines()
    if not lines or not GA_REPORT_START.match(lines[0]):
        return
    comments = itertools.takewhile(lambda line: line.startswith("#") or not line.strip(), lines[1:])
    said = (line.lstrip("#").strip() for line in comments)
    title = " — ".join(line for line in said if line and not GA_REPORT_START.match(f"#{line}")
                       and not line.lower().startswith(("account:", "property:")))
    raise LoadError(f"{label}: a report downloaded from Google Analytics' interface "
                    f"({quoted(title) or 'untitled'}): totals by dimension, not a row per session, so no "
                    f"rate can be tested nor a leak sized; {INSTEAD}")


def totals_clause(columns: list[str]) -> str:
    """What a refusal of a file of no known layout adds when its (lower-cased) columns count sessions
    or people: that its rows are totals ("" when none does)."""
    counts = [column for column in columns if column in TOTALS_COLUMNS]
    if not counts:
        return ""
    return (f"; its rows are totals (a column {counts[0]!r}), as a report downloaded from an analytics "
            f"tool's interface holds, not one row per session: {INSTEAD}")
