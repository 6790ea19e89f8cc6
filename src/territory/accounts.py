"""Accounts stage: read a CRM export, validate every row, tier what survives.

Every input row ends either in the validated accounts or in the rejects, with
one specific reason; nothing is dropped silently. Rows are numbered 1-based
over the data rows of the input file (the header is row 0), so ``row`` points
a user straight at the line to fix.

Columns added to the accounts frame: ``row, account_id, name, zip, revenue,
lat, lon, current_rep, zip_fixed`` (by :func:`validate_accounts`) and ``tier,
tier_source, account_units, touches_per_year`` (by :func:`assign_tiers`).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .config import ColumnsConfig, TierConfig
from .errors import InputError

__all__ = [
    "AccountsReadInfo",
    "REJECT_COLUMNS",
    "assign_tiers",
    "normalise_zip",
    "parse_revenue",
    "read_table",
    "validate_accounts",
]

log = logging.getLogger(__name__)

REJECT_COLUMNS = ["row", "account_id", "reason"]

# Reasons are stable strings: summary.json counts them and tests pin them.
REASON_DUPLICATE = "duplicate account_id (first occurrence kept)"
REASON_BLANK_ID = "blank account_id"
REASON_BLANK_REVENUE = "blank revenue"
REASON_NEGATIVE_REVENUE = "negative revenue"
REASON_BAD_REVENUE = "non-numeric revenue"
REASON_BAD_ZIP = "malformed ZIP"
REASON_NO_LOCATION = "missing ZIP and coordinates"
REASON_BAD_COORDS = "lat/lon out of range"
REASON_BAD_TIER = "tier must be A, B or C"


@dataclass(frozen=True)
class AccountsReadInfo:
    """How an input table was read (reported in ``summary.json``)."""

    path: str
    encoding: str | None = None
    delimiter: str | None = None
    n_rows: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def _read_csv_text(path: Path) -> tuple[str, str, tuple[str, ...]]:
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(f"{path}: the file is empty")
    notes: list[str] = []
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "cp1252":
            notes.append(f"{path.name} is not UTF-8; read as Windows-1252 (cp1252)")
            log.warning(notes[-1])
        return text, encoding, tuple(notes)
    raise InputError(f"{path}: unreadable encoding (tried UTF-8 and Windows-1252)")


def read_table(path: str | Path, *, required: tuple[str, ...] = ()) -> tuple[pd.DataFrame, AccountsReadInfo]:
    """Read a CSV, Excel (.xlsx) or Parquet table with every cell as text.

    Parameters
    ----------
    path
        The file. CSV encodings tried: UTF-8, then Windows-1252 (reported).
        The CSV delimiter is sniffed among ``, ; tab |``.
    required
        Column names that must be present.

    Returns
    -------
    (frame, info)
        ``frame`` has string cells ('' for blanks) and the original column names.

    Raises
    ------
    InputError
        Missing or empty file, unreadable encoding, a likely wrong delimiter, or
        a missing required column (the message names the file and the column).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    suffix = p.suffix.lower()
    encoding = delimiter = None
    notes: tuple[str, ...] = ()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        try:
            df = pd.read_excel(p, dtype=str, keep_default_na=False)
        except Exception as exc:  # openpyxl raises many kinds
            raise InputError(f"{p}: cannot read the Excel file: {exc}") from exc
    elif suffix in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(p)
        except Exception as exc:
            raise InputError(f"{p}: cannot read the Parquet file: {exc}") from exc
        df = df.astype(object).where(df.notna(), "").astype(str)
    else:
        text, encoding, notes = _read_csv_text(p)
        sample = text[:20000]
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
        try:
            df = pd.read_csv(
                io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                skipinitialspace=True,
            )
        except pd.errors.EmptyDataError as exc:
            raise InputError(f"{p}: the file is empty") from exc
        except pd.errors.ParserError as exc:
            raise InputError(f"{p}: cannot parse as CSV: {exc}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty:
        raise InputError(f"{p}: the file has a header but no data rows")
    missing = [c for c in required if c not in df.columns]
    if missing:
        hint = ""
        if len(df.columns) == 1 and any(d in df.columns[0] for d in ";\t|,"):
            hint = " (the file looks like it uses another delimiter)"
        raise InputError(
            f"{p}: missing required column {missing[0]!r}{hint}; found columns: "
            f"{', '.join(map(repr, df.columns))}. Map other names in the scenario's [columns]."
        )
    info = AccountsReadInfo(str(p), encoding, delimiter, len(df), notes)
    return df.reset_index(drop=True), info


_ZIP_RE = re.compile(r"^(\d{3,5})(?:[-\s]?\d{4})?$")


def normalise_zip(value: object) -> tuple[str | None, bool]:
    """Normalise a ZIP code to 5 digits.

    ZIP+4 is cut to 5 digits; 3- and 4-digit ZIPs that lost their leading zeros
    (spreadsheets do this to New England ZIPs) are padded back; ``43215.0``
    (a float column) is read as ``43215``.

    Returns
    -------
    (zip5, fixed)
        ``zip5`` is None when the value is blank or malformed; ``fixed`` tells
        whether padding was needed.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None, False
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    if not text:
        return None, False
    m = _ZIP_RE.match(text)
    if not m:
        return None, False
    digits = m.group(1)
    # A bare 9-digit ZIP+4 without a hyphen also matches as 5+4.
    if len(text) == 9 and text.isdigit():
        digits = text[:5]
    return digits.zfill(5), len(digits) < 5


_MONEY_RE = re.compile(r"[\s$€£,]")


def parse_revenue(value: object) -> tuple[float | None, str | None]:
    """Parse a revenue cell: ``"$45,000"`` -> 45000.0.

    Returns ``(value, None)`` or ``(None, reason)``.
    """
    text = "" if value is None else str(value).strip()
    if not text or text.lower() in ("nan", "none", "null"):
        return None, REASON_BLANK_REVENUE
    negative = text.startswith("(") and text.endswith(")")  # accounting negatives
    cleaned = _MONEY_RE.sub("", text.strip("()"))
    try:
        number = float(cleaned)
    except ValueError:
        return None, REASON_BAD_REVENUE
    if not math.isfinite(number):
        return None, REASON_BAD_REVENUE
    if negative:
        number = -number
    if number < 0:
        return None, REASON_NEGATIVE_REVENUE
    return number, None


def _parse_coord(value: object) -> float | None:
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        out = float(text)
    except ValueError:
        return math.nan
    return out


def validate_accounts(
    raw: pd.DataFrame, columns: ColumnsConfig | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate raw account rows into clean accounts and rejects.

    Parameters
    ----------
    raw
        Text table as returned by :func:`read_table`.
    columns
        Column-name mapping; defaults to ``account_id, name, zip, revenue``.

    Returns
    -------
    (accounts, rejects)
        ``accounts``: ``row, account_id, name, zip, revenue, lat, lon,
        current_rep, tier_input, zip_fixed``. ``rejects``: ``row, account_id,
        reason``. ``len(accounts) + len(rejects) == len(raw)``.
    """
    cols = columns or ColumnsConfig()
    required = [cols.account_id, cols.revenue]
    has_zip = cols.zip in raw.columns
    has_coords = cols.lat in raw.columns and cols.lon in raw.columns
    missing = [c for c in required if c not in raw.columns]
    if not has_zip and not has_coords:
        missing.append(cols.zip)
    if missing:
        raise InputError(
            f"accounts: missing required column {missing[0]!r}; found: "
            f"{', '.join(map(repr, raw.columns))}"
        )

    def col(name: str) -> pd.Series:
        if name in raw.columns:
            return raw[name].astype(str).str.strip()
        return pd.Series([""] * len(raw), index=raw.index)

    ids, names, zips = col(cols.account_id), col(cols.name), col(cols.zip)
    revenue_raw, lat_raw, lon_raw = col(cols.revenue), col(cols.lat), col(cols.lon)
    tiers_raw, current_raw = col(cols.tier).str.upper(), col(cols.current_rep)

    records: list[dict] = []
    rejects: list[dict] = []
    seen: set[str] = set()
    for i in range(len(raw)):
        row = i + 1
        account_id = ids.iat[i]
        if not account_id:
            rejects.append({"row": row, "account_id": "", "reason": REASON_BLANK_ID})
            continue
        if account_id in seen:
            rejects.append({"row": row, "account_id": account_id, "reason": REASON_DUPLICATE})
            continue
        seen.add(account_id)
        revenue, why = parse_revenue(revenue_raw.iat[i])
        if why:
            rejects.append({"row": row, "account_id": account_id, "reason": why})
            continue
        tier_in = tiers_raw.iat[i]
        if tier_in and tier_in not in ("A", "B", "C"):
            rejects.append({"row": row, "account_id": account_id, "reason": REASON_BAD_TIER})
            continue
        lat, lon = _parse_coord(lat_raw.iat[i]), _parse_coord(lon_raw.iat[i])
        if lat is not None or lon is not None:
            if (
                lat is None or lon is None or not math.isfinite(lat) or not math.isfinite(lon)
                or not -90 <= lat <= 90 or not -180 <= lon <= 180
            ):
                rejects.append({"row": row, "account_id": account_id, "reason": REASON_BAD_COORDS})
                continue
        zip5, fixed = normalise_zip(zips.iat[i])
        if zip5 is None and zips.iat[i] and lat is None:
            rejects.append({"row": row, "account_id": account_id, "reason": REASON_BAD_ZIP})
            continue
        if zip5 is None and lat is None:
            rejects.append({"row": row, "account_id": account_id, "reason": REASON_NO_LOCATION})
            continue
        records.append({
            "row": row,
            "account_id": account_id,
            "name": names.iat[i],
            "zip": zip5 or "",
            "revenue": float(revenue),
            "lat": np.nan if lat is None else lat,
            "lon": np.nan if lon is None else lon,
            "current_rep": current_raw.iat[i] or pd.NA,
            "tier_input": tier_in or pd.NA,
            "zip_fixed": bool(fixed),
        })
    accounts = pd.DataFrame.from_records(
        records,
        columns=["row", "account_id", "name", "zip", "revenue", "lat", "lon",
                 "current_rep", "tier_input", "zip_fixed"],
    )
    accounts = accounts.astype({"row": "int64", "revenue": "float64", "lat": "float64",
                                "lon": "float64", "zip_fixed": "bool"})
    return accounts, pd.DataFrame.from_records(rejects, columns=REJECT_COLUMNS)


def assign_tiers(accounts: pd.DataFrame, tiers: TierConfig | None = None) -> pd.DataFrame:
    """Tier accounts A/B/C and weigh them in account units and touches.

    A ``tier_input`` value (from the input's tier column) wins; otherwise the
    configured rule applies: revenue thresholds, or percentiles of revenue
    (ties broken by ``account_id`` so the split is deterministic).

    Returns a new frame with ``tier, tier_source, account_units, touches_per_year``.
    """
    cfg = tiers or TierConfig()
    out = accounts.copy()
    revenue = out["revenue"].astype(float)
    if cfg.method == "threshold":
        rule = np.where(revenue >= cfg.a_min_revenue, "A",
                        np.where(revenue >= cfg.b_min_revenue, "B", "C"))
        source = f"revenue threshold (A >= {cfg.a_min_revenue:,.0f}, B >= {cfg.b_min_revenue:,.0f})"
    else:
        order = out.assign(_r=revenue).sort_values(["_r", "account_id"], ascending=[False, True])
        n = len(order)
        n_a = int(round(cfg.a_share * n))
        n_b = int(round((cfg.a_share + cfg.b_share) * n)) - n_a
        letters = np.array(["A"] * n_a + ["B"] * n_b + ["C"] * (n - n_a - n_b), dtype=object)
        rule = pd.Series(letters, index=order.index).reindex(out.index).to_numpy()
        source = f"revenue percentile (A top {cfg.a_share:.0%}, B next {cfg.b_share:.0%})"
    given = out["tier_input"] if "tier_input" in out else pd.Series(pd.NA, index=out.index)
    has_given = given.notna() & (given.astype(str) != "")
    out["tier"] = np.where(has_given, given.astype(str), rule)
    out["tier_source"] = np.where(has_given, "input tier column", source)
    out["account_units"] = out["tier"].map(cfg.units_of).astype("int64")
    out["touches_per_year"] = out["tier"].map(cfg.touches_of).astype(float)
    return out
