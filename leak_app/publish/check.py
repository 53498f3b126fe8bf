"""``check``: the silent-leak engine as a job for cron and CI that speaks up only when it should.

Exit status: 0 no silent leak; 1 at least one (found under the family-wise control of the
leak engine, losing at least ``min_lost`` conversions); 2 the check cannot run as asked (data
that cannot be loaded, filters that name nothing in it, periods outside the data or
overlapping); 3 it ran, but its report or alert could not be delivered. Headless: plotting
libraries are imported only to draw an HTML report's chart.
"""
from __future__ import annotations

import shlex

from ..analysis.takeaways import rate_moved, unusable_rows
from ..analysis.text import counted
from ..data.sources import data_path
from .summary import published, silent_part
from .webhook import slack_escape

CLEAR, FOUND, CANNOT_CHECK, NOT_DELIVERED = 0, 1, 2, 3
DEFAULT_CURRENT, DEFAULT_BASELINE = "last-7d", "previous-28d"


class CheckError(Exception):
    """The check cannot run as asked (exit status 2); the text says why."""


def run(model, min_lost: float = 1) -> dict:
    """The check of a model's periods, as published JSON: ``summary``'s silent-leak part (the
    leaks that lose at least ``min_lost`` conversions), what was asked, the exit status, and the
    sentence on what moved the whole rate (``rate_moved``, as in the takeaways)."""
    if not model.kpis.get("sessions"):
        raise CheckError("No sessions match the filters: there is nothing to check.")
    if model.period_problems():
        raise CheckError(" ".join(model.period_problems()))
    result = silent_part(model)
    result["silent_leaks"] = [row for row in result["silent_leaks"] if row["lost_conversions"] >= min_lost]
    result["asked"] = {"current": model.current_period, "baseline": model.baseline_period,
                       "align_weekdays": model.align_weekdays, "min_lost": min_lost, "level": model.level}
    result["data"] = model.load_report.get("path", "")
    result["currency"] = model.load_report.get("currency", "")  # of the revenue lost, where known
    result["status"] = FOUND if result["silent_leaks"] else CLEAR
    # as the takeaways say it: with whether the change itself is more than chance
    change = model.rate_change
    result["rate_moved"] = rate_moved(change, model.silent_leaks_table) if change else None
    # a pipeline that began writing bad rows loses them before any comparison: said with the check
    result["unusable_rows"] = unusable_rows(model.load_report)
    return published(result)


def warnings(result: dict) -> list[str]:
    """What may mislead in a check's result: rows left out as unusable, then the periods' warnings."""
    return [w for w in (result.get("unusable_rows"), *result["silent_warnings"]) if w]


def title(result: dict) -> str:
    """How many silent leaks were found, in what data."""
    found = len(result["silent_leaks"])
    what = counted(found, "silent leak") if found else "No silent leak"
    return f"{what} in {result['data']}"


def headline(result: dict) -> str:
    """One line: :func:`title`, over which periods."""
    (b0, b1), (c0, c1) = result["silent_periods"]["baseline"], result["silent_periods"]["current"]
    return f"{title(result)}: {c0} to {c1} against {b0} to {b1}"


def message(result: dict) -> dict:
    """The webhook's JSON: Slack/Teams ``text`` (the ranked leaks, data text escaped for
    Slack), then the structured rows and periods for other receivers."""
    lines = [f"*Silent Leak Detector*: {slack_escape(headline(result))}"]
    lines += [f"{i}. {slack_escape(row['sentence'])}" for i, row in enumerate(result["silent_leaks"], 1)]
    lines += [f"⚠ {slack_escape(w)}" for w in warnings(result)]
    return {"text": "\n".join(lines), "silent_leaks": result["silent_leaks"],
            "silent_periods": result["silent_periods"], "silent_warnings": result["silent_warnings"],
            "data": result["data"]}


def command(model) -> str:
    """The ``check`` command that checks what the dashboard shows, ready for a scheduler.

    The default halves of the dates are written as dates; a rolling period stays rolling (and the
    baseline left to follow it, as ``previous``).
    """
    report = model.load_report
    if report.get("format") in ("ibis_table", "ga4_events_table"):
        url, table = report["path"].rsplit(" table ", 1)
        args = ["--connect", url, *_option("--table", table)]
    else:
        path = report.get("path") or str(data_path())
        args = _option("--data", path) if path.startswith("-") else [path]
    mapping = report.get("mapping") or {}
    for name, column in mapping.get("columns", {}).items():
        args += ["--map", f"{name}={column}"]
    if mapping.get("revenue_scale", 1.0) != 1.0:
        args += ["--revenue-scale", f"{mapping['revenue_scale']:g}"]
    if mapping.get("rows", "sessions") != "sessions":
        args += ["--rows", mapping["rows"]]
    if mapping.get("date_order"):
        args += ["--date-order", mapping["date_order"].replace(" ", "-")]
    (b0, b1), (c0, c1) = model.periods()
    baseline = model.baseline_period or ("previous" if model.current_period else "")
    for option, spec, (start, end) in (("--current", model.current_period, (c0, c1)),
                                       ("--baseline", baseline, (b0, b1))):
        if start is not None:
            args += [option, spec or f"{start:%Y-%m-%d}:{end:%Y-%m-%d}"]
    if not model.align_weekdays:
        args.append("--no-align")
    args += _filters(model)
    for name in ("level", "min_sessions", "top_sources"):
        if getattr(model, name) != model.param[name].default:
            args += [f"--{name.replace('_', '-')}", f"{getattr(model, name):g}"]
    return shlex.join(["python", "-m", "leak_app", "check", *args])


def _filters(model) -> list[str]:
    args = []
    bounds = model.param.date_range.bounds
    if model.date_range and bounds and tuple(model.date_range) != tuple(bounds):
        args += ["--dates", "{:%Y-%m-%d}:{:%Y-%m-%d}".format(*model.date_range)]
    if model.devices and set(model.devices) != set(model.param.devices.objects):
        args += [part for device in model.devices for part in _option("--device", device)]
    for option, values in (("--country", model.countries), ("--source", model.sources),
                           ("--channel", model.channels)):
        args += [part for value in values for part in _option(option, value)]
    return args


def _option(option: str, value: str) -> list[str]:
    """``option value``, or ``option=value`` where the value begins with "-" (a source written "-"
    where a log had none): argparse reads such a value as an option of its own."""
    return [f"{option}={value}"] if value.startswith("-") else [option, value]
