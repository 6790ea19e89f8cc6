"""Fuzzing ``territory plan`` with generated CRM exports (hypothesis).

Every generated file goes through the real command line (``territory.cli.main``, in
process, so an example costs about a second when it plans and milliseconds when it is
refused). Whatever the file holds -- any of five encodings, four delimiters, decimal
commas and thousands groups, quoted cells, blank lines, missing cells and columns,
duplicate ids, huge / negative / NaN / infinite revenues, ZIPs with and without their
leading zeros, ZIP+4, swapped or out-of-range coordinates, formula injection, markup,
RTL and NUL characters, very long names -- the run must end in one of three ways:

* exit 0: every data row of the file (as a careful CSV reader counts them) is either
  in ``assignments.csv`` or in ``rejects.csv``, and an assigned row that was generated
  as a real account keeps its revenue (nothing misread silently);
* exit 3 (no plan): ``summary.json`` and ``rejects.csv`` explain it, and there is no
  ``assignments.csv`` or ``map.html`` that could look like a plan;
* exit 2 (unusable input): one ``territory: error:`` line, and no output folder.

Never a traceback, never another exit code, and never a staging folder left beside
``--out``. A few roster variants (a number of territories; a roster file in the same
encoding and delimiter, with hostile names and decimal-comma coordinates) ride along.

The ZIPs are real: standard Washington, DC ZIPs whose ZCTAs ship in
``tests/data/zcta_dc.geojson`` (so a run can plan), and ZIPs of other states from the
package's ZIP table (rejected as outside the region).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from messy import DC_ZIPS
from territory.cli import main

ROOT = Path(__file__).resolve().parents[1]
ZCTA = ROOT / "tests" / "data" / "zcta_dc.geojson"

#: A small plan: two territories over DC, loose bands, a short time limit.
CONFIG = """
name = "fuzz"
[balance]
tam_tolerance = 0.95
account_units_min = 1
account_units_max = 100000
[solver]
time_limit_seconds = 4
"""

ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16")
DELIMITERS = (",", ";", "\t", "|")
#: Real ZIPs of other states (Boston without its leading zero, Columbus, Beverly Hills, Anchorage).
ELSEWHERE = ("2134", "02134", "43215", "90210", "99501", "00501", "00000")
HOSTILE = (
    "=cmd|' /C calc'!A0", "=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1:A9)",
    "<script>alert(1)</script>", "</textarea><img src=x onerror=alert(1)>", "{{ 7*7 }}",
    "\u202eevil\u202c", "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627", "nul\x00byte",
    "tab\there", "bell\x07", "\ufeffbom", "'; DROP TABLE accounts; --", "\"quoted\"", "a;b|c,d",
    "line\nbreak", "cr\rreturn", "Café Müller € 5", "😀🚀", "\u200b", "   ", "null", "NaN",
)
#: Revenue cells that are wrong in any file; numbers in the file's own format come on top.
REVENUE_HOSTILE = (
    "", " ", "NaN", "nan", "inf", "-inf", "Infinity", "1e400", "12abc", "9" * 400, "--", "#N/A",
    "=1+1", "0x1F", "1_000", "\u0663\u0664\u0665", "USD 5000", "$", "(", "1e", ".", ",",
)
#: Cells in the other convention: a file holding one is refused (both marks in one column).
FOREIGN_NUMBERS = ("1.234,56", "\u20ac 12.345,67", "1,234.5", "38,9", "-77.03")
ZIP_HOSTILE = ("", "ABCDE", "=1+1", "20001.0", "1e5", "20001-1234", "200011234", "2000",
               "200011", "DC 20001", "-20001", "\uff12\uff10\uff10\uff10\uff11", "20001\x00",
               "<b>20001</b>")
#: Coordinates as numbers (formatted in the file's convention) and as text.
COORD_NUMBERS = (0.0, 91.0, -181.0, 38.9, -77.03, 1e300, 45.5, -90.0, 180.0)
COORD_TEXT = ("", "nan", "inf", "1e999", "38.9N", "\u221277.0", "=1")
IDS_HOSTILE = ("", " ", "=A1", "id\x00", "x" * 300, "\u202eA1")


@dataclass
class Book:
    """A generated export: the records to write and what a careful reader expects."""

    header: list[str]
    records: list[list[str]]
    #: account id -> (revenue, ZIP) of the rows generated as real, whole accounts (unique ids)
    real: dict[str, tuple[float, str]] = field(default_factory=dict)


def _fmt_number(value: float, style: str) -> str:
    """``value`` written the way a CRM in ``style`` writes money."""
    if style == "int":
        return str(int(round(value)))
    us = f"{value:,.2f}" if style.endswith("grouped") else f"{value:.2f}"
    if style.startswith("eu"):
        return us.translate(str.maketrans({",": ".", ".": ","}))
    return us


def _fmt_coord(value: float, style: str) -> str:
    text = f"{value:.5f}" if abs(value) < 1e6 else f"{value:g}"
    return text.replace(".", ",") if style.startswith("eu") else text


#: Centroids of the DC ZIPs, for rows that give coordinates.
def _dc_points() -> dict[str, tuple[float, float]]:
    from territory.geo.reference import zip_table

    t = zip_table()
    return {z: (float(t.at[z, "lat"]), float(t.at[z, "lon"])) for z in DC_ZIPS}


DC_POINTS = _dc_points()

_FIELD_NAMES = {
    "account_id": ("account_id", "Account ID", "ID", "customer id"),
    "name": ("name", "Account Name", "Company"),
    "zip": ("zip", "Zip Code", "Postal Code", "ZIP"),
    "revenue": ("revenue", "Annual Revenue", "Sales", "REVENUE"),
    "lat": ("lat", "Latitude"),
    "lon": ("lon", "Longitude", "lng"),
    "tier": ("tier",),
    "current_rep": ("current_rep",),
}


@st.composite
def books(draw) -> Book:
    """A CRM export: header variants, real rows mixed with hostile ones."""
    style = draw(st.sampled_from(["us", "us_grouped", "eu", "eu_grouped", "int"]))
    fields = ["account_id", "name", "zip", "revenue"]
    with_coords = draw(st.booleans())
    if with_coords:
        fields += ["lat", "lon"]
    fields += [f for f in ("tier", "current_rep") if draw(st.booleans())]
    if draw(st.integers(0, 19)) == 0:  # a required column missing now and then
        fields.remove(draw(st.sampled_from(["account_id", "zip", "revenue"])))
    fields = draw(st.permutations(fields))
    header = [draw(st.sampled_from(_FIELD_NAMES[f])) for f in fields]
    if draw(st.integers(0, 5)) == 0:
        header.append(draw(st.sampled_from(["notes", "", "name", "=evil()", "Notes\x00"])))
    n_real = draw(st.integers(1, 28))
    n_hostile = draw(st.integers(0, 8))
    kinds = ["real"] * n_real + ["hostile"] * n_hostile
    kinds = draw(st.permutations(kinds))
    records: list[list[str]] = []
    real: dict[str, tuple[float, str]] = {}
    ids: list[str] = []
    for i, kind in enumerate(kinds):
        cells = {f: "" for f in fields}
        if kind == "real":
            z = draw(st.sampled_from(DC_ZIPS))
            revenue = draw(st.integers(500, 900_000)) + draw(st.sampled_from([0, 0.25, 0.5]))
            aid = f"A{i:04d}"
            cells.update(account_id=aid, name=f"Account {i}", revenue=_fmt_number(revenue, style),
                         zip=draw(st.sampled_from([z, z, f"{z}-{1000 + i}", f"{z}{1000 + i}"])),
                         tier=draw(st.sampled_from(["", "", "A", "b", "Tier C"])),
                         current_rep=draw(st.sampled_from(["", "R1", "R2", "Ann Lee", "lee, ann"])))
            if with_coords and draw(st.booleans()):
                lat, lon = DC_POINTS[z]
                cells.update(lat=_fmt_coord(lat, style), lon=_fmt_coord(lon, style))
            if {"account_id", "zip", "revenue"} <= set(fields):
                real[aid] = (float(round(revenue, 2)) if style != "int" else float(round(revenue)), z)
        else:
            text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12))
            foreign = draw(st.integers(0, 39)) == 0  # now and then a cell in the other format
            number = st.one_of(st.floats(-1e6, 1e16, allow_nan=False),
                               st.sampled_from([0.0, 1e15, 5e5, -5.0]))
            coord = st.one_of(st.sampled_from(COORD_NUMBERS).map(lambda v: _fmt_coord(v, style)),
                              st.sampled_from(COORD_TEXT))
            cells.update(
                account_id=draw(st.one_of(st.sampled_from(IDS_HOSTILE), st.sampled_from(ids or ["A0"]),
                                          st.just(f"H{i:04d}"), text)),
                name=draw(st.one_of(text, st.just("N" * 5000))),
                zip=draw(st.sampled_from(ZIP_HOSTILE + ELSEWHERE + tuple(DC_ZIPS[:3]))),
                revenue=draw(st.one_of(st.sampled_from(REVENUE_HOSTILE), text,
                                       number.map(lambda v: _fmt_number(v, style)))),
                lat=draw(coord), lon=draw(coord),
                tier=draw(st.sampled_from(["", "D", "=A", "a", "\x00"])),
                current_rep=draw(text))
            if draw(st.integers(0, 3)) == 0:  # swapped DC coordinates
                cells.update(lat=_fmt_coord(-77.03, style), lon=_fmt_coord(38.9, style))
            if foreign:
                cells[draw(st.sampled_from(["revenue", "lat", "lon"]))] = draw(
                    st.sampled_from(FOREIGN_NUMBERS))
        ids.append(cells["account_id"].strip())
        row = [cells[f] for f in fields] + [""] * (len(header) - len(fields))
        shape = draw(st.integers(0, 19))
        if shape == 0:
            row = row[: draw(st.integers(1, len(row)))]  # short row: missing cells
        elif shape == 1:
            row = row + [draw(st.sampled_from(["extra", "x,y", " "]))]  # one field too many
        if shape in (0, 1) and kind == "real":
            real.pop(cells["account_id"], None)
        records.append(row)
    if "account_id" in fields:  # ids that occur twice are not checked for their revenue
        for dup in {a for a in ids if ids.count(a) > 1}:
            real.pop(dup, None)
    return Book(header, records, real)


@dataclass(frozen=True)
class Layout:
    """How a book is written to bytes."""

    encoding: str
    delimiter: str
    lineterminator: str
    quote_all: bool
    blank_lines: tuple[int, ...]


layouts = st.builds(Layout, st.sampled_from(ENCODINGS), st.sampled_from(DELIMITERS),
                    st.sampled_from(["\n", "\r\n"]), st.booleans(),
                    st.lists(st.integers(0, 40), max_size=3).map(tuple))


def _text(header: list[str], records: list[list[str]], layout: Layout) -> tuple[str, int]:
    """The CSV text and the number of data rows a careful reader finds in it."""
    multiline = any("\r" in c or "\n" in c for r in [header, *records] for c in r)
    quoting = csv.QUOTE_ALL if layout.quote_all or multiline else csv.QUOTE_MINIMAL
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=layout.delimiter, lineterminator=layout.lineterminator,
                   quoting=quoting)
    w.writerow(header)
    n_rows = 0
    for i, rec in enumerate(records):
        if i in layout.blank_lines:
            buf.write(layout.lineterminator)
        w.writerow(rec)
        n_rows += any(c.strip() for c in rec)  # a record of blank cells is a blank line
    return buf.getvalue(), n_rows


def _write(path: Path, text: str, encoding: str) -> None:
    # cp1252 and latin-1 cannot hold every character: as a spreadsheet does, write "?"
    path.write_bytes(text.encode(encoding, errors="replace"))


def _roster(tmp: Path, variant: str, layout: Layout) -> str:
    """``--reps``: a number, or a roster file in the accounts' encoding and delimiter."""
    if variant == "number":
        return "2"
    rows = [["rep_id", "name", "home_zip", "lat", "lon", "capacity"],
            ["R1", "Ann Lee", "20001", "", "", "1"],
            ["R2", "=cmd|' /C calc'!A0 <script>", "", _fmt_coord(38.93, "eu"),
             _fmt_coord(-77.07, "eu"), "0,5"]]
    if variant == "hostile":
        rows.append(["R3", "\u202eRTL\x00", "20016-1234", "", "", ""])
    text, _ = _text(rows[0], rows[1:], layout)
    path = tmp / "reps.csv"
    _write(path, text, layout.encoding)
    return str(path)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


#: What a spreadsheet would run as a formula: no text cell of an output may start so.
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _check_formula_safe(rows: list[dict[str, str]], columns: tuple[str, ...]) -> None:
    for r in rows:
        for c in columns:
            assert not (r.get(c) or "").startswith(FORMULA), (c, r.get(c))


def check_run(tmp: Path, code: int, out: Path, stdout: str, stderr: str, n_rows: int,
              real: dict[str, float]) -> None:
    """The properties every run must have, whatever its input."""
    assert code in (0, 2, 3), (code, stderr[-2000:])
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr[-3000:]
    siblings = {p.name for p in tmp.iterdir()} - {"accounts.csv", "reps.csv", "fuzz.toml", "out"}
    assert not siblings, f"left beside --out: {sorted(siblings)}"
    if code == 2:
        lines = [ln for ln in stderr.splitlines() if ln.startswith("territory: ")]
        assert len(lines) == 1 and lines[0].startswith("territory: error: "), stderr[-2000:]
        assert not out.exists(), f"exit 2 left {sorted(p.name for p in out.iterdir())}"
        return
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["accounts_in"] == n_rows, (summary["accounts_in"], n_rows)
    rejects = _rows(out / "rejects.csv")
    _check_formula_safe(rejects, ("account_id",))
    if code == 3:
        assert not (out / "assignments.csv").exists()
        assert not (out / "map.html").exists()
        assert summary["rejected"] == len(rejects)
        return
    rows = _rows(out / "assignments.csv")
    assert len(rows) + len(rejects) == n_rows, (len(rows), len(rejects), n_rows)
    assert summary["assigned"] == len(rows) and summary["rejected"] == len(rejects)
    _check_formula_safe(rows, ("account_id", "name", "current_rep", "rep_id"))
    assigned = {r["account_id"]: r for r in rows}
    for aid, (revenue, zip5) in real.items():
        # a real account is planned, with its own revenue and ZIP: nothing misread silently
        reason = next((r["reason"] for r in rejects if r["account_id"] == aid), None)
        assert aid in assigned, (aid, reason)
        assert float(assigned[aid]["revenue"]) == pytest.approx(revenue, rel=1e-9), (aid, revenue)
        assert assigned[aid]["zip"] == zip5
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "<script>alert(" not in html and "<img src=x" not in html


def run_cli(tmp: Path, argv: list[str], capfd) -> tuple[int, str, str]:
    code = main(argv)
    cap = capfd.readouterr()
    return code, cap.out, cap.err


def _plan_argv(tmp: Path, accounts: Path, reps: str, config: str = CONFIG) -> list[str]:
    cfg = tmp / "fuzz.toml"
    cfg.write_text(config, encoding="utf-8")
    return ["-q", "plan", "--accounts", str(accounts), "--reps", reps, "--zcta", str(ZCTA),
            "--config", str(cfg), "--out", str(tmp / "out")]


# Deterministic (derandomize): the same examples on every machine and in CI. About half of them
# plan; the rest end in one error line, most of them within milliseconds.
@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(book=books(), layout=layouts, roster=st.sampled_from(["number", "number", "file", "hostile"]))
def test_any_export_ends_in_a_plan_a_labelled_no_plan_or_one_error_line(
        book: Book, layout: Layout, roster: str, tmp_path_factory, capfd) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    text, n_rows = _text(book.header, book.records, layout)
    accounts = tmp / "accounts.csv"
    _write(accounts, text, layout.encoding)
    reps = _roster(tmp, roster, layout)
    code, out, err = run_cli(tmp, _plan_argv(tmp, accounts, reps), capfd)
    event(f"exit {code}")
    check_run(tmp, code, tmp / "out", out, err, n_rows, book.real)


def _fixed_book() -> tuple[Book, Layout]:
    """A UTF-16, semicolon, decimal-comma export with hostile rows that plans (or cannot)."""
    records, real = [], {}
    for i, z in enumerate(DC_ZIPS * 2):
        revenue = 1000.0 + 997.5 * i
        records.append([f"A{i:03d}", HOSTILE[i % len(HOSTILE)], z, _fmt_number(revenue, "eu_grouped")])
        if "\r" not in HOSTILE[i % len(HOSTILE)] and "\n" not in HOSTILE[i % len(HOSTILE)]:
            real[f"A{i:03d}"] = (round(revenue, 2), z)
    records += [["A000", "duplicate", "20001", "5,00"], ["", "no id", "20001", "5,00"],
                ["X1", "=cmd|' /C calc'!A0", "02134", "1.000,00"], ["X2", "nan", "20001", "nan"],
                ["X3", "<script>alert(1)</script>", "20002", "-5,00"]]
    real.pop("A000")
    return (Book(["Account ID", "Account Name", "Zip Code", "Annual Revenue"], records, real),
            Layout("utf-16", ";", "\r\n", False, (3, 9)))


def test_a_real_process_prints_no_traceback(tmp_path):
    book, layout = _fixed_book()
    text, n_rows = _text(book.header, book.records, layout)
    accounts = tmp_path / "accounts.csv"
    _write(accounts, text, layout.encoding)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", "import sys; from territory.cli import main; "
                           "sys.exit(main())", *_plan_argv(tmp_path, accounts, "2")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_run(tmp_path, proc.returncode, tmp_path / "out", proc.stdout, proc.stderr, n_rows,
              book.real)


def test_no_plan_leaves_the_explanation_and_the_rejects_only(tmp_path, capfd):
    book, layout = _fixed_book()
    text, n_rows = _text(book.header, book.records, layout)
    accounts = tmp_path / "accounts.csv"
    _write(accounts, text, layout.encoding)
    # every rep's TAM within 0.1% of the mean, on lumpy ZIPs: no plan
    argv = _plan_argv(tmp_path, accounts, "2", CONFIG.replace("0.95", "0.001"))
    code, out, err = run_cli(tmp_path, argv, capfd)
    assert code == 3, err[-3000:]
    check_run(tmp_path, code, tmp_path / "out", out, err, n_rows, book.real)
