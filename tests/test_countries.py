"""Country names to map shapes: what a column of other things than countries costs stays bounded."""
from __future__ import annotations

import pandas as pd
import pytest
from helpers import counts_of, sessions

from leak_app.analysis import metrics
from leak_app.data import countries


@pytest.fixture
def lookups(monkeypatch, tmp_path) -> list[str]:
    """The names country_converter is asked about, with an empty cache of names of this test's own."""
    asked, real, known = [], countries._iso3, countries.KnownCodes(tmp_path / "codes.json")
    known.shape_codes()  # (some shapes' codes are found by their names)
    monkeypatch.setattr(countries, "known_codes", lambda: known)
    monkeypatch.setattr(countries, "_iso3", lambda name: asked.append(name) or real(name))
    return asked


def test_a_column_of_thousands_of_names_looks_up_those_of_the_most_sessions_only(lookups):
    """30,000 city names in the country column: a thousand are looked up (all 30,000 took 6 s, and
    as long again for the map's table); the others are counted as names without a shape."""
    names = pd.Series({"Germany": 50_000, **{f"Town {i}": 30_000 - i for i in range(30_000)}, "France": 1})
    unmatched = countries.unmatched_country_counts(names)
    assert len(lookups) == countries.LOOKED_UP and lookups[0] == "Germany"
    assert "Germany" not in unmatched and len(unmatched) == 30_001  # France: too few sessions to be asked
    assert list(unmatched)[:2] == ["Town 0", "Town 1"] and sum(unmatched.values()) == names.sum() - 50_000


def test_the_map_table_looks_up_the_countries_of_the_most_sessions_only(lookups):
    rows = [("desktop", "Spain", "google", 1, 0, 0)] * 3 + [
        ("desktop", f"Town {i}", "google", 1, 0, 0) for i in range(countries.LOOKED_UP + 500)]
    table = metrics.by_country(counts_of(sessions(rows)), min_sessions=1)
    assert len(lookups) == countries.LOOKED_UP
    assert table["iso3"].iloc[0] == "ESP" and table["iso3"].iloc[1:].isna().all()


def test_names_held_in_memory_are_bounded_the_least_recently_asked_dropped(lookups, monkeypatch):
    monkeypatch.setattr(countries, "HELD_NAMES", 100)
    for name in ["France", *(f"Town {i}" for i in range(150))]:
        countries.iso3(name)
        countries.iso3("France")  # asked again each time: never the least recent
    known = countries.known_codes()
    held = {name for name in ["France", *(f"Town {i}" for i in range(150))]
            if countries.digest(name) in known.names}
    assert len(known.names) == 100 and "France" in held and "Town 149" in held
    assert "Town 0" not in held and len(lookups) == 151


def test_names_are_kept_between_runs_by_their_digest_not_as_written(lookups, tmp_path):
    """The names of a country column come from the data, an upload's too (a column mapped as the
    country may hold a customer's name): the cache file held them as written, for good."""
    names = pd.Series({"Germany": 10, "Jane Doe's shop": 5})
    assert list(countries.unmatched_country_counts(names)) == ["Jane Doe's shop"]
    kept = (tmp_path / "codes.json").read_text(encoding="utf-8")
    assert "Jane Doe" not in kept and "Germany" not in kept and "DEU" in kept
    again = countries.KnownCodes(tmp_path / "codes.json")  # the next run: no name asked again
    assert [again.iso3(name) for name in names.index] == ["DEU", None] and lookups == list(names.index)
