"""Business takeaways: plain sentences computed from the model's tables.

They lead with what the data lacks (a device, country or source column), then what qualifies
the period comparison (its warnings), then the leak
engine's findings (the headline silent leak, what moved the rate: traffic mix or
rates within segments, the largest leak, the funnel step lost against the best
device), then where conversion
peaks, the strongest and weakest source × device, and countries that differ
significantly. Every claim rests only on segments that reach the minimum sample,
and every rate quoted carries its interval, so a 1-in-2 segment can never be
called a winner. Sentences are plain text; whoever shows them escapes them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

from ..data.schema import (
    EXACT_DUPLICATE,
    HIT_ROW,
    NOT_SET,
    REPEATED_HEADER,
    REPEATED_SESSION,
    negative,
    not_a_number,
    not_whole,
    too_large,
    unavailable,
)
from . import change, leaks
from .cube import NO_DURATION
from .metrics import collapse
from .stats import adjusted_counts, benjamini_hochberg, differs_from_rest_p, rated_p_values
from .text import amount, bounds, counted, pct, signed_pct

#: The labels a view is drawn by: a file without one of them shows one "(not set)" group there.
SHOWN_LABELS = {"device": "the funnel, duration and source × device views",
                "country": "the country map", "source": "the source × device view"}


def absent_labels(report: dict) -> str | None:
    """What the data has no column for, and so what the views cannot break down."""
    absent = [name for name in SHOWN_LABELS if name in report.get("absent_columns", [])]
    if not absent:
        return None
    names = " or ".join([", ".join(absent[:-1]), absent[-1]] if len(absent) > 1 else absent)
    return (f"The data has no {names} column: every session's {names} is {NOT_SET}, so "
            f"{'; '.join(SHOWN_LABELS[name] for name in absent)} show a single group, and no leak can "
            f"be found by {names}. Map the column (--map {absent[0]}=COLUMN) if the file has it under "
            f"another name.")


#: Drop reasons that lose no session: rows of a session counted in another row, and the header repeated.
KEPT_IN_ANOTHER_ROW = (EXACT_DUPLICATE, REPEATED_SESSION, HIT_ROW, REPEATED_HEADER)
#: Rows left out as unusable are said among the takeaways from this share of the rows read, and
#: those whose revenue or transactions could not be read from this one: a row that wrote them at all
#: most often converted, and a site's conversions are a few in a hundred of its sessions (a shop's
#: largest orders, written "$1,250.00", were 0.8% of its rows and every one of its conversions).
UNUSABLE_SHARE, UNUSABLE_CONVERSION_SHARE = 0.01, 0.001
#: The reasons a row's revenue or transactions could not be read.
CONVERSION_REASONS = {reason(column) for reason in (not_a_number, negative, not_whole, too_large)
                      for column in ("revenue", "transactions")}


def unusable_rows(report: dict) -> str | None:
    """Rows left out as unusable (bad dates, negative counts, events without an id...) where they are
    a material share of the rows read: said only in the load report at the page's foot, a file that
    lost a fifth of its rows showed figures read as the whole."""
    lost = {reason: n for reason, n in report.get("dropped", {}).items() if reason not in KEPT_IN_ANOTHER_ROW}
    read, total = report.get("rows_read", 0), sum(lost.values())
    sales = sum(n for reason, n in lost.items() if reason in CONVERSION_REASONS)
    if not read or (total < UNUSABLE_SHARE * read and sales < UNUSABLE_CONVERSION_SHARE * read):
        return None
    top = sorted(lost.items(), key=lambda item: -item[1])
    named = top if len(top) <= 4 else top[:3]
    reasons = "; ".join(f"{reason} ({n:,})" for reason, n in named)
    if len(top) > len(named):
        reasons += f"; {len(top) - 3} other reasons ({sum(n for _, n in top[3:]):,})"
    text = (f"{total:,} of the {read:,} rows read ({total / read:.1%}) were left out as unusable: "
            f"{reasons}. Every figure here leaves them out.")
    if sales:
        text += (f" The {counted(sales, 'row')} whose revenue or transactions could not be read most "
                 "likely converted: conversions and revenue here may be short of them.")
    return text


#: The ids of each session key column, and what ids rounded alike make of the sessions.
ROUNDED = {
    "visitor_id": ("visitor ids", ("visitors whose ids round alike are counted as one visitor (in the "
                                   "repeat visits the intervals allow for)")),
    "session_id": ("session ids", "a visitor's sessions whose ids round alike are merged into one"),
}


def rounded_ids(report: dict) -> str | None:
    """That a spreadsheet rounded the ids (see LoadReport.rounded_ids), where it did: nothing else in
    the figures shows it."""
    rounded = report.get("rounded_ids") or []
    if not rounded:
        return None
    names = " and ".join(ROUNDED[name][0] for name in rounded)
    return (f"The {names} are written as a spreadsheet rounds long numbers (such as 1.23457E+18), so most "
            "of their digits are lost: " + "; ".join(ROUNDED[name][1] for name in rounded)
            + ". Export the data again without saving it from a spreadsheet, or format the ids as text.")


def no_conversion(kpis: dict) -> str | None:
    """That no session converts, where none does: every leak view is then empty, which alone read
    as "no leak"."""
    if kpis["converting_sessions"]:
        return None
    return (f"No session converts here (0 of {kpis['sessions']:,}), so no leak can be measured. If the site "
            "sells, check that the data holds its transactions or revenue (--map transactions=COLUMN or "
            "--map revenue=COLUMN where the file names them otherwise).")


def no_revenue(kpis: dict) -> str | None:
    """That sessions convert but record no revenue, where so: no revenue lost can be sized."""
    if not kpis["converting_sessions"] or kpis["revenue"]:
        return None
    return (f"The {counted(kpis['converting_sessions'], 'converting session')} here record no revenue, so no "
            "revenue lost can be sized. Map the revenue column (--map revenue=COLUMN) if the file has it "
            "under another name.")


def with_ci(row) -> str:
    return f"{pct(row.rate)} (95% CI {pct(row.ci_low)}–{pct(row.ci_high)}, n={row.sessions:,})"


def top_leak(table: pd.DataFrame, currency: str = "") -> str | None:
    row = leaks.headline(table)
    return None if row is None else "Largest leak: " + leaks.describe_leak(row, currency)


def silent_leak(table: pd.DataFrame, periods) -> str | None:
    (b0, b1), (c0, c1) = periods
    if b0 is None:
        return None
    row = leaks.headline(table)
    before, now = _days(b0, b1), _days(c0, c1)
    if row is None:
        return (f"No silent leak: no segment's conversion rate fell significantly more than the rest of the "
                f"traffic's between {before} and {now}, nor the whole site's.")
    text = f"Silent leak ({before} to {now}): " + leaks.describe_silent_leak(row)
    site = leaks.site_row(table)
    if row.dimension != "all traffic" and site is not None and site.leak:
        text += (f" The whole site's rate fell with it: about {counted(site.lost_conversions, 'conversion')} "
                 f"lost in all (95% CI {bounds(site.lost_low, site.lost_high)}), a loss "
                 "overlapping this one.")
    return text


def rate_moved(rate_change: dict, silent_table: pd.DataFrame) -> str | None:
    """What moved the rate (:func:`.change.dominant_effect`), and whether the move itself is more
    than chance: split into mix and rates, a change of 40 sessions' rate read as a finding."""
    text = change.dominant_effect(rate_change)
    site = leaks.site_row(silent_table)
    if text is not None and site is not None and site.change_low <= 0 <= site.change_high:
        # (a change relative to a baseline of no conversion has no scale: "-39% to +19749%")
        interval = "the baseline period converted none"
        if rate_change["baseline_rate"] > 0:
            low, high = signed_pct(site.change_low), signed_pct(site.change_high)
            interval = f"95% CI {low} to {high}, relative to the baseline rate"
        text += f" The change itself is within what chance and day-to-day swings allow ({interval})."
    return text


#: Revenue rests on few sessions where one must hold at least this share of it (see
#: ``metrics.kpis``' largest_revenue_share_min), and this many times the share of equal orders.
CONCENTRATED_SHARE, CONCENTRATED_TIMES = 0.1, 5


def concentrated_revenue(kpis: dict, currency: str = "") -> str | None:
    """Revenue resting on a few sessions (or on one mistyped): every revenue figure is then uncertain,
    as the interval of revenue per conversion says. Said only where it is so, whatever the sessions
    not seen: the share is a least bound, from the revenue's sums of squares and of values."""
    share, converting = kpis["largest_revenue_share_min"], kpis["converting_sessions"]
    if not share >= max(CONCENTRATED_SHARE, CONCENTRATED_TIMES / max(converting, 1)):
        return None
    per_conversion = amount(*(kpis[f"revenue_per_conversion{s}"] for s in ("", "_low", "_high")),
                            currency=currency)
    total = amount(kpis["revenue"], None, None, " in revenue", currency)
    return (f"Revenue rests on a few sessions: one holds at least {share:.0%} of the {total} "
            f"(of {counted(converting, 'converting session')}), so revenue per conversion is "
            f"{per_conversion} and every revenue figure here, lost revenue included, is that uncertain; "
            "a session far above the others may also be a data error.")


def _days(first, last) -> str:
    """A period in a sentence: "01 Jan 2026" for one day, "01 Jan–07 Jan 2026", and each day's
    year where they differ ("28 Dec 2025–03 Jan 2026")."""
    if first == last:
        return f"{first:%d %b %Y}"
    return f"{first:{'%d %b' if first.year == last.year else '%d %b %Y'}}–{last:%d %b %Y}"


def largest_funnel_leak(funnel: pd.DataFrame, steps: pd.DataFrame, min_sessions: int, currency: str = ""
                        ) -> str | None:
    """The funnel step that loses the largest share, and what it costs against the best device."""
    drop = funnel["drop_rate"].to_numpy()
    rated = ~np.isnan(drop) & (funnel["sessions"].to_numpy() + funnel["lost"].to_numpy() >= min_sessions)
    if not rated.any():
        return None
    if not drop[rated].max() > 0:  # (the "largest" leak was then one of 0.0%)
        return "No step of the funnel loses sessions: each one that reached a stage went on to the next."
    worst = funnel.iloc[np.flatnonzero(rated)[np.argmax(drop[rated])]]
    stages = list(funnel["stage"].cat.categories)
    before = stages[stages.index(worst.stage) - 1]
    text = (
        f"The largest funnel leak is {leaks.step_name(before, worst.stage)} on {worst.device}: "
        f"{worst.drop_rate:.1%} of the {counted(worst.sessions + worst.lost, 'session')} that reached "
        f"{before} went no further"
    )
    step = np.flatnonzero((steps["step"].to_numpy() == leaks.step_name(before, worst.stage))
                          & (steps["device"].to_numpy() == worst.device))
    if len(step) and steps["lost_sessions"].iloc[step[0]] > 0:
        s = steps.iloc[step[0]]
        worth = leaks.lost_revenue(s.lost_revenue, s.lost_revenue_low, s.lost_revenue_high, currency,
                                   " in revenue")
        worth = f", worth about {worth}" if worth else ""
        text += (
            f"; at {s.best_device}'s pass rate ({pct(s.best_rate)}) instead of {pct(s.pass_rate)}, "
            f"about {counted(s.lost_sessions, 'more session')} (95% CI {bounds(s.lost_low, s.lost_high)}) "
            f"would go on{worth}"
        )
        if not s.lost_low > 0:  # (the interval, clipped at none, reaches it: said, not read as a finding)
            text += f" — a gap from {s.best_device} within what chance allows"
    return text + "."


def duration_peak(duration: pd.DataFrame, min_sessions: int, fdr: float, design_effect: float = 1.0
                  ) -> str | None:
    """Where conversion peaks by session duration, against the shortest measured visits.

    A duration "converts most" only where it converts significantly above the other measured
    durations (two-sided exact tests against the rest, the false discovery rate held at ``fdr``):
    the highest point estimate of a few hundred sessions is often chance, so of those that do, the
    one with the highest lower bound is named (as the strongest source × device). Worded as an
    association: a longer visit is partly the result of buying (checkout takes time), not its
    cause. Single-page sessions, which have no duration, are named apart. Tests and intervals count
    sessions divided by the ``design_effect``, as the tables' own.
    """
    # in bucket order, single-page first
    buckets = collapse(duration, ["bucket"], min_sessions, design_effect)
    rows = list(buckets.itertuples(index=False))  # (a frame's row as a Series costs a tenth of a millisecond)
    n, k, rate = (buckets[c].to_numpy() for c in ("sessions", "conversions", "rate"))
    measured = np.asarray(buckets["bucket"].array != NO_DURATION)
    tested = buckets["rated"].to_numpy() & measured
    if not (tested & (k > 0)).any():
        return None
    alone = tested.sum() == 1  # nothing to "convert most" against
    total_k, total_n = k[measured].sum(), n[measured].sum()
    q = benjamini_hochberg(rated_p_values(tested, differs_from_rest_p,
                                          *adjusted_counts(k, n, total_k, total_n, design_effect)))
    with np.errstate(invalid="ignore", divide="ignore"):
        above = tested & (q <= fdr) & (rate > (total_k - k) / (total_n - n))
    if alone or above.any():
        among = np.flatnonzero(tested if alone else above)  # the one surely highest: its lower bound
        peak = rows[among[np.argmax(buckets["ci_low"].to_numpy()[among])]]
        text = (f"Sessions lasting {peak.bucket}, the only duration with {min_sessions:,} sessions or more, "
                f"convert at {with_ci(peak)}" if alone
                else f"Sessions lasting {peak.bucket} convert most: {with_ci(peak)}")
    else:
        peak = None
        text = (f"No session duration converts significantly more than the others (at a {fdr:.0%} false "
                f"discovery rate): the {counted(tested.sum(), 'duration')} with {min_sessions:,} sessions or "
                f"more convert at {pct(rate[tested].min())}–{pct(rate[tested].max())}")
    against = []
    shortest = rows[np.flatnonzero(measured)[0]]
    if peak is not None and shortest.bucket != peak.bucket and shortest.rated:
        against.append(f"{with_ci(shortest)} for sessions of {shortest.bucket}")
    single = [rows[i] for i in np.flatnonzero(~measured)]
    if single and single[0].rated:
        against.append(f"{with_ci(single[0])} for single-page sessions (no duration recorded)")
    if against:
        text += ", against " + " and ".join(against)
    if (alone and not against) or peak is None:
        return text + "."
    return text + " — an association: a longer visit is partly the result of buying, not its cause."


def source_device_extremes(table: pd.DataFrame, min_sessions: int, design_effect: float = 1.0
                           ) -> str | None:
    """The strongest and the weakest source × device, and whether the data tell them apart: the
    Newcombe interval of their gap at a Bonferroni level over every pair of rated combinations
    (the two are picked as extremes, which differ by chance alone; sessions divided by the
    ``design_effect``). Their own intervals overlapped at 1,000 sessions, and they were named as
    if they differed."""
    rated = table[table["rated"]]
    if len(rated) < 2:
        return (
            f"Fewer than two source × device combinations have {min_sessions:,} sessions; "
            f"none is ranked."
        )
    # Rank by the interval, not the point estimate: the best is the one whose rate is
    # surely high (highest lower bound), the worst the one surely low (lowest upper bound).
    best = rated.loc[rated["ci_low"].idxmax()]
    worst = rated.loc[rated["ci_high"].idxmin()]
    if best.name == worst.name or rated["rate"].min() == rated["rate"].max():  # (one both, or all alike)
        low, high = pct(rated["rate"].min()), pct(rated["rate"].max())
        rates = f"all at {low}" if low == high else f"{low}–{high}"
        return (f"The {len(rated)} rated source × device combinations convert alike ({rates}): none is the "
                f"strongest or the weakest.")
    pairs = len(rated) * (len(rated) - 1) / 2
    counts = [x / design_effect for row in (best, worst) for x in (row.conversions, row.sessions)]
    _, gap_low, _ = leaks.newcombe_difference(*counts, -ndtri(0.025 / pairs))
    apart = "" if gap_low > 0 else (f" — the data do not tell the two apart (their gap's 95% interval, over "
                                    f"the {len(rated)} rated combinations, includes zero)")
    return (
        f"Strongest source × device: {best.source} on {best.device} at {with_ci(best)}; "
        f"weakest: {worst.source} on {worst.device} at {with_ci(worst)}{apart}."
    )


#: Countries named among those converting significantly above, or below, the rest.
NAMED = 3


def country_outliers(countries: pd.DataFrame, fdr: float) -> str | None:
    """Countries that convert differently from the rest, with the false discovery rate held."""
    rated = countries["rated"].to_numpy(dtype=bool)
    if not rated.any():
        return None
    significant = rated & (countries["q_value"].to_numpy() <= fdr)
    if not significant.any():
        return (
            f"No country with enough sessions converts significantly differently from the rest "
            f"(at a {fdr:.0%} false discovery rate)."
        )
    n, k, rate = (countries[c].to_numpy() for c in ("sessions", "conversions", "rate"))
    with np.errstate(invalid="ignore", divide="ignore"):  # the rest metrics.by_country tested against
        rest_rate = (k.sum() - k) / (n.sum() - n)  # (every other session, of rated countries or not)

    def names(rows):  # (the three of most sessions, and how many more: the others were left out unsaid)
        listed = "; ".join(f"{r.country} {with_ci(r)}" for r in countries.iloc[rows[:NAMED]].itertuples())
        more = len(rows) - NAMED
        return listed + (f"; and {more} more {'country' if more == 1 else 'countries'}" if more > 0 else "")

    parts = []
    if (above := np.flatnonzero(significant & (rate > rest_rate))).size:
        parts.append(f"above the rest: {names(above)}")
    if (below := np.flatnonzero(significant & (rate < rest_rate))).size:
        parts.append(f"below {'it' if parts else 'the rest'}: {names(below)}")
    return (f"Countries converting significantly ({fdr:.0%} false discovery rate) "
            + "; ".join(parts) + ".")


def takeaways(model) -> list[str]:
    """The sentences for a SessionModel's current tables (none when no session matches)."""
    if not model.kpis["sessions"]:
        return []
    m, currency = model.min_sessions, model.load_report.get("currency", "")
    missing = unavailable(model.load_report, model.funnel)
    compared = change.compared(model.rate_change)
    warned = "Compare the periods with care. " if compared else "Silent leaks not compared. "
    sentences = [
        unusable_rows(model.load_report), rounded_ids(model.load_report), no_conversion(model.kpis),
        no_revenue(model.kpis),
        absent_labels(model.load_report),
        missing.get("funnel"),
        missing.get("duration"),
        (warned + " ".join(model.silent_warnings)) if model.silent_warnings else None,
        silent_leak(model.silent_leaks_table, model.periods()) if compared else None,
        rate_moved(model.rate_change, model.silent_leaks_table) if model.rate_change else None,
        concentrated_revenue(model.kpis, currency),
        top_leak(model.leaks_table, currency),
        None if "funnel" in missing else largest_funnel_leak(model.funnel_table, model.step_leaks_table, m,
                                                             currency),
        None if "duration" in missing else duration_peak(model.duration_table, m, model.fdr,
                                                         model.design_effect()),
        source_device_extremes(model.source_device_table, m, model.design_effect()),
        country_outliers(model.country_table, model.fdr),
    ]
    return [s for s in sentences if s]
