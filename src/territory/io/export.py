"""Export stage: CSV, GeoJSON, GeoPackage and Excel files of a plan.

CSV and Excel cells that a spreadsheet would run as a formula (starting with
``= + - @``, tab or carriage return) are prefixed with an apostrophe, the
OWASP-recommended defence against CSV injection. Numbers are written as
numbers (a negative number is not text and is left alone). A cell holding a
carriage return is quoted like one holding a line feed, so every CSV reads back
row for row.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

__all__ = ["FORMULA_START", "safe_csv_value", "safe_frame", "unguard_csv_value", "write_csv",
           "write_json", "write_geojson", "write_geopackage", "write_excel", "progress", "wrote"]

log = logging.getLogger(__name__)

#: what a spreadsheet runs as a formula when a cell starts with it (the one list of the project)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_csv_value(value: Any) -> Any:
    """Neutralise a text cell a spreadsheet would execute; other values pass through."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def unguard_csv_value(value: Any) -> Any:
    """Undo :func:`safe_csv_value` for display (``'=x`` -> ``=x``); other values pass through."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" \
            and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell passed through :func:`safe_csv_value`."""
    out = df.copy()
    for col in out.columns:
        if _is_text(out[col]):
            out[col] = out[col].map(safe_csv_value)
    return out


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or pd.api.types.is_string_dtype(s)


def _has_cr(df: pd.DataFrame) -> bool:
    return any(df[c].map(lambda v: isinstance(v, str) and "\r" in v).any()
               for c in df.columns if _is_text(df[c]))


def _records_lf(text: str) -> str:
    """CSV text with ``\\r\\n`` record ends turned to ``\\n``; line breaks inside quotes kept."""
    records, start, quoted = [], 0, False
    for m in re.finditer(r'"|\r\n', text):
        if m.group() == '"':
            quoted = not quoted  # an escaped "" toggles twice
        elif not quoted:
            records.append(text[start:m.start()])
            start = m.end()
    return "\n".join(records) + "\n"


def wrote(path: Path, started: float) -> Path:
    """Log (DEBUG, ``-v``) that ``path`` was written: its size and the seconds it took."""
    # the name only: the folder is a staging folder until the run is complete
    log.debug("wrote %s (%s bytes, %.2f s)", path.name, f"{path.stat().st_size:,}",
              time.perf_counter() - started)
    return path


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a formula-injection-safe UTF-8 CSV with ``\\n`` line ends (byte-stable)."""
    p, t0 = Path(path), time.perf_counter()
    safe = safe_frame(df)
    if not _has_cr(safe):
        safe.to_csv(p, index=False, lineterminator="\n", float_format="%.10g")
        return wrote(p, t0)
    # The csv module quotes a cell only for the characters of the line terminator, so a bare
    # \r in a cell would end the record for every reader: write \r\n records (quoting it),
    # then end them in \n as usual.
    text = safe.to_csv(index=False, lineterminator="\r\n", float_format="%.10g")
    p.write_bytes(_records_lf(text).encode("utf-8"))
    return wrote(p, t0)


def progress(total: int, desc: str, unit: str):
    """A tqdm bar on stderr for the default CLI (``territory`` at INFO): not with ``-q``, and
    not with ``-v``, whose DEBUG lines (one per file written) would break it up."""
    from tqdm.auto import tqdm

    lg = logging.getLogger("territory")
    show = lg.isEnabledFor(logging.INFO) and not lg.isEnabledFor(logging.DEBUG)
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "row", leave=False,
                disable=not show, file=sys.stderr, dynamic_ncols=True,
                delay=0.5)  # a quick write shows no bar


def _sheet_names(names: list[str]) -> list[str]:
    """Excel sheet names: at most 31 printable characters, none of ``[]:*?/\\``, unique
    ignoring case."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        # control characters (a NUL in a rep id) would make workbook.xml unreadable
        clean = "".join(c for c in str(name) if c not in "[]:*?/\\" and c.isprintable())[:31] \
            or "sheet"
        base, k = clean, 2
        while clean.lower() in seen:
            tail = f" ({k})"
            clean, k = base[:31 - len(tail)] + tail, k + 1
        seen.add(clean.lower())
        out.append(clean)
    return out


def _cell_columns(df: pd.DataFrame) -> list[list[Any]]:
    """Each column as Python values, missing ones (NaN, NA, NaT) as None: an empty cell."""
    return [col.astype(object).where(col.notna(), None).tolist() for _, col in df.items()]


def write_excel(sheets: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Write an .xlsx workbook, one sheet per entry, cells formula-safe.

    Streams with XlsxWriter's constant-memory mode (each row goes to disk as it is
    written, nothing kept per cell), with a progress bar over the rows (:func:`progress`).
    Every text cell is written as a string: no text turns into a formula, a link or a
    number; missing values are empty cells.
    """
    import xlsxwriter

    p, t0 = Path(path), time.perf_counter()
    literal = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    wb = xlsxwriter.Workbook(p, {"constant_memory": True, **literal})
    with progress(sum(len(df) for df in sheets.values()), p.name, "row") as bar:
        for name, df in zip(_sheet_names(list(sheets)), sheets.values()):
            ws = wb.add_worksheet(name)
            ws.write_row(0, 0, [str(c) for c in df.columns])
            for i, row in enumerate(zip(*_cell_columns(safe_frame(df))), start=1):
                ws.write_row(i, 0, row)  # None: no cell
            bar.update(len(df))
        if not sheets:
            wb.add_worksheet("sheet")  # a workbook needs one sheet
        wb.close()
    return wrote(p, t0)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return None if not math.isfinite(f) else f
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA:
        return None
    return value


def write_json(data: dict, path: str | Path) -> Path:
    """Write JSON with sorted keys and NaN as null."""
    p, t0 = Path(path), time.perf_counter()
    p.write_text(json.dumps(_jsonable(data), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return wrote(p, t0)


def write_geojson(gdf: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write EPSG:4326 GeoJSON (RFC 7946 coordinates, 6 decimals)."""
    p, t0 = Path(path), time.perf_counter()
    out = gdf.to_crs("EPSG:4326")
    p.write_text(out.to_json(drop_id=True, to_wgs84=True), encoding="utf-8")
    return wrote(p, t0)


def write_geopackage(gdf: gpd.GeoDataFrame, path: str | Path, *, layer: str) -> Path:
    """Write one layer of a GeoPackage (replacing the file), text cells formula-safe."""
    p, t0 = Path(path), time.perf_counter()
    p.unlink(missing_ok=True)
    safe = gpd.GeoDataFrame(safe_frame(pd.DataFrame(gdf.drop(columns="geometry"))),
                            geometry=gdf.geometry.values, crs=gdf.crs)
    safe.to_file(p, layer=layer, driver="GPKG")
    return wrote(p, t0)
