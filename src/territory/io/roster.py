"""The rep roster and the locks: reading and validating ``reps.csv`` and ``locks.csv``.

A roster is a file (one row per rep with a home) or a number of territories
to design (no homes: the optimizer chooses the centres).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..geo.reference import zip_table
from .accounts import normalise_zip, read_table

__all__ = ["read_locks", "read_reps"]


def read_reps(source: str | Path | int, *, n_reps: int | None = None) -> pd.DataFrame:
    """The rep roster: a CSV / Excel file, or a number of territories to design.

    A file needs ``rep_id`` and a home (``home_zip``, or ``lat`` and ``lon``);
    ``name``, ``capacity`` (FTE, default 1) and ``start_date`` are optional.

    Returns ``rep_id, name, home_zip, lon, lat, capacity, start_date``
    (``lon/lat`` NaN when the territory centre is to be chosen).
    """
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        n = int(source)
        if n < 1:
            raise InputError("--reps must be a positive number of territories or a reps file")
        width = max(2, len(str(n)))
        ids = [f"T{i + 1:0{width}d}" for i in range(n)]
        return pd.DataFrame({"rep_id": ids, "name": [f"Territory {i + 1}" for i in range(n)],
                             "home_zip": "", "lon": np.nan, "lat": np.nan, "capacity": 1.0,
                             "start_date": ""})
    raw, _ = read_table(source, required=("rep_id",))
    source = raw.attrs.get("source", source)  # a DataFrame is named, not printed
    reps = pd.DataFrame({"rep_id": raw["rep_id"].str.strip()})
    if (reps["rep_id"] == "").any():
        row = int(np.flatnonzero(reps["rep_id"] == "")[0]) + 1
        raise InputError(f"{source}: row {row} has a blank rep_id")
    dup = reps["rep_id"].duplicated()
    if dup.any():
        raise InputError(f"{source}: rep_id {reps['rep_id'][dup].iloc[0]!r} occurs twice")
    names = raw["name"].str.strip() if "name" in raw else reps["rep_id"]
    reps["name"] = names.where(names != "", reps["rep_id"])
    reps["home_zip"] = ""
    reps["lon"] = np.nan
    reps["lat"] = np.nan
    table = zip_table()
    for i in range(len(raw)):
        lat = raw["lat"].iat[i] if "lat" in raw else ""
        lon = raw["lon"].iat[i] if "lon" in raw else ""
        z = raw["home_zip"].iat[i] if "home_zip" in raw else ""
        if str(lat).strip() and str(lon).strip():
            try:
                reps.loc[i, ["lat", "lon"]] = float(lat), float(lon)
            except ValueError:
                raise InputError(f"{source}: row {i + 1} has non-numeric lat/lon") from None
        elif str(z).strip():
            z5, _ = normalise_zip(z)
            if z5 is None or z5 not in table.index:
                raise InputError(f"{source}: row {i + 1} ({reps['rep_id'].iat[i]}) has an "
                                 f"unknown home_zip {z!r}")
            reps.loc[i, ["home_zip", "lat", "lon"]] = z5, table.at[z5, "lat"], table.at[z5, "lon"]
    if reps["lat"].isna().any() and reps["lat"].notna().any():
        row = int(np.flatnonzero(reps["lat"].isna())[0]) + 1
        raise InputError(f"{source}: row {row} has no home (home_zip or lat/lon); give every "
                         "rep a home or none")
    cap = raw.get("capacity", pd.Series([""] * len(raw)))
    try:
        reps["capacity"] = [float(c) if str(c).strip() else 1.0 for c in cap]
    except ValueError:
        raise InputError(f"{source}: capacity must be a number (FTE, e.g. 1 or 0.5)") from None
    if (reps["capacity"] <= 0).any():
        raise InputError(f"{source}: capacity must be positive")
    reps["start_date"] = raw.get("start_date", pd.Series([""] * len(raw))).astype(str)
    if n_reps is not None:
        if n_reps > len(reps):
            raise InputError(f"n_reps = {n_reps} but the roster has only {len(reps)} reps")
        reps = reps.iloc[:n_reps]
    return reps.reset_index(drop=True)


def read_locks(path: str | Path | None) -> pd.DataFrame:
    """``locks.csv``: ``rep_id`` and ``unit_id`` or ``account_id`` per row."""
    if path is None:
        return pd.DataFrame(columns=["unit_id", "account_id", "rep_id"])
    raw, _ = read_table(path, required=("rep_id",))
    if "unit_id" not in raw and "account_id" not in raw:
        raise InputError(f"{path}: locks need a unit_id or an account_id column")
    return pd.DataFrame({"unit_id": raw.get("unit_id", ""), "account_id": raw.get("account_id", ""),
                         "rep_id": raw["rep_id"]}).fillna("")
