"""The sweep grid: rep counts x varied config values, validated before anything runs.

A *point* is one scenario: the base config with the varied keys set and a
roster of ``n`` reps. A *rule* is one combination of the varied values (all
rep counts of a rule are a line on the sweep's charts).

Rosters (``roster_for``)
------------------------
Without a reps file, ``n`` territories are designed from scratch (centres
chosen by the seed, as ``territory plan --reps n``). With a reps file of
``m`` reps:

* ``n == m``: the file as it is;
* ``n < m``: the ``m - n`` reps with the **smallest current book** (TAM of the
  accounts whose ``current_rep`` they are) are dropped; ties, and books
  without a current owner, drop from the end of the file, so a file without
  ``current_rep`` keeps its first ``n`` reps (like ``n_reps``);
* ``n > m``: ``n - m`` **open seats** (``OPEN01``, ...) are added, each based
  at the unit centre that maximises ``TAM x d**2``, ``d`` the distance to the
  nearest base already placed -- the k-means++ rule taken greedily, so a seat
  goes where uncovered TAM lies farthest from every rep; ties go to the first
  unit.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import tomllib
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..config import ScenarioConfig, config_from_dict
from ..errors import InputError

__all__ = ["Point", "build_grid", "config_dict", "format_value", "parse_rep_counts",
           "parse_vary", "prepare_key", "roster_for", "rule_label", "with_changes"]

#: Top-level config fields that change what ``prepare`` builds (the rest only change a plan).
PREPARE_FIELDS = ("columns", "accounts", "tiers", "unit_level", "region", "adjacency", "nearest_unit_km")
#: Keys a sweep may not vary: the rep count has its own option, names are made per point.
RESERVED = {"n_reps": "use --reps for the rep count", "name": "points are named by the sweep",
            "description": "points are described by the sweep"}
MAX_POINTS = 10_000


@dataclass(frozen=True)
class Point:
    """One scenario of the sweep: its place in the grid, rep count, varied values, config."""

    index: int
    n_reps: int
    values: tuple[tuple[str, Any], ...]
    config: ScenarioConfig

    @property
    def name(self) -> str:
        """Folder name: ``reps04_tam_tolerance=0.15_contiguity=true``."""
        parts = [f"reps{self.n_reps:02d}"]
        parts += [f"{key.rsplit('.', 1)[-1]}={format_value(v)}" for key, v in self.values]
        return "_".join(parts).replace("/", "-")

    @property
    def rule(self) -> str:
        """The varied values without the rep count (one chart line per rule)."""
        return rule_label(self.values)


def format_value(value: Any) -> str:
    """A varied value as it is written on the command line (TOML style)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def rule_label(values: Iterable[tuple[str, Any]]) -> str:
    """``balance.tam_tolerance=0.15, contiguity=true`` (``base`` when nothing varies)."""
    text = ", ".join(f"{k}={format_value(v)}" for k, v in values)
    return text or "base"


def parse_rep_counts(text: str) -> list[int]:
    """``8:14`` (inclusive), ``8:14:2``, ``8,10,12`` or ``11`` -> sorted distinct counts."""
    try:
        if ":" in text:
            bits = [int(b) for b in text.split(":")]
            if len(bits) not in (2, 3) or (len(bits) == 3 and bits[2] < 1):
                raise ValueError
            counts = list(range(bits[0], bits[1] + 1, bits[2] if len(bits) == 3 else 1))
        else:
            counts = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise InputError(f"--reps {text!r}: give a count (11), a range (8:14, 8:14:2) or a "
                         "list (8,10,12)") from None
    if not counts or min(counts) < 1:
        raise InputError(f"--reps {text!r}: rep counts must be at least 1")
    return sorted(set(counts))


def _parse_scalar(text: str) -> Any:
    """A TOML value (``true``, ``0.15``, ``"x"``); a bare word is a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_vary(text: str) -> tuple[str, list[Any]]:
    """``balance.tam_tolerance=0.10,0.15`` -> ``("balance.tam_tolerance", [0.1, 0.15])``."""
    key, sep, rest = text.partition("=")
    key = key.strip()
    values = [_parse_scalar(v.strip()) for v in rest.split(",") if v.strip()]
    if not sep or not key or not values:
        raise InputError(f"--vary {text!r}: expected KEY=V1,V2,... (e.g. "
                         "balance.tam_tolerance=0.10,0.15)")
    if key in RESERVED:
        raise InputError(f"--vary {key}: {RESERVED[key]}")
    if len(set(map(repr, values))) != len(values):
        raise InputError(f"--vary {key}: a value is repeated")
    return key, values


def config_dict(config: ScenarioConfig) -> dict[str, Any]:
    """The config as plain nested data (what ``config_from_dict`` reads back)."""
    if hasattr(config, "model_dump"):  # pydantic
        return config.model_dump()
    return dataclasses.asdict(config)


def with_changes(base: ScenarioConfig, changes: dict[str, Any]) -> ScenarioConfig:
    """``base`` with dotted keys set, validated like a scenario file (InputError on a bad one).

    The config's own (strict, typed) validation judges each value, so ``contiguity =
    "maybe"`` or ``balance.tam_tolerance = "abc"`` is refused exactly as in a TOML file.
    """
    data = config_dict(base)
    data.pop("name", None)  # the copy is renamed by the caller
    for key, value in changes.items():
        node = data
        *path, leaf = key.split(".")
        for part in path:
            if not isinstance(node.get(part), dict):
                raise InputError(f"--vary {key}: unknown key {part!r}")
            node = node[part]
        if leaf not in node or isinstance(node[leaf], dict):
            known = sorted(k for k in node if not isinstance(node[k], dict))
            raise InputError(f"--vary {key}: unknown key (known here: {', '.join(known)})")
        node[leaf] = value
    try:
        return config_from_dict(data)
    except InputError as exc:
        raise InputError(f"--vary {', '.join(changes)}: {exc}") from None
    except (TypeError, ValueError) as exc:  # the validators' own conversions
        raise InputError(f"--vary {', '.join(changes)}: bad value ({exc})") from None


def build_grid(base: ScenarioConfig, rep_counts: Sequence[int],
               varies: Sequence[tuple[str, list[Any]]]) -> list[Point]:
    """Every point, rep count outermost, then the varies in the order given.

    Each varied value is validated on its own first, so the error names it.
    """
    keys = [k for k, _ in varies]
    if len(set(keys)) != len(keys):
        raise InputError(f"--vary: a key is given twice ({', '.join(keys)})")
    for key, values in varies:
        for v in values:
            with_changes(base, {key: v})
    n = len(rep_counts) * math.prod(len(v) for _, v in varies)
    if n > MAX_POINTS:
        raise InputError(f"the sweep has {n} points; at most {MAX_POINTS}")
    points = []
    for i, combo in enumerate(itertools.product(rep_counts, *(v for _, v in varies))):
        n_reps, vals = combo[0], tuple(zip(keys, combo[1:]))
        point = Point(i, int(n_reps), vals, base)
        cfg = with_changes(base, dict(vals)).replace(name=point.name, n_reps=int(n_reps),
                                                     description=f"sweep point {point.rule}, "
                                                                 f"{n_reps} reps")
        points.append(dataclasses.replace(point, config=cfg))
    return points


def prepare_key(config: ScenarioConfig) -> str:
    """Equal keys share one ``prepare`` (the fields that change units or tiers)."""
    data = config_dict(config)
    return repr([(f, data[f]) for f in PREPARE_FIELDS])


# ----------------------------------------------------------------------------- rosters


def _km_xy(lon: np.ndarray, lat: np.ndarray, lat0: float) -> np.ndarray:
    """Equirectangular kilometres: enough to rank distances inside one book."""
    return np.column_stack([np.radians(lon) * math.cos(math.radians(lat0)),
                            np.radians(lat)]) * 6371.0


def _drop_smallest_books(roster: pd.DataFrame, accounts: pd.DataFrame, n: int) -> pd.DataFrame:
    book = (accounts.dropna(subset=["current_rep"])
            .assign(current_rep=lambda d: d["current_rep"].astype(str))
            .groupby("current_rep")["revenue"].sum())
    ranked = roster.assign(_book=roster["rep_id"].map(book).fillna(0.0).to_numpy(),
                           _pos=np.arange(len(roster)))
    # keep the biggest books; among equal books the earlier row in the file
    keep = ranked.sort_values(["_book", "_pos"], ascending=[False, True]).head(n)
    return roster.loc[sorted(keep.index)].reset_index(drop=True)


def _open_seats(roster: pd.DataFrame, units: pd.DataFrame, k: int) -> pd.DataFrame:
    lon, lat = units["lon"].to_numpy(float), units["lat"].to_numpy(float)
    tam = units["tam"].to_numpy(float)
    lat0 = float(np.nanmean(lat))
    xy = _km_xy(lon, lat, lat0)
    bases = _km_xy(roster["lon"].to_numpy(float), roster["lat"].to_numpy(float), lat0)
    d2 = ((xy[:, None, :] - bases[None, :, :]) ** 2).sum(-1).min(axis=1)
    seats = []
    width = max(2, len(str(k)))
    for i in range(k):
        u = int(np.argmax(tam * d2))
        seats.append({"rep_id": f"OPEN{i + 1:0{width}d}", "name": f"Open seat {i + 1}",
                      "home_zip": "", "lon": lon[u], "lat": lat[u], "capacity": 1.0,
                      "start_date": ""})
        d2 = np.minimum(d2, ((xy - xy[u]) ** 2).sum(-1))
    return pd.concat([roster, pd.DataFrame(seats)], ignore_index=True)


def roster_for(n: int, roster: pd.DataFrame | None, accounts: pd.DataFrame,
               units: pd.DataFrame) -> pd.DataFrame:
    """The roster of a point with ``n`` reps (the rule of the module docstring).

    ``roster`` is the reps file as read by :func:`territory.io.roster.read_reps`,
    or None to design ``n`` territories without home bases.
    """
    from ..io.roster import read_reps

    if roster is None:
        return read_reps(n)
    if n <= len(roster):
        return _drop_smallest_books(roster, accounts, n)
    if roster["lat"].isna().all():  # no homes at all: the seats are centred like the rest
        extra = read_reps(n).iloc[len(roster):].assign(
            rep_id=lambda d: [f"OPEN{i + 1:02d}" for i in range(len(d))],
            name=lambda d: [f"Open seat {i + 1}" for i in range(len(d))])
        return pd.concat([roster, extra], ignore_index=True)
    return _open_seats(roster, units, n - len(roster))
