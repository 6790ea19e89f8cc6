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

from ..config import AccountsConfig, ColumnsConfig, TierConfig
from ..errors import InputError

__all__ = [
    "AccountsReadInfo",
    "REASONS",
    "REJECT_COLUMNS",
    "assign_tiers",
    "decimal_mark",
    "revenue_outliers",
    "normalise_zip",
    "parse_revenue",
    "plain_minus",
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
REASON_MISSING_COORD = "missing coordinates (lat or lon blank)"
REASON_NONNUMERIC_COORDS = "non-numeric lat/lon"
REASON_BAD_TIER = "tier must be A, B or C"
REASON_EXTRA_FIELDS = "more fields than the header (unquoted delimiter in a field?)"
REASON_REVENUE_OUTLIER = "revenue outlier (far above the rest of the book: a typo?)"
#: Cells read as a blank revenue besides the empty string.
_BLANK_WORDS = {"nan", "none", "null", "n/a", "na", "-", "--", "\u2014", "#n/a"}
#: Signs a spreadsheet or a word processor writes for a minus: the minus sign (U+2212), the
#: figure and en dashes, the hyphen, the non-breaking hyphen, the small and full-width
#: hyphen-minus. Before a number none of them can mean anything else, so each reads as "-"
#: ("\u221282.99" is -82.99, not a non-numeric cell); the em dash stays a blank placeholder.
_MINUS = str.maketrans(dict.fromkeys("\u2212\u2012\u2013\u2010\u2011\ufe63\uff0d", "-"))


#: Every reason this module gives, for documentation and tests.
REASONS = (REASON_DUPLICATE, REASON_BLANK_ID, REASON_BLANK_REVENUE, REASON_NEGATIVE_REVENUE,
           REASON_BAD_REVENUE, REASON_BAD_ZIP, REASON_NO_LOCATION, REASON_BAD_COORDS,
           REASON_MISSING_COORD, REASON_NONNUMERIC_COORDS, REASON_BAD_TIER, REASON_EXTRA_FIELDS,
           REASON_REVENUE_OUTLIER)


@dataclass(frozen=True)
class AccountsReadInfo:
    """How an input table was read (reported in ``summary.json``)."""

    path: str
    encoding: str | None = None
    delimiter: str | None = None
    n_rows: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def _decode(raw: bytes, path: Path) -> tuple[str, str, tuple[str, ...]]:
    """Text of a CSV: UTF-8 (BOM or not), UTF-16 with a BOM, else Windows-1252 (reported)."""
    notes: list[str] = []
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates: tuple[str, ...] = ("utf-16",)
    else:
        candidates = ("utf-8-sig", "cp1252")
    for encoding in candidates:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            if encoding == "utf-8-sig":
                bad_line = raw[: exc.start].count(b"\n") + 1
                first_bad = (encoding, bad_line)
            continue
        if encoding == "cp1252":
            notes.append(f"{path.name} is not UTF-8 (first non-UTF-8 byte on line "
                         f"{first_bad[1]}); read it as Windows-1252 (cp1252)")
            log.warning("%s", notes[-1])
        return text, encoding, tuple(notes)
    raise InputError(f"{path}: unreadable encoding (neither UTF-8 nor Windows-1252); "
                     "save it as UTF-8 CSV")


def _read_csv_text(path: Path) -> tuple[str, str, tuple[str, ...]]:
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(f"{path}: the file is empty")
    return _decode(raw, path)


_DELIMITERS = ",;\t|"
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def _pick_delimiter(text: str) -> str:
    """The delimiter of a CSV text among ``, ; tab |``.

    The header decides: the candidate that splits it into the most fields,
    ties broken by how consistently it splits the next lines (csv.Sniffer
    is easily fooled by "$45,000" in a semicolon file).
    """
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    header, body = lines[0], lines[1:]
    best, best_key = ",", (-1, -1.0)
    for d in _DELIMITERS:
        n = len(next(csv.reader([header], delimiter=d)))
        if n < 2:
            continue
        rows = list(csv.reader(body, delimiter=d))
        agree = sum(len(r) == n for r in rows) / len(rows) if rows else 1.0
        key = (n, agree) if agree >= 0.5 else (0, agree)
        if key > best_key:
            best, best_key = d, key
    return best


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, raw in enumerate(names):
        name = raw.strip().lstrip("\ufeff") or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def _parse_csv(text: str, delimiter: str, path: Path) -> pd.DataFrame:
    """Records as text; short rows padded, over-long rows flagged in ``_extra_fields``."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
    try:
        header = next(reader)
        while not any(h.strip() for h in header):
            header = next(reader)
    except StopIteration:
        raise InputError(f"{path}: the file is empty") from None
    columns = _unique_names(header)
    n = len(columns)
    records: list[list[str]] = []
    try:
        for rec in reader:
            if rec and any(c.strip() for c in rec):  # blank lines are not rows
                records.append(rec)
    except csv.Error as exc:
        raise InputError(f"{path}: line {reader.line_num}: cannot parse as CSV ({exc})") from exc
    # A file whose rows all end in a delimiter has one empty field more than its
    # header: that is a habit, not a defect. Otherwise an extra field means an
    # unquoted delimiter inside a value, and the row cannot be trusted.
    lengths = pd.Series([len(r) for r in records], dtype="int64")
    usual = int(lengths.mode().iloc[0]) if len(lengths) else n
    allowed = max(n, usual)
    rows: list[list[str]] = []
    extra: list[str] = []
    for rec in records:
        tail = rec[n:]
        if len(rec) > allowed or any(c.strip() for c in tail):
            extra.append(f"{len(rec)} fields, header has {n}")
        else:
            extra.append("")
        rows.append(rec[:n] + [""] * (n - len(rec)))
    df = pd.DataFrame(rows, columns=columns, dtype=object)
    if any(extra):
        df["_extra_fields"] = extra
    return df


def _sniff_kind(path: Path) -> str:
    """'excel', 'parquet' or 'csv' from the file's first bytes (a renamed .xlsx still reads)."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if head == b"PK\x03\x04":
        return "excel"
    if head == b"PAR1":
        return "parquet"
    return "csv"


def _numeric_columns(df: pd.DataFrame) -> list[str]:
    """Columns of a typed (Excel / Parquet) table whose cells are all numbers or blank.

    Their text is Python's (decimal point), whatever the locale of the file.
    """
    out = []
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            out.append(str(col).strip())
        elif s.dtype == object:
            vals = [v for v in s.tolist() if v is not None and v != "" and not
                    (isinstance(v, float) and math.isnan(v))]
            if vals and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
                out.append(str(col).strip())
    return out


def _as_text(df: pd.DataFrame) -> pd.DataFrame:
    """Every cell as text, blanks as ''; integral floats lose their '.0'."""
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_float_dtype(s):
            vals = s.to_numpy(dtype=float)
            txt = [("" if not math.isfinite(v) else
                    str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(float(v)))
                   for v in vals.tolist()]
            out[col] = pd.Series(txt, index=df.index, dtype=object)
        else:
            out[col] = s.astype(object).where(s.notna(), "").astype(str)
    return pd.DataFrame(out, index=df.index)


def read_table(path: str | Path | pd.DataFrame, *,
               required: tuple[str, ...] = ()) -> tuple[pd.DataFrame, AccountsReadInfo]:
    """Read a CSV, Excel (.xlsx) or Parquet table (or a DataFrame) with every cell as text.

    Parameters
    ----------
    path
        The file. CSV encodings tried: UTF-8, then Windows-1252 (reported in
        ``info.notes``); UTF-16 with a byte-order mark is read too. The CSV
        delimiter is picked among ``, ; tab |`` from the header. Excel and
        Parquet are recognised by content as well as by suffix.
    required
        Column names that must be present.

    Returns
    -------
    (frame, info)
        ``frame`` has string cells ('' for blanks) and the original column
        names; ``frame.attrs["source"]`` is the path. A CSV row with more
        non-empty fields than the header keeps its first fields and gets a
        message in an extra ``_extra_fields`` column (rejected by
        :func:`validate_accounts`). Blank lines are skipped.

    Raises
    ------
    InputError
        Missing or empty file, unreadable encoding, a likely wrong delimiter, or
        a missing required column (the message names the file and the column).
    """
    if isinstance(path, pd.DataFrame):
        return _frame_table(path, required)
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: the file is empty")
    suffix = p.suffix.lower()
    kind = ("excel" if suffix in (".xlsx", ".xlsm") else
            "parquet" if suffix in (".parquet", ".pq") else _sniff_kind(p))
    if suffix == ".xls":
        raise InputError(f"{p}: old .xls workbooks are not supported; save it as .xlsx or CSV")
    encoding = delimiter = None
    notes: tuple[str, ...] = ()
    numeric: list[str] = []
    if kind == "excel":
        try:
            df = pd.read_excel(p, dtype=object, keep_default_na=False, na_values=[])
        except Exception as exc:  # openpyxl raises many kinds
            raise InputError(f"{p}: cannot read the Excel file: {exc}") from exc
        df = df.replace({None: ""})
        numeric = _numeric_columns(df)
        df = _as_text(df)
        df.columns = _unique_names([str(c) for c in df.columns])
    elif kind == "parquet":
        try:
            df = pd.read_parquet(p)
        except Exception as exc:
            raise InputError(f"{p}: cannot read the Parquet file: {exc}") from exc
        numeric = _numeric_columns(df)
        df = _as_text(df)
        df.columns = _unique_names([str(c) for c in df.columns])
    else:
        text, encoding, notes = _read_csv_text(p)
        if not text.strip():
            raise InputError(f"{p}: the file is empty")
        delimiter = _pick_delimiter(text)
        df = _parse_csv(text, delimiter, p)
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty:
        raise InputError(f"{p}: the file has a header but no data rows")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(_missing_message(p, missing[0], list(df.columns)))
    info = AccountsReadInfo(str(p), encoding, delimiter, len(df), notes)
    df = df.reset_index(drop=True)
    df.attrs["source"] = str(p)
    df.attrs["numeric_columns"] = numeric  # typed cells: their text has a decimal point
    return df, info


def _frame_table(frame: pd.DataFrame, required: tuple[str, ...]) -> tuple[pd.DataFrame, AccountsReadInfo]:
    """A DataFrame read as :func:`read_table` reads a file: text cells, checked columns."""
    source = str(frame.attrs.get("source", "DataFrame"))
    df = _as_text(frame.reset_index(drop=True)).astype(object)  # object cells, as from a file
    df.columns = _unique_names([str(c).strip() for c in df.columns])
    if df.empty:
        raise InputError(f"{source}: the table has no rows")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(_missing_message(source, missing[0], list(df.columns)))
    df.attrs["source"] = source
    return df, AccountsReadInfo(source, None, None, len(df), ())


def _missing_message(source: object, column: str, found: list[str]) -> str:
    found = [c for c in found if c != "_extra_fields"]
    hint = ""
    if len(found) == 1:
        seps = sorted({ch for ch in found[0] if not (ch.isalnum() or ch in " _-.#()/")})
        names = ", ".join(_DELIM_NAMES.get(ch, repr(ch)) for ch in seps)
        hint = (" - the whole header is one column, so the file uses a delimiter other than "
                "comma, semicolon, tab or pipe" + (f" (it contains {names})" if names else "")
                + "; save it as a comma-separated CSV")
    shown = ", ".join(map(repr, found[:12])) + (", ..." if len(found) > 12 else "")
    return (f"{source}: missing required column {column!r}{hint}. Found columns: {shown}. "
            "Map other names in the scenario's [columns].")


_ZIP_RE = re.compile(r"^(\d{3,5})(?:[-\s]?(\d{4}))?$")


def normalise_zip(value: object) -> tuple[str | None, bool]:
    """Normalise a ZIP code to 5 digits.

    * ZIP+4 (``43215-1234``, ``43215 1234``, bare 9 digits ``432151234``) is cut to 5 digits;
    * 3- and 4-digit ZIPs that lost their leading zeros (spreadsheets do this
      to New England ZIPs: ``2134``) are padded back (``02134``); a bare
      8-digit value is a ZIP+4 that lost its leading zero;
    * ``43215.0`` (a float column) is read as ``43215``.

    Returns
    -------
    (zip5, fixed)
        ``zip5`` is None when the value is blank or malformed; ``fixed`` tells
        whether the value had to be changed to get there (counted as
        ``zip_fixed`` in the summary).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None, False
    text = str(value).strip()
    if not text:
        return None, False
    core = text[:-2] if text.endswith(".0") and text[:-2].isdigit() else text
    if core.isdigit() and len(core) in (8, 9):  # ZIP+4 without its hyphen
        zip5 = core.zfill(9)[:5]
        return zip5, True
    m = _ZIP_RE.match(core)
    if not m:
        return None, False
    zip5 = m.group(1).zfill(5)
    return zip5, zip5 != text


# Currency signs, codes and spaces (incl. the no-break and thin spaces of European
# thousands groups) carry no value.
_MONEY_RE = re.compile(r"[\s\u00a0\u202f$€£]|^(?:USD|US\$|EUR)|(?:USD|EUR)$", re.IGNORECASE)
_EXP = r"(?:[eE][+-]?\d+)?"
#: A number in either convention: grouped thousands or not, optional fraction and exponent.
_GRAMMAR = {
    ".": re.compile(rf"^[+-]?(?:\d{{1,3}}(?:,\d{{3}})+|\d*)(?:\.\d*)?{_EXP}$"),
    ",": re.compile(rf"^[+-]?(?:\d{{1,3}}(?:\.\d{{3}})+|\d*)(?:,\d*)?{_EXP}$"),
}
_GROUPED = {".": re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+$"),
            ",": re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+$")}


def _to_float(core: str, decimal: str) -> float | None:
    """``core`` (signs and currency stripped) read with ``decimal`` as the decimal mark."""
    if not any(ch.isdigit() for ch in core) or not _GRAMMAR[decimal].match(core):
        return None
    thousands = "," if decimal == "." else "."
    return float(core.replace(thousands, "").replace(decimal, "."))


def _mark_evidence(core: str, kind: str) -> str:
    """What one cell says about its column's decimal mark.

    ``"."`` or ``","``: only that mark reads it; ``"?."`` / ``"?,"``: one group of three
    digits after a single mark (``1.234``, ``1,234``), which reads both ways; ``""``:
    no mark, or unreadable either way. Coordinates have no thousands groups, so
    their single mark is always the decimal one.
    """
    marks = [ch for ch in core if ch in ".,"]
    if not marks:
        return ""
    if kind == "coord":
        return marks[0] if len(set(marks)) == 1 and len(marks) == 1 else ""
    fits = [m for m in ".," if _to_float(core, m) is not None]
    if len(fits) == 1:
        return fits[0]
    if len(fits) == 2 and len(marks) == 1:
        return "?" + marks[0]
    return ""


def decimal_mark(cells: list[str], column: str, *, kind: str = "money",
                 source: object = "accounts") -> str:
    """The decimal mark of a number column: ``"."`` (1,234.56) or ``","`` (1.234,56).

    Every cell votes (see :func:`_mark_evidence`). Cells only one mark reads decide;
    both marks in one column, or a column whose only marked cells are ``1.234``-like
    (a decimal point or a thousands dot), is refused: guessing would scale every
    revenue by 1,000. ``1,234``-like cells alone read as US thousands.

    Raises
    ------
    InputError
        Naming the file, the column and two example cells.
    """
    votes: dict[str, list[str]] = {".": [], ",": [], "?.": [], "?,": []}
    for cell in cells:
        core = _MONEY_RE.sub("", plain_minus(cell.strip()).strip("()"))
        ev = _mark_evidence(core, kind)
        if ev and len(votes[ev]) < 2:
            votes[ev].append(cell.strip())
    hint = 'set [columns] decimal = "," or "." in the scenario'
    if votes["."] and votes[","]:
        raise InputError(f"{source}: column {column!r} mixes number formats: "
                         f"{votes['.'][0]!r} has a decimal point, {votes[','][0]!r} a decimal "
                         f"comma; use one format, or {hint}")
    if votes["."] or votes[","]:
        return "." if votes["."] else ","
    if votes["?."]:
        ex = " and ".join(repr(c) for c in votes["?."])
        raise InputError(f"{source}: column {column!r} is ambiguous: {ex} read as thousands "
                         f"(decimal comma) or as decimals (decimal point); {hint}")
    return "."


def plain_minus(text: str) -> str:
    """``text`` with every minus-like sign (U+2212, en dash, ...) written as ``-``."""
    return text.translate(_MINUS)


def _revenue_of(text: str, decimal: str) -> tuple[float | None, str | None]:
    text = plain_minus(text)
    if not text or text.lower() in _BLANK_WORDS:
        return None, REASON_BLANK_REVENUE
    negative = text.startswith("(") and text.endswith(")")  # accounting negatives
    core = _MONEY_RE.sub("", text.strip("()"))
    number = None if negative and core[:1] in "+-" else _to_float(core, decimal)  # "(-5)"?
    if number is None or not math.isfinite(number):
        return None, REASON_BAD_REVENUE
    if negative:
        number = -number
    if number < 0:
        return None, REASON_NEGATIVE_REVENUE
    return number, None


def parse_revenue(value: object, decimal: str = ".") -> tuple[float | None, str | None]:
    """Parse a revenue cell: ``"$45,000"`` -> 45000.0, ``"(1,200)"`` -> negative.

    ``decimal`` is the column's decimal mark (``","``: ``"1.234,56"`` -> 1234.56).
    Returns ``(value, None)`` or ``(None, reason)`` with one of the reasons
    blank / negative / non-numeric revenue. ``N/A``, ``-`` and ``null`` count
    as blank; a cell that does not fit the column's format is non-numeric.
    """
    text = "" if value is None else str(value).strip()
    return _revenue_of(text, decimal)


def _parse_coord(value: object, decimal: str = ".") -> float | None:
    text = "" if value is None else plain_minus(str(value).strip())
    if not text or text.lower() in _BLANK_WORDS:
        return None
    if decimal == ",":
        text = text.replace(",", ".", 1) if "." not in text else "x"
    try:
        return float(text)
    except ValueError:
        return math.nan


# Names tried when a column keeps its default name but the file calls it otherwise.
_ALIASES = {
    "account_id": ("id", "account id", "account number", "customer id"),
    "zip": ("zip code", "zipcode", "zip5", "postal code", "postcode"),
    "lat": ("latitude",),
    "lon": ("longitude", "lng", "long"),
    "revenue": ("annual revenue", "sales"),
    "name": ("account name", "customer name", "company"),
}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-.]+", " ", str(name)).strip().lower()


def _resolve(name: str, columns: list[str]) -> str | None:
    """The input column for a configured name: exact, else case/space-insensitive, else alias."""
    if name in columns:
        return name
    keyed: dict[str, list[str]] = {}
    for c in columns:
        keyed.setdefault(_key(c), []).append(c)
    for candidate in (name, *_ALIASES.get(name, ())):
        hits = keyed.get(_key(candidate), [])
        if len(hits) == 1:
            return hits[0]
    return None


def _coord_reason(lat: float | None, lon: float | None) -> str | None:
    if lat is None and lon is None:
        return None
    if lat is None or lon is None:
        return REASON_MISSING_COORD
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return REASON_NONNUMERIC_COORDS
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return REASON_BAD_COORDS
    return None


def _column_marks(raw: pd.DataFrame, names: dict[str, str | None], cols: ColumnsConfig,
                  source: object) -> dict[str, str]:
    """The decimal mark of the revenue, lat and lon columns (configured, typed or detected)."""
    typed = set(raw.attrs.get("numeric_columns", ()))
    marks = {}
    for f, kind in (("revenue", "money"), ("lat", "coord"), ("lon", "coord")):
        c = names.get(f)
        if c is None or c in typed:
            marks[f] = "."  # typed Excel / Parquet cells are written with a decimal point
        elif cols.decimal != "auto":
            marks[f] = cols.decimal
        else:
            marks[f] = decimal_mark([str(v) for v in raw[c].tolist()], c, kind=kind,
                                    source=source)
    if "," in marks.values():
        log.info("%s: decimal comma in %s", source,
                 ", ".join(names[f] for f, m in marks.items() if m == "," and names[f]))
    return marks


def _coordinate_issue(lat: float | None, lon: float | None, lat_text: str,
                      lon_text: str) -> tuple[str | None, str]:
    """``(reason, detail)`` of unusable coordinates, ``(None, "")`` when usable or absent."""
    why = _coord_reason(lat, lon)
    if why is None:
        return None, ""
    return why, f"{why} (lat {lat_text or 'blank'}, lon {lon_text or 'blank'})"


def _maybe_swapped(lat: float | None, lon: float | None) -> bool:
    """Out of range as given, in range with lat and lon swapped (a western US point)."""
    return (lat is not None and lon is not None and math.isfinite(lat) and math.isfinite(lon)
            and -90 <= lon <= 90 and -180 <= lat <= 180)


#: The smallest robust spread of log10 revenue the outlier rule uses: a factor of two.
#: A real book spreads wider (about 0.43, a factor of 2.7); at the default z of 10 the
#: floor still only rejects revenues over 1,000x the median.
MIN_LOG_SPREAD = math.log10(2.0)


def revenue_outliers(revenue: pd.Series, checks: AccountsConfig | None = None) -> pd.Series:
    """Robust z-score of log10 revenue per account; ``inf`` where above ``max_revenue``.

    ``z = (log10 r - median) / max(1.4826 MAD, MIN_LOG_SPREAD)`` over the positive
    revenues (the 1.4826 makes the MAD a standard deviation for a log-normal book,
    which revenue books roughly are). The floor keeps a book of near-equal revenues
    (999 accounts at $1,000, one at $1,001: a MAD of almost 0) from calling a
    normal account an outlier, and still catches a mistyped 1e15 there. Zero
    revenue scores 0; fewer than 10 positive revenues give no z (0). Compare with
    ``checks.revenue_outlier_z``.
    """
    checks = checks or AccountsConfig()
    r = revenue.astype(float)
    z = pd.Series(0.0, index=r.index)
    pos = r > 0
    if pos.sum() >= 10:
        logs = np.log10(r[pos])
        med = float(np.median(logs))
        spread = max(1.4826 * float(np.median(np.abs(logs - med))), MIN_LOG_SPREAD)
        z[pos] = (logs - med) / spread
    if checks.max_revenue is not None:
        z[r > checks.max_revenue] = np.inf
    return z


def _reject_outliers(accounts: pd.DataFrame, checks: AccountsConfig,
                     source: object) -> tuple[pd.DataFrame, list[dict]]:
    z = revenue_outliers(accounts["revenue"], checks)
    bad = z > checks.revenue_outlier_z
    if not bad.any():
        return accounts, []
    median = float(accounts["revenue"].median())
    for r in accounts[bad].itertuples():
        log.warning("%s: row %d, account %s: revenue %s is %s the median of %s; rejected as a "
                    "likely typo (accounts.revenue_outlier_z = %g%s)", source, r.row, r.account_id,
                    f"{r.revenue:,.2f}", "above accounts.max_revenue, far above" if
                    math.isinf(z[r.Index]) else f"{z[r.Index]:.1f} robust SDs of log revenue above",
                    f"{median:,.0f}", checks.revenue_outlier_z,
                    "" if checks.max_revenue is None else f", max_revenue = {checks.max_revenue:g}")
    rejects = [{"row": int(r.row), "account_id": r.account_id, "reason": REASON_REVENUE_OUTLIER}
               for r in accounts[bad].itertuples()]
    return accounts[~bad].reset_index(drop=True), rejects


def validate_accounts(
    raw: pd.DataFrame, columns: ColumnsConfig | None = None, *,
    checks: AccountsConfig | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate raw account rows into clean accounts and rejects.

    Checks, first failing rule wins (so each reject has one reason): blank
    id; duplicate id (the first occurrence is kept, later ones rejected, even
    if the first is rejected for another reason); more fields than the
    header; blank / non-numeric / negative revenue; a tier that is not A, B
    or C; coordinates with one half blank, non-numeric, or out of range
    (except out-of-range ones that swapped are in range and have a ZIP:
    ``coord_reason`` marks them and geocoding checks them against the ZIP);
    a malformed ZIP without coordinates; neither ZIP nor coordinates; then a
    revenue outlier (:func:`revenue_outliers` above ``checks.revenue_outlier_z``).

    Number columns are read with their decimal mark (``columns.decimal``, or
    detected per column by :func:`decimal_mark`).

    Parameters
    ----------
    raw
        Text table as returned by :func:`read_table`.
    columns
        Column-name mapping; defaults to ``account_id, name, zip, revenue``.
        A configured name matches case- and space-insensitively, and default
        names also match common variants (``Zip Code``, ``Latitude``, ...).
    checks
        The ``[accounts]`` plausibility checks (default: :class:`AccountsConfig`).

    Returns
    -------
    (accounts, rejects)
        ``accounts``: ``row, account_id, name, zip, zip_input, revenue, lat,
        lon, current_rep, tier_input, zip_fixed, coord_reason, coord_issue``.
        ``rejects``: ``row, account_id, reason``. ``len(accounts) + len(rejects) == len(raw)``.

    Raises
    ------
    InputError
        A required column is missing (``account_id``, ``revenue``, and ``zip``
        unless ``lat`` and ``lon`` are given), or a number column's format is
        mixed or ambiguous; the message names the file and the column.
    """
    cols = columns or ColumnsConfig()
    checks = checks or AccountsConfig()
    source = raw.attrs.get("source", "accounts")
    present = [c for c in raw.columns if c != "_extra_fields"]
    names = {f: _resolve(getattr(cols, f), present)
             for f in ("account_id", "name", "zip", "revenue", "lat", "lon", "tier",
                       "current_rep")}
    missing = [getattr(cols, f) for f in ("account_id", "revenue") if names[f] is None]
    if names["zip"] is None and (names["lat"] is None or names["lon"] is None):
        missing.append(cols.zip)
    if missing:
        raise InputError(_missing_message(source, missing[0], present))
    marks = _column_marks(raw, names, cols, source)

    def col(field_name: str) -> list[str]:
        c = names.get(field_name)
        if c is None:
            return [""] * len(raw)
        return [str(v).strip() for v in raw[c].tolist()]

    ids, names_, zips = col("account_id"), col("name"), col("zip")
    revenue_raw, lat_raw, lon_raw = col("revenue"), col("lat"), col("lon")
    tiers_raw = [re.sub(r"^TIER\s*", "", t.upper()) for t in col("tier")]
    current_raw = col("current_rep")
    extra = raw["_extra_fields"].tolist() if "_extra_fields" in raw else [""] * len(raw)

    records: list[dict] = []
    rejects: list[dict] = []
    seen: set[str] = set()

    def reject(row: int, account_id: str, reason: str) -> None:
        rejects.append({"row": row, "account_id": account_id, "reason": reason})

    for i in range(len(raw)):
        row = i + 1
        account_id = ids[i]
        if not account_id:
            reject(row, "", REASON_BLANK_ID)
            continue
        if account_id in seen:
            reject(row, account_id, REASON_DUPLICATE)
            continue
        seen.add(account_id)
        if extra[i]:
            reject(row, account_id, REASON_EXTRA_FIELDS)
            continue
        revenue, why = parse_revenue(revenue_raw[i], marks["revenue"])
        if why:
            reject(row, account_id, why)
            continue
        tier_in = tiers_raw[i]
        if tier_in and tier_in not in ("A", "B", "C"):
            reject(row, account_id, REASON_BAD_TIER)
            continue
        lat, lon = _parse_coord(lat_raw[i], marks["lat"]), _parse_coord(lon_raw[i], marks["lon"])
        zip5, fixed = normalise_zip(zips[i])
        coord_reason, coord_issue = _coordinate_issue(lat, lon, lat_raw[i], lon_raw[i])
        # out of range but maybe swapped: geocoding checks it against the ZIP
        if coord_reason and not (coord_reason == REASON_BAD_COORDS and zip5 is not None
                                 and _maybe_swapped(lat, lon)):
            reject(row, account_id, coord_reason)
            continue
        if zip5 is None and zips[i] and lat is None:
            reject(row, account_id, REASON_BAD_ZIP)
            continue
        if zip5 is None and lat is None:
            reject(row, account_id, REASON_NO_LOCATION)
            continue
        records.append({
            "row": row,
            "account_id": account_id,
            "name": names_[i],
            "zip": zip5 or "",
            "zip_input": zips[i],
            "revenue": float(revenue),
            "lat": np.nan if lat is None else lat,
            "lon": np.nan if lon is None else lon,
            "current_rep": current_raw[i] or pd.NA,
            "tier_input": tier_in or pd.NA,
            "zip_fixed": bool(fixed),
            "coord_reason": coord_reason or "",
            "coord_issue": coord_issue,
        })
    accounts = pd.DataFrame.from_records(
        records,
        columns=["row", "account_id", "name", "zip", "zip_input", "revenue", "lat", "lon",
                 "current_rep", "tier_input", "zip_fixed", "coord_reason", "coord_issue"],
    )
    accounts = accounts.astype({"row": "int64", "revenue": "float64", "lat": "float64",
                                "lon": "float64", "zip_fixed": "bool"})
    accounts, outliers = _reject_outliers(accounts, checks, source)
    rejects = sorted(rejects + outliers, key=lambda r: r["row"])
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
