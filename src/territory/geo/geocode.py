"""Geocode stage: every account gets a point (lon, lat).

Coordinates in the input win; otherwise the ZIP's centroid comes from the
offline ``zipcodes`` package (USPS ZIPs with their centroids, including PO-box
and unique ZIPs that have no ZCTA polygon of their own). An account whose ZIP
is unknown and which has no coordinates is rejected with that reason.

Columns added: ``lon, lat, point_source`` (``"input lat/lon"`` or ``"ZIP centroid"``),
``zip_type`` (``STANDARD``, ``PO BOX``, ``UNIQUE``, ``MILITARY`` or ``""``), ``state``
(from the ZIP table, or for coordinates without a known ZIP from the state
outline containing the point).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..io.accounts import REJECT_COLUMNS
from .reference import state_outlines, zip_table

__all__ = ["REASON_UNKNOWN_ZIP", "geocode_accounts"]

log = logging.getLogger(__name__)

REASON_UNKNOWN_ZIP = "unknown ZIP"


def _state_of_points(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Two-letter state containing each point ('' outside every state outline)."""
    import shapely

    states = state_outlines()
    tree = shapely.STRtree(states.geometry.values)
    p_i, s_i = tree.query(shapely.points(lon, lat), predicate="within")
    out = np.full(len(lon), "", dtype=object)
    out[p_i] = states["state"].to_numpy()[s_i]
    return out


def geocode_accounts(accounts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give every account a point.

    Parameters
    ----------
    accounts
        Validated accounts (``zip`` as 5-digit text, ``lat``/``lon`` possibly NaN).

    Returns
    -------
    (located, rejects)
        ``located`` gains ``lon, lat, point_source, zip_type, state``; ``rejects``
        holds accounts with an unknown ZIP and no coordinates.
    """
    table = zip_table()
    out = accounts.copy()
    known = out["zip"].isin(table.index)
    has_coords = out["lat"].notna() & out["lon"].notna()
    ztab = table.reindex(out["zip"].where(known, None))
    out["zip_type"] = np.where(known, ztab["zip_type"].to_numpy(), "")
    out["state"] = np.where(known, ztab["state"].to_numpy(), "")
    out["point_source"] = np.where(has_coords, "input lat/lon", "ZIP centroid")
    out["lat"] = np.where(has_coords, out["lat"], ztab["lat"].to_numpy())
    out["lon"] = np.where(has_coords, out["lon"], ztab["lon"].to_numpy())
    no_state = has_coords & (out["state"] == "")
    if no_state.any():
        out.loc[no_state, "state"] = _state_of_points(out.loc[no_state, "lon"].to_numpy(float),
                                                      out.loc[no_state, "lat"].to_numpy(float))
    bad = ~known & ~has_coords
    rejects = pd.DataFrame(
        {"row": out.loc[bad, "row"], "account_id": out.loc[bad, "account_id"],
         "reason": REASON_UNKNOWN_ZIP},
        columns=REJECT_COLUMNS,
    )
    if bad.any():
        log.info("%d accounts have an unknown ZIP and no coordinates", int(bad.sum()))
    return out.loc[~bad].reset_index(drop=True), rejects.reset_index(drop=True)
