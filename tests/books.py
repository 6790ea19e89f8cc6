"""A deterministic multi-state CRM book: accounts clustered in real metros, most ZIPs empty.

``multistate_book(tmp_path, ...)`` writes ``accounts.csv`` (``account_id, name, zip,
revenue, tier, current_rep``) and ``reps.csv`` (``rep_id, name, home_zip, capacity``) and
returns a :class:`Book` with the paths and the numbers a test needs.

How the book is drawn (``numpy.random.default_rng(seed)``, nothing else random):

* **metros** are the largest cities of the chosen states in the offline ZIP table that
  geocoding uses (:func:`territory.geo.geocode.zip_table`), taken round-robin over the
  states (each state gets its biggest city before any state gets a second); a metro's
  weight falls as ``1 / rank**concentration``;
* each account picks a metro by weight, then one of the standard ZIPs within
  ``radius_km`` of the metro's centre with weight ``exp(-d / 8 km)``; ``rural_share`` of
  the accounts sit on any standard ZIP of the states instead;
* revenue is lognormal (median $20K, sigma 1.0) plus ``n_large`` very large accounts
  ($400K-$900K, 20-45x the median: a sizeable share of a territory, never one alone,
  so contiguous plans within both bands exist); the ``tier`` column is present and blank, so the scenario's rules tier;
* ``current_rep`` is the rep whose home metro is nearest (with ``reassigned_share`` of
  rows given to another rep and ``unowned_share`` left blank);
* ``n_messy`` rows are damaged the way CRM exports are: some kept (ZIP+4, ``$12,345``
  revenue, padded whitespace), some rejected (blank revenue, unknown ZIP, duplicate id) --
  :attr:`Book.expected_rejects` counts the latter.

The roster has ``n_reps`` reps (default: as many as the 100-150 account-unit band
allows for the book under the default threshold tiers), homed on the metros' central
ZIPs, capacity 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from territory.geo.geocode import zip_table

__all__ = ["Book", "multistate_book", "book_frames"]

STATES = ("OH", "IN", "KY", "PA", "WV")
PREFIXES = ["Acme", "Summit", "Riverside", "Keystone", "Bluegrass", "Buckeye", "Hoosier",
            "Allegheny", "Mountain", "Valley", "Lakeshore", "Heritage", "Pioneer", "Union"]
SUFFIXES = ["Dental", "Hardware", "Logistics", "Clinic", "Supply", "Motors", "Foods",
            "Tool & Die", "Veterinary", "Printing", "Café", "Pharmacy"]
# messy kinds: kind -> rejected?
MESSY = {"zip_plus4": False, "money_text": False, "whitespace": False,
         "blank_revenue": True, "unknown_zip": True, "duplicate": True}


@dataclass(frozen=True)
class Book:
    """Paths of a written book and the numbers a test checks against."""

    accounts: Path
    reps: Path
    n_rows: int                    # data rows in accounts.csv
    expected_rejects: int          # rows the reader must reject
    n_reps: int
    states: tuple[str, ...]
    metros: tuple[str, ...]        # "City, ST" of each metro, heaviest first
    total_account_units: int       # over the rows that must be kept (threshold tiers)
    total_revenue: float
    zips_used: int                 # distinct ZIPs holding a kept account

    @property
    def expected_assigned(self) -> int:
        return self.n_rows - self.expected_rejects


def _standard_zips(states: tuple[str, ...]) -> pd.DataFrame:
    t = zip_table()
    z = t[(t["zip_type"] == "STANDARD") & t["active"] & t["state"].isin(states)]
    return z.reset_index()


def _metros(zips: pd.DataFrame, states: tuple[str, ...], n_metros: int) -> pd.DataFrame:
    """Largest cities round-robin over the states: city, state, lon, lat (centre of its ZIPs)."""
    size = (zips.groupby(["state", "city"]).agg(n=("zip", "size"), lon=("lon", "mean"),
                                                lat=("lat", "mean")).reset_index())
    size = size.sort_values(["n", "state", "city"], ascending=[False, True, True], kind="stable")
    size["rank_in_state"] = size.groupby("state").cumcount()
    size["state_order"] = size["state"].map({s: i for i, s in enumerate(states)})
    size = size.sort_values(["rank_in_state", "n", "state_order"],
                            ascending=[True, False, True], kind="stable")
    return size.head(n_metros).reset_index(drop=True)


def _km(lon1, lat1, lon2, lat2) -> np.ndarray:
    dx = (np.asarray(lon1) - lon2) * 111.32 * np.cos(np.radians(lat2))
    dy = (np.asarray(lat1) - lat2) * 110.57
    return np.hypot(dx, dy)


def _units(revenue: np.ndarray) -> np.ndarray:
    return np.where(revenue >= 100_000, 3, np.where(revenue >= 25_000, 2, 1))


def book_frames(*, n_accounts: int = 300, states: tuple[str, ...] = STATES,
                n_metros: int | None = None, n_reps: int | None = None, seed: int = 0,
                concentration: float = 0.8, radius_km: float = 30.0, rural_share: float = 0.05,
                n_large: int = 3, n_messy: int = 12, reassigned_share: float = 0.1,
                unowned_share: float = 0.08) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The accounts and reps tables (all cells text) and the numbers of :class:`Book`."""
    rng = np.random.default_rng(seed)
    states = tuple(states)
    zips = _standard_zips(states)
    metros = _metros(zips, states, n_metros or max(len(states), 6))
    weight = 1.0 / np.power(np.arange(1, len(metros) + 1), concentration)
    m_of = rng.choice(len(metros), size=n_accounts, p=weight / weight.sum())
    chosen = np.empty(n_accounts, dtype=object)
    for m in range(len(metros)):
        idx = np.flatnonzero(m_of == m)
        d = _km(zips["lon"], zips["lat"], metros.at[m, "lon"], metros.at[m, "lat"])
        near = np.flatnonzero(d <= radius_km)
        w = np.exp(-d[near] / 8.0)
        chosen[idx] = zips["zip"].to_numpy()[rng.choice(near, size=len(idx), p=w / w.sum())]
    rural = rng.random(n_accounts) < rural_share
    chosen[rural] = rng.choice(zips["zip"].to_numpy(), size=int(rural.sum()))
    revenue = np.round(rng.lognormal(np.log(20_000.0), 1.0, size=n_accounts), 2)
    big = rng.choice(n_accounts, size=min(n_large, n_accounts), replace=False)
    revenue[big] = np.round(rng.uniform(400_000, 900_000, size=len(big)), 2)

    if n_reps is None:
        n_reps = max(2, int(round(_units(revenue).sum() / 125.0)))
    reps = _roster(zips, metros, n_reps)
    owner = _owners(rng, zips.set_index("zip"), chosen, reps, reassigned_share, unowned_share)
    names = [f"{rng.choice(PREFIXES)} {rng.choice(SUFFIXES)} #{i + 1}" for i in range(n_accounts)]
    acc = pd.DataFrame({"account_id": [f"A{i + 1:05d}" for i in range(n_accounts)],
                        "name": names, "zip": chosen.astype(str),
                        "revenue": [f"{r:.2f}" for r in revenue], "tier": "",
                        "current_rep": owner})
    rejected = _mess_up(rng, acc, n_messy)
    kept = ~rejected
    numbers = dict(n_rows=len(acc), expected_rejects=int(rejected.sum()), n_reps=n_reps,
                   states=states,
                   metros=tuple(f"{c}, {s}" for c, s in zip(metros["city"], metros["state"])),
                   total_account_units=int(_units(revenue[kept]).sum()),
                   total_revenue=float(revenue[kept].sum()),
                   zips_used=int(pd.Series(chosen[kept]).nunique()))
    return acc, reps, numbers


def _roster(zips: pd.DataFrame, metros: pd.DataFrame, n_reps: int) -> pd.DataFrame:
    """Reps homed on metro centres (heaviest metros get the extra reps), capacity 1.0."""
    homes = []
    for j in range(n_reps):
        m = metros.iloc[j % len(metros)]
        d = _km(zips["lon"], zips["lat"], m["lon"], m["lat"])
        order = np.argsort(d, kind="stable")
        homes.append(zips["zip"].iat[int(order[j // len(metros)])])  # another ZIP per extra rep
    return pd.DataFrame({"rep_id": [f"R{j + 1:02d}" for j in range(n_reps)],
                         "name": [f"Rep {j + 1}" for j in range(n_reps)],
                         "home_zip": homes, "capacity": "1.0"})


def _owners(rng: np.random.Generator, zips: pd.DataFrame, chosen: np.ndarray,
            reps: pd.DataFrame, reassigned: float, unowned: float) -> list[str]:
    """Nearest rep home per account, a share moved to another rep, a share blank."""
    hz = zips.loc[reps["home_zip"]]
    az = zips.loc[chosen]
    d = _km(az["lon"].to_numpy()[:, None], az["lat"].to_numpy()[:, None],
            hz["lon"].to_numpy()[None, :], hz["lat"].to_numpy()[None, :])
    owner = reps["rep_id"].to_numpy()[d.argmin(axis=1)].astype(object)
    u = rng.random(len(chosen))
    moved = u < reassigned
    owner[moved] = rng.choice(reps["rep_id"].to_numpy(), size=int(moved.sum()))
    owner[(u >= reassigned) & (u < reassigned + unowned)] = ""
    return list(owner)


def _mess_up(rng: np.random.Generator, acc: pd.DataFrame, n_messy: int) -> np.ndarray:
    """Damage ``n_messy`` rows in place (never row 0); True where the row must be rejected."""
    rejected = np.zeros(len(acc), dtype=bool)
    if n_messy <= 0 or len(acc) < 2:
        return rejected
    rows = rng.choice(np.arange(1, len(acc)), size=min(n_messy, len(acc) - 1), replace=False)
    kinds = list(MESSY)
    for k, i in enumerate(sorted(rows)):
        kind = kinds[k % len(kinds)]
        if kind == "zip_plus4":
            acc.at[i, "zip"] = f"{acc.at[i, 'zip']}-{rng.integers(1000, 9999)}"
        elif kind == "money_text":
            acc.at[i, "revenue"] = f"${float(acc.at[i, 'revenue']):,.0f}"
        elif kind == "whitespace":
            acc.loc[i, ["account_id", "name", "zip"]] = [f" {v} " for v in
                                                         acc.loc[i, ["account_id", "name", "zip"]]]
        elif kind == "blank_revenue":
            acc.at[i, "revenue"] = ""
        elif kind == "unknown_zip":
            acc.at[i, "zip"] = "00000"
        elif kind == "duplicate":
            clean = np.setdiff1d(np.arange(i), rows)  # an earlier row that stays as it is
            acc.at[i, "account_id"] = acc.at[int(rng.choice(clean)), "account_id"]
        rejected[i] = MESSY[kind]
    return rejected


def multistate_book(tmp_path: str | Path, *, n_accounts: int = 300,
                    states: tuple[str, ...] = STATES, n_metros: int | None = None,
                    n_reps: int | None = None, seed: int = 0, **kwargs) -> Book:
    """Write ``accounts.csv`` and ``reps.csv`` under ``tmp_path``; see the module docstring.

    ``kwargs`` go to :func:`book_frames` (``concentration``, ``radius_km``, ``rural_share``,
    ``n_large``, ``n_messy``, ``reassigned_share``, ``unowned_share``).
    """
    out = Path(tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    acc, reps, numbers = book_frames(n_accounts=n_accounts, states=states, n_metros=n_metros,
                                     n_reps=n_reps, seed=seed, **kwargs)
    a, r = out / "accounts.csv", out / "reps.csv"
    acc.to_csv(a, index=False)
    reps.to_csv(r, index=False)
    return Book(accounts=a, reps=r, **numbers)
