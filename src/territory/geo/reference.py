"""Reference geodata that ships with the dependencies: the US ZIP table and Census outlines.

One home for every piece of reference geography the stages share, so that each file is opened
in one place with one CRS rule:

* :func:`zip_table` — every USPS ZIP of the offline ``zipcodes`` package with its centroid,
  state, county and type (PO-box and unique ZIPs included);
* :func:`state_outlines`, :func:`county_outlines` — Census cartographic boundaries
  (cb_2016, 1:500k) shipped by PyPI ``plotly-geo``. The shapefiles have no ``.prj``; they are
  NAD83 geographic (EPSG:4269) and are returned in EPSG:4326;
* :func:`outlines_in_bbox` — the same outlines cut to a box, for map backgrounds;
* :data:`EQUAL_AREA_CRS` — the projection every distance and area is measured in;
* :func:`clean_units` — the normal form of every unit layer: EPSG:4326, valid polygonal
  geometry, text ``unit_id``, sorted by id.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InputError

__all__ = ["EARTH_RADIUS_KM", "EQUAL_AREA_CRS", "clean_units", "county_outlines", "outlines_in_bbox", "state_outlines",
           "haversine_km", "zip_table"]

log = logging.getLogger(__name__)

#: CONUS Albers equal area: metres, good enough for distances and areas in the US.
EQUAL_AREA_CRS = "EPSG:5070"
#: Mean Earth radius (IUGG), km.
EARTH_RADIUS_KM = 6371.0088

_STATE_FILE = "cb_2016_us_state_500k.shp"
_COUNTY_FILE = "cb_2016_us_county_500k.shp"
#: The cb_* shapefiles ship without .prj: NAD83 geographic.
_CENSUS_CRS = "EPSG:4269"


@lru_cache(maxsize=1)
def zip_table() -> pd.DataFrame:
    """All US ZIPs known to the offline ``zipcodes`` package, indexed by ZIP.

    Columns: ``lat, lon, state, county, city, zip_type, active``.
    """
    import zipcodes  # loads a ~40k-row table; keep it off import time

    rows = zipcodes.list_all()
    df = pd.DataFrame.from_records(
        [
            {
                "zip": r["zip_code"],
                "lat": float(r["lat"]),
                "lon": float(r["long"]),
                "state": r.get("state") or "",
                "county": r.get("county") or "",
                "city": r.get("city") or "",
                "zip_type": r.get("zip_code_type") or "",
                "active": bool(r.get("active", True)),
            }
            for r in rows
        ]
    )
    return df.drop_duplicates("zip").set_index("zip").sort_index()


def _census_file(name: str) -> Path:
    import _plotly_geo  # the module behind PyPI plotly-geo

    path = Path(_plotly_geo.__file__).parent / "package_data" / name
    if not path.exists():
        raise InputError(f"plotly-geo is installed but lacks {name}")
    return path


def _read_census(name: str, bbox: tuple[float, float, float, float] | None = None,
                 columns: list[str] | None = None) -> gpd.GeoDataFrame:
    gdf = gpd.read_file(_census_file(name), bbox=bbox, columns=columns)
    return gdf.set_crs(_CENSUS_CRS, allow_override=True).to_crs("EPSG:4326")


def clean_units(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """EPSG:4326, valid polygonal geometry, text ``unit_id``, stable order by ``unit_id``."""
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326")
    elif gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs("EPSG:4326")
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].copy()
    invalid = ~gdf.geometry.is_valid
    if invalid.any():
        log.info("repairing %d invalid unit geometries with make_valid", int(invalid.sum()))
        fixed = shapely.make_valid(gdf.geometry.values[invalid.to_numpy()])
        # make_valid may return collections with stray lines; keep the polygonal part
        gdf.loc[invalid, "geometry"] = [
            shapely.union_all([g for g in shapely.get_parts(f) if g.geom_type.endswith("Polygon")])
            for f in fixed
        ]
    gdf["unit_id"] = gdf["unit_id"].astype(str)
    return gdf.sort_values("unit_id", kind="stable").reset_index(drop=True)


@lru_cache(maxsize=1)
def _states() -> gpd.GeoDataFrame:
    gdf = _read_census(_STATE_FILE)
    return gdf[["STATEFP", "STUSPS", "NAME", "geometry"]].sort_values("STATEFP").reset_index(drop=True)


def state_outlines(states: list[str] | None = None) -> gpd.GeoDataFrame:
    """State polygons (``state``, ``name``, ``geometry``), EPSG:4326, optionally some states."""
    s = _states().rename(columns={"STUSPS": "state", "NAME": "name"})
    if states:
        s = s[s["state"].isin(states)]
    return s[["state", "name", "geometry"]].reset_index(drop=True)


@lru_cache(maxsize=1)
def county_outlines() -> gpd.GeoDataFrame:
    """Every county: ``unit_id`` (5-digit FIPS), ``name`` ("Franklin, OH"), ``state``, ``geometry``."""
    gdf = _read_census(_COUNTY_FILE)
    fips_to_state = dict(zip(_states()["STATEFP"], _states()["STUSPS"]))
    gdf["state"] = gdf["STATEFP"].map(fips_to_state).fillna("")
    gdf["unit_id"] = gdf["GEOID"].astype(str)
    gdf["name"] = gdf["NAME"].astype(str) + ", " + gdf["state"]
    return clean_units(gdf[["unit_id", "name", "state", "geometry"]])


@lru_cache(maxsize=8)
def outlines_in_bbox(kind: str, bbox: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """State (``kind="states"``) or county (``"counties"``) outlines meeting ``bbox`` (lon/lat)."""
    name = {"states": _STATE_FILE, "counties": _COUNTY_FILE}[kind]
    return _read_census(name, bbox=bbox, columns=[])


@lru_cache(maxsize=8)
def count_in_bbox(kind: str, bbox: tuple[float, float, float, float]) -> int:
    """How many outlines :func:`outlines_in_bbox` would return, without reading their shapes
    (a national map's 3,000 county outlines take 0.4 s to read and are then not drawn)."""
    import pyogrio

    name = {"states": _STATE_FILE, "counties": _COUNTY_FILE}[kind]
    return len(pyogrio.read_dataframe(_census_file(name), bbox=bbox, columns=[],
                                      read_geometry=False, fid_as_index=True))


def haversine_km(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km (broadcasting)."""
    lo1, la1, lo2, la2 = (np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2))
    h = (np.sin((la2 - la1) / 2) ** 2
         + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
