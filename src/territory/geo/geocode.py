"""Geocode stage: every account gets a point (lon, lat).

Coordinates in the input win; otherwise the ZIP's centroid comes from the
offline ``zipcodes`` package (USPS ZIPs with their centroids, including PO-box
and unique ZIPs that have no ZCTA polygon of their own). An account whose ZIP
is unknown and which has no coordinates is rejected with that reason.

Coordinates that cannot be right are not used. When it is clear what went
wrong -- (0, 0), a CRM's placeholder, or lat/lon swapped (swapped, they land
near the ZIP's centre) -- a known ZIP places the account instead
(``coord_fix`` says why; :func:`coordinate_substitutions` lists it for
``substitutions.csv``); without a known ZIP it is rejected with that reason.
Coordinates that are just wrong (out of range and not swapped, or outside every
US state far from the ZIP) are rejected with that reason, as the reader
rejects half-blank or non-numeric ones: the account's location is unknown.

Columns added: ``lon, lat, point_source`` (``"input lat/lon"`` or ``"ZIP centroid"``),
``coord_fix`` (why the coordinates were replaced, or ``""``),
``zip_type`` (``STANDARD``, ``PO BOX``, ``UNIQUE``, ``MILITARY`` or ``""``), ``state``
(from the ZIP table, or for coordinates without a known ZIP from the state
outline containing the point).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..io.accounts import REJECT_COLUMNS
from .reference import haversine_km, state_outlines, zip_table

__all__ = ["REASON_SWAPPED_COORDS", "REASON_UNKNOWN_ZIP", "REASON_ZERO_COORDS",
           "coordinate_substitutions", "geocode_accounts"]

log = logging.getLogger(__name__)

REASON_UNKNOWN_ZIP = "unknown ZIP"
REASON_ZERO_COORDS = "coordinates (0, 0) are a placeholder"
REASON_SWAPPED_COORDS = "lat/lon swapped"
REASON_OUTSIDE_US = "coordinates outside the US, far from the ZIP"
#: Farther than this from its ZIP's centre, a point is checked for swapped or foreign
#: coordinates (the largest ZCTAs reach ~100 km from their centre).
SUSPECT_KM = 150.0


def _state_of_points(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Two-letter state containing each point ('' outside every state outline)."""
    import shapely

    states = state_outlines()
    tree = shapely.STRtree(states.geometry.values)
    p_i, s_i = tree.query(shapely.points(lon, lat), predicate="within")
    out = np.full(len(lon), "", dtype=object)
    out[p_i] = states["state"].to_numpy()[s_i]
    return out


#: Faults with an evident cause: the ZIP may place the account instead.
_FALLBACK = {REASON_ZERO_COORDS, REASON_SWAPPED_COORDS}


def _coordinate_faults(out: pd.DataFrame, known: pd.Series, ztab: pd.DataFrame) -> pd.Series:
    """Why each account's input coordinates cannot be right ('' when they may be)."""
    fault = out.get("coord_reason", pd.Series("", index=out.index)).fillna("").astype(object)
    has = out["lat"].notna() & out["lon"].notna()
    lat, lon = out["lat"].to_numpy(float), out["lon"].to_numpy(float)
    zero = has.to_numpy() & (np.abs(lat) < 1e-9) & (np.abs(lon) < 1e-9)
    fault[zero] = REASON_ZERO_COORDS
    check = (has & known & ~zero).to_numpy()
    if check.any():
        zl, zt = ztab["lon"].to_numpy(float)[check], ztab["lat"].to_numpy(float)[check]
        d = haversine_km(lon[check], lat[check], zl, zt)
        d_swapped = haversine_km(lat[check], lon[check], zl, zt)
        idx = out.index[check]
        far = (d > SUSPECT_KM) | (fault[idx] != "").to_numpy()  # out of range: far by definition
        fault[idx[far & (d_swapped <= SUSPECT_KM)]] = REASON_SWAPPED_COORDS
        rest = idx[far & (d_swapped > SUSPECT_KM) & (fault[idx] == "").to_numpy()]
        if len(rest):
            outside = _state_of_points(out.loc[rest, "lon"].to_numpy(float),
                                       out.loc[rest, "lat"].to_numpy(float)) == ""
            fault[rest[outside]] = REASON_OUTSIDE_US
    return fault


def geocode_accounts(accounts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give every account a point.

    Parameters
    ----------
    accounts
        Validated accounts (``zip`` as 5-digit text, ``lat``/``lon`` possibly NaN,
        optionally ``coord_reason`` / ``coord_issue`` from the reader).

    Returns
    -------
    (located, rejects)
        ``located`` gains ``lon, lat, point_source, coord_fix, zip_type, state``;
        ``rejects`` holds accounts with an unknown ZIP and no usable coordinates
        (reason: what is wrong with the coordinates, else "unknown ZIP").
    """
    table = zip_table()
    out = accounts.copy()
    known = out["zip"].isin(table.index)
    ztab = table.reindex(out["zip"].where(known, None))
    fault = _coordinate_faults(out, known, ztab)
    faulty = fault != ""
    out["coord_fix"] = np.where(faulty & known & fault.isin(_FALLBACK), fault, "")
    out.loc[faulty, ["lat", "lon"]] = np.nan
    has_coords = out["lat"].notna() & out["lon"].notna()
    out["zip_type"] = np.where(known, ztab["zip_type"].to_numpy(), "")
    out["state"] = np.where(known, ztab["state"].to_numpy(), "")
    out["point_source"] = np.where(has_coords, "input lat/lon", "ZIP centroid")
    out["lat"] = np.where(has_coords, out["lat"], ztab["lat"].to_numpy())
    out["lon"] = np.where(has_coords, out["lon"], ztab["lon"].to_numpy())
    no_state = has_coords & (out["state"] == "")
    if no_state.any():
        out.loc[no_state, "state"] = _state_of_points(out.loc[no_state, "lon"].to_numpy(float),
                                                      out.loc[no_state, "lat"].to_numpy(float))
        lost = no_state & (out["state"] == "")
        if lost.any():  # no ZIP to check against: in no state as given, in one swapped
            st = _state_of_points(out.loc[lost, "lat"].to_numpy(float),
                                  out.loc[lost, "lon"].to_numpy(float))
            fault[out.index[lost][st != ""]] = REASON_SWAPPED_COORDS
    bad = (~known & ~has_coords) | ((fault != "") & (out["coord_fix"] == ""))
    rejects = pd.DataFrame(
        {"row": out.loc[bad, "row"], "account_id": out.loc[bad, "account_id"],
         "reason": np.where(fault[bad] != "", fault[bad], REASON_UNKNOWN_ZIP)},
        columns=REJECT_COLUMNS,
    )
    fixed = out["coord_fix"] != ""
    if (fixed & ~bad).any():
        log.warning("%d accounts have unusable coordinates and were placed by their ZIP "
                    "instead (listed in substitutions.csv): %s", int((fixed & ~bad).sum()),
                    ", ".join(f"{a} ({f})" for a, f in zip(out.loc[fixed & ~bad, "account_id"][:5],
                                                          out.loc[fixed & ~bad, "coord_fix"][:5])))
    if bad.any():
        log.info("%d accounts have an unknown ZIP and no usable coordinates", int(bad.sum()))
    return out.loc[~bad].reset_index(drop=True), rejects.reset_index(drop=True)


def coordinate_substitutions(placed: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``substitutions.csv`` for accounts placed by ZIP instead of their coordinates.

    Columns as :func:`territory.geo.units.locate_accounts` gives them: ``row, account_id,
    zip, zip_type, unit_id, rule, distance_km`` (``distance_km`` is blank: the input
    point was not used).
    """
    cols = ["row", "account_id", "zip", "zip_type", "unit_id", "rule", "distance_km"]
    if "coord_fix" not in placed:
        return pd.DataFrame(columns=cols)
    fixed = placed[placed["coord_fix"] != ""]
    return pd.DataFrame({
        "row": fixed["row"], "account_id": fixed["account_id"], "zip": fixed["zip"],
        "zip_type": fixed.get("zip_type", ""), "unit_id": fixed.get("unit_id", ""),
        "rule": "ZIP centroid instead of the input coordinates: " + fixed["coord_fix"],
        "distance_km": np.nan}, columns=cols).reset_index(drop=True)
