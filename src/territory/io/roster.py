"""The rep roster and the locks: reading and validating ``reps.csv`` and ``locks.csv``.

A roster is a file (one row per rep with a home), a number of territories
to design (no homes: the optimizer chooses the centres; with current owners in
the accounts the territories are named after them, :func:`name_seats`), or
``current``: the current owners themselves (:func:`roster_from_owners`).
:func:`match_owners` maps a CRM's owner names onto roster ids, and
:func:`check_homes` refuses a home far from every account.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..geo.reference import EARTH_RADIUS_KM, haversine_km, zip_table
from .accounts import normalise_zip, plain_minus, read_table

__all__ = ["MAX_TERRITORIES", "OWNER_MATCH_WARN_SHARE", "check_homes", "incumbent_report",
           "match_owners", "name_seats", "nearest_account_km", "read_locks", "read_reps",
           "roster_from_owners", "territory_count"]

log = logging.getLogger(__name__)


def _number(text: object) -> float:
    """A roster number; a single decimal comma (``0,5``, ``38,9072``) reads as a point.

    Roster numbers (FTE, coordinates) have no thousands groups, so the comma is unambiguous.
    """
    t = plain_minus(str(text).strip())  # "\u221282.99" (a minus sign) is -82.99
    if t.count(",") == 1 and "." not in t:
        t = t.replace(",", ".")
    return float(t)


#: More territories than any sales team has: a larger ``--reps`` is a typo, refused before
#: a roster of that size is built.
MAX_TERRITORIES = 10_000

_NUMBER = re.compile(r"\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*")


def territory_count(source: object) -> int | None:
    """The number of territories ``--reps`` asks for, or None when it names a file or ``current``.

    Raises
    ------
    InputError
        A number that is not a whole count from 1 to :data:`MAX_TERRITORIES`.
    """
    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
        text, value = str(source), int(source)
    elif (isinstance(source, str) and _NUMBER.fullmatch(plain_minus(source))
          and not Path(source).exists()):
        text = source.strip()
        try:
            value = int(plain_minus(text))
        except ValueError:
            raise InputError(f"--reps {text}: the number of territories must be a whole number "
                             "(or give a reps file)") from None
    else:
        return None
    if value < 1:
        raise InputError(f"--reps {text}: the number of territories must be at least 1")
    if value > MAX_TERRITORIES:
        raise InputError(f"--reps {text}: at most {MAX_TERRITORIES:,} territories can be designed")
    return value


def _capacities(raw: pd.DataFrame, rep_ids: pd.Series, source: object) -> list[float]:
    """Each rep's FTE: blank is 1; anything but a finite positive number is refused."""
    cap = raw.get("capacity", pd.Series([""] * len(raw)))
    out = []
    for i, c in enumerate(cap):
        try:
            value = _number(c) if str(c).strip() else 1.0
        except ValueError:
            raise InputError(f"{source}: capacity must be a number (FTE, e.g. 1 or 0.5)") from None
        if value <= 0 and math.isfinite(value):
            raise InputError(f"{source}: capacity must be positive")
        if not (0 < value < math.inf):  # inf or NaN: every band of the rep would be too
            raise InputError(f"{source}: row {i + 1} ({rep_ids.iat[i]}): capacity "
                             f"{str(c).strip()} is not a finite positive number (FTE, e.g. 1 or 0.5)")
        out.append(value)
    return out


_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T]00:00(?::00)?)?")
_SLASHED = re.compile(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})")


def _start_dates(raw: pd.DataFrame, rep_ids: pd.Series, source: object) -> list[str]:
    """Each rep's ``start_date`` as ``YYYY-MM-DD`` (blank stays blank); anything else is refused.

    The ramp of quota is read from it, so a date that is not one (``next spring``,
    ``2023-02-30``) would silently give the rep a full quota; ``03/04/2023`` is
    refused with both of its readings (March 4 or 3 April).
    """
    cells = raw.get("start_date", pd.Series([""] * len(raw)))
    out = []
    for i, cell in enumerate(cells):
        text = "" if pd.isna(cell) else str(cell).strip()
        if not text:
            out.append("")
            continue
        where = f"{source}: row {i + 1} ({rep_ids.iat[i]}): start_date {text!r}"
        m = _ISO_DATE.fullmatch(text)
        try:
            if m is None:
                raise ValueError
            out.append(dt.date(*map(int, m.groups())).isoformat())
        except ValueError:
            raise InputError(f"{where} is not a date; {_date_hint(text)}") from None
    return out


def _date_hint(text: str) -> str:
    """What to write instead of a start date that is not ``YYYY-MM-DD``."""
    m = _SLASHED.fullmatch(text)
    if m is not None:
        a, b, year = map(int, m.groups())
        readings = []
        for month, day in ((a, b), (b, a)):
            with contextlib.suppress(ValueError):
                readings.append(dt.date(year, month, day).isoformat())
        if len(set(readings)) == 2:
            return (f"it reads as {readings[0]} (month first) or {readings[1]} (day first); "
                    "write it as YYYY-MM-DD")
        if readings:
            return f"write it as YYYY-MM-DD ({readings[0]}?)"
    return "write it as YYYY-MM-DD (e.g. 2024-03-18), or leave it blank"


def read_reps(source: str | Path | int, *, n_reps: int | None = None) -> pd.DataFrame:
    """The rep roster: a CSV / Excel file, or a number of territories to design.

    A file needs ``rep_id`` and a home (``home_zip``, or ``lat`` and ``lon``);
    ``name``, ``capacity`` (FTE, default 1) and ``start_date`` are optional.

    Returns ``rep_id, name, home_zip, lon, lat, capacity, start_date``
    (``lon/lat`` NaN when the territory centre is to be chosen).
    """
    n = territory_count(source)
    if n is not None:
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
                y, x = _number(lat), _number(lon)
            except ValueError:
                raise InputError(f"{source}: row {i + 1} has non-numeric lat/lon") from None
            if not (-90 <= y <= 90 and -180 <= x <= 180):  # also false for NaN
                raise InputError(f"{source}: row {i + 1} ({reps['rep_id'].iat[i]}): home lat "
                                 f"{str(lat).strip()}, lon {str(lon).strip()} is not a point "
                                 "(lat -90..90, lon -180..180)")
            reps.loc[i, ["lat", "lon"]] = y, x
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
    reps["capacity"] = _capacities(raw, reps["rep_id"], source)
    reps["start_date"] = _start_dates(raw, reps["rep_id"], source)
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


# ----------------------------------------------------------------------------- homes


def nearest_account_km(reps: pd.DataFrame, accounts: pd.DataFrame) -> np.ndarray:
    """Great-circle km from each rep's home to the nearest placed account (NaN: no home)."""
    from scipy.spatial import cKDTree  # not sklearn's BallTree: sklearn alone imports for 1-2 s

    pts = accounts[["lat", "lon"]].drop_duplicates().to_numpy(float)
    out = np.full(len(reps), np.nan)
    has = reps["lat"].notna().to_numpy()
    if not has.any() or len(pts) == 0:
        return out
    # nearest by chord on the unit sphere = nearest by great circle; chord -> arc
    chord, _ = cKDTree(_unit_xyz(pts)).query(_unit_xyz(reps.loc[has, ["lat", "lon"]].to_numpy(float)))
    out[has] = 2.0 * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0)) * EARTH_RADIUS_KM
    return out


def _unit_xyz(lat_lon: np.ndarray) -> np.ndarray:
    """(n, 3) points on the unit sphere of (lat, lon) rows in degrees."""
    la, lo = np.radians(lat_lon[:, 0]), np.radians(lat_lon[:, 1])
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def check_homes(reps: pd.DataFrame, accounts: pd.DataFrame, max_km: float, *,
                source: object = "reps") -> None:
    """Refuse a roster with a home farther than ``max_km`` from every placed account.

    Such a home is almost always a typo (a home ZIP of 90210 for a Washington, DC
    team): the rep would be planned at more drive hours than a month has.

    Raises
    ------
    InputError
        Naming the rep, the home, the distance and ``[travel] max_home_km``.
    """
    d = nearest_account_km(reps, accounts)
    far = np.flatnonzero(d > max_km)
    if len(far) == 0:
        return
    i = int(far[0])
    r = reps.iloc[i]
    home = f"home_zip {r['home_zip']}" if r.get("home_zip") else f"home ({r['lat']:.4f}, {r['lon']:.4f})"
    more = f" ({len(far) - 1} more reps too)" if len(far) > 1 else ""
    raise InputError(f"{source}: row {i + 1} ({r['rep_id']}): {home} is {d[i]:,.0f} km from the "
                     f"nearest account, beyond [travel] max_home_km = {max_km:g}{more}; fix the "
                     "home or raise max_home_km")


# ----------------------------------------------------------------------------- current owners

#: Below this share of owned accounts whose owner is on the roster, the match is reported
#: as a warning: disruption and fairness against the current alignment mean little.
OWNER_MATCH_WARN_SHARE = 0.5


def _norm(text: str) -> str:
    """Case- and space-insensitive key; ``"Smith, Dana"`` matches ``"Dana Smith"``."""
    t = " ".join(str(text).split()).casefold()
    if t.count(",") == 1:
        last, first = (p.strip() for p in t.split(","))
        t = f"{first} {last}".strip()
    return t


def match_owners(accounts: pd.DataFrame, reps: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Map ``current_rep`` onto the roster's ``rep_id`` by id, then by name.

    A CRM's owner column often holds the rep's name ("Dana Smith") where the
    roster's id is "R07". Each distinct owner is matched, first hit wins: the
    exact id; the id case- and space-insensitively; the name likewise (also as
    "Smith, Dana"), when only one rep has it. Unmatched owners stay as they are
    (reps who are not on the roster: their accounts move).

    Returns
    -------
    (accounts, report)
        ``current_rep`` rewritten to rep ids where matched; ``report`` (for
        ``summary.json`` as ``owner_match``): ``accounts_with_owner, matched,
        by_id, by_name, match_share, unmatched_owners`` (the five largest, with
        their account counts) and ``warning`` (None, or the sentence to show).
    """
    ids = reps["rep_id"].astype(str).tolist()
    by_id = {_norm(r): r for r in ids}
    names: dict[str, list[str]] = {}
    for r, n in zip(ids, reps["name"].astype(str)):
        names.setdefault(_norm(n), []).append(r)
    owners = accounts["current_rep"].dropna().astype(str)
    counts = owners.value_counts()
    mapping, how = {}, {}
    for owner in counts.index:
        key = _norm(owner)
        if owner in ids or key in by_id:
            mapping[owner], how[owner] = (owner if owner in ids else by_id[key]), "id"
        elif len(names.get(key, [])) == 1:
            mapping[owner], how[owner] = names[key][0], "name"
    out = accounts.copy()
    has = out["current_rep"].notna()
    out.loc[has, "current_rep"] = [mapping.get(o, o) for o in owners]
    n = int(len(owners))
    n_id = int(sum(c for o, c in counts.items() if how.get(o) == "id"))
    n_name = int(sum(c for o, c in counts.items() if how.get(o) == "name"))
    share = (n_id + n_name) / n if n else None
    unmatched = {str(o): int(c) for o, c in counts.items() if o not in mapping}
    report = {"accounts_with_owner": n, "matched": n_id + n_name, "by_id": n_id,
              "by_name": n_name, "match_share": None if share is None else round(share, 4),
              "unmatched_owners": dict(list(unmatched.items())[:5]), "warning": None}
    if n and share < OWNER_MATCH_WARN_SHARE:
        report["warning"] = (
            f"only {n_id + n_name} of {n} owned accounts ({share:.0%}) have a current_rep that "
            f"matches a rep_id or name of the roster (unmatched: "
            f"{', '.join(map(repr, list(unmatched)[:3]))}): moved accounts and fairness are "
            "measured against owners who are not on the roster")
        log.warning("%s", report["warning"])
    elif n:
        log.info("current owners: %d of %d owned accounts matched the roster (%d by id, %d by "
                 "name)", n_id + n_name, n, n_id, n_name)
    return out, report


def _owner_values(accounts: pd.DataFrame, basis: str) -> pd.DataFrame:
    owned = accounts[accounts["current_rep"].notna()]
    value = owned["revenue"].astype(float) if basis == "tam" else pd.Series(1.0, index=owned.index)
    return pd.DataFrame({"owner": owned["current_rep"].astype(str).to_numpy(),
                         "unit_id": owned["unit_id"].astype(str).to_numpy(),
                         "value": value.to_numpy()})


def roster_from_owners(accounts: pd.DataFrame, units: pd.DataFrame, *, basis: str = "accounts",
                       n_reps: int | None = None) -> pd.DataFrame:
    """``--reps current``: one rep per current owner, homed at the medoid of their book.

    The home is the TAM-weighted medoid unit of the owner's current accounts: the
    unit of their book minimising the sum of account revenue x great-circle
    distance to it. Reps are ordered by the size of their book (accounts or TAM per
    ``basis``, ties by id), so ``n_reps`` keeps the largest books.

    Returns the columns of :func:`read_reps`.
    """
    if "current_rep" not in accounts or accounts["current_rep"].isna().all():
        raise InputError("--reps current needs a current_rep column in the accounts")
    vals = _owner_values(accounts, basis)
    pts = units.set_index("unit_id")[["lon", "lat"]]
    size = vals.groupby("owner")["value"].sum()
    order = sorted(size.index, key=lambda o: (-size[o], o))
    if n_reps is not None:
        if n_reps > len(order):
            raise InputError(f"n_reps = {n_reps} but the accounts have only {len(order)} "
                             "current owners")
        order = order[:n_reps]
    tam = accounts[accounts["current_rep"].notna()].assign(
        owner=lambda d: d["current_rep"].astype(str)).groupby(["owner", "unit_id"])["revenue"].sum()
    homes = []
    for owner in order:
        book = tam.loc[owner]
        xy = pts.loc[book.index]
        d = haversine_km(xy["lon"].to_numpy()[:, None], xy["lat"].to_numpy()[:, None],
                xy["lon"].to_numpy()[None, :], xy["lat"].to_numpy()[None, :])
        cost = (np.maximum(book.to_numpy(float), 0)[:, None] * d).sum(axis=0)
        homes.append(str(book.index[int(np.argmin(cost))]))  # argmin: first (sorted) unit on ties
    return pd.DataFrame({"rep_id": order, "name": order, "home_zip": homes,
                         "lon": pts.loc[homes, "lon"].to_numpy(float),
                         "lat": pts.loc[homes, "lat"].to_numpy(float), "capacity": 1.0,
                         "start_date": ""})


def name_seats(reps: pd.DataFrame, unit_ids, seat_of_unit: np.ndarray, accounts: pd.DataFrame,
               *, basis: str = "accounts") -> pd.DataFrame:
    """Name designed territories after the current owners who keep the most of them.

    Formulation: ``V[s, o]`` = accounts (or TAM, ``basis="tam"``) of owner ``o`` in
    the units of seat ``s`` (``seat_of_unit``); choose a one-to-one matching of
    seats to owners maximising the total kept, ``max sum V[s, o(s)]`` -- the
    assignment problem, solved exactly by :func:`scipy.optimize.linear_sum_assignment`.
    A seat matched to an owner who keeps nothing there, or to none, is an open
    seat, ``Open 1, Open 2, ...`` in seat order; owners without a seat are leaving.

    Returns ``reps`` with ``rep_id`` and ``name`` replaced (rows stay in seat order).
    """
    from scipy.optimize import linear_sum_assignment

    vals = _owner_values(accounts, basis)
    seat = pd.Series(np.asarray(seat_of_unit), index=pd.Index(unit_ids, name="unit_id"))
    vals = vals[vals["unit_id"].isin(seat.index)]
    owners = sorted(vals["owner"].unique())
    V = np.zeros((len(reps), len(owners)))
    np.add.at(V, (seat.loc[vals["unit_id"]].to_numpy(), pd.Index(owners).get_indexer(vals["owner"])),
              vals["value"].to_numpy())
    rows, cols = linear_sum_assignment(V, maximize=True) if owners else ([], [])
    ids = [""] * len(reps)
    for s, o in zip(rows, cols):
        if V[s, o] > 0:
            ids[s] = owners[o]
    k = 0
    for s in range(len(ids)):
        if not ids[s]:
            k += 1
            ids[s] = f"Open {k}"
    out = reps.copy()
    out["rep_id"] = ids
    out["name"] = ids
    return out


def incumbent_report(accounts: pd.DataFrame, rep_ids) -> dict:
    """Who of the current owners keeps a territory in a plan, who leaves, what is new.

    ``owners_leaving``: current owners who have no territory; ``new_territories``:
    reps of the plan who own no account today (open seats, new hires).
    """
    owners = set(accounts["current_rep"].dropna().astype(str))
    plan = [str(r) for r in rep_ids]
    return {"current_owners": len(owners),
            "owners_kept": sorted(owners & set(plan)),
            "owners_leaving": sorted(owners - set(plan)),
            "new_territories": [r for r in plan if r not in owners]}


def build_roster(source: str | Path | int, accounts: pd.DataFrame, units: pd.DataFrame, *,
                 n_reps: int | None = None, basis: str = "accounts",
                 max_home_km: float = float("inf")) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The roster of a scenario from ``--reps``, and the accounts' owners matched to it.

    ``source``: a number of territories (``n_reps`` overrides it; kind ``"seats"``),
    ``"current"`` (kind ``"current"``, :func:`roster_from_owners`) or a reps file
    (kind ``"file"``: owners matched by :func:`match_owners`, homes checked by
    :func:`check_homes`).

    Returns
    -------
    (roster, accounts, info)
        ``info``: ``roster`` (the kind), ``owner_match`` (the report, or None) and, for a
        file, ``roster_source`` (how messages name it).
    """
    n = territory_count(source)
    if n is not None:
        return read_reps(n_reps or n), accounts, {"roster": "seats", "owner_match": None}
    if str(source).strip().lower() == "current" and not Path(source).is_file():
        roster = roster_from_owners(accounts, units, basis=basis, n_reps=n_reps)
        return roster, accounts, {"roster": "current", "owner_match": None}
    roster = read_reps(source, n_reps=n_reps)
    report = None
    if accounts["current_rep"].notna().any():
        accounts, report = match_owners(accounts, roster)
    check_homes(roster, accounts, max_home_km, source=source)
    return roster, accounts, {"roster": "file", "owner_match": report,
                              "roster_source": "reps (DataFrame)"
                              if isinstance(source, pd.DataFrame) else str(source)}
