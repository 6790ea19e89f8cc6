"""The pages in a real browser: headless Chromium via selenium.

Skipped (with the reason) when Chromium, chromedriver or selenium is missing.
Checks: no console errors, no network requests, Leaflet panes and SVG paths
drawn, synchronised maps, and an account name carrying a script does not run.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from test_maps import XSS_IMG, tiny_scenario, write_result_dir

pytestmark = pytest.mark.browser

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser")
                 if Path(p).exists()), shutil.which("chromium"))
DRIVER = next((p for p in ("/usr/bin/chromedriver",) if Path(p).exists()),
              shutil.which("chromedriver"))


def _skip_reason() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    if not CHROMIUM:
        return "chromium is not installed (apt-get install chromium)"
    if not DRIVER:
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return None


_REASON = _skip_reason()
if _REASON:
    pytest.skip(_REASON, allow_module_level=True)


def make_driver(width: int = 1400, height: int = 900):
    """A headless Chromium with browser and performance logs, fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="tt-chrome-")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
              f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


@pytest.fixture(scope="module")
def driver():
    d = make_driver()
    yield d
    d.quit()


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("browser")
    a = tiny_scenario("a")
    a["accounts"].loc[1, "name"] = XSS_IMG
    a["reps"].loc[0, "name"] = '<img src=y onerror="window.__xss=2">'
    a["scorecard"].loc[0, "name"] = '<img src=y onerror="window.__xss=2">'
    da = write_result_dir(a, root / "balanced")
    db = write_result_dir(tiny_scenario("b", travel_source="osm"), root / "low-travel")
    from territory.web.compare import compare_page

    cmp = compare_page([da, db], root / "compare.html")
    return {"map": da / "map.html", "compare": cmp}


def _load(driver, path: Path) -> None:
    driver.get_log("browser")  # drain
    driver.get_log("performance")
    driver.get(path.resolve().as_uri())
    for _ in range(50):
        if driver.execute_script("return document.readyState") == "complete":
            break
        time.sleep(0.1)
    time.sleep(0.5)


def _errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def _network(driver) -> list[str]:
    import json

    urls = []
    for e in driver.get_log("performance"):
        msg = json.loads(e["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    res = driver.execute_script(
        "return performance.getEntriesByType('resource').map(function(r){return r.name})")
    # chrome:// are the browser's own start-up pages, not requests of ours
    return [u for u in urls + res
            if not u.startswith(("data:", "file:", "about:", "blob:", "chrome:", "chrome-"))]


@pytest.mark.parametrize("which", ["map", "compare"])
def test_loads_offline_without_errors(driver, pages, which):
    _load(driver, pages[which])
    assert _errors(driver) == []
    assert _network(driver) == []
    assert driver.execute_script("return typeof L") == "object"
    assert driver.execute_script("return document.querySelectorAll('.leaflet-pane').length") > 4
    paths = driver.execute_script("return document.querySelectorAll('path.leaflet-interactive,"
                                  " .leaflet-overlay-pane path').length")
    assert paths >= 3


@pytest.mark.parametrize("which", ["map", "compare"])
def test_script_in_names_does_not_run(driver, pages, which):
    _load(driver, pages[which])
    # hover every marker so tooltips (which hold the names) are rendered too
    driver.execute_script("""
      document.querySelectorAll('.leaflet-marker-icon').forEach(function (el) {
        el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
      });""")
    time.sleep(0.3)
    assert driver.execute_script("return window.__xss") is None
    assert driver.execute_script("return document.querySelectorAll('img[src=\"x\"],img[src=\"y\"]').length") == 0


def test_legend_and_source_visible(driver, pages):
    _load(driver, pages["map"])
    legend = driver.execute_script("return document.querySelector('.tt-legend').innerText")
    assert "Cy Diaz" in legend and "Bo Chen" in legend
    assert '<img src=y onerror="window.__xss=2">' in legend  # shown as text
    red = driver.execute_script(
        "return getComputedStyle(document.querySelector('.tt-legend tr.flag td')).color")
    assert red == "rgb(209, 0, 44)"
    src = driver.execute_script("return document.querySelector('.tt-source').innerText")
    assert "straight-line ESTIMATE" in src


def test_maps_are_synchronised(driver, pages):
    _load(driver, pages["compare"])
    n = driver.execute_script("return window.TT_MAPS.length")
    assert n == 2
    before = driver.execute_script("var c = TT_MAPS[1].getCenter(); return [c.lat, c.lng]")
    driver.execute_script("TT_MAPS[0].panBy([150, 80], {animate: false});")
    time.sleep(0.3)
    c0 = driver.execute_script("var c = TT_MAPS[0].getCenter(); return [c.lat, c.lng]")
    c1 = driver.execute_script("var c = TT_MAPS[1].getCenter(); return [c.lat, c.lng]")
    assert c1 != pytest.approx(before, abs=1e-6)
    assert c1 == pytest.approx(c0, abs=1e-6)
    driver.execute_script("TT_MAPS[1].setZoom(TT_MAPS[1].getZoom() + 1, {animate: false});")
    time.sleep(0.5)
    z = driver.execute_script("return TT_MAPS.map(function (m) { return m.getZoom(); })")
    assert z[0] == z[1]


def test_moved_table_sorts(driver, pages):
    _load(driver, pages["compare"])
    # click the revenue header twice: descending then ascending
    hdr = driver.execute_script(
        "var t = document.querySelector('table.moved'); var ths = t.querySelectorAll('th');"
        "for (var i = 0; i < ths.length; i++) if (ths[i].textContent.indexOf('Revenue') === 0)"
        " return i; return -1;")
    assert hdr >= 0
    vals = []
    for _ in range(2):
        driver.execute_script(f"document.querySelectorAll('table.moved th')[{hdr}].click()")
        vals.append(driver.execute_script(
            f"return Array.from(document.querySelectorAll('table.moved tbody tr'))"
            f".map(function (r) {{ return parseFloat(r.cells[{hdr}].dataset.v); }})"))
    assert vals[0] == sorted(vals[0]) and vals[1] == sorted(vals[1], reverse=True)


def test_money_in_the_page_is_pythons(driver, pages):
    from test_maps import MONEY_CASES

    from territory.web.html import fmt_money

    _load(driver, pages["map"])
    cases = [x for x in MONEY_CASES if x is not None and x == x]
    js = driver.execute_script("return arguments[0].map(function (x) { return TT.money(x); })",
                               cases)
    assert js == [fmt_money(x) for x in cases]


def screenshot(page: Path, out: Path, width: int = 1400, height: int = 900, *,
               full_page: bool = False) -> Path:
    """Save a PNG of ``page`` in headless Chromium (``full_page``: the whole scroll height)."""
    d = make_driver(width, height)
    try:
        _load(d, page)
        time.sleep(0.5)
        if full_page:
            h = d.execute_script("return document.documentElement.scrollHeight")
            d.set_window_size(width, h + 120)
            time.sleep(0.5)
        d.save_screenshot(str(out))
    finally:
        d.quit()
    return out


if __name__ == "__main__":  # python tests/test_browser.py DEMO_DIR OUT_DIR
    import sys

    demo, dest = Path(sys.argv[1]), Path(sys.argv[2])
    dest.mkdir(parents=True, exist_ok=True)
    print(screenshot(demo / "balanced" / "map.html", dest / "map.png", 1400, 900))
    print(screenshot(demo / "compare.html", dest / "compare.png", 1500, 900, full_page=True))
