"""SessionModel: the data, the filters and every derived table, with no drawing.

The sessions are aggregated once into a :class:`~leak_app.analysis.cube.Cube` (rebuilt only
when a setting that decides a session's cell changes: duration buckets, funnel
thresholds); every filter change is answered from the cube, so it costs the same
for a thousand sessions or ten million.

Derived tables are output parameters (``precedence=-1``), each declared in :data:`TABLES` with
the inputs it is computed from; param calls it when one of them changes, and it is computed
again only if they hold other values than at its last computation (param may call it twice in
one change: new data resets the filters from within the change). What the tables share — the
cells and days the filters keep, the silent-leak periods' counts — is computed on first use
and kept while its own inputs stay the same. The takeaways, which read every table, are
written last, and ``updated`` then says the change is complete: a view that shows several
outputs draws them together then, never a new table beside a stale one.
"""
from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import param
from threadpoolctl import ThreadpoolController

from ..data.schema import LoadReport
from ..data.sources import CUBE_COLUMNS, has_ecommerce_steps, open_sessions, session_table
from . import change, leaks, metrics, periods
from .cube import DEFAULT_DURATION_EDGES, FUNNELS, CellSettings, Counts, Cube, ScanGrouping, build_cube
from .takeaways import takeaways

FILTERS = ("date_range", "devices", "countries", "sources", "channels")
PERIODS = ("baseline_period", "current_period", "align_weekdays")
#: Settings that decide a session's cell.
CELL_SETTINGS = ("duration_edges", "engaged_pageviews", "deep_pageviews", "funnel")
#: What decides the filtered sessions (which sources are named decides what "(other sources)" holds).
SELECTION = ("sessions", *FILTERS, "top_sources")
#: The settings of the funnel's stages: a cube rebuilt for other ones counts every other dimension alike,
#: so a table that does not read the stages is not computed again (nor one that reads no duration).
STAGES = ("engaged_pageviews", "deep_pageviews", "funnel")
BUCKETS = ("duration_edges",)

#: Output -> (how to compute it from the model, the inputs it is computed from). ``m.selected()`` is
#: what the filters keep (see :class:`Selection`), ``m.compared()`` the silent-leak periods'
#: counts (see :class:`Comparison`).
TABLES = {
    "kpis": (lambda m: metrics.kpis(m.selected().counts, m.design_effect()), SELECTION),
    "country_table": (lambda m: metrics.by_country(m.selected().counts, m.min_sessions, m.design_effect()),
                      (*SELECTION, "min_sessions")),
    "funnel_table": (lambda m: metrics.funnel(m.selected().counts), (*SELECTION, *STAGES)),
    "duration_table": (lambda m: metrics.by_duration(m.selected().counts, m.min_sessions, m.design_effect()),
                       (*SELECTION, *BUCKETS, "min_sessions")),
    "source_device_table": (lambda m: metrics.by_source_device(m.selected().counts, m.selected().top,
                                                               m.min_sessions, m.design_effect()),
                            (*SELECTION, "min_sessions")),
    "leaks_table": (lambda m: leaks.segment_leaks(m.selected().counts, m.min_sessions, m.level,
                                                  m.design_effect()),
                    (*SELECTION, *BUCKETS, "min_sessions", "level")),
    "step_leaks_table": (lambda m: leaks.step_leaks(m.selected().counts, m.min_sessions, m.design_effect()),
                         (*SELECTION, *STAGES, "min_sessions")),
    "silent_leaks_table": (lambda m: leaks.silent_leaks(*m.compared().counts, *m.compared().units,
                                                        m.min_sessions, m.level, m.design_effect()),
                           (*SELECTION, *PERIODS, *BUCKETS, "min_sessions", "level")),
    "silent_warnings": (lambda m: [*m.period_problems(),
                                   *change.silent_warnings(m.current_cube().site_daily, m.periods())],
                        (*SELECTION, *PERIODS)),
    "rate_change": (lambda m: change.rate_change(*m.compared().counts), (*SELECTION, *PERIODS)),
}
#: The takeaways read every table, and these.
TAKEAWAY_INPUTS = (*TABLES, "fdr", "min_sessions", "funnel", "load_report")
#: Cubes kept per session table (other settings than these are rebuilt when asked for).
CUBES_PER_TABLE = 2
#: id of a session table -> its cubes by settings, the lock of their builds, and its state then.
_cubes: dict[int, tuple[OrderedDict, threading.Lock, tuple | None]] = {}
_bookkeeping = threading.Lock()  # held for dictionary updates only, never for a build


def _state(sessions) -> tuple | None:
    """What tells a DataFrame changed in place since its cubes were built (a notebook fixing a
    mistyped revenue or renaming a source, then making a model of it again): its length and the sum
    of its rows' hashes over the columns the cube reads (pandas' ``hash_pandas_object``: any cell
    changed, or a value moved to another row, changes it; the rows' order, which changes no count,
    does not), about 60 ms a million rows. Visitor ids, whose text costs ten times as much to
    hash, are left out: they only move the design effect's estimate. None for a table in an engine,
    which nothing changes under a model."""
    if not isinstance(sessions, pd.DataFrame):
        return None
    columns = [name for name in CUBE_COLUMNS if name in sessions and name != "visitor_id"]
    return len(sessions), int(pd.util.hash_pandas_object(sessions[columns], index=False).to_numpy().sum())


def cached_cube(sessions, settings: CellSettings, size: int | None = None, cache_key: str = "",
                grouped=None) -> Cube:
    """The cube of a session table for these settings, shared by every model of that table.

    A served app has one model per browser session over one table: they share its cubes.
    ``size``: the table's sessions where known (a scanned file's load report), else counted;
    ``cache_key``: a scanned file's, whose cube queries are kept on disk; ``grouped``: the cube
    query's result, grouped by the scan (see build_cube).
    Safe from any thread: a table's cubes are built one at a time (a scanned table's DuckDB
    connection serves one thread at a time), and a built cube is returned at once, even while
    another of the same table is being built (on a served app's worker thread).
    """
    state = _state(sessions)
    with _bookkeeping:
        if id(sessions) not in _cubes:
            weakref.finalize(sessions, _cubes.pop, id(sessions), None)
        if id(sessions) not in _cubes or _cubes[id(sessions)][2] != state:  # new, or changed in place
            _cubes[id(sessions)] = (OrderedDict(), threading.Lock(), state)
        cubes, building, _ = _cubes[id(sessions)]
        if settings in cubes:
            cubes.move_to_end(settings)
            return cubes[settings]
    with building:
        with _bookkeeping:
            if settings in cubes:  # built meanwhile
                return cubes[settings]
        with session_table(sessions) as table:
            known = len(sessions) if isinstance(sessions, pd.DataFrame) else size
            cube = build_cube(table, settings, known, cache_key, grouped)
        with _bookkeeping:
            cubes[settings] = cube
            while len(cubes) > CUBES_PER_TABLE:
                cubes.popitem(last=False)
        return cube


def opened_with_cube(open_data: Callable, settings: CellSettings, *args, **options
                     ) -> tuple[pd.DataFrame | ibis.Table, LoadReport]:
    """``open_data(*args, **options)`` (:func:`.sources.open_sessions` or ``open_data``), the cube of
    its sessions for ``settings`` put in the cache where a scan grouped it in its own pass over the
    file (:class:`.cube.ScanGrouping`): a cold start of a large file then reads it twice, not three
    times."""
    grouping = ScanGrouping(settings)
    sessions, report = open_data(*args, grouping=grouping, **options)
    if grouping.result is not None:
        cached_cube(sessions, settings, report.sessions, report.cache_key, grouping.result)
    return sessions, report


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


@dataclass(frozen=True)
class Selection:
    """What the filters keep: the cube's cells, the days asked for, the days with a session in
    them (None: no session matches), their counts, and the sources shown by name."""

    keep: np.ndarray
    days: tuple[int, int]
    active: tuple[int, int] | None
    counts: Counts
    top: list[str]


@dataclass(frozen=True)
class Comparison:
    """The silent-leak periods: as resolved in the filtered days, their days (clipped to them),
    their counts, and their counts unit by unit (see :func:`leaks.units`, on a last axis)."""

    resolved: periods.Periods
    days: list[tuple[int, int]]
    counts: list[Counts]
    units: list[Counts]


class SessionModel(param.Parameterized):
    """Sessions, the dashboard's filters, and the tables derived from the filtered sessions."""

    sessions = param.ClassSelector(class_=(pd.DataFrame, ibis.Table), precedence=-1, doc="""
        Canonical session table: a DataFrame, or an Ibis table on any engine (a file scanned
        by DuckDB, a Spark or BigQuery table). Never mutated: browser sessions share it.""")
    load_report = param.Dict(default={}, precedence=-1, doc="How the sessions were loaded.")

    date_range = param.DateRange(default=None, label="Dates", doc="First and last day included.")
    devices = param.ListSelector(default=[], objects=[], doc="Devices included; none selected means all.")
    countries = param.ListSelector(default=[], objects=[], doc=(
        f"Countries included (beyond the {metrics.NAMED_CHOICES:,} of most sessions, "
        f"\"{metrics.OTHER['country']}\"); empty means all."))
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
    updated = param.Event(precedence=-1, doc="""
        Triggered when a change's outputs are all in place (each output's own event comes as it
        is computed, before the others).""")

    def __init__(self, start_from: SessionModel | None = None, **params):
        """``start_from``: a model of the same sessions whose outputs this one may take where its own
        inputs are equal (a served file's pages all start alike: none computes them again)."""
        self._memo: dict[str, tuple[tuple, object]] = {**start_from._memo} if start_from else {}  # _kept
        self._settled: dict[str, object] = {}  # the inputs of the outputs in place (see _settle)
        super().__init__(**params)  # the filters reset for the data, the cube
        for name, (_, inputs) in TABLES.items():
            self.param.watch(functools.partial(self._compute, name), list(inputs))
            self._compute(name)
        self.param.watch(self._settle, list(INPUTS), precedence=1)  # after the tables
        self._settle()

    @classmethod
    def from_path(cls, path: str | Path, mapping=None, **params) -> SessionModel:
        settings = _cell_settings({name: params.get(name, cls.param[name].default) for name in CELL_SETTINGS})
        sessions, report = opened_with_cube(open_sessions, settings, path, mapping=mapping)
        return cls(sessions=sessions, load_report=report.to_dict(), **params)

    def load(self, path: str | Path, name: str | None = None) -> None:
        """Replace the data; on any error nothing changes and the error propagates."""
        self.adopt(*self.opened(path, name))

    def opened(self, path: str | Path, name: str | None = None,
               **options) -> tuple[pd.DataFrame | ibis.Table, dict]:
        """A file's sessions and load report, their cube built for this model's settings: the slow
        part of :meth:`load`, which changes nothing here (a served app runs it off its event loop).
        ``options``: :func:`~.sources.open_sessions`'s."""
        # a scan groups the pageview funnel's cube (a GA4 event scan, which may show the e-commerce
        # funnel, groups none)
        sessions, loaded = opened_with_cube(open_sessions, self.cell_settings(funnel="pageviews"), path,
                                            name=name, **options)
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
        settings = {name: then.get(name, getattr(self, name)) for name in INPUTS
                    if name not in (*later, "sessions", "load_report")}
        model = type(self)(sessions=sessions, load_report=report, **settings)
        model.param.update({name: then[name] for name in later if name in then})
        return model

    def adopt(self, sessions: pd.DataFrame | ibis.Table, report: dict) -> None:
        """Show other sessions (see :meth:`opened`); on any error nothing changes and it propagates."""
        self.param.update(sessions=sessions, load_report=report)

    def cell_settings(self, **changes) -> CellSettings:
        """The cell settings, with ``changes`` (values of these parameters) in place of the model's."""
        return _cell_settings({name: changes.get(name, getattr(self, name)) for name in CELL_SETTINGS})

    def current_cube(self) -> Cube:
        """The sessions' cube for the current settings (their count from the load report, where any),
        which ``cube`` holds once a change is complete. Kept here: the shared cache may drop it."""
        return self._kept("cube", tuple(getattr(self, name) for name in ("sessions", "load_report",
                                                                          *CELL_SETTINGS)),
                          lambda: cube_of(self.sessions, self.load_report, self.cell_settings()))

    def design_effect(self) -> float:
        """How much repeat visitors inflate the noise of rates (see :mod:`.clustering`): every published
        rate's interval and every test count sessions divided by it."""
        return self.current_cube().design_effect

    # Stages: what several outputs read, computed on first use and kept while its inputs hold.

    def _kept(self, name: str, inputs: tuple, compute: Callable):
        """``compute()``, kept until one of ``inputs`` is another object than when it was computed, or
        for plain values (filters, settings) another value (inputs are only ever replaced, never
        changed in place)."""
        kept = self._memo.get(name)
        if kept is None or not all(map(_same_input, kept[0], inputs)):
            with one_blas_thread():
                self._memo[name] = kept = (inputs, compute())
        return kept[1]

    def _everything(self, cube: Cube) -> Counts:
        """Every session's counts (from any cube of the sessions): the filters' choices, most
        sessions first."""
        return self._kept("everything", (self.sessions,),
                          lambda: cube.counts(np.ones(cube.cells, dtype=bool), (0, cube.days - 1))[0])

    def sources_by_sessions(self) -> list[str]:
        """Every source of the data, most sessions first: the first ``top_sources`` are named."""
        cube = self.current_cube()
        return metrics.top_sources(self._everything(cube), len(cube.labels["source"]))

    def selected(self) -> Selection:
        """What the filters keep (see :class:`Selection`)."""
        cube = self.current_cube()
        return self._kept("selection", (cube, *(getattr(self, name) for name in SELECTION)),
                          lambda: self._select(cube))

    def compared(self) -> Comparison:
        """The silent-leak periods' counts (see :class:`Comparison`)."""
        selection = self.selected()
        return self._kept("comparison", (selection, *(getattr(self, name) for name in PERIODS)),
                          lambda: self._compare(selection))

    def periods(self) -> tuple[tuple, tuple]:
        """(baseline, current) days of the silent-leak comparison, defaults filled in."""
        resolved = self.compared().resolved
        return resolved.baseline, resolved.current

    def period_problems(self) -> tuple[str, ...]:
        """Why the periods cannot be compared as asked (they are compared clipped to the data)."""
        return self.compared().resolved.problems

    def _mask(self, cube: Cube, top: list[str]) -> np.ndarray:
        """Which cells of the cube pass the device, country, source and channel filters (``top``:
        the sources shown by name; the others are "(other sources)")."""
        keep = np.ones(cube.cells, dtype=bool)
        if self.devices and set(self.devices) != set(self.param.devices.objects):
            keep &= np.isin(cube.labels["device"], self.devices)[cube.codes["device"]]
        for name, dim in (("countries", "country"), ("channels", "channel")):
            if picked := getattr(self, name):
                keep &= metrics.chosen(cube.labels[dim], picked, self.param[name].objects,
                                       metrics.OTHER[dim])[cube.codes[dim]]
        if self.sources:
            keep &= metrics.chosen(cube.labels["source"], self.sources, top,
                                   metrics.OTHER_SOURCES)[cube.codes["source"]]
        return keep

    def _select(self, cube: Cube) -> Selection:
        top = metrics.top_sources(self._everything(cube), self.top_sources)
        keep = self._mask(cube, top)
        days = (0, cube.days - 1) if not self.date_range else tuple(cube.day(d) for d in self.date_range)
        [counts] = cube.counts(keep, days)
        return Selection(keep, days, cube.active_days(keep, *days), counts, top)

    def _compare(self, selection: Selection) -> Comparison:
        cube = self.current_cube()
        if selection.active is None:
            resolved = periods.Periods((None, None), (None, None))
        else:
            resolved = periods.resolve(self.current_period, self.baseline_period,
                                       *(cube.date(d) for d in selection.active), self.align_weekdays)
        days = [_clipped(cube, period, selection.active) for period in (resolved.baseline, resolved.current)]
        counts = cube.counts(selection.keep, *days)
        units = [Counts(cube, cube.unit_sums(selection.keep, leaks.units(*period))) for period in days]
        return Comparison(resolved, days, counts, units)

    # What param calls, in this order in a round of changes (the cube is built for new data's funnel):
    # each sets outputs from the inputs it is declared on.

    @param.depends("sessions", watch=True, on_init=True)
    def _reset_filters(self) -> None:
        """New data: the filters' choices are its values, every filter cleared, its funnel chosen
        (not when the data is set back after a failure: the filters are set back with it)."""
        if self._settled and self.sessions is self._settled["sessions"]:
            return
        self.param.funnel.objects = list(FUNNELS) if has_ecommerce_steps(self.sessions) else ["pageviews"]
        with self._or_set_back():
            funnel = self._funnel_of(self.sessions)
            cube = cube_of(self.sessions, self.load_report, self.cell_settings(funnel=funnel))
            everything = self._everything(cube)
        self.param.devices.objects = list(cube.labels["device"])
        for name, dim in (("countries", "country"), ("channels", "channel")):  # most sessions first
            ranked = everything[dim].sort_values(["sessions", dim], ascending=[False, True], kind="stable")
            self.param[name].objects = metrics.named_choices(ranked[dim].astype(str).tolist(), dim)
        start, end = cube.date(0).to_pydatetime(), cube.date(cube.days - 1).to_pydatetime()
        self.param.date_range.bounds = (start, end)
        self._name_sources(cube)
        self.param.update(funnel=funnel, date_range=(start, end), devices=list(cube.labels["device"]),
                          countries=[], sources=[], channels=[])

    @param.depends("top_sources", watch=True)
    def _regroup_sources(self) -> None:
        """Other sources named: the source filter's choices change, and it is cleared (not when the
        number is set back after a failure: the filter is set back with it)."""
        self._name_sources(self.current_cube())
        if not (self._settled and self.top_sources is self._settled["top_sources"]):
            self.sources = []

    @param.depends("sessions", *CELL_SETTINGS, watch=True, on_init=True)
    def _show_cube(self) -> None:
        with self._or_set_back():
            cube = self.current_cube()
        if cube is not self.cube:
            self.cube = cube

    def _name_sources(self, cube: Cube) -> None:
        top = metrics.top_sources(self._everything(cube), self.top_sources)
        self.param.sources.objects = [*top, metrics.OTHER_SOURCES]

    def _compute(self, name: str, *events) -> None:
        """Set output ``name`` (see :data:`TABLES`), unless its inputs are those it was computed from."""
        compute, inputs = TABLES[name]
        with self._or_set_back():
            value = self._kept(name, tuple(getattr(self, i) for i in inputs), lambda: compute(self))
        if value is not getattr(self, name):
            setattr(self, name, value)

    def _settle(self, *events) -> None:
        """Once every output is computed from the current inputs: write the takeaways, keep the inputs
        (what a failure sets back), and say the change is complete. Until then (param calls this once
        a round of watchers, and new data resets the filters in a round of their own) nothing."""
        current = self.cube is self.current_cube() and all(
            getattr(self, name) is self._memo.get(name, ((), None))[1] for name in TABLES)
        if not current:
            return
        inputs = {name: getattr(self, name) for name in INPUTS}
        if self._settled and all(inputs[name] is value for name, value in self._settled.items()):
            return  # said already (in an inner round)
        self.takeaways = self._kept("takeaways", tuple(getattr(self, name) for name in TAKEAWAY_INPUTS),
                                    lambda: takeaways(self))
        self._settled = inputs
        self.param.trigger("updated")

    @contextlib.contextmanager
    def _or_set_back(self):
        """On an error (a scanned file deleted since, a warehouse gone), set the inputs back to those
        of the outputs in place, which stay as they were (their cube is kept), and let it propagate
        for the app to say."""
        try:
            yield
        except Exception:
            back = {name: value for name, value in self._settled.items() if getattr(self, name) is not value}
            if back:
                self.param.update(back)
            raise

    def _funnel_of(self, sessions) -> str:
        """The funnel sessions are shown with: this one where they say which e-commerce steps each
        reached, else by pageviews."""
        return self.funnel if has_ecommerce_steps(sessions) else "pageviews"


def _same_input(a, b) -> bool:
    """The same object, or equal plain values (lists, tuples, dicts of texts, numbers and dates)."""
    if a is b:
        return True
    if type(a) is not type(b) or not isinstance(a, (list, tuple, dict, str, int, float)):
        return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays or frames among them: not plain values
        return False


def _cell_settings(values: dict) -> CellSettings:
    """The CellSettings of these parameters' values (the edges as a tuple: settings key the cubes)."""
    return CellSettings(**{**values, "duration_edges": tuple(values["duration_edges"])})


def _clipped(cube: Cube, period, active: tuple[int, int] | None) -> tuple[int, int]:
    """A period's days within the filtered dates (none if no session matches, or no period)."""
    if active is None or period[0] is None:
        return 0, -1
    return max(cube.day(period[0]), active[0]), min(cube.day(period[1]), active[1])


#: What the outputs are computed from.
INPUTS = ("sessions", "load_report", *FILTERS, "top_sources", *CELL_SETTINGS, *PERIODS, "min_sessions",
          "level", "fdr")
