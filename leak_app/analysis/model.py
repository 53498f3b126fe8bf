"""SessionModel: the data, the filters and every derived table, with no drawing.

The sessions are aggregated once into a :class:`~leak_app.analysis.cube.Cube` (rebuilt only
when a setting that decides a session's cell changes: duration buckets, funnel
thresholds); every filter change is answered from the cube, so it costs the same
for a thousand sessions or ten million. Derived tables are output parameters
(``precedence=-1``) that every view reads, so each is computed once per change
however many panes show it, only when an input it reads changed, and all in one
batch, so the takeaways, which read them all, are written once.
"""
from __future__ import annotations

import functools
import threading
import weakref
from collections import OrderedDict
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import param
from param.parameterized import batch_call_watchers
from threadpoolctl import ThreadpoolController

from ..data.sources import has_ecommerce_steps, open_sessions, session_table
from . import change, leaks, metrics, periods
from .cube import DEFAULT_DURATION_EDGES, FUNNELS, CellSettings, Counts, Cube, build_cube
from .takeaways import takeaways

#: Output -> (how to compute it from the model, the inputs it reads). ``counts`` changes
#: with the filters; ``periods`` with the filters and the silent-leak periods.
TABLES = {
    "kpis": (lambda m: metrics.kpis(m._counts), ("counts",)),
    "country_table": (lambda m: metrics.by_country(m._counts, m.min_sessions), ("counts", "min_sessions")),
    "funnel_table": (lambda m: metrics.funnel(m._counts), ("counts", "stage")),
    "duration_table": (lambda m: metrics.by_duration(m._counts, m.min_sessions),
                       ("counts", "bucket", "min_sessions")),
    "source_device_table": (lambda m: metrics.by_source_device(m._counts, m._top, m.min_sessions),
                            ("counts", "top_sources", "min_sessions")),
    "leaks_table": (lambda m: leaks.segment_leaks(m._counts, m.min_sessions, m.level, m.cube.design_effect),
                    ("counts", "bucket", "min_sessions", "level")),
    "step_leaks_table": (lambda m: leaks.step_leaks(m._counts, m.min_sessions, m.cube.design_effect),
                         ("counts", "stage", "min_sessions")),
    "silent_leaks_table": (lambda m: leaks.silent_leaks(*m._period_counts, *m._period_units, m.min_sessions,
                                                        m.level),
                           ("periods", "bucket", "min_sessions", "level")),
    "silent_warnings": (lambda m: [*m.period_problems(),
                                   *change.silent_warnings(m.cube.site_daily, m.periods())], ("periods",)),
    "rate_change": (lambda m: change.rate_change(*m._period_counts), ("periods",)),
}
#: Settings that decide a session's cell (which cube dimension each one shapes).
CELL_SETTINGS = {"duration_edges": "bucket", "engaged_pageviews": "stage", "deep_pageviews": "stage",
                 "funnel": "stage"}
FILTERS = ("date_range", "devices", "countries", "sources", "channels")
PERIODS = ("baseline_period", "current_period", "align_weekdays")
#: Cubes kept per session table (other settings than these are rebuilt when asked for).
CUBES_PER_TABLE = 2
_cubes: dict[int, tuple[OrderedDict, threading.Lock]] = {}
_bookkeeping = threading.Lock()  # held for dictionary updates only, never for a build


def cached_cube(sessions, settings: CellSettings, size: int | None = None, cache_key: str = "") -> Cube:
    """The cube of a session table for these settings, shared by every model of that table.

    A served app has one model per browser session over one table: they share its cubes.
    ``size``: the table's sessions where known (a scanned file's load report), else counted;
    ``cache_key``: a scanned file's, whose cube queries are kept on disk (see build_cube).
    Safe from any thread: a table's cubes are built one at a time (a scanned table's DuckDB
    connection serves one thread at a time), and a built cube is returned at once, even while
    another of the same table is being built (on a served app's worker thread).
    """
    with _bookkeeping:
        if id(sessions) not in _cubes:
            _cubes[id(sessions)] = (OrderedDict(), threading.Lock())
            weakref.finalize(sessions, _cubes.pop, id(sessions), None)
        cubes, building = _cubes[id(sessions)]
        if settings in cubes:
            cubes.move_to_end(settings)
            return cubes[settings]
    with building:
        with _bookkeeping:
            if settings in cubes:  # built meanwhile
                return cubes[settings]
        with session_table(sessions) as table:
            known = len(sessions) if isinstance(sessions, pd.DataFrame) else size
            cube = build_cube(table, settings, known, cache_key)
        with _bookkeeping:
            cubes[settings] = cube
            while len(cubes) > CUBES_PER_TABLE:
                cubes.popitem(last=False)
        return cube


def cube_of(sessions, report: dict, settings: CellSettings) -> Cube:
    """:func:`cached_cube` of sessions loaded with this load report (a dict of LoadReport's)."""
    return cached_cube(sessions, settings, report.get("sessions"), report.get("cache_key", ""))


@functools.cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()  # the BLAS libraries loaded by now (numpy's, scipy's)


def one_blas_thread():
    """Run BLAS on one thread: the tables are small, and a second thread costs more to wake than
    it saves — about 25 ms an update, and 100 ms at times, while a browser holds the other core."""
    return _blas().limit(limits=1, user_api="blas")


class SessionModel(param.Parameterized):
    """Sessions, the dashboard's filters, and the tables derived from the filtered sessions."""

    sessions = param.ClassSelector(class_=(pd.DataFrame, ibis.Table), precedence=-1, doc="""
        Canonical session table: a DataFrame, or an Ibis table on any engine (a file scanned
        by DuckDB, a Spark or BigQuery table). Never mutated: browser sessions share it.""")
    load_report = param.Dict(default={}, precedence=-1, doc="How the sessions were loaded.")

    date_range = param.DateRange(default=None, label="Dates", doc="First and last day included.")
    devices = param.ListSelector(default=[], objects=[], doc="Devices included; none selected means all.")
    countries = param.ListSelector(default=[], objects=[], doc="Countries included; empty means all.")
    sources = param.ListSelector(default=[], objects=[], label="Traffic sources", doc="""
        Traffic sources included (the top sources and "(other sources)"); empty means all.""")
    channels = param.ListSelector(default=[], objects=[], label="Channels", doc="""
        Channels included (GA's default channel groups, where the data has them); empty means all.""")
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
    duration_edges = param.List(default=list(DEFAULT_DURATION_EDGES), item_type=int, doc="""
        Upper edges in seconds of the session-duration buckets.""")
    level = param.Number(default=leaks.DEFAULT_LEVEL, bounds=(0.001, 0.2), label="Chance of any false leak",
                         doc="""
        The leak and silent-leak tests' family-wise error rate: in data with no leak, the
        chance that any is reported (one-sided; see leaks.adjusted_p).""")
    fdr = param.Number(default=metrics.DEFAULT_FDR, bounds=(0.001, 0.2),
                       label="False discovery rate (countries)", doc="""
        Expected share of false claims among the countries the takeaways say convert
        differently (Benjamini–Hochberg).""")
    current_period = param.String(default="", regex=periods.CURRENT_PATTERN, label="Current period", doc="""
        The period checked for silent leaks, as ``check --current`` takes it (see leak_app.analysis.periods):
        "" (the second half of the filtered dates), "last-7d", "2026-11-01:2026-11-07"...""")
    baseline_period = param.String(default="", regex=periods.BASELINE_PATTERN, label="Baseline period",
                                   doc="""
        The period silent leaks are measured against, as ``check --baseline`` takes it: ""
        (the first half, or as many days just before the current period), "previous-28d"...""")
    align_weekdays = param.Boolean(default=True, label="Whole weeks in a rolling baseline", doc="""
        Shorten a rolling baseline counted in days to whole weeks, so every weekday weighs the same.""")

    cube = param.ClassSelector(class_=Cube, precedence=-1, doc="The sessions aggregated by day and cell.")
    kpis = param.Dict(default={}, precedence=-1)
    country_table = param.DataFrame(precedence=-1)
    funnel_table = param.DataFrame(precedence=-1)
    duration_table = param.DataFrame(precedence=-1)
    source_device_table = param.DataFrame(precedence=-1)
    leaks_table = param.DataFrame(precedence=-1, doc="Every segment against the rest, leaks first.")
    step_leaks_table = param.DataFrame(precedence=-1, doc="Funnel steps per device against the best device.")
    silent_leaks_table = param.DataFrame(precedence=-1, doc="""
        Segments' change from the baseline period beyond their comparator's, leaks first.""")
    silent_warnings = param.List(default=[], precedence=-1,
                                 doc="Why the periods may not compare at face value.")
    rate_change = param.Dict(default={}, precedence=-1, doc="""
        The rate's change between the periods, split into traffic mix and rates within segments.""")
    takeaways = param.List(default=[], precedence=-1)

    def __init__(self, **params):
        super().__init__(**params)
        self._busy = False
        inputs = ["sessions", *FILTERS, *PERIODS, *CELL_SETTINGS, "top_sources", "min_sessions", "level",
                  "fdr"]
        self.param.watch(self._update, inputs)
        self._update()

    @classmethod
    def from_path(cls, path: str | Path, mapping=None, **params) -> SessionModel:
        sessions, report = open_sessions(path, mapping=mapping)
        return cls(sessions=sessions, load_report=report.to_dict(), **params)

    def load(self, path: str | Path, name: str | None = None) -> None:
        """Replace the data; on any error nothing changes and the error propagates."""
        self.adopt(*self.opened(path, name))

    def opened(self, path: str | Path, name: str | None = None,
               **options) -> tuple[pd.DataFrame | ibis.Table, dict]:
        """A file's sessions and load report, their cube built for this model's settings: the slow
        part of :meth:`load`, which changes nothing here (a served app runs it off its event loop).
        ``options``: :func:`~.sources.open_sessions`'s."""
        sessions, loaded = open_sessions(path, name=name, **options)
        report = loaded.to_dict()
        cube_of(sessions, report, self.cell_settings(funnel=self._funnel_of(sessions)))
        return sessions, report

    def prepare(self, **settings) -> None:
        """Build the cube these cell settings ask for, changing nothing here: setting them is then
        as quick as a filter change (a served app runs this off its event loop)."""
        cube_of(self.sessions, self.load_report, self.cell_settings(**settings))

    def like(self, sessions: pd.DataFrame | ibis.Table, report: dict, **then) -> SessionModel:
        """A model of ``sessions`` with this one's settings, ``then`` in place of some (filters, cell
        settings): what this one is about to show, made elsewhere (a served app's worker thread
        draws its figures). Without ``then``, what :meth:`adopt` leaves it showing."""
        # Settings at construction, so that its tables are computed with them; filters and the funnel
        # after, once the data has given their choices (a filter change, not a second full pass).
        later = (*FILTERS, "funnel")
        settings = {name: then.get(name, getattr(self, name))
                    for name, parameter in self.param.objects().items()
                    if parameter.precedence != -1 and name not in (*later, "name")}
        model = type(self)(sessions=sessions, load_report=report, **settings)
        model.param.update({name: then[name] for name in later if name in then})
        return model

    def adopt(self, sessions: pd.DataFrame | ibis.Table, report: dict) -> None:
        """Show other sessions (see :meth:`opened`); on any error nothing changes and it propagates."""
        before = self.load_report
        try:
            self.param.update(sessions=sessions, load_report=report)
        except Exception:  # the sessions are set back by _update; their report too
            self.load_report = before
            raise

    def cell_settings(self, **changes) -> CellSettings:
        """The cell settings, with ``changes`` (values of these parameters) in place of the model's."""
        values = {name: changes.get(name, getattr(self, name)) for name in CELL_SETTINGS}
        return CellSettings(**{**values, "duration_edges": tuple(values["duration_edges"])})

    def _update(self, *events) -> None:
        """Bring every output up to date with the inputs that changed (all on the first call).

        If that fails (a scanned file deleted since, a warehouse gone), the changed inputs are set
        back and the outputs made from them again (their cube is cached), so the model still holds
        the data as it was, and the error propagates for the app to say.
        """
        if self._busy:
            return  # filters reset below, while handling new data or new top sources
        self._busy = True
        try:
            with batch_call_watchers(self), one_blas_thread():  # watchers see a new cube, its tables
                try:  # and takeaways at once
                    self._publish(events)
                except Exception:
                    if events:
                        self.param.update({event.name: event.old for event in events})
                        self._publish(events)
                    raise
        finally:
            self._busy = False

    def _publish(self, events) -> None:
        """Recompute what the changed inputs affect and publish it: tables in one batch, then the
        takeaways."""
        changed = {e.name for e in events} if events else {"sessions"}
        outputs = {}
        if "sessions" in changed:
            self._reset_filters(outputs)
        elif changed & set(CELL_SETTINGS):
            outputs["cube"] = self._cached_cube()
            changed |= {CELL_SETTINGS[name] for name in changed & set(CELL_SETTINGS)}
        if "top_sources" in changed and "sessions" not in changed:
            self._regroup_sources()
        self.param.update(outputs)
        if changed & {"sessions", "top_sources", *FILTERS}:
            self._select()
            changed |= {"counts", "periods"}
        elif changed & set(CELL_SETTINGS):
            self._select()
        elif changed & set(PERIODS):
            self._count_periods()
            changed.add("periods")
        names = [name for name, (_, inputs) in TABLES.items() if changed & set(inputs)]
        self.param.update({name: TABLES[name][0](self) for name in names})
        if names or "fdr" in changed:  # the takeaways also read the countries' false discovery rate
            self.takeaways = takeaways(self)

    def _cached_cube(self) -> Cube:
        """The sessions' cube for the current settings (their count from the load report, where any)."""
        return cube_of(self.sessions, self.load_report, self.cell_settings())

    def _funnel_of(self, sessions) -> str:
        """The funnel sessions are shown with: this one where they say which e-commerce steps each
        reached, else by pageviews."""
        return self.funnel if has_ecommerce_steps(sessions) else "pageviews"

    def _reset_filters(self, outputs: dict) -> None:
        has_steps = has_ecommerce_steps(self.sessions)
        self.param.funnel.objects = list(FUNNELS) if has_steps else ["pageviews"]
        self.funnel = self._funnel_of(self.sessions)
        cube = outputs["cube"] = self._cached_cube()
        [everything] = cube.counts(np.ones(cube.cells, dtype=bool), (0, cube.days - 1))
        self.param.devices.objects = list(cube.labels["device"])
        for name, dim in (("countries", "country"), ("channels", "channel")):  # most sessions first
            ranked = everything[dim].sort_values(["sessions", dim], ascending=[False, True], kind="stable")
            self.param[name].objects = ranked[dim].astype(str).tolist()
        start, end = cube.date(0).to_pydatetime(), cube.date(cube.days - 1).to_pydatetime()
        self.param.date_range.bounds = (start, end)
        self._everything = everything
        self._regroup_sources(date_range=(start, end), devices=list(cube.labels["device"]), countries=[],
                              channels=[])

    def _regroup_sources(self, **changes) -> None:
        self._top = metrics.top_sources(self._everything, self.top_sources)
        self.param.sources.objects = [*self._top, metrics.OTHER_SOURCES]
        self.param.update(sources=[], **changes)

    def mask(self) -> np.ndarray:
        """Which cells of the cube pass the device, country, source and channel filters."""
        cube = self.cube
        keep = np.ones(cube.cells, dtype=bool)
        if self.devices and set(self.devices) != set(self.param.devices.objects):
            keep &= np.isin(cube.labels["device"], self.devices)[cube.codes["device"]]
        for name, dim in (("countries", "country"), ("channels", "channel")):
            if getattr(self, name):
                keep &= np.isin(cube.labels[dim], getattr(self, name))[cube.codes[dim]]
        if self.sources:
            groups = metrics.source_groups(cube.labels["source"], self._top)
            keep &= np.isin(groups, self.sources)[cube.codes["source"]]
        return keep

    def _day_range(self) -> tuple[int, int]:
        if not self.date_range:
            return 0, self.cube.days - 1
        return tuple(self.cube.day(d) for d in self.date_range)

    def _select(self) -> None:
        self._keep = self.mask()
        first, last = self._day_range()
        self._active = self.cube.active_days(self._keep, first, last)
        self._counts, *periods = self.cube.counts(self._keep, (first, last), *self._period_ranges())
        self._count_units(periods)

    def _count_periods(self) -> None:
        self._count_units(self.cube.counts(self._keep, *self._period_ranges()))

    def _period_ranges(self) -> list[tuple[int, int]]:
        """The silent-leak periods' days (clipped to the filtered ones)."""
        self._resolved = self._resolve()
        self._periods = [self._clipped(period) for period in self.periods()]
        return self._periods

    def _count_units(self, periods: list) -> None:
        """Keep the periods' counts, and their counts unit by unit (see :func:`leaks.units`, on a
        last axis)."""
        self._period_counts = periods
        self._period_units = [Counts(self.cube, self.cube.unit_sums(self._keep, leaks.units(*period)))
                              for period in self._periods]

    def _clipped(self, period) -> tuple[int, int]:
        """A period's days within the filtered dates (none if no session matches)."""
        if self._active is None:
            return 0, -1
        first, last = self._active
        return max(self.cube.day(period[0]), first), min(self.cube.day(period[1]), last)

    def _resolve(self) -> periods.Periods:
        """The periods asked for, in the days the filters leave (rolling ones end on the last)."""
        if self._active is None:
            return periods.Periods((None, None), (None, None))
        return periods.resolve(self.current_period, self.baseline_period,
                               *(self.cube.date(d) for d in self._active), self.align_weekdays)

    def periods(self) -> tuple[tuple, tuple]:
        """(baseline, current) days of the silent-leak comparison, defaults filled in."""
        return self._resolved.baseline, self._resolved.current

    def period_problems(self) -> tuple[str, ...]:
        """Why the periods cannot be compared as asked (they are compared clipped to the data)."""
        return self._resolved.problems
