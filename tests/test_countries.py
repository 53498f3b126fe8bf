"""Country names to map shapes: names in other languages found, and what a column of other things than
countries costs stays bounded."""
from __future__ import annotations

import json

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


#: Countries as GA's interface names them in other languages, and their shapes' codes: the first two
#: matched no shape, the last two were matched to another country's (Dominica, South Korea).
LOCALIZED = {"Deutschland": "DEU", "Royaume-Uni": "GBR", "Vereinigte Staaten": "USA", "日本": "JPN",
             "Guinea Ecuatorial": "GNQ", "République dominicaine": "DOM", "Észak-Korea": "PRK"}


def test_countries_named_in_other_languages_are_their_own_shapes(lookups):
    """A report exported from GA's interface names countries in its reader's language: "Deutschland"
    and "Royaume-Uni" had no shape on the map, and country_converter's English patterns read
    "République dominicaine" as Dominica and "Észak-Korea" (Hungarian) as South Korea. Natural
    Earth's own names of each shape in 26 languages are asked first; English names are matched as
    before, and a name two shapes share (Saint-Martin, French or Dutch) is left to country_converter."""
    names = list(LOCALIZED)
    rows = [("desktop", name, "google", 1, 0, 0) for name in names]
    table = metrics.by_country(counts_of(sessions(rows)), min_sessions=1)
    assert dict(zip(table["country"], table["iso3"])) == LOCALIZED
    assert countries.unmatched_country_counts(pd.Series(dict.fromkeys(names, 5))) == {}
    english = {"Germany": "DEU", "United Kingdom": "GBR", "United States": "USA", "South Korea": "KOR",
               "Dominica": "DMA", "Myanmar (Burma)": "MMR", "Côte d’Ivoire": "CIV", "Saint-Martin": "MAF"}
    assert {name: countries.iso3(name) for name in english} == english


def test_names_matched_before_other_languages_were_asked_are_not_read_again(monkeypatch, tmp_path):
    """The names a run looked up are kept in the cache folder: a file kept by the version that did
    not ask other languages held "Deutschland" as matching no shape, and would have kept saying so."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    countries.known_codes.cache_clear()
    monkeypatch.setattr(countries.KnownCodes, "keep", lambda self: None)  # (no file of this test's names)
    kept = countries.known_codes().path
    old = kept.with_name(kept.name.replace(f"country-codes-{countries.MATCHING}-", "country-codes-"))
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({"digests": {countries.digest("Deutschland"): None}}), encoding="utf-8")
    try:
        assert countries.iso3("Deutschland") == "DEU"
    finally:
        countries.known_codes.cache_clear()


def test_names_of_one_shape_are_one_country_on_the_map_and_in_its_tests(lookups):
    """GA renamed "Macedonia (FYROM)" "North Macedonia" in 2019, and files joined from two languages
    name one country twice: the map showed the name of more sessions only (300 of Germany's 500
    sessions), and each name was tested against a rest that held the other. Names of one shape are
    now one row, named by both."""
    from leak_app.analysis.stats import differs_from_rest_p
    from leak_app.ui.cards.country_map import choropleth_values

    counts = {"Germany": (300, 30), "Deutschland": (200, 10), "France": (500, 5), "Atlantis": (20, 0)}
    rows = [("desktop", name, "google", 3, 60, int(i < converted))
            for name, (n, converted) in counts.items() for i in range(n)]
    table = metrics.by_country(counts_of(sessions(rows)), min_sessions=1)
    assert table[["country", "iso3", "sessions", "conversions"]].values.tolist() == [
        ["France", "FRA", 500, 5], ["Germany / Deutschland", "DEU", 500, 40], ["Atlantis", None, 20, 0]]
    # tested against the 520 other sessions: the least p of three, adjusted by Benjamini-Hochberg
    assert table["q_value"].iloc[1] == pytest.approx(3 * differs_from_rest_p(40, 500, 45, 1020))
    shapes = pd.DataFrame({"iso3": ["DEU", "FRA", "ITA"], "name": ["Germany", "France", "Italy"],
                           "geometry": [None] * 3})
    drawn = choropleth_values(table, shapes)
    assert drawn["sessions"].tolist() == [500, 500, 0] and drawn["country"].iloc[0] == "Germany / Deutschland"
