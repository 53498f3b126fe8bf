"""A check's report for people: Markdown (mail, tickets, chat) or one self-contained HTML file.

Both are made from the same :func:`facts`, so they say the same thing; the HTML file adds
the dashboard's own silent-leak chart and rate-change waterfall (the views, drawn once for
both), with Bokeh's JavaScript inline: it opens offline. Files are written atomically: a
report is the old one or the new one, never half of one.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..analysis.leaks import NO_SILENT_LEAK, lost_revenue, segment_name
from ..analysis.periods import span
from ..analysis.text import bounds, counted, escape_html, escape_markdown, pct, signed_pct
from ..data.files import write_atomically
from ..publish.check import title, warnings

#: The columns of the report's table of leaks.
COLUMNS = ("#", "Segment", "Rate before → now", "Change beyond the trend (95% CI)",
           "Conversions lost (95% CI)", "Revenue lost", "Adjusted p")


def facts(result: dict) -> dict:
    """What a report says, as text: title, periods, table rows, sentences, warnings, why the rate
    moved."""
    periods = {name: span(*days) if days[0] else "none" for name, days in result["silent_periods"].items()}
    rows = [(str(i), segment_name(r["segment"], r["dimension"]),
             f"{pct(r['rate_before'])} → {pct(r['rate_now'])}",
             f"{signed_pct(r['change'])} ({signed_pct(r['change_low'])} to {signed_pct(r['change_high'])})",
             f"{r['lost_conversions']:,.0f} ({bounds(r['lost_low'], r['lost_high'])})",
             lost_revenue(r["lost_revenue"], r["lost_revenue_low"], r["lost_revenue_high"],
                          result.get("currency", "")) or "–",
             f"{r['q_value']:.2g}" if r["q_value"] >= 0.001 else "< 0.001")
            for i, r in enumerate(result["silent_leaks"], 1)]
    asked = result["asked"]
    return {
        "title": title(result),
        "periods": f"Current period {periods['current']}, against the baseline {periods['baseline']}.",
        "rows": rows,
        "sentences": [r["sentence"] for r in result["silent_leaks"]],
        "warnings": warnings(result),
        "why": result["rate_moved"],
        "method": (f"Each segment's conversion rate is compared with the rest of the traffic's over the "
                   f"same days (the whole site with its own past), so a change every segment shares is named "
                   f"once. The chance of any false leak in a check is held at {asked['level']:.1%}; a leak "
                   f"is reported when it loses at least {counted(asked['min_lost'], 'conversion', 'g')}. "
                   "Losses of different segments overlap (a mobile session from google counts in both): "
                   "they are never added up."),
    }


def markdown(result: dict, generated: str) -> str:
    """The report as Markdown: every text from the data escaped."""
    f = facts(result)
    out = [f"# {escape_markdown(f['title'])}", "", f"*{f['periods']} Checked {generated}.*", ""]
    if f["rows"]:
        out += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        out += ["| " + " | ".join(escape_markdown(cell) for cell in row) + " |" for row in f["rows"]]
        out += ["", *(f"{i}. {escape_markdown(s)}" for i, s in enumerate(f["sentences"], 1)), ""]
    else:
        out += [NO_SILENT_LEAK, ""]
    if f["warnings"]:
        out += ["## Read with care", "", *(f"- {escape_markdown(w)}" for w in f["warnings"]), ""]
    if f["why"]:
        out += ["## Why the whole rate moved", "", escape_markdown(f["why"]), ""]
    out += ["## How this was checked", "", f["method"], "", f"Data: {escape_markdown(result['data'])}", ""]
    return "\n".join(out)


STYLE = """
body {font-family: system-ui, sans-serif; max-width: 1000px; margin: 0 auto; padding: 0 16px 32px;
      color: #1d2b3a;}
h1 {font-size: 24px;} h2 {font-size: 18px; margin-top: 28px;} .meta {color: #555;}
table.found {border-collapse: collapse; font-size: 14px; margin: 12px 0;}
table.found th, table.found td {padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: left;}
table.found th {background: #f0f3f7;} li {margin-bottom: 6px; line-height: 1.4;}
"""


def html_report(result: dict, silent_table: pd.DataFrame, generated: str) -> str:
    """The report as one offline HTML page: the Markdown report's facts, the silent-leak chart
    (only the leaks reported) and the waterfall of why the rate moved."""
    from bokeh.embed import components
    from bokeh.resources import Resources

    from .cards.leaks import leaks_figure, leaks_frame
    from .style import CSS
    from .texts import rate_change_html, warnings_html

    f = facts(result)
    reported = silent_table.assign(leak=silent_table["leak"] & (silent_table["lost_conversions"]
                                                                >= result["asked"]["min_lost"]))
    chart = leaks_figure(leaks_frame(reported, silent=True, currency=result.get("currency", "")), silent=True)
    script, chart = components(chart)
    # Bokeh's own JavaScript, inline (its documented ``js_raw``); not ``render()``, which also lists
    # every loaded extension model's files (Panel's, at server paths or on CDNs), used or not.
    bokeh = "".join(f"<script>{code}</script>"
                    for code in Resources(mode="inline", components=["bokeh"]).js_raw)
    if f["rows"]:
        head = "".join(f"<th>{escape_html(c)}</th>" for c in COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{escape_html(c)}</td>" for c in row) + "</tr>"
                       for row in f["rows"])
        found = f"<table class='found'><tr>{head}</tr>{body}</table>"
        found += "<ol>" + "".join(f"<li>{escape_html(s)}</li>" for s in f["sentences"]) + "</ol>"
    else:
        found = f"<p>{NO_SILENT_LEAK}</p>"
    why = f"<h2>Why the whole rate moved</h2><p>{escape_html(f['why'])}</p>" if f["why"] else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape_html(f['title'])}</title>
{bokeh}<style>{CSS}{STYLE}</style></head><body>
<div class="title-bar">Silent Leak Detector</div><h1>{escape_html(f['title'])}</h1>
<p class="meta">{escape_html(f['periods'])} Checked {escape_html(generated)}.</p>
{warnings_html(f['warnings'])}{found}{chart}{script}{why}{rate_change_html(result['rate_change'])}
<h2>How this was checked</h2><p>{escape_html(f['method'])}</p>
<p class="meta">Data: {escape_html(result['data'])}</p>
</body></html>
"""


def write_report(path: str | Path, result: dict, silent_table: pd.DataFrame) -> Path:
    """Write the report as ``path``'s suffix says (``.md`` or ``.html``), atomically."""
    path = Path(path)
    generated = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    if path.suffix.lower() in (".html", ".htm"):
        text = html_report(result, silent_table, generated)
    elif path.suffix.lower() in (".md", ".markdown"):
        text = markdown(result, generated)
    else:
        raise ValueError(f"{path}: a report is a .md or .html file")
    write_atomically(path, text)
    return path

