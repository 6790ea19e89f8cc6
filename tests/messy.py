"""A deterministic messy CRM export, with the expected outcome of every row.

``make_messy(n, seed)`` returns the rows of an accounts export in the shape
CRMs really produce (odd column names, ``$45,000`` revenue, ZIP+4, ZIPs that
lost their leading zero, float ZIPs, PO-box ZIPs, duplicates, blank and
negative revenue, broken coordinates, unquoted commas, ...) placed in
Washington, DC, whose real ZCTAs ship in ``tests/data/zcta_dc.geojson``.

Every row carries ``expected``: ``""`` when the row must be assigned, else the
exact reject reason. ``write_csv`` / ``write_excel`` / ``write_parquet`` write
it; the CSV writer emits the file-level defects too (Windows-1252 encoding,
blank lines, unquoted delimiters).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from territory.io.accounts import (REASON_BAD_COORDS, REASON_BAD_REVENUE, REASON_BAD_TIER,
                                REASON_BAD_ZIP, REASON_BLANK_ID, REASON_BLANK_REVENUE,
                                REASON_DUPLICATE, REASON_EXTRA_FIELDS, REASON_MISSING_COORD,
                                REASON_NEGATIVE_REVENUE, REASON_NO_LOCATION,
                                REASON_NONNUMERIC_COORDS)
from territory.config import ColumnsConfig
from territory.geo.geocode import REASON_UNKNOWN_ZIP
from territory.geo.units import REASON_OUTSIDE_UNITS

#: The export's own column names, mapped in the scenario's [columns].
COLUMNS = ColumnsConfig(account_id="Customer ID", name="Account Name", zip="Postal Code",
                        revenue="Annual Revenue ($)", lat="Latitude", lon="Longitude",
                        tier="Tier", current_rep="Owner")
HEADER = ["Customer ID", "Account Name", "Postal Code", "Annual Revenue ($)", "Latitude",
          "Longitude", "Tier", "Owner"]

# Standard DC ZIPs that are ZCTAs of tests/data/zcta_dc.geojson.
DC_ZIPS = ["20001", "20002", "20003", "20004", "20005", "20006", "20007", "20008", "20009",
           "20010", "20011", "20012", "20015", "20016", "20017", "20018", "20019", "20020",
           "20024", "20032", "20036", "20037"]
# Real PO-box ZIPs (zipcodes package) whose point lies in a shipped ZCTA: ZIP -> ZCTA.
PO_BOX_ZIPS = {"20013": "20001", "20022": "20011", "20027": "20037"}
NAMES = ["Café Müller", "Añejo Bar & Grill", "Straße Motors", "Smith & Sons", "Capitol Dental",
         "Anacostia Hardware", "Rock Creek Vet", "Foggy Bottom Books", "Naïve Bakery",
         "Georgetown Optics"]
REPS = ["R1", "R2", "R3", "R4"]

# defect kind -> expected reason ("" = assigned); weights say how often each appears.
KINDS: dict[str, tuple[str, float]] = {
    "clean": ("", 0.55),
    "zip_plus4": ("", 0.03),
    "zip_9digit": ("", 0.02),
    "zip_float": ("", 0.02),
    "money_text": ("", 0.04),
    "po_box": ("", 0.02),
    "coords_only": ("", 0.02),
    "tier_given": ("", 0.02),
    "quoted_comma": ("", 0.02),
    "whitespace": ("", 0.02),
    "zip_4digit_elsewhere": (REASON_OUTSIDE_UNITS, 0.015),
    "coords_elsewhere": (REASON_OUTSIDE_UNITS, 0.01),
    "unknown_zip": (REASON_UNKNOWN_ZIP, 0.02),
    "malformed_zip": (REASON_BAD_ZIP, 0.015),
    "no_location": (REASON_NO_LOCATION, 0.015),
    "blank_revenue": (REASON_BLANK_REVENUE, 0.02),
    "na_revenue": (REASON_BLANK_REVENUE, 0.01),
    "negative_revenue": (REASON_NEGATIVE_REVENUE, 0.015),
    "accounting_negative": (REASON_NEGATIVE_REVENUE, 0.01),
    "text_revenue": (REASON_BAD_REVENUE, 0.015),
    "duplicate": (REASON_DUPLICATE, 0.03),
    "blank_id": (REASON_BLANK_ID, 0.01),
    "lat_out_of_range": (REASON_BAD_COORDS, 0.01),
    "coords_swapped": ("", 0.005),   # kept: placed by its (valid) ZIP instead
    "coords_zero": ("", 0.005),
    "lon_blank": (REASON_MISSING_COORD, 0.01),
    "coord_text": (REASON_NONNUMERIC_COORDS, 0.01),
    "bad_tier": (REASON_BAD_TIER, 0.01),
    "unquoted_comma": (REASON_EXTRA_FIELDS, 0.01),
}
CSV_ONLY = {"unquoted_comma"}


@dataclass(frozen=True)
class Messy:
    """Rows (text cells + ``kind`` + ``expected``) and the column mapping to read them."""

    rows: pd.DataFrame
    columns: ColumnsConfig = COLUMNS

    @property
    def expected(self) -> pd.DataFrame:
        """``row`` (1-based data row), ``account_id``, ``kind``, ``expected`` reason."""
        return pd.DataFrame({"row": np.arange(1, len(self.rows) + 1),
                             "account_id": self.rows["Customer ID"].str.strip(),
                             "kind": self.rows["kind"], "expected": self.rows["expected"]})


def make_messy(n: int = 5000, seed: int = 20240601, *, csv_defects: bool = True) -> Messy:
    """``n`` rows with every defect, deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    kinds = [k for k in KINDS if csv_defects or k not in CSV_ONLY]
    weights = np.array([KINDS[k][1] for k in kinds])
    drawn = rng.choice(kinds, size=n, p=weights / weights.sum())
    # every kind at least once, in a deterministic spread
    for j, k in enumerate(kinds):
        drawn[(j * 97 + 13) % n] = k
    drawn[0] = "clean"  # a duplicate needs an earlier id
    rows: list[dict] = []
    used_ids: list[str] = []
    for i, kind in enumerate(drawn):
        aid = f"C{100000 + i}"
        z = str(rng.choice(DC_ZIPS))
        revenue = float(np.round(rng.lognormal(10.3, 1.0), 2))
        r = {"Customer ID": aid, "Account Name": str(rng.choice(NAMES)) + f" #{i}",
             "Postal Code": z, "Annual Revenue ($)": f"{revenue:.2f}", "Latitude": "",
             "Longitude": "", "Tier": "", "Owner": str(rng.choice(REPS))}
        if kind == "zip_plus4":
            r["Postal Code"] = f"{z}-{rng.integers(1000, 9999)}"
        elif kind == "zip_9digit":
            r["Postal Code"] = f"{z}{rng.integers(1000, 9999)}"
        elif kind == "zip_float":
            r["Postal Code"] = f"{z}.0"
        elif kind == "money_text":
            r["Annual Revenue ($)"] = f"${revenue:,.0f}"
        elif kind == "po_box":
            r["Postal Code"] = str(rng.choice(list(PO_BOX_ZIPS)))
        elif kind == "coords_only":
            r["Postal Code"] = ""
            r["Latitude"] = f"{38.90 + rng.uniform(-0.01, 0.01):.5f}"   # downtown DC
            r["Longitude"] = f"{-77.03 + rng.uniform(-0.01, 0.01):.5f}"
        elif kind == "tier_given":
            r["Tier"] = str(rng.choice(["A", "b", "Tier C"]))
        elif kind == "quoted_comma":
            r["Account Name"] = f"Acme, Inc. #{i}"
        elif kind == "whitespace":
            r = {k: f"  {v} " if v else v for k, v in r.items()}
        elif kind == "zip_4digit_elsewhere":
            r["Postal Code"] = "2134"  # Boston 02134 that lost its zero: outside the DC units
        elif kind == "coords_elsewhere":
            r["Postal Code"] = ""
            r["Latitude"], r["Longitude"] = "39.9612", "-82.9988"  # Columbus, OH
        elif kind == "unknown_zip":
            r["Postal Code"] = "00000"
        elif kind == "malformed_zip":
            r["Postal Code"] = str(rng.choice(["ABCDE", "2000", "200011", "DC 20001"]))
            if r["Postal Code"] == "2000":  # pads to 02000, unknown: not malformed
                r["Postal Code"] = "20-01"
        elif kind == "no_location":
            r["Postal Code"] = ""
        elif kind == "blank_revenue":
            r["Annual Revenue ($)"] = ""
        elif kind == "na_revenue":
            r["Annual Revenue ($)"] = str(rng.choice(["N/A", "null", "-"]))
        elif kind == "negative_revenue":
            r["Annual Revenue ($)"] = f"-{revenue:.2f}"
        elif kind == "accounting_negative":
            r["Annual Revenue ($)"] = f"(${revenue:,.2f})"
        elif kind == "text_revenue":
            r["Annual Revenue ($)"] = str(rng.choice(["twelve thousand", "TBD", "45k?"]))
        elif kind == "duplicate":
            r["Customer ID"] = str(rng.choice(used_ids))
        elif kind == "blank_id":
            r["Customer ID"] = ""
        elif kind == "lat_out_of_range":
            r["Latitude"], r["Longitude"] = "95.1", "-77.03"
        elif kind == "coords_swapped":
            r["Latitude"], r["Longitude"] = "-77.03", "38.90"
        elif kind == "coords_zero":
            r["Latitude"], r["Longitude"] = "0", "0"
        elif kind == "lon_blank":
            r["Latitude"], r["Longitude"] = "38.9", ""
        elif kind == "coord_text":
            r["Latitude"], r["Longitude"] = "38.9N", "-77.03"
        elif kind == "bad_tier":
            r["Tier"] = "D"
        elif kind == "unquoted_comma":
            r["Account Name"] = f"Acme, Inc. #{i}"  # written without quotes: one field too many
        r["kind"], r["expected"] = str(kind), KINDS[str(kind)][0]
        if kind != "duplicate" and r["Customer ID"].strip():
            used_ids.append(r["Customer ID"].strip())
        rows.append(r)
    return Messy(pd.DataFrame(rows, dtype=object))


def write_csv(messy: Messy, path: str | Path, *, encoding: str = "cp1252",
              blank_lines: bool = True) -> Path:
    """Write the export as a CSV: Windows-1252 by default, a few blank lines, raw commas."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADER)
    for i, r in enumerate(messy.rows.itertuples(index=False)):
        cells = [r[k] for k in range(len(HEADER))]
        if r.kind == "unquoted_comma":
            buf.write(",".join(cells) + "\r\n")
        else:
            w.writerow(cells)
        if blank_lines and i % 1000 == 500:
            buf.write("\r\n")
    p = Path(path)
    p.write_bytes(buf.getvalue().encode(encoding))
    return p


def write_excel(messy: Messy, path: str | Path) -> Path:
    """Write the rows (text cells) to an .xlsx workbook."""
    p = Path(path)
    messy.rows[HEADER].to_excel(p, index=False)
    return p


def write_parquet(messy: Messy, path: str | Path) -> Path:
    """Write the rows to Parquet, ZIP as a float column where every ZIP parses (like pandas would)."""
    p = Path(path)
    messy.rows[HEADER].to_parquet(p, index=False)
    return p
