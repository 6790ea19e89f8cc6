"""Scenario configuration: one TOML file per scenario, parsed into frozen dataclasses.

Every field is optional and defaults to the domain numbers of the tool
(tiers 3/2/1 account units, +-15% TAM, 100-150 account units, ...). Every
field is validated **by type** with pydantic v2 in strict mode: ``contiguity =
"no"`` is not a boolean, ``seed = 7.5`` not an integer and ``tam_tolerance =
"0.15"`` not a number, so each is refused instead of coerced. Wrong types,
ranges, choices and unknown keys raise :class:`~territory.errors.InputError`
with one line naming the key, the value and what is allowed (exit 2); a typo
never silently falls back to a default. TOML is parsed with :mod:`tomllib`
(no code runs).

The sections are pydantic dataclasses: frozen, attribute access, and
:func:`dataclasses.replace` re-validates the copy.

Example
-------
.. code-block:: toml

    name = "balanced"
    unit_level = "zip"            # "zip" | "county" | "auto"

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
import datetime as dt
import logging
import os
import tomllib
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Union

import annotated_types as at
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.dataclasses import dataclass as _pydantic_dataclass

from .errors import InputError

log = logging.getLogger(__name__)

__all__ = [
    "AccountsConfig",
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

# strict: no coercion ("no" is not a bool, 7.5 not an int, "0.15" not a float);
# forbid: an unknown key is an error, never a silently ignored typo.
_STRICT = ConfigDict(strict=True, extra="forbid")

Fraction = Annotated[float, Field(ge=0, le=1)]
# Finite: an infinite band edge, speed or circuity is no rule a solve can meet (it ended
# as "no plan" instead of a clear refusal).
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
#: positive, and ``inf`` allowed where it means "no limit"
PositiveOrInf = Annotated[float, Field(gt=0)]
#: the most solver threads a scenario may ask for: HiGHS starts each one (100,000 took
#: minutes, then aborted the process), and no machine this runs on has more cores
MAX_THREADS = 1024
_WARNED_THREADS: set[int] = set()


def _section(where: str):
    """Decorator: a frozen, strictly validated pydantic dataclass for TOML table ``[where]``.

    Construction errors become one-line :class:`InputError` s naming the key.
    """

    def wrap(cls: type) -> type:
        cls = _pydantic_dataclass(frozen=True, config=_STRICT)(cls)
        validated_init = cls.__init__

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            try:
                validated_init(self, *args, **kwargs)
            except ValidationError as exc:
                raise InputError(_message(exc, cls, where)) from None

        __init__.__doc__ = validated_init.__doc__
        cls.__init__ = __init__
        cls._where = where
        return cls

    return wrap


# ----------------------------------------------------------------------------- messages


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _bounds(metadata: list) -> str:
    parts = []
    for m in metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if isinstance(m, getattr(at, {"ge": "Ge", "gt": "Gt", "le": "Le", "lt": "Lt"}[attr])):
                parts.append(f"{sym} {getattr(m, attr):g}")
    return " and ".join(parts)


def _describe(tp: Any, metadata: list | None = None) -> str:
    """What a field of type ``tp`` allows, in TOML words."""
    tp, optional = _strip_optional(tp)
    metadata = list(metadata or [])
    if typing.get_origin(tp) is Annotated:
        tp, *extra = typing.get_args(tp)
        for e in extra:
            metadata.extend(getattr(e, "metadata", [e]))
    origin = typing.get_origin(tp)
    if origin is Literal:
        opts = [repr(a) for a in typing.get_args(tp)]
        text = " or ".join([", ".join(opts[:-1]), opts[-1]]) if len(opts) > 1 else opts[0]
    elif tp is bool:
        text = "true or false"
    elif tp is int:
        text = "a whole number"
    elif tp is float:
        text = ("a finite number" if any(getattr(m, "allow_inf_nan", None) is False
                                         for m in metadata) else "a number")
    elif tp is str:
        text = "a quoted string"
    elif origin is tuple:
        args = typing.get_args(tp)
        text = f"a list of {len(args)} values, each {_describe(args[0])}"
    elif origin in (dict, Mapping):
        text = f"a table whose values are each {_describe(typing.get_args(tp)[1])}"
    elif dataclasses.is_dataclass(tp):
        text = f"a table [{getattr(tp, '_where', tp.__name__)}]"
    else:
        text = str(tp)
    bounds = _bounds(metadata)
    text = f"{text} {bounds}" if bounds else text
    return f"{text} (or leave it out)" if optional else text


def _field_of(cls: type, loc: tuple) -> tuple[str, str | None]:
    """The dotted key of an error location and what that key allows."""
    names, allowed, current = [], None, cls
    for part in loc:
        fields = getattr(current, "__pydantic_fields__", None)
        if fields is None or part not in fields:
            names.append(f"[{part}]" if isinstance(part, int) else str(part))
            continue
        names.append(part)
        info = fields[part]
        allowed = _describe(info.annotation, info.metadata)
        inner, _ = _strip_optional(info.annotation)
        current = inner if dataclasses.is_dataclass(inner) else None
    return ".".join(names).replace(".[", "["), allowed


def _value(v: Any) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def _message(exc: ValidationError, cls: type, where: str) -> str:
    """One line for the first error: the key, the value, what is allowed."""
    err = exc.errors(include_url=False)[0]
    prefix = f"{where}." if where else ""
    key, allowed = _field_of(cls, tuple(err["loc"]))
    if err["type"] == "unexpected_keyword_argument":
        known = ", ".join(f.name for f in dataclasses.fields(cls))
        return f"config: unknown key {prefix}{key} (known keys{' of [' + where + ']' if where else ''}: {known})"
    if not err["loc"]:  # a rule across keys (model validator)
        msg = str(err["ctx"]["error"]) if "ctx" in err and "error" in err["ctx"] else err["msg"]
        return f"config: [{where or 'scenario'}] {msg}"
    detail = err["msg"].removeprefix("Value error, ")
    detail = detail[0].lower() + detail[1:]
    if err["type"] == "literal_error":
        return f"config: {prefix}{key} = {_value(err['input'])} is not allowed; allowed: {allowed}"
    return (f"config: {prefix}{key} = {_value(err['input'])} is not allowed: {detail}; "
            f"allowed: {allowed}")


# ----------------------------------------------------------------------------- sections


@_section("columns")
class ColumnsConfig:
    """Names of the input columns in the user's accounts file.

    ``decimal`` is the decimal mark of the number columns (revenue, lat, lon):
    ``"auto"`` detects it per column (``1.234,56`` vs ``1,234.56``) and refuses
    a column where both readings fit; ``"."`` or ``","`` force it.
    """

    account_id: str = "account_id"
    name: str = "name"
    zip: str = "zip"
    revenue: str = "revenue"
    lat: str = "lat"
    lon: str = "lon"
    tier: str = "tier"
    current_rep: str = "current_rep"
    decimal: Literal["auto", ".", ","] = "auto"


@_section("accounts")
class AccountsConfig:
    """Plausibility checks on the accounts, beyond their format.

    An account whose revenue is more than ``revenue_outlier_z`` robust standard
    deviations (1.4826 x the median absolute deviation, at least a factor of two)
    above the median of log10 revenue, or above ``max_revenue`` when set, is rejected with a reason
    naming it: one mistyped 1e15 would otherwise size every band. The default
    of 10 is far beyond real whales (for a typical book, 10 robust SDs is about
    20,000x the median revenue). Set ``revenue_outlier_z = inf`` to keep every account.
    """

    revenue_outlier_z: PositiveOrInf = 10.0
    max_revenue: Positive | None = None


@_section("tiers")
class TierConfig:
    """How accounts are tiered A/B/C and what each tier weighs.

    ``method="threshold"`` uses revenue cut-offs; ``"percentile"`` ranks
    accounts and gives the top ``a_share`` tier A and the next ``b_share``
    tier B. A ``tier`` column in the input wins over both.
    """

    method: Literal["threshold", "percentile"] = "threshold"
    a_min_revenue: NonNegative = 100_000.0
    b_min_revenue: NonNegative = 25_000.0
    a_share: Fraction = 0.15
    b_share: Fraction = 0.35
    a_units: Annotated[int, Field(ge=0)] = 3
    b_units: Annotated[int, Field(ge=0)] = 2
    c_units: Annotated[int, Field(ge=0)] = 1
    a_touches_per_year: NonNegative = 12.0
    b_touches_per_year: NonNegative = 6.0
    c_touches_per_year: NonNegative = 4.0

    @model_validator(mode="after")
    def _ordered(self) -> "TierConfig":
        if self.b_min_revenue > self.a_min_revenue:
            raise ValueError(f"b_min_revenue ({self.b_min_revenue:g}) must not exceed "
                             f"a_min_revenue ({self.a_min_revenue:g})")
        if self.a_share + self.b_share > 1:
            raise ValueError(f"a_share + b_share ({self.a_share:g} + {self.b_share:g}) "
                             "must not exceed 1")
        return self

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


@_section("balance")
class BalanceConfig:
    """The balance bands every rep must meet.

    ``soft_*`` turns a band into a penalised constraint: it may be broken at
    ``penalty`` per unit of relative excess, and the breach is reported.
    """

    tam_tolerance: Fraction = 0.15
    account_units_min: NonNegative = 100.0
    account_units_max: NonNegative = 150.0
    soft_tam: bool = False
    soft_account_units: bool = False
    penalty: NonNegative = 1000.0

    @model_validator(mode="after")
    def _band(self) -> "BalanceConfig":
        if self.account_units_max < self.account_units_min:
            raise ValueError("account_units_min must not exceed account_units_max, got "
                             f"{self.account_units_min:g}..{self.account_units_max:g}")
        return self


@_section("solver")
class SolverConfig:
    """Which MIP solver, and how long it may take.

    ``engine``: ``"pulp"`` solves the documented PuLP model directly; ``"lns"``
    builds the same model in highspy and adds our primal search (LP rounding,
    repair, fix-and-optimise over neighbouring reps) for large instances
    (without contiguity and up to 25,000 pairs it hands the repaired plan to
    the whole model as soon as the bands hold); ``"auto"`` picks by size. Under
    a wall-clock limit the search depth depends on the machine: set
    ``lns_iterations`` when a large run must repeat exactly.
    ``name`` is case-insensitive. ``threads``: the solver's threads, 0 (the default)
    one per core, at most :data:`MAX_THREADS`; more than the machine's cores is
    warned about (HiGHS starts each one).
    """

    name: Literal["highs", "cbc"] = "highs"
    time_limit_seconds: Positive = 60.0
    mip_gap: Fraction = 0.005
    threads: Annotated[int, Field(ge=0, le=MAX_THREADS)] = 0
    candidates: Annotated[int, Field(ge=1)] = 6
    msg: bool = False
    engine: Literal["auto", "pulp", "lns"] = "auto"
    lns_iterations: Annotated[int, Field(ge=1)] | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @field_validator("threads")
    @classmethod
    def _cores(cls, v: int) -> int:
        # HiGHS starts every thread asked for: more than the cores only slow it down
        cores = os.cpu_count() or 1
        if v > cores and v not in _WARNED_THREADS:
            _WARNED_THREADS.add(v)
            log.warning("solver.threads = %d is more than this machine's %d cores: HiGHS "
                        "starts them all and solves no faster (0 = one per core)", v, cores)
        return v


@_section("objective")
class ObjectiveConfig:
    """What the optimizer minimises besides the hard constraints.

    ``weight`` is what each unit's drive time from its rep is weighted by:
    ``"tam"`` (revenue potential) or ``"visits"`` (visits per year).
    ``compactness_weight`` adds the TAM-weighted squared distance of each unit
    to its rep's base (moment of inertia); ``disruption_weight`` penalises the
    share of accounts moved off their current rep. ``balance_weight`` adds
    the sum over reps of the absolute TAM and account-unit deviation from
    target (each in units of the mean target). ``mode = "balance_first"``
    first minimises the largest relative deviation of any rep, then travel
    among plans whose largest deviation is at most ``balance_slack`` (a
    fraction, e.g. 0.01 = one percentage point) above that minimum.
    """

    weight: Literal["tam", "visits"] = "tam"
    disruption_weight: NonNegative = 0.0
    compactness_weight: NonNegative = 0.0
    balance_weight: NonNegative = 0.0
    mode: Literal["travel", "balance_first"] = "travel"
    balance_slack: Fraction = 0.01


@_section("disruption")
class DisruptionConfig:
    """Limit on how much of the current alignment may change.

    ``max_moved_share`` caps the share of accounts (``basis="accounts"``) or
    of TAM (``basis="tam"``) whose rep changes; ``None`` means no cap.
    """

    max_moved_share: Fraction | None = None
    basis: Literal["accounts", "tam"] = "accounts"


@_section("travel")
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
    ``max_home_km``: a rep whose home is farther than this (great-circle) from
    every placed account is refused, naming the rep (a mistyped home ZIP).
    """

    source: Literal["download", "file", "estimate"] = "estimate"
    path: str | None = None
    custom_filter: str = DEFAULT_ROAD_FILTER
    buffer_km: NonNegative = 5.0
    circuity: Positive = 1.3
    estimate_speed_kph: Positive = 50.0
    max_snap_km: Positive = 2.0
    max_route_seconds: Positive | None = None
    visits_per_day: Annotated[int, Field(ge=1)] = 4
    working_hours_per_month: Positive = 160.0
    max_drive_hours_per_month: Positive = 30.0
    max_travel_share: Fraction = 0.25
    service_minutes_per_visit: NonNegative = 45.0
    max_home_km: Positive = 250.0
    fallback_speeds_kph: dict[str, Positive] = field(default_factory=dict)

    @field_validator("fallback_speeds_kph", mode="before")
    @classmethod
    def _plain_dict(cls, v: Any) -> Any:
        # a Mapping (e.g. a frozen view) is fine; strict mode takes only dicts
        return dict(v) if isinstance(v, Mapping) else v

    @model_validator(mode="after")
    def _path_for_file(self) -> "TravelConfig":
        if self.source == "file" and not self.path:
            raise ValueError("source = 'file' needs travel.path")
        return self


@_section("quota")
class QuotaConfig:
    """Quota by the TAM formula: team average x TAM / mean TAM, capped.

    ``team_target`` is the team's total quota; 0 means "report multipliers only".
    ``ramp`` is the share of quota in a rep's first, second and later years.
    """

    team_target: NonNegative = 0.0
    cap: Fraction = 0.30
    ramp: tuple[Annotated[float, Field(gt=0, le=1)], Annotated[float, Field(gt=0, le=1)],
                Annotated[float, Field(gt=0, le=1)]] = (0.6, 0.8, 1.0)
    as_of: str | None = None

    @field_validator("as_of", mode="before")
    @classmethod
    def _iso_date(cls, v: Any) -> Any:
        # a TOML date (as_of = 2026-01-15) is a date; a string must be one, written
        # YYYY-MM-DD: "yesterday" or "01/02/2026" crashed the quota step after the solve
        if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            return v.isoformat()
        if isinstance(v, str) and v.strip():
            try:
                if len(v.strip()) != 10:
                    raise ValueError
                return dt.date.fromisoformat(v.strip()).isoformat()
            except ValueError:
                raise ValueError("not a date; write it as YYYY-MM-DD, e.g. \"2026-01-15\"") from None
        return v

    @field_validator("ramp", mode="before")
    @classmethod
    def _list_to_tuple(cls, v: Any) -> Any:
        # TOML has arrays, not tuples; strict mode takes only a tuple
        if isinstance(v, (list, tuple)) and len(v) != 3:
            raise ValueError(f"ramp needs 3 shares (year 1, year 2, later), got {len(v)}")
        return tuple(v) if isinstance(v, list) else v


@_section("")
class ScenarioConfig:
    """One scenario: everything that decides a plan besides the input files.

    ``region`` says which units the territories partition: ``"states"`` (every
    unit of the states the accounts are in, so the map has no holes),
    ``"all"`` (every unit of the unit file) or ``"accounts"`` (only units
    holding accounts). ``adjacency`` decides which units touch for contiguity:
    ``"queen"`` (a shared corner is enough) or ``"rook"`` (a shared edge).
    ``nearest_unit_km`` is how far a PO-box / unique ZIP or a point off every
    polygon may be placed in the nearest unit (farther: rejected). ``n_reps``
    keeps the first n reps of the roster (or designs n territories when no
    roster is given). ``unit_level = "auto"``: counties, each split into its ZIPs
    where it holds more than a band's width (:func:`territory.geo.units.coarse_units`).
    ``contract_empty_units`` merges every unit without
    accounts into a nearby account-bearing one before the solve (see
    :mod:`territory.geo.contract`).
    """

    name: str = "scenario"
    description: str = ""
    unit_level: Literal["zip", "county", "auto"] = "zip"
    region: Literal["states", "all", "accounts"] = "states"
    adjacency: Literal["queen", "rook"] = "queen"
    nearest_unit_km: Positive = 10.0
    n_reps: Annotated[int, Field(ge=1)] | None = None
    contiguity: bool = True
    contract_empty_units: bool = True
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 42  # what NumPy and scikit-learn take
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    accounts: AccountsConfig = field(default_factory=AccountsConfig)
    tiers: TierConfig = field(default_factory=TierConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    disruption: DisruptionConfig = field(default_factory=DisruptionConfig)
    travel: TravelConfig = field(default_factory=TravelConfig)
    quota: QuotaConfig = field(default_factory=QuotaConfig)

    @field_validator("name")
    @classmethod
    def _folder_name(cls, v: str) -> str:
        # several scenarios are written to --out/NAME: the name must stay inside --out
        if v in (".", "..") or any(c in "/\\" or not c.isprintable() for c in v):
            raise ValueError("a scenario's name is its folder name: no /, \\, control "
                             "characters, '.' or '..'")
        return v

    def replace(self, **changes: Any) -> "ScenarioConfig":
        """A validated copy with some top-level fields changed."""
        return dataclasses.replace(self, **changes)


def _sections() -> dict[str, type]:
    """The TOML tables: every field of :class:`ScenarioConfig` that is a section."""
    fields = ScenarioConfig.__pydantic_fields__
    return {name: info.annotation for name, info in fields.items()
            if dataclasses.is_dataclass(info.annotation)}


_SECTIONS: dict[str, type] = _sections()


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise InputError(f"config: {where} = {_value(data)} is not allowed; allowed: a table "
                         f"[{where}]")
    return cls(**data)


def config_from_dict(data: Mapping[str, Any], *, base_dir: Path | None = None) -> ScenarioConfig:
    """Build a :class:`ScenarioConfig` from a parsed TOML mapping.

    Relative paths (``travel.path``) are resolved against ``base_dir``.

    Raises
    ------
    InputError
        One line naming the first bad key, its value and what is allowed.
    """
    top: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            section = dict(value) if isinstance(value, Mapping) else value
            if key == "travel" and base_dir is not None and isinstance(section, dict):
                p = section.get("path")
                if isinstance(p, str) and p and not Path(p).is_absolute():
                    section["path"] = str((base_dir / p).resolve())
            top[key] = _build(_SECTIONS[key], section, key)
        else:
            top[key] = value
    return ScenarioConfig(**top)


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
    try:
        return config_from_dict(data, base_dir=p.parent)
    except InputError as exc:  # name the file, not only the key
        raise InputError(str(exc).replace("config: ", f"config {p}: ", 1)) from None
