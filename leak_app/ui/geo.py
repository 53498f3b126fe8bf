"""Country polygons for the choropleth, from Natural Earth shapes shipped in a package.

The 10 m shapes are far too detailed for a world map in a browser: they are
simplified and projected to Web Mercator once, cached on disk, and reused by
every view and session. Nothing is downloaded at run time.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import shapefile
import shapely
from pyproj import Transformer

from ..data.countries import natural_earth_path, shape_code, shape_records
from ..data.files import cache_dir, replaced

#: Simplification tolerance in degrees: ~10 km, invisible at world zoom.
TOLERANCE = 0.1
#: Web Mercator is undefined at the poles; Antarctica adds nothing to a sales map.
MAX_LATITUDE = 84.0
#: Islands smaller than this (m² in Web Mercator, ~1,000–3,000 km² on the ground) are
#: dropped unless they are a country's largest part: they are invisible at world zoom
#: and each costs a ring to project and draw on every update.
MIN_PART_AREA = 3e9
CACHE_VERSION = 2


def _build() -> pd.DataFrame:
    with shapefile.Reader(str(natural_earth_path()), encoding="utf-8") as reader:
        geoms = [shapely.geometry.shape(s.__geo_interface__) for s in reader.shapes()]
    records = shape_records()
    frame = pd.DataFrame({
        "iso3": [shape_code(r) for r in records],
        "name": [r["ADMIN"] for r in records],
        "geometry": shapely.simplify(np.array(geoms, dtype=object), TOLERANCE, preserve_topology=True),
    })
    frame = frame[frame["iso3"] != "ATA"]
    world = shapely.box(-180, -MAX_LATITUDE, 180, MAX_LATITUDE)
    to_mercator = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    clipped = shapely.intersection(frame["geometry"].to_numpy(), world)
    projected = shapely.transform(
        clipped, lambda xy: np.column_stack(to_mercator.transform(xy[:, 0], xy[:, 1])))
    return frame.assign(geometry=[_drop_specks(g) for g in projected]).reset_index(drop=True)


def _drop_specks(geometry):
    parts = list(getattr(geometry, "geoms", [geometry]))
    largest = max(part.area for part in parts)
    kept = [part for part in parts if part.area >= min(MIN_PART_AREA, largest)]
    return shapely.MultiPolygon(kept) if len(kept) > 1 else kept[0]


@lru_cache(maxsize=1)
def country_shapes() -> pd.DataFrame:
    """iso3, Natural Earth name and simplified Web Mercator geometry of every country."""
    path = cache_dir() / f"countries-v{CACHE_VERSION}-{TOLERANCE}.parquet"
    if path.exists():
        cached = pd.read_parquet(path)
        return cached.assign(geometry=shapely.from_wkb(cached["geometry"].to_numpy()))
    frame = _build()
    try:
        with replaced(path) as temporary:  # whole or not at all: processes may start together
            frame.assign(geometry=shapely.to_wkb(frame["geometry"].to_numpy())).to_parquet(temporary)
    except OSError:
        pass  # a read-only home only costs a rebuild (about a second) per process
    return frame
