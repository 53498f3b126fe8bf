"""The session cube: sessions aggregated once by day and cell, answering every filter change.

A *cell* is one combination of device, country, source, medium, channel,
session-duration bucket and funnel stage. The build is one Ibis expression, so the same code
aggregates a DataFrame or a Parquet/CSV/NDJSON file on DuckDB, or a table on Spark
or BigQuery. Its result grows with the variety of the traffic (cells × days), not
its volume, and is held as NumPy prefix sums over days (a date range's totals are one
subtraction) or, for cubes too wide for that, as its rows in day order; every table a
view needs is then one sparse product over cells.
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import json
import mmap
import os
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy import sparse

from ..data.background import background_executor
from ..data.duck import text_hash
from ..data.files import kept_scan, replaced
from ..data.schema import TEXT
from .clustering import design_effect, sample_step, visitor_key

#: ``revenue_squared``: each session's revenue squared, summed: how far revenue per conversion is
#: known (``stats.mean_interval``), where one order can be a third of the revenue.
MEASURES = ("sessions", "conversions", "transactions", "revenue", "revenue_squared")
#: The measures summed as amounts of money, not counts.
AMOUNTS = ("revenue", "revenue_squared")
CELL_DIMENSIONS = (*TEXT, "bucket", "stage")
#: The groupings summed from the cells on every filter change ...
GROUPINGS = {
    "device × country": ("device", "country"),
    "device × source": ("device", "source"),
    # a channel is a group of mediums (and sources): few pairs, and one sum for both margins
    "channel × medium": ("channel", "medium"),
    "device × bucket": ("device", "bucket"),
    "device × stage": ("device", "stage"),
}
#: ... and those summed from them: (grouping, the dimension kept).
MARGINS = {"device": ("device × country", "device"), "country": ("device × country", "country"),
           "source": ("device × source", "source"), "medium": ("channel × medium", "medium"),
           "channel": ("channel × medium", "channel"), "bucket": ("device × bucket", "bucket")}
STAGES = ("Browsed", "Engaged", "Deep Engagement", "Converted")
#: The GA4 e-commerce funnel (for sessions built from GA4 events).
ECOMMERCE_STAGES = ("Browsed", "Viewed item", "Added to cart", "Began checkout", "Converted")
FUNNELS = {"pageviews": STAGES, "ecommerce": ECOMMERCE_STAGES}
DEFAULT_DURATION_EDGES = (10, 60, 180, 300, 600, 1200, 3600)


@dataclass(frozen=True)
class CellSettings:
    """The settings that decide which cell a session falls in: changing one rebuilds the cube."""

    duration_edges: tuple = DEFAULT_DURATION_EDGES
    engaged_pageviews: int = 5
    deep_pageviews: int = 10
    funnel: str = "pageviews"


#: Google Analytics records no duration for a single-page session (UA leaves timeOnSite empty,
#: read as 0): such sessions get a bucket of their own, not pooled with quick visits.
NO_DURATION = "no duration (single page)"


def _negated(table: pa.Table) -> pa.Table:
    """The grouped rows with every measure negated: taken back from sums."""
    for name in MEASURES:
        table = table.set_column(table.schema.get_field_index(name), name, pc.negate(table[name]))
    return table


def _encoded_as(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with the columns ``schema`` has dictionary-encoded so encoded (concatenated with
    them then)."""
    for column in schema:
        if pa.types.is_dictionary(column.type) and column.name in table.column_names:
            at = table.schema.get_field_index(column.name)
            table = table.set_column(at, column.name, table[column.name].cast(column.type))
    return table


def duration_labels(edges) -> list[str]:
    """Readable bucket names, the single-page sessions first:
    (10, 60, 180) -> [NO_DURATION, '<10 s', '10–60 s', '1–3 min', '>3 min']."""

    def fmt(a, b=None):
        if (b or a) <= 60:
            return f"{a}–{b} s" if b is not None else f"{a} s"
        return f"{a / 60:g}–{b / 60:g} min" if b is not None else f"{a / 60:g} min"

    edges = list(edges)
    middle = [fmt(a, b) for a, b in itertools.pairwise(edges)]
    return [NO_DURATION, f"<{fmt(edges[0])}", *middle, f">{fmt(edges[-1])}"]


def _stage(table: ibis.Table, converted, settings: CellSettings):
    """The furthest funnel stage reached (stages are cumulative; converting reaches all)."""
    if settings.funnel == "ecommerce":
        return ibis.cases((converted, 4), (table.begin_checkout, 3), (table.add_to_cart, 2),
                          (table.view_item, 1), else_=0)
    engaged = table.pageviews >= settings.engaged_pageviews
    return ibis.cases((converted, 3), (engaged & (table.pageviews >= settings.deep_pageviews), 2),
                      (engaged, 1), else_=0)


def cube_expression(table: ibis.Table, settings: CellSettings,
                    visitor: ibis.Value | None = None) -> ibis.Table:
    """Every measure (MEASURES) per day and cell, as one Ibis query; with
    ``visitor`` (:func:`~.clustering.visitor_key`), per visitor too where it is not null."""
    keys, sums = cell_columns(table, settings, visitor)
    return table.group_by(**keys).aggregate(**sums)


def cell_columns(table: ibis.Table, settings: CellSettings, visitor: ibis.Value | None = None
                 ) -> tuple[dict, dict]:
    """:func:`cube_expression`'s keys (day, cell and ``visitor``) and sums, of a table's rows."""
    converted = table.transactions > 0
    edges = settings.duration_edges
    single = (table.pageviews <= 1) & (table.duration <= 0)
    bucket = ibis.cases((single, 0), *[(table.duration < edge, i + 1) for i, edge in enumerate(edges)],
                        else_=len(edges) + 1)
    keys = {"day": table.date.cast("date"), **{name: table[name] for name in TEXT},
            "bucket": bucket, "stage": _stage(table, converted, settings),
            **({} if visitor is None else {"visitor": visitor})}
    revenue = table.revenue.cast("float64")
    # a count with a filter and a product, not a sum of flags and a power (DuckDB's pow() per row):
    # 0.4 s of a 10-million-session start
    sums = {"sessions": table.count(), "conversions": table.count(where=converted),
            "transactions": table.transactions.cast("int64").sum(),
            "revenue": revenue.sum(), "revenue_squared": (revenue * revenue).sum()}
    return keys, sums


class ScanGrouping:
    """A scanned file's cube for ``settings``, grouped in the scan's pass that counts its rows for the
    load report (:func:`leak_app.data.parse.parse_sessions`): a cold start reads the file twice, not
    three times. ``result``: the rows :func:`build_cube` reads, once the scan has grouped them.

    The pass groups rows before the sessions are counted: its sample of visitors (for the design
    effect) is taken among the fewest sessions the rows can hold, then narrowed to the one the
    sessions' count gives (:func:`~.clustering.sample_step`); the rows of sessions merged after
    (repeated ids) are taken back, and their merged sessions added: rows the cube sums as any other.
    """

    def __init__(self, settings: CellSettings):
        self.settings = settings
        self.step = 1
        self.result: pa.Table | None = None

    def columns(self, rows: ibis.Table, at_least: int) -> tuple[dict, dict]:
        """The cube's keys and sums of canonical ``rows``, visitors sampled as among ``at_least``
        sessions."""
        self.step = sample_step(at_least)
        return cell_columns(rows, self.settings, visitor_key(rows, at_least, text_hash))

    def take(self, kept: pa.Table, taken_back: pa.Table | None, added: pa.Table | None,
             sessions: int) -> None:
        """The grouped rows of the ``kept`` rows, of those ``taken_back`` (merged into ``added``),
        and how many ``sessions`` they make; no ``result`` where the pass sampled visitors too
        sparsely for them (more than half the rows dropped, or fewer sessions than the scan foresaw:
        the cube query runs then)."""
        step = sample_step(sessions)
        if step < self.step:
            return
        tables = [kept] if taken_back is None else [kept, *(_encoded_as(t, kept.schema)
                                                           for t in (_negated(taken_back), added))]
        result = pa.concat_tables(tables, promote_options="permissive")
        if "visitor" in result.column_names and step > self.step:
            visitor = result["visitor"]
            key = visitor.fill_null(0).to_numpy(zero_copy_only=False)
            sampled = visitor.is_valid().to_numpy(zero_copy_only=False) & (key % step == 0)
            result = result.set_column(result.schema.get_field_index("visitor"), "visitor",
                                       pa.array(key, mask=~sampled))
        self.result = result


class DayPrefix:
    """Prefix sums over days of every measure per cell: a day range's totals in one subtraction.

    Memory: (days + 1) × cells × 56 bytes, whatever the number of sessions (a scanned file's are
    mapped from the file kept for its next start: pages the processes serving it share). One
    contiguous block per measure: sessions and conversions, read day by day (active days, units'
    sums), are views of theirs (contiguous copies out of a cell-major block took 0.8 s of a 10
    million session start, and 16 bytes more per day and cell).
    """

    def __init__(self, prefix: np.ndarray):
        self.prefix = prefix
        self.sessions, self.conversions = self.prefix[0], self.prefix[1]

    @classmethod
    def of_rows(cls, day: np.ndarray, cell: np.ndarray, values: np.ndarray, days: int, cells: int
                ) -> DayPrefix:
        """The prefix sums of rows (each a ``day``, a ``cell`` and the measures' ``values``), each
        measure's block written and summed on a thread of its own: numpy lets go of the GIL, and most
        of this is the first touch of new memory, which two cores of this virtual machine do about
        twice as fast (540 MB at 10 million sessions, in huge pages: 1.0 s against 1.7 s; now 0.35 s,
        see :func:`_zeroed`). The blocks are asked for zeroed
        (pages the system zeroes as they are first written, see :func:`_zeroed`), not zeroed here: a
        pass less."""
        prefix = _zeroed((len(MEASURES), days + 1, cells))

        def write(measure: int) -> None:
            block = prefix[measure]
            block[day + 1, cell] = values[:, measure]
            np.cumsum(block, axis=0, out=block)

        with ThreadPoolExecutor(min(len(MEASURES), os.cpu_count() or 1)) as pool:
            list(pool.map(write, range(len(MEASURES))))
        return cls(prefix)

    def totals(self, first: int, last: int, cells: np.ndarray | None) -> np.ndarray:
        # every cell's difference, then the kept cells': quicker than two takes and a difference of
        # them, whatever the share kept (3 % of the cells of 10 million sessions: 0.4 ms against 0.5)
        totals = self.prefix[:, last + 1] - self.prefix[:, first]
        return (totals if cells is None else totals.take(cells, axis=1)).T

    def grouped(self, cells: np.ndarray | None, summing: sparse.csc_matrix, ranges) -> np.ndarray:
        """Grouped sums of the kept ``cells`` (None: all; ``summing``: the sums of groups over them)
        for each day range (array: group, measure, range), from the grouped prefix at the ranges'
        edges: no per-cell difference is made (units share their edges). The kept cells' prefix at
        every edge is one block, summed by groups in one product (a product a day, of a matrix
        scaled to the kept cells: 4.2 ms a period against 1.7 at 10 million sessions)."""
        edges = np.unique([day for first, last in ranges for day in (first, last + 1)])
        at = np.zeros((len(edges), summing.shape[0], len(MEASURES)))
        for measure, block in enumerate((self.sessions, self.conversions)):  # only these: half the work
            rows = block[edges] if cells is None else block[np.ix_(edges, cells)]
            at[:, :, measure] = (summing @ rows.T).T
        first = np.searchsorted(edges, [start for start, _ in ranges])
        after = np.searchsorted(edges, [last + 1 for _, last in ranges])
        return np.moveaxis(at[after] - at[first], 0, -1)

    def daily(self, first: int, last: int) -> np.ndarray:
        return np.diff(self.prefix[:2, first:last + 2].sum(axis=2), axis=1).T

    def _before(self, day: int, weights: np.ndarray) -> float:
        # einsum, not ``@``: a threaded BLAS dot costs ten times more on two cores.
        return float(np.einsum("i,i->", self.sessions[day], weights))

    def active_days(self, keep: np.ndarray, first: int, last: int) -> tuple[int, int] | None:
        weights = keep.astype("float64")
        before, through = self._before(first, weights), self._before(last + 1, weights)
        if through == before:
            return None
        start = _first(first, last, lambda d: self._before(d + 1, weights) > before)
        return start, _first(start, last, lambda d: self._before(d + 1, weights) == through)


def _zeroed(shape: tuple) -> np.ndarray:
    """A new float64 array of zeros in a private anonymous mapping of its own, where ``np.zeros`` would
    mark its memory for huge pages (numpy's default on Linux): where the kernel then defragments
    memory on a page fault rather than fall back to small pages (``transparent_hugepage/defrag`` set
    to ``madvise``, its default), the first touch of a 10 million session cube's 540 MB stalled for
    0.8-1.0 s, against 0.35 s in small pages (numpy/numpy#31590). Freed when the array is."""
    count = int(np.prod(shape))
    pages = mmap.mmap(-1, max(count, 1) * 8, flags=mmap.MAP_PRIVATE)
    return np.frombuffer(pages, dtype="float64", count=count).reshape(shape)


class DayRows:
    """The cube query's rows (a day, a cell and its measures) in day order.

    For cubes too wide for :class:`DayPrefix`: memory is that of the rows (at most one
    per session), and a day range costs a pass over its rows.
    """

    def __init__(self, day: np.ndarray, cell: np.ndarray, values: np.ndarray, days: int, cells: int):
        order = np.argsort(day, kind="stable")
        self.day, self.cell, self.values = day[order], cell[order], values[order]
        self.starts = np.searchsorted(self.day, np.arange(days + 1))
        self.cells = cells

    def totals(self, first: int, last: int, cells: np.ndarray | None) -> np.ndarray:
        rows = slice(self.starts[first], self.starts[last + 1])
        out = np.column_stack([
            np.bincount(self.cell[rows], weights=self.values[rows, j], minlength=self.cells)
            for j in range(len(MEASURES))])
        return out if cells is None else out.take(cells, axis=0)

    def daily(self, first: int, last: int) -> np.ndarray:
        rows = slice(self.starts[first], self.starts[last + 1])
        return np.column_stack([np.bincount(self.day[rows] - first, weights=self.values[rows, j],
                                            minlength=last - first + 1) for j in range(2)])

    def active_days(self, keep: np.ndarray, first: int, last: int) -> tuple[int, int] | None:
        rows = slice(self.starts[first], self.starts[last + 1])
        kept = self.values[rows, 0] * keep[self.cell[rows]]
        days = np.flatnonzero(np.bincount(self.day[rows] - first, weights=kept, minlength=last - first + 1))
        return (first + int(days[0]), first + int(days[-1])) if len(days) else None


#: A cube whose prefix sums would take more memory than this keeps its rows instead
#: (``LEAK_APP_CUBE_PREFIX_BYTES``): filter changes get slower, memory stays bounded.
PREFIX_LIMIT_BYTES = 1536 * 2**20


@dataclass
class Cube:
    """Every measure per day and cell, and the labels of each cell's dimensions."""

    first_day: pd.Timestamp
    days: int
    labels: dict  # dimension -> its labels, in code order
    codes: dict  # dimension -> code of each cell
    store: DayPrefix | DayRows  # the measures by day and cell
    #: How much repeat visitors inflate the variance of conversion counts (see ``clustering``).
    design_effect: float = 1.0
    #: Sums each grouping's groups from the cells: one sparse product answers them all.
    summing: sparse.csc_matrix = field(init=False)
    offsets: dict = field(init=False)  # grouping -> its first row in ``summing``
    dtypes: dict = field(init=False)  # dimension -> its categorical dtype
    #: Where it is being kept on disk for the next start (see :func:`build_cube`): done when written.
    keeping: Future | None = field(default=None, compare=False, repr=False)
    _last_kept: tuple | None = field(default=None, init=False, compare=False, repr=False)  # see _kept

    def __post_init__(self):
        self.dtypes = {dim: pd.CategoricalDtype(labels, ordered=dim in ("bucket", "stage"))
                       for dim, labels in self.labels.items()}
        rows, self.offsets, start = [], {}, 0
        for name, dims in GROUPINGS.items():
            self.offsets[name] = start
            rows.append(start + np.ravel_multi_index([self.codes[d] for d in dims], self.shape(dims)))
            start += int(np.prod(self.shape(dims)))
        rows = np.concatenate(rows) if rows else np.zeros(0, dtype="int64")
        columns = np.tile(np.arange(self.cells), len(GROUPINGS))
        self.summing = sparse.csc_matrix((np.ones(len(rows)), (rows, columns)), shape=(start, self.cells))

    def shape(self, dims) -> tuple:
        return tuple(len(self.labels[d]) for d in dims)

    @property
    def cells(self) -> int:
        return len(self.codes["device"])

    def day(self, date) -> int:
        """Index of a date's day (not clipped: callers clip to the cube's days)."""
        return (pd.Timestamp(date).normalize() - self.first_day).days

    def date(self, day: int) -> pd.Timestamp:
        return self.first_day + pd.Timedelta(days=int(day))

    def active_days(self, keep: np.ndarray, first: int, last: int) -> tuple[int, int] | None:
        """The first and last day in first..last with a session in the kept cells."""
        first, last = max(first, 0), min(last, self.days - 1)
        return self.store.active_days(keep, first, last) if first <= last else None

    @functools.cached_property
    def site_daily(self) -> pd.DataFrame:
        """The whole site's sessions and conversions per day (days with none included)."""
        values = self.store.daily(0, self.days - 1) if self.days else np.zeros((0, 2))
        return pd.DataFrame({"date": pd.date_range(self.first_day, periods=len(values), freq="D"),
                             "sessions": values[:, 0].round().astype("int64"),
                             "conversions": values[:, 1].round().astype("int64")})

    def counts(self, keep: np.ndarray, *ranges: tuple[int, int]) -> list[Counts]:
        """For each (first, last) day range: every grouping's measures over the kept cells."""
        cells, summing = self._kept(keep)
        return [Counts(self, summing @ totals, cells, totals[:, 0])
                for totals in (self._cell_totals(cells, r) for r in ranges)]

    def sums(self, keep: np.ndarray, ranges) -> list[np.ndarray]:
        """For each (first, last) day range: every grouping's measures over the kept cells, as
        arrays (group, measure). A filter sums only its kept cells (a device of three: a third
        of the work)."""
        cells, summing = self._kept(keep)
        return [summing @ self._cell_totals(cells, r) for r in ranges]

    def _kept(self, keep: np.ndarray) -> tuple[np.ndarray | None, sparse.csc_matrix]:
        """The kept cells (None: all), and the sums of groups over them. The last mask's are kept: a
        filter change asks for them four times (0.5 ms each at 10 million sessions)."""
        last = self._last_kept
        if last is not None and np.array_equal(last[0], keep):
            return last[1]
        cells = None if keep.all() else np.flatnonzero(keep)
        kept = cells, self.summing if cells is None else self.summing[:, cells]
        self._last_kept = (keep.copy(), kept)  # (a copy: a mask changed in place is another mask)
        return kept

    def _cell_totals(self, cells: np.ndarray | None, day_range: tuple[int, int]) -> np.ndarray:
        """Each of these cells' measures over a day range (clipped to the cube's days)."""
        first, last = max(day_range[0], 0), min(day_range[1], self.days - 1)
        if first <= last:
            return self.store.totals(first, last, cells)
        return np.zeros((self.cells if cells is None else len(cells), len(MEASURES)))

    def unit_sums(self, keep: np.ndarray, ranges) -> np.ndarray:
        """Every grouping's sessions and conversions over the kept cells for each of consecutive
        day ranges (units), stacked on a last axis: array (group, measure, unit). Other measures
        are not to be read (zero where prefix sums are kept)."""
        if not ranges:
            return np.zeros((self.summing.shape[0], len(MEASURES), 0))
        if isinstance(self.store, DayRows):  # no prefix to difference: each range's totals, summed
            return np.stack(self.sums(keep, ranges), axis=-1)
        ranges = [(max(first, 0), min(last, self.days - 1)) for first, last in ranges]
        return self.store.grouped(*self._kept(keep), ranges)


def _first(lo: int, hi: int, reached) -> int:
    """The smallest day in lo..hi where a monotone condition holds (it holds at hi)."""
    if reached(lo):
        return lo
    if not reached(hi - 1):
        return hi
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reached(mid) else (mid + 1, hi)
    return lo


class Counts(Mapping):
    """Measures per group of every grouping (and margin) of one selection, as frames built when read.

    Keys: the names in GROUPINGS and MARGINS, and "device × reached" (sessions and revenue
    per device of those that reached each funnel stage, cumulative). ``sums`` may have a
    trailing axis of units (day ranges, stacked): arrays then keep it, and frames are not built.
    """

    def __init__(self, cube: Cube, sums: np.ndarray, cells: np.ndarray | None = None,
                 cell_sessions: np.ndarray | None = None):
        self.cube, self.sums, self.frames = cube, sums, {}
        self.names = [*GROUPINGS, *MARGINS, "device × reached"]
        #: The kept cells (None: all) and their sessions, where one day range's (see :meth:`joint`).
        self.cells, self.cell_sessions = cells, cell_sessions

    def __iter__(self):
        return iter(self.names)

    def __len__(self):
        return len(self.names)

    def __contains__(self, name) -> bool:
        return name in self.names

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self.frames:
            self.frames[name] = self._frame(name)
        return self.frames[name]

    def dense(self, name: str) -> np.ndarray:
        """A grouping's measures as an array: one axis per dimension, then one per measure."""
        if name in GROUPINGS:
            dims, start = GROUPINGS[name], self.cube.offsets[name]
            shape = self.cube.shape(dims)
            return self.sums[start:start + int(np.prod(shape))].reshape(*shape, *self.sums.shape[1:])
        grouping, dim = MARGINS[name]
        return self.dense(grouping).sum(axis=tuple(i for i, d in enumerate(GROUPINGS[grouping]) if d != dim))

    def groups(self, name: str) -> tuple[dict, np.ndarray]:
        """A grouping's groups with sessions, as arrays: each dimension's codes, and the measures
        (one row per group). What the leak engine reads, with no frame built."""
        dense = self.dense(name)
        dims = GROUPINGS.get(name, (name,))
        flat = dense.reshape(-1, *dense.shape[len(dims):])
        present = np.flatnonzero(flat[:, 0].reshape(len(flat), -1).sum(axis=1) > 0)
        return dict(zip(dims, np.unravel_index(present, dense.shape[:len(dims)]))), flat[present]

    def labels(self, dim: str) -> tuple:
        """A dimension's labels, in code order."""
        return tuple(self.cube.labels[dim])

    def joint(self, first: str, second: str) -> np.ndarray:
        """Sessions of each pair of labels of two dimensions (an array: the first's labels × the
        second's), summed from the cells: for pairs no grouping holds (sources by channel)."""
        shape = self.cube.shape((first, second))
        codes = [self.cube.codes[dim] if self.cells is None else self.cube.codes[dim][self.cells]
                 for dim in (first, second)]
        pairs = np.bincount(codes[0] * shape[1] + codes[1], weights=self.cell_sessions,
                            minlength=shape[0] * shape[1])
        return pairs.reshape(shape)

    def _frame(self, name: str) -> pd.DataFrame:
        if name == "device × reached":
            stages = self.dense("device × stage")
            reached = np.cumsum(stages[:, ::-1], axis=1)[:, ::-1]
            present = np.flatnonzero(stages[:, :, 0].sum(axis=1) > 0)
            kept = reached[present]  # every stage of the devices with sessions, reached or not
            device, stage = np.unravel_index(np.arange(kept.shape[0] * kept.shape[1]), kept.shape[:2])
            return self._table({"device": present[device], "stage": stage}, kept.reshape(-1, len(MEASURES)))
        return self._table(*self.groups(name))

    def _table(self, codes: dict, values: np.ndarray) -> pd.DataFrame:
        """Groups as a frame of labels and measures."""
        table = {dim: pd.Categorical.from_codes(c, dtype=self.cube.dtypes[dim]) for dim, c in codes.items()}
        for j, measure in enumerate(MEASURES):
            table[measure] = values[:, j] if measure in AMOUNTS else values[:, j].round().astype("int64")
        return pd.DataFrame(table)


def _encoded(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """(codes, labels) of a text column, labels sorted so codes are reproducible."""
    if not pa.types.is_dictionary(column.type):  # (a scan's grouped labels are: see parse._labelled)
        column = pc.dictionary_encode(column.cast(pa.string()))
    encoded = column.combine_chunks()
    labels = np.array(encoded.dictionary.to_pylist(), dtype=object)
    order = np.argsort(labels, kind="stable")
    rank = np.empty(len(order), dtype="int64")
    rank[order] = np.arange(len(order))
    return rank[encoded.indices.to_numpy(zero_copy_only=False)], [str(v) for v in labels[order]]


def build_cube(table: ibis.Table, settings: CellSettings = CellSettings(),
               sessions: int | None = None, cache_key: str = "", grouped: pa.Table | None = None) -> Cube:
    """Run the cube query on the table's own engine and index its result by day and cell.

    ``sessions``: how many the table has, where known (else counted: the sample of visitors
    for the design effect depends on it). ``cache_key``: a scanned file's (see
    :func:`leak_app.data.scan.scan_key`): the query's result, and the cube whole where it is held as
    prefix sums, are kept on disk under it for the next start on the same file, which reads them back;
    they are written in the background (``Cube.keeping``), and a build of the same file in this
    process meanwhile waits for them. ``grouped``: the query's result as the scan grouped it
    (:class:`ScanGrouping`), where it did.
    """
    kept = kept_path(cache_key, settings) if cache_key else None
    if kept is not None:
        _written(kept)
        if (cube := _kept_cube(kept)) is not None:
            return cube
    if grouped is not None:
        result, queried = grouped, True
    else:
        if sessions is None and "visitor_id" in table.columns:
            sessions = int(table.count().to_pyarrow().as_py())
        result, queried = _query_result(table, settings, sessions or 0, kept)
    labels, codes = {}, []
    for name in TEXT:
        code, labels[name] = _encoded(result[name])
        codes.append(code)
    labels["bucket"] = duration_labels(settings.duration_edges)
    labels["stage"] = list(FUNNELS[settings.funnel])
    codes += [result[name].to_numpy().astype("int64") for name in ("bucket", "stage")]
    shape = tuple(len(labels[d]) for d in CELL_DIMENSIONS)
    dates = result["day"].to_numpy().astype("datetime64[D]")
    measures = [np.asarray(result[m].to_numpy(), dtype="float64") for m in MEASURES]  # (a column each)
    effect = 1.0
    if "visitor" in result.column_names:
        effect = _design_effect(result["visitor"], codes[:len(TEXT)], shape, *measures[:2])
    # A sampled visitor's sessions are rows of their own, and so are a scan's rows of repeated
    # sessions, taken back and merged (ScanGrouping): one row per day and cell again, none without a
    # session.
    first = dates.min() if len(dates) else np.datetime64("1970-01-01")
    offset = (dates - first).astype("int64")
    flat, width = _combined(codes, shape, KEY_LIMIT // (int(offset.max(initial=0)) + 1))
    key, row = np.unique(offset * width + flat, return_inverse=True)
    values = np.column_stack([np.bincount(row, weights=measure) for measure in measures])
    written = np.empty(len(key), dtype="int64")  # a row of the result with each key (any: they agree)
    written[row] = np.arange(len(row))
    held = values[:, 0] != 0
    if not held.all():  # (copies of every row: 0.1 s at 10 million sessions)
        key, values, written = key[held], values[held], written[held]
    day, flat = np.divmod(key, width)
    first = first + (int(day.min()) if len(day) else 0)
    day = day - (day.min() if len(day) else 0)
    days = int(day.max()) + 1 if len(day) else 0
    cell, cell_keys = pd.factorize(flat, sort=True)
    at = np.empty(len(cell_keys), dtype="int64")
    at[cell] = written
    cell_codes = {dim: code[at] for dim, code in zip(CELL_DIMENSIONS, codes)}
    for name in TEXT:  # a label whose sessions all merged into others' has none left
        used = np.unique(cell_codes[name])
        if len(used) < len(labels[name]):
            labels[name] = [labels[name][i] for i in used]
            cell_codes[name] = np.searchsorted(used, cell_codes[name])
    limit = int(os.environ.get("LEAK_APP_CUBE_PREFIX_BYTES", str(PREFIX_LIMIT_BYTES)))
    wide = (days + 1) * len(cell_keys) * (len(MEASURES) + 2) * 8 > limit
    store = (DayRows if wide else DayPrefix.of_rows)(day, cell, values, days, len(cell_keys))
    cube = Cube(pd.Timestamp(first), days, labels, cell_codes, store, effect)
    if kept is not None:
        cube.keeping = _keep(kept, result if queried else None, None if wide else cube)
    return cube


#: Cubes kept whole, across every kept scan (each file and settings has its own prefix sums' file,
#: hundreds of MB at 10 million sessions, and each upload is a new file): the oldest are removed.
KEPT_PREFIXES = 3


#: Writes what is kept for the next start once this one is ready (600 MB of prefix sums at 10 million
#: sessions took 1.5 s of the start): one file at a time, finished before the process exits
#: (``concurrent.futures`` joins its workers then). Path -> its writing, while it runs.
_KEEPER = background_executor("keep-cube")
_writing: dict[Path, Future] = {}
_writing_lock = threading.Lock()


def _keep(kept: Path, result: pa.Table | None, cube: Cube | None) -> Future:
    """Keep, in the background, the query's ``result`` (None: read from the kept file) and the cube
    whole (None: too wide for prefix sums, rebuilt from its result)."""
    def write():
        try:
            if result is not None:
                _keep_result(kept, result)
            if cube is not None:
                _keep_cube(kept, cube)
        finally:
            with _writing_lock:
                _writing.pop(kept, None)

    with _writing_lock:
        _writing[kept] = future = _KEEPER.submit(write)
    return future


def _written(kept: Path) -> None:
    """Wait for this process' writing of what is kept at ``kept``, if it is under way: reading it
    then costs less than building it again."""
    with _writing_lock:
        future = _writing.get(kept)
    if future is not None:
        future.result()


def _keep_result(kept: Path, result: pa.Table) -> None:
    try:
        with replaced(kept.with_suffix(".parquet")) as temporary:
            pq.write_table(result, temporary)
    except OSError:
        pass  # a folder that cannot be written only costs the query again


def _keep_cube(kept: Path, cube: Cube) -> None:
    """Keep a cube whole for the next start on its file: its prefix sums (which that start maps
    instead of summing them), its cells' codes, and its labels and days, written last (they mark it
    kept); remove the files of older cubes beyond KEPT_PREFIXES (a process that maps one keeps it)."""
    try:
        codes = np.array([cube.codes[d] for d in CELL_DIMENSIONS], dtype="int64")
        for suffix, array in ((".npy", cube.store.prefix), (".cells.npy", codes)):
            with replaced(kept.with_suffix(suffix)) as temporary, open(temporary, "wb") as file:
                np.save(file, array)
        with replaced(kept.with_suffix(".json")) as temporary:
            temporary.write_text(json.dumps({"first_day": cube.first_day.isoformat(), "days": cube.days,
                                             "labels": cube.labels, "design_effect": cube.design_effect}))
        cubes = kept.parent.parent.glob("*/cube-*.json")
        for old in sorted(cubes, key=lambda p: p.stat().st_mtime, reverse=True)[KEPT_PREFIXES:]:
            for suffix in (".json", ".npy", ".cells.npy"):
                old.with_suffix(suffix).unlink(missing_ok=True)
    except OSError:
        pass  # a folder that cannot be written only costs the build again


def _kept_cube(kept: Path) -> Cube | None:
    """A cube kept by an earlier start, its prefix sums mapped from their file (the pages are read
    when used, and shared by every process on the file); None where none is kept whole."""
    try:
        held = json.loads(kept.with_suffix(".json").read_text())
        days, codes = held["days"], np.load(kept.with_suffix(".cells.npy"))
        # a plain array over the mapping: numpy's memmap type costs a Python call per index, which a
        # filter change makes hundreds of (1.5 ms of one at 10 million sessions)
        prefix = np.asarray(np.load(kept.with_suffix(".npy"), mmap_mode="r"))
        if prefix.shape != (len(MEASURES), days + 1, codes.shape[1]) or len(codes) != len(CELL_DIMENSIONS):
            return None
        return Cube(pd.Timestamp(held["first_day"]), days, held["labels"],
                    dict(zip(CELL_DIMENSIONS, codes)), DayPrefix(prefix), held["design_effect"])
    except (OSError, ValueError, KeyError, TypeError):  # not kept whole
        return None


def kept_path(cache_key: str, settings: CellSettings) -> Path:
    """Where a scanned file's cube for these settings is kept (its files add their suffixes)."""
    return kept_scan(cache_key) / f"cube-{hashlib.sha256(repr(settings).encode()).hexdigest()[:16]}"


def _query_result(table: ibis.Table, settings: CellSettings, sessions: int, kept: Path | None
                  ) -> tuple[pa.Table, bool]:
    """The cube query's result, from the cache folder where it was kept for this file and settings,
    and whether the query ran (its result is not kept yet)."""
    if kept is not None:
        try:
            return pq.read_table(kept.with_suffix(".parquet")), False
        except OSError:  # not kept yet (or removed meanwhile)
            pass
    return cube_expression(table, settings, visitor_key(table, sessions)).to_pyarrow(), True


#: The largest key of a combination of codes (:func:`_combined`), with room to spare in int64.
KEY_LIMIT = 2**62


def _combined(codes: list[np.ndarray], sizes: tuple, limit: int = KEY_LIMIT) -> tuple[np.ndarray, int]:
    """One key per row for its combination of ``codes`` (of dimensions of these ``sizes``), in the
    order of the combinations, and how many keys there may be (at most ``limit``).

    The keys number the product of the dimensions where it stays under ``limit``; beyond, the
    combinations found so far are ranked first. Tens of thousands of labels in two dimensions (every
    referral site as a source, a city column mapped as the country) make a product past int64, and
    arrays over it of terabytes.
    """
    key, width = np.zeros(len(codes[0]) if codes else 0, dtype="int64"), 1
    for code, size in zip(codes, sizes):
        if width * size > limit:
            key, found = pd.factorize(key, sort=True)
            width = len(found)
        key, width = key * size + code, width * size
    return key, width


def _design_effect(visitor: pa.ChunkedArray, text_codes: list, shape: tuple, sessions: np.ndarray,
                   conversions: np.ndarray) -> float:
    """The design effect from the cube query's rows (their sessions and conversions): each text cell's
    rate over every row, the sampled visitors' rows summed by visitor."""
    text, _ = pd.factorize(_combined(text_codes, shape[:len(TEXT)])[0])
    # A cell can be left with no session: a scan's rows of a split session, taken back from the
    # cell of a later part's labels (ScanGrouping), cancel its rows there. Any rate then gives those
    # rows sums that cancel; 0/0's NaN made every sum NaN, and the effect 1 on any such file.
    counted = np.bincount(text, weights=sessions)
    rate = np.divide(np.bincount(text, weights=conversions), counted, out=np.zeros_like(counted),
                     where=counted != 0)
    sampled = visitor.is_valid().to_numpy(zero_copy_only=False)
    _, codes = np.unique(visitor.filter(visitor.is_valid()).to_numpy(), return_inverse=True)
    return design_effect(codes, sessions[sampled], conversions[sampled], rate[text[sampled]])
