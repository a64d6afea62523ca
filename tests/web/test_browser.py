"""The page in headless Chromium against a running ``coptwin serve`` on the demo tables.

The map is WebGL drawn by SwiftShader (software), so these tests look at real pixels:
the view is not blank, status colours are on screen, a new Delta commit recolours a
marker within 2 s, a layer toggle removes its markers from the picture.
"""

from __future__ import annotations

import io
import math
import subprocess
import sys
import time

import pytest
from PIL import Image
from pyproj import Transformer

from coptwin.config import STATUSES
from coptwin.model.palette import HEX

from .conftest import wait_for

STATUS_CODES = list(STATUSES)


def rgb(hexcode: str) -> tuple[int, int, int]:
    return tuple(int(hexcode[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def nearest_status(pixel: tuple[int, ...]) -> tuple[str, float]:
    """The status colour closest to a pixel (lit faces are a little darker or lighter)."""
    best = min(HEX, key=lambda s: math.dist(pixel[:3], rgb(HEX[s])))
    return best, math.dist(pixel[:3], rgb(HEX[best]))


def screenshot(driver) -> Image.Image:  # noqa: ANN001
    return Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")


def map_box(driver) -> tuple[int, int, int, int]:  # noqa: ANN001
    r = driver.execute_script("return document.getElementById('map').getBoundingClientRect();")
    return int(r["left"]), int(r["top"]), int(r["right"]), int(r["bottom"])


def centre_pixel(driver) -> tuple[int, int, int]:  # noqa: ANN001
    left, top, right, bottom = map_box(driver)
    img = screenshot(driver)
    cx, cy = (left + right) // 2, (top + bottom) // 2
    # The median of a small patch: robust against an edge running through the centre.
    patch = sorted(img.getpixel((cx + dx, cy + dy)) for dx in (-2, 0, 2) for dy in (-2, 0, 2))
    return patch[len(patch) // 2]


def idle(driver) -> None:  # noqa: ANN001
    driver.execute_script(
        "window.__idle = false; cop.map.map.once('idle', () => window.__idle = true);"
        " cop.map.map.triggerRepaint();"
    )
    wait_for(driver, "window.__idle", 30)


def look_down_at(driver, index: int) -> None:  # noqa: ANN001
    """Top-down view centred on one sensor, close enough that its marker fills the centre."""
    driver.execute_script(
        "const s = cop.s; cop.map.map.jumpTo({center: [s.lon[arguments[0]], s.lat[arguments[0]]],"
        " zoom: 20, pitch: 0, bearing: 0});",
        index,
    )
    idle(driver)


@pytest.fixture(scope="module")
def page(server, browser):
    browser.get("about:blank")  # leave any earlier page (and its event stream) behind
    browser.get_log("browser")
    t0 = time.monotonic()
    browser.get(server.url)
    wait_for(browser, "window.cop && window.cop.ready", 60)
    page.load_s = time.monotonic() - t0
    return browser


def sensor_index(driver, sensor_id: str) -> int:  # noqa: ANN001
    return driver.execute_script("return cop.index.get(arguments[0]);", sensor_id)


def roof_ids(demo) -> list[str]:  # noqa: ANN001
    import polars as pl

    return demo.sensors.filter(pl.col("mount") == "roof")["sensor_id"].to_list()


#: JS: roof sensors (seen from above) of a kind / layer with no other marker within 8 m
#: (co-located sensors share a spot).
ALONE = """
const s = cop.s, want = arguments[0], col = arguments[1], roof = new Set(arguments[2]);
const near = (i, j) =>
  Math.abs(s.lon[i] - s.lon[j]) < 1.2e-4 && Math.abs(s.lat[i] - s.lat[j]) < 8e-5;
return s.id.map((id, i) => i).filter(i => s[col][i] === want && roof.has(s.id[i])
  && !s.id.some((_, j) => j !== i && near(i, j)));
"""


def test_the_3d_view_draws_buildings_and_status_colours(page):
    img = screenshot(page).crop(map_box(page))
    colours = img.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 200, "the map is (nearly) one colour: blank"
    present = {s: 0 for s in HEX}
    for count, px in colours:
        status, dist = nearest_status(px)
        if dist < 30:
            present[status] += count
    shown = {s for s, n in present.items() if n >= 4}
    # Markers and tinted buildings: OK and at least two other statuses are on screen.
    assert "ok" in shown and len(shown) >= 3, present
    errors = [
        e
        for e in page.get_log("browser")
        if e["level"] == "SEVERE" and "favicon" not in e["message"]
    ]
    assert errors == [], errors
    # Air-gapped sites: everything the page loaded came from this server.
    loaded = page.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).concat([location.href]);"
    )
    origin = page.execute_script("return location.origin;")
    assert [u for u in loaded if not u.startswith((origin, "data:", "blob:"))] == []


def test_a_new_delta_commit_recolours_its_marker_within_two_seconds(page, demo):
    alone = page.execute_script(ALONE, "temperature", "kind", roof_ids(demo))
    i = next(k for k in alone if page.execute_script(f"return cop.s.status[{k}];") != 0)
    sid = page.execute_script(f"return cop.s.id[{i}];")
    look_down_at(page, i)
    before, _ = nearest_status(centre_pixel(page))
    assert before != "alarm"
    t0 = time.monotonic()
    demo.append([{"sensor_id": sid, "value": 45.0, "quantity": "temperature", "unit": "degC"}])
    wait_for(
        page,
        f"cop.s.status[{i}] === 0"
        f" && cop.map.map.getFeatureState({{source: 'markers', id: {i}}}).s === 0",
        10,
        0.02,
    )
    elapsed = time.monotonic() - t0
    idle(page)
    after, dist = nearest_status(centre_pixel(page))
    assert after == "alarm", (after, dist)
    assert elapsed < 2.0, f"the page showed the commit after {elapsed:.2f} s"


def test_a_layer_toggle_hides_its_markers(page, demo):
    i = page.execute_script(ALONE, "environment", "layer", roof_ids(demo))[0]
    look_down_at(page, i)
    shown, dist = nearest_status(centre_pixel(page))
    code = page.execute_script(f"return cop.s.status[{i}];")
    assert shown == STATUS_CODES[code] and dist < 40
    page.find_element("id", "layer-environment").click()
    idle(page)
    hidden = centre_pixel(page)
    assert math.dist(hidden, rgb(HEX[shown])) > 40, hidden
    page.find_element("id", "layer-environment").click()
    idle(page)
    assert nearest_status(centre_pixel(page))[0] == shown


def test_page_coordinates_match_coptwin_place(page, demo, tmp_path):
    """Markers sit where `coptwin place` puts them; roof sensors on their roofs."""
    csv = tmp_path / "sensors.csv"
    demo.sensors.write_csv(csv)
    out = tmp_path / "placed.csv"
    cmd = [sys.executable, "-m", "coptwin.cli", "place", "--config", str(demo.config_path)]
    subprocess.run([*cmd, "--sensors", str(csv), "--out", str(out)], check=True)
    import polars as pl

    placed = pl.read_csv(out).filter(~pl.col("sensor_id").str.starts_with("GPS"))
    s = page.execute_script(
        "const s = cop.s; return {id: s.id, lon: s.lon, lat: s.lat, alt: s.alt, b: s.b};"
    )
    at = {sid: k for k, sid in enumerate(s["id"])}
    # Independent of coptwin.geo: the README's frame of a Y-up CityEngine export.
    to_wgs84 = Transformer.from_crs("EPSG:32618", "EPSG:4326", always_xy=True)
    offsets = []
    for row in placed.iter_rows(named=True):
        k = at[row["sensor_id"]]
        lon, lat = to_wgs84.transform(row["x"] + 445500.0, 5029500.0 - row["z"])
        assert abs(s["lon"][k] - lon) < 3e-7 and abs(s["lat"][k] - lat) < 3e-7, row
        offsets.append(s["alt"][k] - row["y"])
    assert max(offsets) - min(offsets) < 0.02, "page heights differ from the scene's by a constant"
    tops: dict[int, float] = {}
    for f in page.execute_script("return cop.scene.buildings.features;"):
        b = f["properties"]["b"]
        tops[b] = max(tops.get(b, -1e9), f["properties"]["top"])
    roof = (
        placed.filter(pl.col("placement") == "exact")
        .join(demo.sensors.select("sensor_id", "mount"), on="sensor_id")
        .filter(pl.col("mount") == "roof")
    )
    assert roof.height > 20
    for row in roof.iter_rows(named=True):
        k = at[row["sensor_id"]]
        assert abs(s["alt"][k] - tops[s["b"][k]]) < 0.05, "roof marker not on its roof"


def test_a_table_row_click_shows_details_and_history(page):
    sid = page.execute_script("return cop.s.id[cop.s.kind.indexOf('temperature')];")
    box = page.find_element("id", "search")
    box.clear()
    box.send_keys(sid)
    row = wait_for(page, f"document.querySelector('#table-rows .row[data-id=\"{sid}\"]')", 10)
    row.click()
    wait_for(page, "document.querySelectorAll('#detail-fields dt').length > 5", 10)
    fields = page.execute_script(
        "return [...document.querySelectorAll('#detail-fields dt')]"
        ".map(d => [d.textContent, d.nextElementSibling.textContent]);"
    )
    got = dict(fields)
    assert got["Sensor id"] == sid
    assert got["Why"] not in ("", "—")
    assert got["Value"].endswith("degC")
    points = page.execute_script(
        "return document.querySelector('#plot polyline').getAttribute('points').split(' ').length;"
    )
    assert points >= 3
    box.clear()


def test_as_of_shows_the_not_live_banner(page):
    assert not page.find_element("id", "banner").is_displayed()
    field = page.find_element("id", "asof-input")
    field.clear()
    field.send_keys("1")
    page.find_element("id", "asof-go").click()
    wait_for(page, "!document.getElementById('banner').hidden", 20)
    banner = page.find_element("id", "banner").text
    assert "NOT LIVE" in banner and "version 1" in banner
    page.find_element("id", "asof-live").click()
    wait_for(page, "document.getElementById('banner').hidden && cop.live", 20)


def ring_pixel(driver) -> tuple[int, int, int]:  # noqa: ANN001
    """Looking down at a marker: the colour halfway through where its alarm ring goes
    (1.07 marker sizes east of its centre; pulse stopped).  The marker's size on screen is
    measured (the roof it sits on is nearer the camera than the ground)."""
    driver.execute_script(
        "clearInterval(cop.map.pulse);"
        " cop.map.map.setPaintProperty('rings', 'fill-extrusion-opacity', 0.95);"
    )
    idle(driver)
    left, top, right, bottom = map_box(driver)
    img = screenshot(driver)
    cx, cy = (left + right) // 2, (top + bottom) // 2
    marker = img.getpixel((cx, cy))
    half = next(
        dx for dx in range(1, right - cx) if math.dist(img.getpixel((cx + dx, cy)), marker) > 30
    )
    x = cx + round(2 * half * 1.07)
    patch = sorted(img.getpixel((x + dx, cy + dy)) for dx in (-1, 0, 1) for dy in (-1, 0, 1))
    return patch[len(patch) // 2]


def test_an_alarm_shows_with_a_ring_and_is_acknowledged_with_the_token(page, demo):
    """Issue 15.5: a reading above alarm_high raises an alarm the page lists (with the badge
    and a dark ring around its marker); Ack needs the bearer token, reaches the engine and
    the ring goes."""
    from .conftest import SECRETS, TOKEN_ENV

    alone = page.execute_script(ALONE, "temperature", "kind", roof_ids(demo))
    i = next(k for k in alone if page.execute_script(f"return cop.s.status[{k}];") != 0)
    sid = page.execute_script(f"return cop.s.id[{i}];")
    look_down_at(page, i)
    before = ring_pixel(page)
    demo.append([{"sensor_id": sid, "value": 46.0, "quantity": "temperature", "unit": "degC"}])
    mine = f"(cop.alarms?.alarms || []).find(a => a.sensor_id === {sid!r})"
    wait_for(page, f"{mine}?.unacknowledged === true", 20)
    item = page.find_element("css selector", f"#alarms li[data-alarm^='{sid}@']")
    assert "ACTIVE · unacknowledged" in item.text and "above alarm_high 35" in item.text
    badge = page.find_element("id", "alarm-badge")
    assert badge.is_displayed() and "unacknowledged" in badge.text
    rings = "cop.map.map.getSource('rings').serialize().data.features"
    mine_ring = f"{rings}.filter(f => f.properties.alarm.startsWith({sid + '@'!r})).length"
    assert page.execute_script(f"return {mine_ring};") == 1
    ringed = ring_pixel(page)
    page.save_screenshot(str(demo.root / "alarm-ring.png"))
    assert sum(ringed) < 250 < sum(before), (before, ringed)  # a dark ring where roof was
    # A wrong token is refused and changes nothing.
    page.find_element("id", "alarm-author").clear()
    page.find_element("id", "alarm-author").send_keys("Ann (control room)")
    page.find_element("id", "alarm-token").clear()
    page.find_element("id", "alarm-token").send_keys("not-the-token")
    item.find_element("xpath", ".//button[text()='Ack']").click()
    wait_for(page, "document.getElementById('alarm-error').textContent.includes('token')", 10)
    assert page.execute_script(f"return {mine}.unacknowledged;") is True
    # The right one acknowledges: the engine reads the table back and the page follows.
    page.find_element("id", "alarm-token").clear()
    page.find_element("id", "alarm-token").send_keys(SECRETS[TOKEN_ENV])
    item = page.find_element("css selector", f"#alarms li[data-alarm^='{sid}@']")
    item.find_element("xpath", ".//button[text()='Ack']").click()
    wait_for(page, f"{mine}?.state === 'acknowledged-active'", 20)
    item = page.find_element("css selector", f"#alarms li[data-alarm^='{sid}@']")
    assert "acknowledged by Ann (control room)" in item.text
    assert page.execute_script(f"return {mine_ring};") == 0
    assert sum(ring_pixel(page)) > 250


def test_values_read_as_the_kit_panel_writes_them(page, demo):
    """The table row, the details and the alarm list say a value in the Kit panel's words
    (``coptwin.ui.format``), not as the float came out of the table."""
    from coptwin.ui.format import format_value

    temps = page.execute_script(
        "return cop.s.id.filter((id, i) => cop.s.kind[i] === 'temperature'"
        " && !(cop.alarms?.alarms || []).some(a => a.sensor_id === id));"
    )
    small, raised = temps[-1], temps[-2]
    tiny, hot = 1.23456789e-7, 36.123456789
    demo.append(
        [
            {"sensor_id": small, "value": tiny, "quantity": "temperature", "unit": "degC"},
            {"sensor_id": raised, "value": hot, "quantity": "temperature", "unit": "degC"},
        ]
    )
    mine = f"(cop.alarms?.alarms || []).find(a => a.sensor_id === {raised!r})"
    wait_for(page, f"Math.abs(cop.s.value[cop.index.get({small!r})]) < 1e-3 && {mine}", 20)
    box = page.find_element("id", "search")
    for sid, value in ((small, tiny), (raised, hot)):
        box.clear()
        box.send_keys(sid)
        cell = f"document.querySelector('#table-rows .row[data-id=\"{sid}\"] span:nth-child(3)')"
        wait_for(page, cell, 10)
        assert page.execute_script(f"return {cell}.textContent;") == format_value(value, "degC")
        page.execute_script(f"{cell}.click();")
        wait_for(page, f"cop.detail?.sensor_id === {sid!r}", 10)
        fields = dict(
            page.execute_script(
                "return [...document.querySelectorAll('#detail-fields dt')]"
                ".map(d => [d.textContent, d.nextElementSibling.textContent]);"
            )
        )
        assert fields["Value"] == format_value(value, "degC")
    box.clear()
    item = page.find_element("css selector", f"#alarms li[data-alarm^='{raised}@']")
    assert f"value {format_value(hot, 'degC')} above alarm_high 35" in item.text, item.text
