"""SessionModel: the data, the filters and every derived table, with no drawing.

Filters are parameters; derived tables are output parameters (``precedence=-1``)
that every view reads, so each is computed once per change however many panes
show it. A table is recomputed only when an input it depends on changes, and
tables that change together are published in one batch so that the takeaways,
which read them all, are written once.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import param

from . import leaks, metrics
from .loaders import load_sessions
from .schema import ECOMMERCE_STEPS
from .takeaways import takeaways

#: Output name -> how to compute it from the model (reads ``filtered`` and settings).
TABLES = {
    "kpis": lambda m: metrics.kpis(m.filtered),
    "country_table": lambda m: metrics.by_country(m.filtered, m.min_sessions),
    "funnel_table": lambda m: metrics.funnel(m.filtered, m.engaged_pageviews, m.deep_pageviews, m.funnel),
    "duration_table": lambda m: metrics.by_duration(m.filtered, m.duration_edges, m.min_sessions),
    "source_device_table": lambda m: metrics.by_source_device(
        m.filtered, m.filtered["source_group"], m.min_sessions
    ),
    "leaks_table": lambda m: leaks.segment_leaks(m.filtered, m.duration_edges, m.min_sessions, m.fdr),
    "step_leaks_table": lambda m: leaks.step_leaks(
        m.filtered, m.engaged_pageviews, m.deep_pageviews, m.min_sessions, m.funnel
    ),
    "silent_leaks_table": lambda m: leaks.silent_leaks(
        m.filtered, *m.periods(), m.duration_edges, m.min_sessions, m.fdr
    ),
}


class SessionModel(param.Parameterized):
    """Sessions, the dashboard's filters, and the tables derived from the filtered sessions."""

    sessions = param.DataFrame(precedence=-1, doc="""
        Canonical session table. Never mutated: it may be shared by every browser session.""")
    load_report = param.Dict(default={}, precedence=-1, doc="How the sessions were loaded.")

    date_range = param.DateRange(default=None, label="Dates", doc="First and last day included.")
    devices = param.ListSelector(default=[], objects=[], doc="Devices included; none selected means all.")
    countries = param.ListSelector(default=[], objects=[], doc="Countries included; empty means all.")
    sources = param.ListSelector(default=[], objects=[], label="Traffic sources", doc="""
        Traffic sources included (the top sources and "(other sources)"); empty means all.""")
    top_sources = param.Integer(default=10, bounds=(1, 50), label="Top sources", doc="""
        How many sources, by sessions over the whole data, are shown by name.""")
    min_sessions = param.Integer(default=100, bounds=(1, None), label="Minimum sessions to rate", doc="""
        Segments with fewer sessions are shown but never ranked or quoted as best or worst.""")
    engaged_pageviews = param.Integer(default=5, bounds=(1, None), label="Engaged at pageviews", doc="""
        Pageviews that make a session Engaged.""")
    deep_pageviews = param.Integer(default=10, bounds=(1, None), label="Deep engagement at pageviews", doc="""
        Pageviews that make a session Deep Engagement (it must also be Engaged).""")
    funnel = param.Selector(default="pageviews", objects=["pageviews"], label="Funnel", doc="""
        How stages are defined: by pageviews (Engaged, Deep Engagement), or by the GA4
        e-commerce steps (view_item, add_to_cart, begin_checkout) where the data has them.""")
    duration_edges = param.List(default=list(metrics.DEFAULT_DURATION_EDGES), item_type=int, doc="""
        Upper edges in seconds of the session-duration buckets.""")
    fdr = param.Number(default=leaks.DEFAULT_FDR, bounds=(0.001, 0.2), label="False discovery rate", doc="""
        Expected share of false claims among the leaks reported (Benjamini–Hochberg).""")
    baseline_period = param.DateRange(default=None, label="Baseline period", doc="""
        The period silent leaks are measured against; None: the first half of the filtered dates.""")
    current_period = param.DateRange(default=None, label="Current period", doc="""
        The period checked for silent leaks; None: the second half of the filtered dates.""")

    source_groups = param.Series(precedence=-1, doc="Each session's source or '(other sources)'.")
    filtered = param.DataFrame(precedence=-1, doc="Sessions passing every filter.")
    kpis = param.Dict(default={}, precedence=-1)
    country_table = param.DataFrame(precedence=-1)
    funnel_table = param.DataFrame(precedence=-1)
    duration_table = param.DataFrame(precedence=-1)
    source_device_table = param.DataFrame(precedence=-1)
    leaks_table = param.DataFrame(precedence=-1, doc="Every segment against the rest, leaks first.")
    step_leaks_table = param.DataFrame(precedence=-1, doc="Funnel steps per device against the best device.")
    silent_leaks_table = param.DataFrame(precedence=-1, doc="Segments against themselves in the baseline period.")
    takeaways = param.List(default=[], precedence=-1)

    @classmethod
    def from_path(cls, path: str | Path, mapping=None, **params) -> SessionModel:
        sessions, report = load_sessions(path, mapping=mapping)
        return cls(sessions=sessions, load_report=report.to_dict(), **params)

    def load(self, path: str | Path, name: str | None = None) -> None:
        """Replace the data; on a LoadError nothing changes and the error propagates."""
        sessions, report = load_sessions(path, name=name)
        self.param.update(sessions=sessions, load_report=report.to_dict())

    @param.depends("sessions", watch=True, on_init=True)
    def _reset_filters(self) -> None:
        data = self.sessions
        devices = sorted(map(str, data["device"].unique()))
        start, end = (d.to_pydatetime() for d in (data["date"].min(), data["date"].max()))
        # One batch: widgets linked to these parameters react to the new options only
        # once the source groups match the new sessions.
        has_steps = all(step in data for step in ECOMMERCE_STEPS)
        with param.parameterized.batch_call_watchers(self):
            self.param.funnel.objects = list(metrics.FUNNELS) if has_steps else ["pageviews"]
            if not has_steps:
                self.funnel = "pageviews"
            self.param.devices.objects = devices
            self.param.countries.objects = [str(c) for c in data["country"].value_counts().index]
            self.param.date_range.bounds = (start, end)
            self._regroup_sources(date_range=(start, end), devices=devices, countries=[])

    @param.depends("top_sources", watch=True)
    def _regroup_sources(self, **changes) -> None:
        top = metrics.top_sources(self.sessions["source"], self.top_sources)
        self.param.sources.objects = [*top, metrics.OTHER_SOURCES]
        groups = metrics.group_sources(self.sessions["source"], top)
        self.param.update(source_groups=groups, sources=[], **changes)

    @param.depends("source_groups", "date_range", "devices", "countries", "sources", watch=True)
    def _filter(self) -> None:
        keep = self.mask()
        self.filtered = self.sessions[keep].assign(source_group=self.source_groups[keep])

    def mask(self) -> np.ndarray:
        """Boolean mask of the sessions that pass every filter."""
        data = self.sessions
        keep = np.ones(len(data), dtype=bool)
        if self.date_range:
            start, end = (np.datetime64(pd.Timestamp(d).normalize()) for d in self.date_range)
            dates = data["date"].to_numpy()
            keep &= (dates >= start) & (dates <= end)
        if self.devices and set(self.devices) != set(self.param.devices.objects):
            keep &= data["device"].isin(self.devices).to_numpy()
        if self.countries:
            keep &= data["country"].isin(self.countries).to_numpy()
        if self.sources:
            keep &= self.source_groups.isin(self.sources).to_numpy()
        return keep

    def _refresh(self, *names: str) -> None:
        self.param.update({name: TABLES[name](self) for name in names})

    @param.depends("filtered", watch=True)
    def _refresh_all(self) -> None:
        self._refresh(*TABLES)

    @param.depends("min_sessions", watch=True)
    def _refresh_rated(self) -> None:
        self._refresh("country_table", "duration_table", "source_device_table", "leaks_table",
                      "step_leaks_table", "silent_leaks_table")

    @param.depends("engaged_pageviews", "deep_pageviews", "funnel", watch=True)
    def _refresh_funnel(self) -> None:
        self._refresh("funnel_table", "step_leaks_table")

    @param.depends("duration_edges", watch=True)
    def _refresh_duration(self) -> None:
        self._refresh("duration_table", "leaks_table", "silent_leaks_table")

    @param.depends("fdr", watch=True)
    def _refresh_tests(self) -> None:
        self._refresh("leaks_table", "silent_leaks_table")

    @param.depends("baseline_period", "current_period", watch=True)
    def _refresh_periods(self) -> None:
        self._refresh("silent_leaks_table")

    def periods(self) -> tuple[tuple, tuple]:
        """(baseline, current) periods of the silent-leak comparison, defaults filled in."""
        if self.filtered.empty:
            return (None, None), (None, None)
        baseline, current = leaks.default_periods(self.filtered["date"])
        return self.baseline_period or baseline, self.current_period or current

    @param.depends(*TABLES, watch=True)
    def _write_takeaways(self) -> None:
        self.takeaways = takeaways(self)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The derived tables by the names the JSON summary and CSV downloads use."""
        return {
            "countries": self.country_table,
            "funnel": self.funnel_table,
            "duration": self.duration_table,
            "source_device": self.source_device_table,
        }

    def download_tables(self) -> dict[str, pd.DataFrame]:
        """Every derived table, as the CSV downloads offer them (leak rows for every segment)."""
        return {
            **self.tables(),
            "leaks": self.leaks_table.drop(columns="values", errors="ignore"),
            "silent_leaks": self.silent_leaks_table.drop(columns="values", errors="ignore"),
            "step_leaks": self.step_leaks_table,
        }

    def summary(self) -> dict:
        """Everything the dashboard shows, as JSON-ready data (rates as fractions of 1)."""
        out = {"kpis": _json_ready(self.kpis)}
        out.update({name: _records(t) for name, t in self.tables().items()})
        out["takeaways"] = list(self.takeaways)
        out["load_report"] = self.load_report
        out["leaks"] = _records(leaks.leak_rows(self.leaks_table))
        out["silent_leaks"] = _records(leaks.silent_leak_rows(self.silent_leaks_table))
        baseline, current = self.periods()
        out["silent_periods"] = {"baseline": [_day(d) for d in baseline], "current": [_day(d) for d in current]}
        out["step_leaks"] = _records(self.step_leaks_table)
        return out


def _json_ready(values: dict) -> dict:
    return json.loads(pd.Series(values, dtype=object).to_json())


def _records(table: pd.DataFrame) -> list[dict]:
    return json.loads(table.to_json(orient="records", date_format="iso"))


def _day(value) -> str | None:
    return None if value is None else pd.Timestamp(value).strftime("%Y-%m-%d")
