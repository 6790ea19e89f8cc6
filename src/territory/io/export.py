"""Export stage: CSV, GeoJSON, GeoPackage and Excel files of a plan.

CSV and Excel cells that a spreadsheet would run as a formula (starting with
``= + - @``, tab or carriage return) are prefixed with an apostrophe, the
OWASP-recommended defence against CSV injection. Numbers are written as
numbers (a negative number is not text and is left alone). A cell holding a
carriage return is quoted like one holding a line feed, so every CSV reads back
row for row; the control characters a workbook cannot hold (NUL, BEL, ...)
are dropped from ``.xlsx`` cells and sheet names.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

__all__ = ["FORMULA_START", "safe_csv_value", "safe_frame", "unguard_csv_value", "write_csv",
           "write_json", "write_geojson", "write_geopackage", "write_excel"]

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


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a formula-injection-safe UTF-8 CSV with ``\\n`` line ends (byte-stable)."""
    p = Path(path)
    safe = safe_frame(df)
    if not _has_cr(safe):
        safe.to_csv(p, index=False, lineterminator="\n", float_format="%.10g")
        return p
    # The csv module quotes a cell only for the characters of the line terminator, so a bare
    # \r in a cell would end the record for every reader: write \r\n records (quoting it),
    # then end them in \n as usual.
    text = safe.to_csv(index=False, lineterminator="\r\n", float_format="%.10g")
    p.write_bytes(_records_lf(text).encode("utf-8"))
    return p


#: Characters an .xlsx cell cannot hold (openpyxl refuses them): C0 controls but tab, LF, CR.
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xlsx_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = safe_frame(df)
    for col in out.columns:
        if _is_text(out[col]):
            out[col] = out[col].map(lambda v: _XLSX_ILLEGAL.sub("", v) if isinstance(v, str) else v)
    return out


def write_excel(sheets: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Write an .xlsx workbook, one sheet per entry, cells formula-safe."""
    p = Path(path)
    with pd.ExcelWriter(p, engine="openpyxl") as xl:
        for name, df in sheets.items():
            # Excel sheet names: at most 31 chars, none of []:*?/\
            clean = "".join(c for c in _XLSX_ILLEGAL.sub("", str(name))
                            if c not in "[]:*?/\\")[:31] or "sheet"
            _xlsx_frame(df).to_excel(xl, sheet_name=clean, index=False)
    return p


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
    p = Path(path)
    p.write_text(json.dumps(_jsonable(data), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return p


def write_geojson(gdf: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write EPSG:4326 GeoJSON (RFC 7946 coordinates, 6 decimals)."""
    p = Path(path)
    out = gdf.to_crs("EPSG:4326")
    p.write_text(out.to_json(drop_id=True, to_wgs84=True), encoding="utf-8")
    return p


def write_geopackage(gdf: gpd.GeoDataFrame, path: str | Path, *, layer: str) -> Path:
    """Write one layer of a GeoPackage (replacing the file), text cells formula-safe."""
    p = Path(path)
    p.unlink(missing_ok=True)
    safe = gpd.GeoDataFrame(safe_frame(pd.DataFrame(gdf.drop(columns="geometry"))),
                            geometry=gdf.geometry.values, crs=gdf.crs)
    safe.to_file(p, layer=layer, driver="GPKG")
    return p
