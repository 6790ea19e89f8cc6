"""Output files survive hostile cells: every CSV reads back row for row, every workbook is written."""

from __future__ import annotations

import csv

import pandas as pd
import pytest
from openpyxl import load_workbook

from territory.io.export import write_csv, write_excel

HOSTILE = ["cr\rinside", "crlf\r\nand lf\nhere", "nul\x00byte", "bell\x07", "=cmd|' /C calc'!A0",
           "\u202eRTL", "plain"]


def test_a_csv_with_carriage_returns_in_cells_reads_back_row_for_row(tmp_path):
    df = pd.DataFrame({"account_id": [f"A{i}" for i in range(len(HOSTILE))], "name": HOSTILE,
                       "revenue": [1.5] * len(HOSTILE)})
    p = write_csv(df, tmp_path / "x.csv")
    with p.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["account_id"] for r in rows] == df["account_id"].tolist()
    assert [r["name"] for r in rows][:2] == HOSTILE[:2]  # the line breaks are kept, inside quotes
    assert p.read_bytes().endswith(b"plain,1.5\n")  # records still end in \n only


def test_a_workbook_takes_control_characters_in_cells_and_sheet_names(tmp_path):
    df = pd.DataFrame({"name": HOSTILE, "n": range(len(HOSTILE))})
    p = write_excel({"all\x00 accounts": df, "\u202eR2\x00": df}, tmp_path / "x.xlsx")
    wb = load_workbook(p)  # a NUL in a sheet name made workbook.xml unreadable
    assert wb.sheetnames == ["all accounts", "R2"]
    names = [c.value for c in wb.worksheets[0]["A"]][1:]
    assert names[2] == "nul_x0000_byte" and names[3] == "bell_x0007_"  # Excel's own escapes
    assert names[4].startswith("'=")  # and the formula guard still applies
