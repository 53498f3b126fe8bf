"""The dashboard's texts: pure functions from the model's outputs to escaped HTML.

No text computes a statistic; each only words and lays out what it is given. Text from the data
(country, source and page names, file names) is escaped here, everywhere it is shown.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.change import compared, most_mixed
from ..analysis.leaks import NO_SILENT_LEAK, leak_rows, segment_name, silent_leak_rows
from ..analysis.text import currencies_sentence, escape_html, pct, revenue_unit
from ..data.schema import DAY_FIRST, needs
from .figures import LOST, NO_DATA, REACHED


def kpi_cards_html(kpis: dict, report: dict | None = None) -> str:
    """The headline numbers as HTML cards; the rate card carries its interval and n; the revenue
    card its currency, where the load ``report`` knows it."""
    if not kpis.get("sessions"):
        return '<div class="kpis"><div class="kpi"><b>No sessions match the filters.</b></div></div>'
    cards = [
        ("Sessions", f"{kpis['sessions']:,}", "after filters"),
        ("Converting sessions", f"{kpis['converting_sessions']:,}",
         f"{kpis['transactions']:,} transactions"),
        ("Conversion rate", pct(kpis["conversion_rate"]),
         f"95% CI {pct(kpis['ci_low'])} – {pct(kpis['ci_high'])}"),
        ("Revenue", f"{kpis['revenue']:,.2f}", revenue_unit(report or {}) or "currency units"),
        ("Revenue per session", f"{kpis['revenue_per_session']:,.2f}", _per_conversion(kpis)),
    ]
    body = "".join(
        f'<div class="kpi" data-kpi="{escape_html(label)}"><div class="kpi-label">{escape_html(label)}</div>'
        f'<div class="kpi-value">{escape_html(value)}</div>'
        f'<div class="kpi-note">{escape_html(note)}</div></div>'
        for label, value, note in cards
    )
    return f'<div class="kpis">{body}</div>'


def _per_conversion(kpis: dict) -> str:
    """Revenue per conversion with its interval, where there is a conversion (an interval, two)."""
    value, low, high = (kpis[f"revenue_per_conversion{end}"] for end in ("", "_low", "_high"))
    if pd.isna(value):
        return ""
    return f"{value:,.2f} per conversion" + ("" if pd.isna(low) else f" (95% CI {low:,.2f} – {high:,.2f})")


def takeaways_html(sentences: list[str]) -> str:
    items = "".join(f"<li>{escape_html(s)}</li>" for s in sentences) or "<li>No sessions to describe.</li>"
    return f'<ul class="takeaways">{items}</ul>'


def needs_html(report: dict, measure: str, funnel: str = "pageviews") -> str:
    """Why a view is not drawn: the data has no ``measure`` column ("" if it has; see schema.needs)."""
    sentence = needs(report, measure, funnel)
    return f'<p class="needs">{escape_html(sentence)}</p>' if sentence else ""


def funnel_needs_html(report: dict, funnel: str) -> str:
    return needs_html(report, "pageviews", funnel)


def duration_needs_html(report: dict) -> str:
    return needs_html(report, "duration")


#: Country names without a shape named in the load report, those of the most sessions (the others
#: are counted): a column of other things than countries has tens of thousands.
UNMATCHED_SHOWN = 20


def load_report_html(report: dict) -> str:
    """Where every row went: read = kept + dropped by reason; unmatched country names."""
    if not report:
        return ""
    rows = [("Rows read", report["rows_read"]), ("Rows kept", report["rows_kept"])]
    if report.get("sessions", report["rows_kept"]) != report["rows_kept"]:  # GA4: events made sessions
        rows.append(("Sessions they make", report["sessions"]))
    rows += [(f"Dropped: {reason}", n) for reason, n in report["dropped"].items()]
    table = "".join(f"<tr><td>{escape_html(k)}</td><td>{v:,}</td></tr>" for k, v in rows)
    unmatched = report.get("unmatched_countries") or {}
    named = list(unmatched.items())[:UNMATCHED_SHOWN]
    rest = len(unmatched) - len(named)
    note = (
        "<p>Country names with no map shape (kept in every other view): "
        + ", ".join(f"{escape_html(name)} ({n:,})" for name, n in named)
        + (f" and {rest:,} more names ({sum(unmatched.values()) - sum(n for _, n in named):,} sessions)"
           if rest else "") + "</p>"
        if unmatched else "<p>Every country name matched a map shape.</p>"
    )
    paid = currencies_sentence(report)
    if paid:
        note += f"<p>{escape_html(paid)}</p>"
    absent = report.get("absent_columns") or []
    if absent:
        note += f"<p>Not in the data, so (not set) for every session: {escape_html(', '.join(absent))}.</p>"
    order = report.get("date_order")
    if order:
        written = "DD/MM/YYYY" if order == DAY_FIRST else "MM/DD/YYYY"
        note += f"<p>Dates written {escape_html(order)} ({written}), as a spreadsheet saves them.</p>"
    commas = report.get("decimal_comma") or []
    if commas:
        written = _comma_files(commas, report.get("files") or [])
        note += f"<p>Numbers written with a decimal comma: {written}.</p>"
    note += _sheets_html(report.get("files") or [])
    files = _files_html(report.get("files") or [], report["path"])
    return (
        f'<div class="load-report"><p><b>{escape_html(Path(report["path"]).name)}</b> '
        f'read as {escape_html(report["format"])}.</p>{files}'
        f'<table>{table}</table>{note}</div>'
    )


#: Files of a folder or a pattern named one by one in the load report; the rest are counted.
FILES_LISTED = 8


def _comma_files(columns: list[str], files: list[dict]) -> str:
    """The columns written with a decimal comma, each with how many of the files wrote it so where
    some did not (their numbers read with a decimal point)."""
    def written(column: str) -> str:
        some = sum(column in (file.get("decimal_comma") or []) for file in files)
        return escape_html(column) + (f" (in {some:,} of {len(files):,} files)"
                                      if 0 < some < len(files) else "")
    return ", ".join(written(column) for column in columns)


def _sheets_html(files: list[dict]) -> str:
    """The sheets the workbooks among ``files`` were read from ("" if none is a workbook)."""
    sheets = list(dict.fromkeys(f["sheet"] for f in files if "sheet" in f))
    if not sheets:
        return ""
    books = sum("sheet" in f for f in files)
    named = ", ".join(f"“{escape_html(sheet)}”" for sheet in sheets)
    return (f"<p>Read from the sheet{'s' * (len(sheets) > 1)} {named} of the workbook{'s' * (books > 1)}: "
            f"the first visible sheet whose header is a session export's.</p>")


def _files_html(files: list[dict], path: str) -> str:
    """The files of a folder, an archive or a pattern (``path``), with their rows read (nothing for
    one file), each named within the folder or archive ("days/day 2.csv"), a pattern's by name."""
    if len(files) < 2:
        return ""

    def name(file: str) -> str:
        within = file.removeprefix(path.rstrip("/") + "/")
        return within if within != file else Path(file).name
    named = ", ".join(f"{escape_html(name(f['path']))} ({f['rows']:,})" for f in files[:FILES_LISTED])
    more = f" and {len(files) - FILES_LISTED:,} more" if len(files) > FILES_LISTED else ""
    return f"<p>{len(files):,} files, rows read: {named}{more}.</p>"


def warnings_html(warnings: list) -> str:
    """The period warnings, escaped ("" when there are none)."""
    return "".join(f'<p class="warning">⚠ {escape_html(w)}</p>' for w in warnings)


def silent_leaks_html(silent_table: pd.DataFrame, change: dict, top: int = 8) -> str:
    """The silent leaks (the headline list), then what moved the rate: a sentence each, children
    under their parent, everything escaped."""
    silent = silent_leak_rows(silent_table, top)
    return "".join([
        "<h4>Silent leaks: segments whose rate fell more than the rest of the traffic's</h4>",
        _nested(silent) if len(silent) else
        f"<p>{NO_SILENT_LEAK if compared(change) else 'Not compared: see the warning above.'}</p>",
        _more_html(silent_table, top, "silent leaks", "silent_leaks.csv"),
        rate_change_html(change),
    ])


def leaks_list_html(leaks_table: pd.DataFrame, report: dict | None = None, top: int = 8) -> str:
    """The ranked leaks: a sentence each (their revenue in the load ``report``'s currency), children
    under their parent, everything escaped."""
    found = leak_rows(leaks_table, top, (report or {}).get("currency", ""))
    return "".join([
        "<h4>Leaks: segments converting below the rest of the traffic</h4>",
        _nested(found) if len(found) else "<p>No segment converts significantly below the rest of the "
        "traffic.</p>",
        _more_html(leaks_table, top, "leaks", "leaks.csv"),
        ('<p class="note">Losses of different dimensions overlap (a mobile session from google counts in '
         "both) and are never added up; a child's loss is counted beyond its parent's rest.</p>"),
    ])


def _more_html(table: pd.DataFrame, top: int, what: str, download: str) -> str:
    """Where more leaks were found than are listed, how many and where they all are ("" otherwise):
    the list stopped at its first ``top`` and left the others unsaid."""
    found = int(table["leak"].sum()) if len(table) else 0
    if found <= top:
        return ""
    return (f'<p class="note">{found:,} {what} found: the {top} that lose the most conversions are listed, '
            f"all {found:,} in {download} (Data and downloads, below).</p>")


def _nested(rows: pd.DataFrame) -> str:
    """Published rows as a list, each child under its parent where the parent is published too (under
    any of its names: "mobile × Partners" under "Affiliates (channel), also Partners (source)")."""
    names = {}
    for i, (segment, dimension, also) in enumerate(zip(rows["segment"], rows["dimension"], rows["also"])):
        for name in (segment_name(segment, dimension), *also):
            names.setdefault(name, i)
    under = {i: names[p] for i, p in enumerate(rows["parent"]) if p is not None and p in names}
    items = []
    for i, sentence in enumerate(rows["sentence"]):
        if i in under:
            continue
        children = "".join(f"<li>{escape_html(rows['sentence'].iloc[j])}</li>"
                           for j, at in under.items() if at == i)
        nested = f'<ul class="children">{children}</ul>' if children else ""
        items.append(f"<li>{escape_html(sentence)}{nested}</li>")
    return f'<ol class="leaks">{"".join(items)}</ol>'


#: Values shown by name in the rate-change waterfall (the rest are one bar).
WATERFALL_VALUES = 5


def rate_change_html(change: dict) -> str:
    """What moved the rate between the periods, as a waterfall: baseline rate, each value's traffic
    mix and rate effect (for the dimension whose mix moved it most), current rate."""
    if not change.get("by_dimension"):
        return ""
    name = most_mixed(change)
    rows = change["by_dimension"][name]
    steps = [(f"{r['value']}: {kind}", r[f"{kind}_effect"])
             for r in rows[:WATERFALL_VALUES] for kind in ("mix", "rate")]
    if len(rows) > WATERFALL_VALUES:
        rest = sum(r["mix_effect"] + r["rate_effect"] for r in rows[WATERFALL_VALUES:])
        steps.append((f"other {name} values", rest))
    levels = np.cumsum([change["baseline_rate"], *(v for _, v in steps)])
    low, high = min(0.0, levels.min()), levels.max() or 1.0  # levels start at the baseline rate

    def bar(label, start, end, colour, text):
        left, right = sorted((start, end))
        width = max((right - left) / (high - low), 0.003)
        style = f"left:{(left - low) / (high - low):.2%};width:{width:.2%};background:{colour}"
        return (f'<tr><td class="wf-label">{escape_html(label)}</td><td class="wf-track">'
                f'<div class="wf-bar" style="{style}"></div></td><td class="wf-value">{text}</td></tr>')

    body = [bar("baseline rate", 0.0, change["baseline_rate"], REACHED, pct(change["baseline_rate"]))]
    for (label, value), end in zip(steps, levels[1:]):
        # a step is coloured by its sign as shown: one that rounds to zero ("+0.000", z: no minus
        # sign) was drawn in the loss colour where it was below zero
        points = round(value * 100, 3)
        colour = LOST if points < 0 else "#4c9a5b" if points > 0 else NO_DATA
        body.append(bar(label, end - value, end, colour, f"{points:+z.3f} pts"))
    body.append(bar("current rate", 0.0, change["current_rate"], REACHED, pct(change["current_rate"])))
    return (f"<h4>Why the rate moved, by {escape_html(name)}: traffic mix against rates within each "
            f"{escape_html(name)}</h4><table class=\"waterfall\">{''.join(body)}</table>")
