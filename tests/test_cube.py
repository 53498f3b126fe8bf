"""The cube itself: cells, day ranges and the days that have sessions, by hand."""
from __future__ import annotations

import errno
import os
import threading

import numpy as np
import pandas as pd
import pytest
from helpers import sessions
from naive import naive_design_effect

from leak_app.analysis import cube as cube_module
from leak_app.analysis.cube import KEPT_PREFIXES, CellSettings, _combined, build_cube, kept_path
from leak_app.data.files import kept_scan
from leak_app.data.sources import session_table

ROWS = [("desktop", "France", "google", 2, 0, 0, "2026-01-03"),
        ("mobile", "France", "google", 6, 70, 1, "2026-01-06"),
        ("desktop", "Spain", "bing", 12, 700, 0, "2026-01-10"),
        ("desktop", "France", "google", 2, 5, 0, "2026-01-10")]


SETTINGS = CellSettings(duration_edges=(10, 60))


@pytest.fixture(scope="module", params=["prefix sums", "rows by day", "prefix sums kept"])
def cube(request):
    """The same cube held three ways: as prefix sums, as rows when prefix sums would be too wide, and
    as prefix sums read back from the files a scanned file's first start kept."""
    with pytest.MonkeyPatch.context() as patch, session_table(sessions(ROWS)) as table:
        if request.param == "rows by day":
            patch.setenv("LEAK_APP_CUBE_PREFIX_BYTES", "0")
        key = "cube-fixture" if request.param == "prefix sums kept" else ""
        built = build_cube(table, SETTINGS, cache_key=key)
        if key:
            built = build_cube(table, SETTINGS, cache_key=key)
            assert isinstance(built.store.prefix.base, np.memmap)
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

def test_a_mask_changed_in_place_counts_its_new_cells(cube):
    """The cube keeps the last mask's cells (a filter change asks for them four times): a caller that
    changes that mask in place gets the counts of its new cells, not of the cells it had."""
    keep = np.ones(cube.cells, dtype=bool)
    [before] = cube.counts(keep, (0, 7))
    keep[np.array(cube.labels["device"])[cube.codes["device"]] == "desktop"] = False
    [after] = cube.counts(keep, (0, 7))
    assert before["device"]["sessions"].tolist() == [3, 1]
    assert after["device"]["device"].astype(str).tolist() == ["mobile"]
    assert after["device"]["sessions"].tolist() == [1]



@pytest.mark.parametrize("first, last, expected", [
    (0, 7, (0, 7)), (1, 7, (3, 7)), (1, 6, (3, 3)), (4, 6, None), (-5, 50, (0, 7)), (6, 2, None)])
def test_active_days_are_the_first_and_last_with_sessions(cube, first, last, expected):
    assert cube.active_days(np.ones(cube.cells, dtype=bool), first, last) == expected


def test_active_days_follow_the_kept_cells(cube):
    countries = np.array(cube.labels["country"])[cube.codes["country"]]
    spain = np.array([country == "Spain" for country in countries])
    assert cube.active_days(spain, 0, 7) == (7, 7)
    assert cube.active_days(~spain, 0, 7) == (0, 7)


def _same(cube, other) -> None:
    assert (cube.first_day, cube.days, cube.labels, cube.design_effect) == (
        other.first_day, other.days, other.labels, other.design_effect)
    assert cube.codes.keys() == other.codes.keys()
    assert all(np.array_equal(cube.codes[d], other.codes[d]) for d in cube.codes)
    assert np.array_equal(cube.store.prefix, other.store.prefix)


def test_a_second_start_maps_the_kept_cube_from_its_file(monkeypatch):
    """A scanned file's cube is kept on disk whole: the next start reads neither the query's result
    nor sums anything; its prefix sums are mapped read-only from the file, shared by every process
    on it, and hold what the first start built."""
    with session_table(sessions(ROWS)) as table:
        built = build_cube(table, SETTINGS, cache_key="mapped")
        expected = np.array(built.store.prefix)

        def refuse(*args):
            raise AssertionError("the query's result was read again")

        with monkeypatch.context() as patch:
            patch.setattr(cube_module, "_query_result", refuse)
            kept = build_cube(table, SETTINGS, cache_key="mapped")
        _same(kept, built)
        prefix = kept.store.prefix
        assert isinstance(prefix.base, np.memmap) and not prefix.flags.writeable
        assert os.path.dirname(prefix.base.filename) == str(kept_scan("mapped"))
        folder = kept_scan("mapped")
        [json_file] = folder.glob("cube-*.json")
        with open(json_file.with_suffix(".npy"), "r+b") as file:  # a kept file cut short: built again
            file.truncate(200)
        del kept, prefix
        again = build_cube(table, SETTINGS, cache_key="mapped")
        assert np.array_equal(again.store.prefix, expected)
        json_file.unlink()  # no mark that the cube was kept whole: built again
        assert np.array_equal(build_cube(table, SETTINGS, cache_key="mapped").store.prefix, expected)


def test_a_start_does_not_wait_for_its_cube_to_be_kept(monkeypatch):
    """The kept cube is written in the background once the cube is built (600 MB at 10 million
    sessions took 1.5 s of the start); another build of the same file in this process waits for it
    and maps it, rather than building it again."""
    release, writing = threading.Event(), threading.Event()
    write = cube_module._keep_cube

    def held_back(*args):
        writing.set()
        assert release.wait(10), "the start waited for its cube to be written"
        write(*args)

    monkeypatch.setattr(cube_module, "_keep_cube", held_back)
    with session_table(sessions(ROWS)) as table:
        built = build_cube(table, SETTINGS, cache_key="background")
        assert writing.wait(10) and not built.keeping.done()
        assert not list(kept_scan("background").glob("cube-*.json"))
        second: list = []

        def build_again():
            second.append(build_cube(table, SETTINGS, cache_key="background"))

        waiting = threading.Thread(target=build_again)
        waiting.start()
        waiting.join(0.5)
        assert not second  # waits for the writing
        release.set()
        waiting.join(10)
    built.keeping.result()
    assert isinstance(second[0].store.prefix.base, np.memmap)
    _same(second[0], built)


def test_a_disk_without_room_for_the_kept_cube_costs_only_the_keeping(monkeypatch):
    """Without room for the kept cube's files, the cube is built as ever, in memory, and nothing half
    written is left (each file is written beside its place and renamed into it whole)."""
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", full)
    with session_table(sessions(ROWS)) as table:
        built = build_cube(table, SETTINGS, cache_key="full-disk")
        reference = build_cube(table, SETTINGS)
    built.keeping.result()
    assert not isinstance(built.store.prefix.base, np.memmap)
    _same(built, reference)
    only_the_query = kept_path("full-disk", SETTINGS).with_suffix(".parquet")
    assert list(kept_scan("full-disk").iterdir()) == [only_the_query]


def test_the_cache_keeps_the_prefix_sums_of_the_latest_cubes_only(monkeypatch, tmp_path):
    """Each file and settings' cube has its own prefix sums' file (hundreds of MB at 10 million
    sessions; an upload is a new file each time): the cache keeps the latest KEPT_PREFIXES of
    them, across scans, and removes the older ones whole (their query results stay)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = []
    with session_table(sessions(ROWS)) as table:
        for key, edges in [("a", 10), ("b", 10), ("a", 20), ("b", 30), ("a", 40)]:
            settings = CellSettings(duration_edges=(edges, 60))
            build_cube(table, settings, cache_key=key).keeping.result()
            built.append((key, kept_path(key, settings).name))
            os.utime(kept_scan(key) / f"{built[-1][1]}.json", (len(built), len(built)))  # in order

    def kept(pattern):
        files = tmp_path.glob(f"leak_app/scans/*/{pattern}")
        return sorted((p.parent.name, p.name.split(".")[0]) for p in files)

    assert kept("cube-*.json") == kept("cube-*.cells.npy") == sorted(built[-KEPT_PREFIXES:])
    assert len(kept("cube-*.npy")) == 2 * KEPT_PREFIXES  # the prefix sums and the cells' codes
    assert len(kept("cube-*.parquet")) == len(built)


def test_combined_keys_rank_combinations_as_their_codes_past_the_limit():
    """One key per combination of codes, ordered as the combinations (lexicographically), also where
    the product of the dimensions passes the limit and the combinations are ranked on the way."""
    rng = np.random.default_rng(5)
    sizes = (50, 60, 70, 80)
    codes = [rng.integers(0, size, 5_000) for size in sizes]
    ranks = pd.DataFrame(dict(enumerate(codes))).groupby(list(range(4)), sort=True).ngroup().to_numpy()
    for limit in (2**62, 10_000, 100):
        key, width = _combined(codes, sizes, limit)
        assert key.max() < width <= max(limit, len(key) * max(sizes))
        assert np.array_equal(pd.factorize(key, sort=True)[0], ranks)


def test_a_cube_of_tens_of_thousands_of_countries_and_sources_holds_their_sessions_only():
    """40,000 country names (a city column mapped as the country) and as many sources: the product of
    the labels (3.2 billion cells for two devices) is never made; the previous code asked for arrays
    over it (24 GB each) and failed with a MemoryError. Counts and design effect as pandas finds them."""
    n = 40_000
    rows = [("desktop" if i % 3 else "mobile", f"City {i}", f"site{(i * 7919) % n}.example.org",
             1 + i % 7, i % 400, int(i % 11 == 0), f"2026-01-{1 + i % 28:02d}") for i in range(n)]
    data = sessions(rows)
    data["visitor_id"] = [f"v{i // 2}" for i in range(n)]  # visitors of two sessions each
    with session_table(data) as table:
        cube = build_cube(table, SETTINGS)
    [counts] = cube.counts(np.ones(cube.cells, dtype=bool), (0, cube.days - 1))
    expected = data.groupby(data["country"].astype(str))["transactions"].agg(
        sessions="size", conversions=lambda t: (t > 0).sum())
    got = counts["country"].assign(country=lambda f: f["country"].astype(str)).set_index("country")
    pd.testing.assert_frame_equal(got[["sessions", "conversions"]].sort_index(), expected.sort_index(),
                                  check_dtype=False)
    assert counts["source"]["sessions"].sum() == n and len(counts["source"]) == n
    assert cube.cells == n  # every session's cell is its own (each country once)
    assert cube.design_effect == pytest.approx(naive_design_effect(data), rel=1e-9)
