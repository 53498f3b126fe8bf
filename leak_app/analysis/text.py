"""How numbers and text from the data read in sentences, cards, hover text and Markdown: one place,
so they agree."""
from __future__ import annotations

import html
import math
import re

import pandas as pd


def pct(rate) -> str:
    """A rate as a percentage: two decimals under 10% (web rates are small), else one; one significant
    figure where it is above 0 but two decimals would show none ("0.0004%": an interval's lower end
    of 1 conversion in 50,000 read "0.00%", as if it reached none)."""
    if rate is None or pd.isna(rate):
        return "–"
    if 0 < rate < 0.00005:
        return f"{first_figure(rate * 100)}%"
    return f"{rate:.2%}" if rate < 0.1 else f"{rate:.1%}"


def first_figure(value: float) -> str:
    """A positive number below 1 to its first significant figure, in decimals ("0.0004", never
    "4e-04"): what pct, percent and bounds show of a value their usual rounding would show as 0."""
    rounded = float(f"{value:.0e}")  # (first: 0.096 is 0.1, not "0.10")
    return f"{rounded:.{-math.floor(math.log10(rounded))}f}"


def percent(share) -> str:
    """A share in whole percents; one significant figure where that would show 0% of more than none
    ("0.3%": a silent leak's interval "0%–12%" below the trend read as reaching none)."""
    whole = f"{share:.0%}"
    return whole if not share > 0 or whole != "0%" else f"{first_figure(share * 100)}%"


def signed_pct(change) -> str:
    """A relative change with its sign (:func:`percent`): "+12%", "-0.4%" (not "-0%", which read as a
    bug), "0%"."""
    shown = percent(abs(change))
    return f"+{shown}" if change > 0 else f"-{shown}" if change < 0 else shown


def bounds(low, high) -> str:
    """A 95% interval of a count or an amount, "3–12": whole numbers, the lower end clipped at 0, and
    shown to one significant figure where it is above 0 but rounds to it ("0.3–12"): "0–12" read as
    an interval reaching none, said of a gap whose interval does not."""
    low, whole = max(low, 0), f"{max(low, 0):,.0f}"
    return f"{whole if low == 0 or whole != '0' else first_figure(low)}–{high:,.0f}"


def counted(number, noun: str, fmt: str = ",.0f") -> str:
    """A number and its noun, singular when the number reads as 1: "1 session", "about 1 more
    session" (a rounded 0.6 too), "1,204 sessions"."""
    shown = format(number, fmt)
    return f"{shown} {noun}{'' if shown == '1' else 's'}"


#: Characters a terminal, a Markdown file or a line of text acts on rather than shows: controls (a
#: line break, a terminal's escape sequences, which a crafted utm_source carries into the data) and
#: the marks that reverse the direction of the text after them (a number then reads backwards).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text) -> str:
    """``text`` on one line, showing what it holds: each such character written as its escape
    ("\\n", "\\x1b", "\\u202e")."""
    return _UNPRINTABLE.sub(lambda match: match.group(0).encode("unicode_escape").decode("ascii"), str(text))


def escape_html(text) -> str:
    """Text from the data shown literally in HTML, as :func:`printable` shows it (a mark reversing
    the direction would make the numbers after a source's name read backwards)."""
    return html.escape(printable(text))


#: What Markdown would read as markup inside a line: emphasis, code, links, table cells, and the
#: starts of HTML tags and entities ("p < 0.001" is left as it is).
_MARKUP = re.compile(r"[\\`*_\[\]|~]|<(?=[A-Za-z/!?])|&(?=[A-Za-z#])")


def escape_markdown(text: str) -> str:
    """Text from the data (file, country, source names) shown literally inside a line of Markdown,
    and still readable in the raw file: each markup character behind a backslash, on one line
    (:func:`printable`)."""
    return _MARKUP.sub(lambda match: "\\" + match.group(0), printable(text))


def amount(value, low, high, noun: str = "", currency: str = "") -> str:
    """An amount of money and its 95% interval: "12,400 EUR in revenue (95% CI 3,100–30,800)" (``noun``
    " in revenue", the load report's ``currency`` "EUR": none where it is unknown); the interval left
    out where it is unknown (one order: no spread of their values)."""
    shown = f"{money(f'{value:,.0f}', currency)}{noun}"
    if pd.isna(low) or pd.isna(high):
        return shown
    return f"{shown} (95% CI {bounds(low, high)})"


def money(number: str, currency: str) -> str:
    """A written amount with its ``currency``: a sign before it ("$1,250", "US$5", as English writes
    them: "1,250 $" read as a foreign format), a code or a word after it ("12 EUR"); none: as is."""
    if not currency:
        return number
    return f"{currency}{number}" if not currency[-1].isalpha() else f"{number} {currency}"


def revenue_unit(report: dict) -> str:
    """What the revenue is counted in, from the load report: its currency's code where the data say
    it (GA4's purchases name theirs), "mixed currencies" where they name several and hold no
    conversion to one, else "" (unknown)."""
    if report.get("currency"):
        return report["currency"]
    return "mixed currencies" if len(report.get("currencies") or {}) > 1 else ""


def currencies_sentence(report: dict) -> str:
    """What the currencies the purchases were made in mean for the revenue ("" where the data name
    none): one, several converted to US dollars by GA4, or several added as written."""
    paid = report.get("currencies") or {}
    if not paid:
        return ""
    if len(paid) == 1:
        return f"Revenue in {next(iter(paid))}, the currency of every purchase that names one."
    listed = ", ".join(f"{code} {n:,}" for code, n in paid.items())
    made = f"Purchases were made in {len(paid)} currencies (converting sessions: {listed})"
    if report.get("currency") == "USD":
        return (f"{made}: revenue is in US dollars, as GA4 converted each purchase when it was collected "
                f"(ecommerce.purchase_revenue_in_usd).")
    return (f"{made}, and the export holds no conversion to one currency "
            f"(ecommerce.purchase_revenue_in_usd): revenue adds their amounts as written, in mixed units.")
