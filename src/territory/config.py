"""Scenario configuration: one TOML file per scenario, parsed into frozen dataclasses.

Every field is optional and defaults to the domain numbers (tiers, bands, cadence, drive-time flags).
Unknown keys are an error that names the key, so a typo never silently
falls back to a default. TOML is parsed with :mod:`tomllib` (no code runs).

Example
-------
.. code-block:: toml

    name = "balanced"
    unit_level = "zip"            # "zip" | "county"

    [balance]
    tam_tolerance = 0.15          # every rep within +-15% of the mean TAM
    account_units_min = 100
    account_units_max = 150

    [tiers]
    method = "threshold"          # "threshold" | "percentile"
    a_min_revenue = 100000
    b_min_revenue = 25000

    [solver]
    name = "highs"                # "highs" | "cbc"
    time_limit_seconds = 60
    mip_gap = 0.01

    [travel]
    source = "file"               # "download" | "file" | "estimate"
    path = "data/columbus_drive.graphml.gz"

    [columns]
    account_id = "Customer ID"
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import InputError

__all__ = [
    "BalanceConfig",
    "ColumnsConfig",
    "DisruptionConfig",
    "ObjectiveConfig",
    "QuotaConfig",
    "ScenarioConfig",
    "SolverConfig",
    "TierConfig",
    "TravelConfig",
    "load_config",
    "config_from_dict",
]

DEFAULT_ROAD_FILTER = (
    '["highway"~"motorway|motorway_link|trunk|trunk_link|primary|primary_link|'
    'secondary|secondary_link|tertiary|tertiary_link|unclassified|residential"]'
)


def _check_fraction(name: str, value: float, *, upper: float = 1.0) -> None:
    if not (0.0 <= float(value) <= upper):
        raise InputError(f"config: {name} must be between 0 and {upper}, got {value!r}")


def _check_positive(name: str, value: float) -> None:
    if not float(value) > 0:
        raise InputError(f"config: {name} must be positive, got {value!r}")


@dataclass(frozen=True)
class ColumnsConfig:
    """Names of the input columns in the user's accounts file."""

    account_id: str = "account_id"
    name: str = "name"
    zip: str = "zip"
    revenue: str = "revenue"
    lat: str = "lat"
    lon: str = "lon"
    tier: str = "tier"
    current_rep: str = "current_rep"


@dataclass(frozen=True)
class TierConfig:
    """How accounts are tiered A/B/C and what each tier weighs.

    ``method="threshold"`` uses revenue cut-offs; ``"percentile"`` ranks
    accounts and gives the top ``a_share`` tier A and the next ``b_share``
    tier B. A ``tier`` column in the input wins over both.
    """

    method: str = "threshold"
    a_min_revenue: float = 100_000.0
    b_min_revenue: float = 25_000.0
    a_share: float = 0.15
    b_share: float = 0.35
    a_units: int = 3
    b_units: int = 2
    c_units: int = 1
    a_touches_per_year: float = 12.0
    b_touches_per_year: float = 6.0
    c_touches_per_year: float = 4.0

    def __post_init__(self) -> None:
        if self.method not in ("threshold", "percentile"):
            raise InputError(
                f"config: tiers.method must be 'threshold' or 'percentile', got {self.method!r}"
            )
        if self.b_min_revenue > self.a_min_revenue:
            raise InputError("config: tiers.b_min_revenue must not exceed tiers.a_min_revenue")
        _check_fraction("tiers.a_share", self.a_share)
        _check_fraction("tiers.b_share", self.b_share)
        if self.a_share + self.b_share > 1:
            raise InputError("config: tiers.a_share + tiers.b_share must not exceed 1")

    def units_of(self, tier: str) -> int:
        """Account units of a tier letter."""
        return {"A": self.a_units, "B": self.b_units, "C": self.c_units}[tier]

    def touches_of(self, tier: str) -> float:
        """Touches per year of a tier letter."""
        return {
            "A": self.a_touches_per_year,
            "B": self.b_touches_per_year,
            "C": self.c_touches_per_year,
        }[tier]


@dataclass(frozen=True)
class BalanceConfig:
    """The balance bands every rep must meet.

    ``soft_*`` turns a band into a penalised constraint: it may be broken at
    ``penalty`` per unit of relative excess, and the breach is reported.
    """

    tam_tolerance: float = 0.15
    account_units_min: float = 100.0
    account_units_max: float = 150.0
    soft_tam: bool = False
    soft_account_units: bool = False
    penalty: float = 1000.0

    def __post_init__(self) -> None:
        _check_fraction("balance.tam_tolerance", self.tam_tolerance)
        if self.account_units_min < 0 or self.account_units_max < self.account_units_min:
            raise InputError(
                "config: balance needs 0 <= account_units_min <= account_units_max, got "
                f"{self.account_units_min}..{self.account_units_max}"
            )


@dataclass(frozen=True)
class SolverConfig:
    """Which MIP solver, and how long it may take.

    ``engine``: ``"pulp"`` solves the documented PuLP model directly; ``"lns"``
    builds the same model in highspy and adds our primal search (LP rounding,
    repair, fix-and-optimise over neighbouring reps) for large instances;
    ``"auto"`` picks by size. Under a wall-clock limit the search depth depends
    on the machine: set ``lns_iterations`` when a large run must repeat exactly.
    """

    name: str = "highs"
    time_limit_seconds: float = 60.0
    mip_gap: float = 0.005
    threads: int = 0
    candidates: int = 6
    msg: bool = False
    engine: str = "auto"
    lns_iterations: int | None = None

    def __post_init__(self) -> None:
        if self.name.lower() not in ("highs", "cbc"):
            raise InputError(f"config: solver.name must be 'highs' or 'cbc', got {self.name!r}")
        _check_positive("solver.time_limit_seconds", self.time_limit_seconds)
        _check_fraction("solver.mip_gap", self.mip_gap)
        if self.candidates < 1:
            raise InputError("config: solver.candidates must be at least 1")
        if self.engine not in ("auto", "pulp", "lns"):
            raise InputError(
                f"config: solver.engine must be 'auto', 'pulp' or 'lns', got {self.engine!r}"
            )
        if self.lns_iterations is not None and self.lns_iterations < 1:
            raise InputError("config: solver.lns_iterations must be at least 1")


@dataclass(frozen=True)
class ObjectiveConfig:
    """What the optimizer minimises besides the hard constraints.

    ``weight`` is what each unit's drive time from its rep is weighted by:
    ``"tam"`` (revenue potential) or ``"visits"`` (visits per year).
    ``compactness_weight`` adds the TAM-weighted squared distance of each unit
    to its rep's base (moment of inertia); ``disruption_weight`` penalises the
    share of accounts moved off their current rep.
    """

    weight: str = "tam"
    disruption_weight: float = 0.0
    compactness_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.weight not in ("tam", "visits"):
            raise InputError(
                f"config: objective.weight must be 'tam' or 'visits', got {self.weight!r}"
            )
        if self.disruption_weight < 0:
            raise InputError("config: objective.disruption_weight must be >= 0")
        if self.compactness_weight < 0:
            raise InputError("config: objective.compactness_weight must be >= 0")


@dataclass(frozen=True)
class DisruptionConfig:
    """Limit on how much of the current alignment may change.

    ``max_moved_share`` caps the share of accounts (``basis="accounts"``) or
    of TAM (``basis="tam"``) whose rep changes; ``None`` means no cap.
    """

    max_moved_share: float | None = None
    basis: str = "accounts"

    def __post_init__(self) -> None:
        if self.max_moved_share is not None:
            _check_fraction("disruption.max_moved_share", self.max_moved_share)
        if self.basis not in ("accounts", "tam"):
            raise InputError(
                f"config: disruption.basis must be 'accounts' or 'tam', got {self.basis!r}"
            )


@dataclass(frozen=True)
class TravelConfig:
    """Where drive times come from and how travel burden is judged.

    ``source``: ``"file"`` (a local ``.osm``, ``.osm.bz2``, ``.osm.pbf`` or
    ``.graphml[.gz]`` named by ``path``), ``"download"`` (OSM through osmnx,
    cached) or ``"estimate"`` (straight line x ``circuity`` / ``estimate_speed_kph``,
    labelled as an estimate everywhere). ``max_route_seconds`` optionally cuts
    the shortest-path search (pairs beyond it get the estimate).
    ``service_minutes_per_visit`` is the time spent at each account: drive hours
    plus visits x service time above ``working_hours_per_month`` make a plan
    impossible for that rep (flagged, never silently reported).
    """

    source: str = "estimate"
    path: str | None = None
    custom_filter: str = DEFAULT_ROAD_FILTER
    buffer_km: float = 5.0
    circuity: float = 1.3
    estimate_speed_kph: float = 50.0
    max_snap_km: float = 2.0
    max_route_seconds: float | None = None
    visits_per_day: int = 4
    working_hours_per_month: float = 160.0
    max_drive_hours_per_month: float = 30.0
    max_travel_share: float = 0.25
    service_minutes_per_visit: float = 45.0
    fallback_speeds_kph: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in ("download", "file", "estimate"):
            raise InputError(
                "config: travel.source must be 'download', 'file' or 'estimate', "
                f"got {self.source!r}"
            )
        if self.source == "file" and not self.path:
            raise InputError("config: travel.source = 'file' needs travel.path")
        for name in ("circuity", "estimate_speed_kph", "max_snap_km",
                     "working_hours_per_month", "max_drive_hours_per_month"):
            _check_positive(f"travel.{name}", getattr(self, name))
        if self.visits_per_day < 1:
            raise InputError("config: travel.visits_per_day must be at least 1")
        if not self.service_minutes_per_visit >= 0:
            raise InputError("config: travel.service_minutes_per_visit must be >= 0, got "
                             f"{self.service_minutes_per_visit!r}")
        _check_fraction("travel.max_travel_share", self.max_travel_share)
        object.__setattr__(self, "fallback_speeds_kph", dict(self.fallback_speeds_kph))


@dataclass(frozen=True)
class QuotaConfig:
    """Quota by the TAM formula: team average x TAM / mean TAM, capped.

    ``team_target`` is the team's total quota; 0 means "report multipliers only".
    """

    team_target: float = 0.0
    cap: float = 0.30
    ramp: tuple[float, float, float] = (0.6, 0.8, 1.0)
    as_of: str | None = None

    def __post_init__(self) -> None:
        if self.team_target < 0:
            raise InputError("config: quota.team_target must be >= 0")
        _check_fraction("quota.cap", self.cap)
        ramp = tuple(float(x) for x in self.ramp)
        if len(ramp) != 3 or not all(0 < x <= 1 for x in ramp):
            raise InputError("config: quota.ramp must be three fractions in (0, 1]")
        object.__setattr__(self, "ramp", ramp)


@dataclass(frozen=True)
class ScenarioConfig:
    """One scenario: everything that decides a plan besides the input files.

    ``region`` says which units the territories partition: ``"states"`` (every
    unit of the states the accounts are in, so the map has no holes),
    ``"all"`` (every unit of the unit file) or ``"accounts"`` (only units
    holding accounts). ``adjacency`` decides which units touch for contiguity:
    ``"queen"`` (a shared corner is enough) or ``"rook"`` (a shared edge).
    ``nearest_unit_km`` is how far a PO-box / unique ZIP or a point off every
    polygon may be placed in the nearest unit (farther: rejected). ``n_reps`` keeps the first n reps of the roster (or
    designs n territories when no roster is given).
    """

    name: str = "scenario"
    description: str = ""
    unit_level: str = "zip"
    region: str = "states"
    adjacency: str = "queen"
    nearest_unit_km: float = 10.0
    n_reps: int | None = None
    contiguity: bool = True
    seed: int = 42
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    tiers: TierConfig = field(default_factory=TierConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    disruption: DisruptionConfig = field(default_factory=DisruptionConfig)
    travel: TravelConfig = field(default_factory=TravelConfig)
    quota: QuotaConfig = field(default_factory=QuotaConfig)

    def __post_init__(self) -> None:
        if self.unit_level not in ("zip", "county"):
            raise InputError(
                f"config: unit_level must be 'zip' or 'county', got {self.unit_level!r}"
            )
        if self.region not in ("states", "all", "accounts"):
            raise InputError(
                f"config: region must be 'states', 'all' or 'accounts', got {self.region!r}"
            )
        _check_positive("nearest_unit_km", self.nearest_unit_km)
        if self.adjacency not in ("queen", "rook"):
            raise InputError(
                f"config: adjacency must be 'queen' or 'rook', got {self.adjacency!r}"
            )
        if self.n_reps is not None and self.n_reps < 1:
            raise InputError("config: n_reps must be at least 1")

    def replace(self, **changes: Any) -> "ScenarioConfig":
        """A copy with some top-level fields changed."""
        return dataclasses.replace(self, **changes)


_SECTIONS: dict[str, type] = {
    "columns": ColumnsConfig,
    "tiers": TierConfig,
    "balance": BalanceConfig,
    "solver": SolverConfig,
    "objective": ObjectiveConfig,
    "disruption": DisruptionConfig,
    "travel": TravelConfig,
    "quota": QuotaConfig,
}


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise InputError(f"config: [{where}] must be a table")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise InputError(
                f"config: unknown key {where + '.' if where else ''}{key!r} "
                f"(known: {', '.join(sorted(known))})"
            )
    try:
        return cls(**data)
    except TypeError as exc:  # wrong value types surface here
        raise InputError(f"config: bad value in [{where or 'scenario'}]: {exc}") from exc


def config_from_dict(data: Mapping[str, Any], *, base_dir: Path | None = None) -> ScenarioConfig:
    """Build a :class:`ScenarioConfig` from a parsed TOML mapping.

    Relative paths (``travel.path``) are resolved against ``base_dir``.
    """
    top: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            section = dict(value) if isinstance(value, Mapping) else value
            if key == "travel" and base_dir is not None and isinstance(section, dict):
                p = section.get("path")
                if p and not Path(p).is_absolute():
                    section["path"] = str((base_dir / p).resolve())
            top[key] = _build(_SECTIONS[key], section, key)
        else:
            top[key] = value
    return _build(ScenarioConfig, top, "")


def load_config(path: str | Path | None) -> ScenarioConfig:
    """Read a scenario TOML file; ``None`` gives the defaults.

    Raises
    ------
    InputError
        The file is missing, is not valid TOML, or has an unknown key or a bad value.
    """
    if path is None:
        return ScenarioConfig()
    p = Path(path)
    if not p.is_file():
        raise InputError(f"config: file not found: {p}")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"config: {p} is not valid TOML: {exc}") from exc
    data.setdefault("name", p.stem)
    return config_from_dict(data, base_dir=p.parent)
