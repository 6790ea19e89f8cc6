"""The packed map in headless Chromium: the page's decoder rebuilds Python's data exactly.

Skipped like ``test_browser`` when Chromium, chromedriver or selenium is missing.
"""

from __future__ import annotations

import json
import time

import pytest

from test_browser import make_driver  # skips this module without a browser
from test_maps import national_scenario, page_data

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    from territory.web.maps import save_map, scenario_map

    s = national_scenario()
    path = tmp_path_factory.mktemp("packed") / "map.html"
    save_map(scenario_map(s["units"], s["reps"], s["accounts"], s["scorecard"], s["summary"]),
             path)
    d = make_driver(1400, 900)
    d.get(path.resolve().as_uri())
    for _ in range(100):
        if d.execute_script("return document.readyState === 'complete' && !!window.TT_EDITOR"):
            break
        time.sleep(0.1)
    yield d, page_data(path)
    d.quit()


def test_page_decodes_what_python_decodes(national):
    driver, data = national
    got = json.loads(driver.execute_script(
        "var D = TT_EDITOR.D, E = TT_EDITOR.data; return JSON.stringify({units: D.units,"
        " territories: D.territories, current: D.current, accounts: D.accounts,"
        " neighbours: E.neighbours, points: E.points, states: D.background.states});"))
    assert got["units"] == data["units"] and got["territories"] == data["territories"]
    assert got["current"] == data["current"] and got["states"] == data["background"]["states"]
    assert got["accounts"] == data["accounts"]
    assert got["neighbours"] == data["editor"]["neighbours"]
    assert got["points"] == data["editor"]["points"]
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []


def test_one_tooltip_for_the_layer_shows_each_unit(national):
    from selenium.webdriver.common.action_chains import ActionChains

    driver, data = national
    E = data["editor"]
    g = max(range(len(E["unitIds"])), key=lambda i: len(E["members"][i].split()))
    driver.execute_script("TT_EDITOR.map.setView(TT_EDITOR.data.points[arguments[0]], 10,"
                          " {animate: false});", g)
    time.sleep(0.2)
    x, y = driver.execute_script(
        "var p = TT_EDITOR.map.latLngToContainerPoint(TT_EDITOR.data.points[arguments[0]]);"
        " return [p.x, p.y];", g)
    box = driver.find_element("css selector", ".leaflet-container")
    w, h = box.size["width"], box.size["height"]
    ActionChains(driver).move_to_element_with_offset(box, int(x - w / 2), int(y - h / 2)) \
        .move_by_offset(1, 1).perform()
    time.sleep(0.2)
    tip = driver.find_element("css selector", ".leaflet-tooltip").text
    more = len(E["members"][g].split())
    assert f"ZIP {E['unitIds'][g]} and {more} ZIPs without accounts" in tip and "TAM:" in tip
