"""Helpers shared by the tests: paths, the real-data sample, hand-made session tables."""
from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leak_app.analysis.cube import CellSettings, build_cube
from leak_app.data.schema import to_canonical
from leak_app.data.sources import session_table

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
GA_HEADER = ("fullVisitorId,visitId,visitNumber,date,deviceCategory,country,source,"
             "pageviews,timeOnSite,transactions,transactionRevenue")


def shared_file(relative: str) -> Path:
    """A file of ../shared/data; skipped where absent (a user's clone), a failure under CI."""
    path = SHARED_DATA / relative
    if not path.is_file():
        unavailable(f"{path} is absent: the shared real-data sample sits beside the project only in CI")
    return path


def unavailable(reason: str) -> None:
    """Skip a test whose requirement is missing here; under CI, where it must be present, fail."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def sessions(rows: list[tuple]) -> pd.DataFrame:
    """A canonical table from (device, country, source, pageviews, duration, transactions[, date]) rows."""
    records = []
    for i, row in enumerate(rows):
        device, country, source, pageviews, duration, transactions, *rest = row
        records.append({
            "visitor_id": f"v{i}", "session_id": f"s{i}",
            "date": pd.Timestamp(rest[0] if rest else "2026-01-01"),
            "device": device, "country": country, "source": source, "medium": "(not set)",
            "pageviews": pageviews, "duration": duration, "transactions": transactions,
            "revenue": 10.0 * transactions,
        })
    return to_canonical(pd.DataFrame(records))


def plot_canvases(page) -> list:
    """One canvas per drawn plot (Bokeh stacks two per plot; legend swatches are 20 px)."""
    seen, plots = set(), []
    for canvas in page.locator("canvas").all():
        box = canvas.bounding_box() if canvas.is_visible() else None
        if box and box["width"] > 100 and box["height"] > 100:
            key = (round(box["x"]), round(box["y"]), round(box["width"]), round(box["height"]))
            if key not in seen:
                seen.add(key)
                plots.append(canvas)
    return plots


def counts_of(frame: pd.DataFrame, **settings):
    """Every grouping's counts over all of a session table, through the cube as the model gets them."""
    with session_table(frame) as table:
        cube = build_cube(table, CellSettings(**settings))
    [counts] = cube.counts(np.ones(cube.cells, dtype=bool), (0, cube.days - 1))
    return counts


def settled(action: Callable[[], Awaitable | None]):
    """Run ``action`` on an event loop of its own and wait for every task it starts (Panel runs an
    async watcher as a task), in a thread of its own: Playwright's sync API keeps a loop running on
    the main thread, where Panel would schedule those tasks on a loop that never gets to them.
    ``action`` may be a coroutine function: what it returns is returned."""
    async def everything():
        result = action()
        if asyncio.iscoroutine(result):
            result = await result
        while True:
            await asyncio.sleep(0)  # Panel starts a watcher's task from a callback on the loop
            tasks = asyncio.all_tasks() - {asyncio.current_task()}
            if not tasks:
                return result
            await asyncio.gather(*tasks)

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, everything()).result(timeout=60)


@dataclass
class Held:
    """A function made to wait (see :func:`held`)."""

    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


def held(monkeypatch, owner, name: str, blocked: str) -> Held:
    """Make ``owner.name``, once called, wait until ``release`` is set (``started`` says it was
    called), then do its work; after 10 s it fails with ``blocked``: whatever should have released
    it could not run meanwhile."""
    hold, real = Held(), getattr(owner, name)

    def waiting(*args, **kwargs):
        hold.started.set()
        assert hold.release.wait(10), blocked
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, waiting)
    return hold


def drawing_threads(monkeypatch) -> list[str]:
    """The names of the threads plots are drawn on from now on (each plot's figure is made by
    ``figures.new_figure``, with Bokeh's ``figure``; the test's end undoes it)."""
    from leak_app.ui import figures

    threads, figure = [], figures.figure

    def noted(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return figure(*args, **kwargs)

    monkeypatch.setattr(figures, "figure", noted)
    return threads
