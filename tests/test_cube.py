"""The cube itself: cells, day ranges and the days that have sessions, by hand."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import sessions

from leak_app.analysis.cube import CellSettings, build_cube
from leak_app.data.sources import session_table

ROWS = [("desktop", "France", "google", 2, 0, 0, "2026-01-03"),
        ("mobile", "France", "google", 6, 70, 1, "2026-01-06"),
        ("desktop", "Spain", "bing", 12, 700, 0, "2026-01-10"),
        ("desktop", "France", "google", 2, 5, 0, "2026-01-10")]


@pytest.fixture(scope="module", params=["prefix sums", "rows by day"])
def cube(request):
    """The same cube held both ways: as prefix sums, and as rows when prefix sums would be too wide."""
    with pytest.MonkeyPatch.context() as patch, session_table(sessions(ROWS)) as table:
        if request.param == "rows by day":
            patch.setenv("LEAK_APP_CUBE_PREFIX_BYTES", "0")
        built = build_cube(table, CellSettings(duration_edges=(10, 60)))
    assert type(built.store).__name__ == ("DayRows" if request.param == "rows by day" else "DayPrefix")
    return built


def test_cells_and_days(cube):
    assert cube.days == 8 and str(cube.first_day.date()) == "2026-01-03"
    assert cube.cells == 3  # the two desktop × France × google sessions share a cell (<10 s, Browsed)
    assert cube.labels["device"] == ["desktop", "mobile"] and cube.labels["stage"][-1] == "Converted"


def test_a_day_range_counts_its_own_days(cube):
    everything = np.ones(cube.cells, dtype=bool)
    [whole, middle, none] = cube.counts(everything, (0, 7), (1, 6), (4, 5))
    assert whole["device"]["sessions"].tolist() == [3, 1]
    assert middle["device"]["device"].astype(str).tolist() == ["mobile"]
    assert middle["device"][["sessions", "conversions", "revenue"]].values.tolist() == [[1, 1, 10.0]]
    assert none["device"].empty


@pytest.mark.parametrize("first, last, expected", [
    (0, 7, (0, 7)), (1, 7, (3, 7)), (1, 6, (3, 3)), (4, 6, None), (-5, 50, (0, 7)), (6, 2, None)])
def test_active_days_are_the_first_and_last_with_sessions(cube, first, last, expected):
    assert cube.active_days(np.ones(cube.cells, dtype=bool), first, last) == expected


def test_active_days_follow_the_kept_cells(cube):
    countries = np.array(cube.labels["country"])[cube.codes["country"]]
    spain = np.array([country == "Spain" for country in countries])
    assert cube.active_days(spain, 0, 7) == (7, 7)
    assert cube.active_days(~spain, 0, 7) == (0, 7)
