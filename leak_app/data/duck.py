"""DuckDB connections as the app uses them: without a progress bar, and over data in memory."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import ibis
import ibis.expr.datatypes as dt


@ibis.udf.scalar.builtin(name="hash")
def text_hash(text: str) -> dt.uint64:
    """DuckDB's hash of a text: a number to group rows by in its place, quicker than the text. (Ibis'
    own ``hash`` casts it to a signed integer through a bit string: 0.3 s of a pass over 10 million
    visitor ids.)"""


@ibis.udf.scalar.builtin(name="hash")
def pair_hash(first: str, second: str) -> dt.uint64:
    """DuckDB's hash of two texts together (a session's visitor and session ids; Ibis' own ``hash``
    takes one value)."""


@ibis.udf.scalar.builtin(name="strlen")
def byte_length(text: str) -> dt.int64:
    """DuckDB's length of a text in bytes (kept beside it: ``length`` counts its characters)."""


@ibis.udf.scalar.builtin(name="epoch")
def seconds_of(interval) -> dt.float64:
    """DuckDB's seconds of an interval (Ibis' ``seconds`` is its seconds' part only)."""


@ibis.udf.scalar.builtin(name="try_strptime")
def read_by_format(text: str, formats: dt.Array(dt.string)) -> dt.timestamp:
    """DuckDB's reading of a text by the first of ``formats`` it fits (null where none does)."""


def without_progress_bar(execute) -> None:
    """Turn DuckDB's progress bar off with a connection's ``execute``: DuckDB draws it on standard
    output for queries over two seconds, even when that is not a terminal — into ``summary --json``
    and ``check --json``, which scripts parse. In Jupyter without ipywidgets DuckDB refuses any
    progress-bar setting (and draws none there)."""
    try:
        execute("SET enable_progress_bar = false")
    except duckdb.InvalidInputException:
        pass


@contextmanager
def registered(data, name: str) -> Iterator[ibis.Table]:
    """A DataFrame or Arrow table as an Ibis table while the block runs: a view of it (no copy) in
    a DuckDB database of its own, closed after. (An ``ibis.memtable`` stays registered until the
    process exits, ibis-project/ibis#11464: a server would keep every table it was ever given.)
    After an error, the database closes when its last table goes: the error's frames may hold
    tables Ibis cached there, which drop themselves when they go (from a closed one: an error)."""
    raw = duckdb.connect()
    without_progress_bar(raw.execute)
    try:
        raw.register(name, data)
        yield ibis.duckdb.from_connection(raw).table(name)
    except BaseException:
        raw.unregister(name)
        raise
    raw.close()
