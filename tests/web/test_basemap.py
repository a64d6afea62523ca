"""An optional local PMTiles basemap: served with range requests, drawn under the city."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from .conftest import SECRETS, Server, make_demo, wait_for
from .test_browser import map_box, screenshot

MAGENTA = (255, 0, 255)


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def write_raster_pmtiles(path, bounds: list[float], zooms=(13, 14, 15, 16)) -> int:  # noqa: ANN001
    """A PMTiles archive of plain magenta PNG tiles over ``bounds`` (west, south, east, north)."""
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), MAGENTA).save(buf, "PNG")
    png = buf.getvalue()
    w, s, e, n = bounds
    ids = []
    for z in zooms:
        x0, y0 = tile_xy(w - 0.01, n + 0.01, z)
        x1, y1 = tile_xy(e + 0.01, s - 0.01, z)
        ids += [zxy_to_tileid(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    with open(path, "wb") as f:
        writer = Writer(f)
        for tid in sorted(ids):
            writer.write_tile(tid, png)
        e7 = lambda v: int(v * 1e7)  # noqa: E731
        writer.finalize(
            {
                "tile_type": TileType.PNG,
                "tile_compression": Compression.NONE,
                "min_lon_e7": e7(w),
                "min_lat_e7": e7(s),
                "max_lon_e7": e7(e),
                "max_lat_e7": e7(n),
                "center_zoom": zooms[0],
                "center_lon_e7": e7((w + e) / 2),
                "center_lat_e7": e7((s + n) / 2),
            },
            {"name": "test basemap", "attribution": ""},
        )
    return len(ids)


@pytest.fixture(scope="module")
def basemap_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("basemap")
    made = make_demo(root, '\n[web]\nbasemap_pmtiles = "../basemap.pmtiles"\n')
    # The generated demo city's extent (it is always built at the same place).
    write_raster_pmtiles(root / "basemap.pmtiles", [-75.7032, 45.4121, -75.6899, 45.4217])
    srv = Server(made.config_path, SECRETS)
    try:
        yield srv
    finally:
        srv.stop()


def test_the_basemap_is_served_in_ranges(basemap_server):
    import urllib.request

    req = urllib.request.Request(
        basemap_server.url + "basemap.pmtiles", headers={"Range": "bytes=0-126"}
    )
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 206 and resp.read()[:7] == b"PMTiles"


def test_the_page_draws_the_basemap_under_the_city(basemap_server, browser):
    browser.get(basemap_server.url)
    wait_for(browser, "window.cop && window.cop.ready && !!cop.map.map.getSource('basemap')", 60)
    wait_for(browser, "cop.map.map.areTilesLoaded()", 30)
    browser.execute_script("cop.map.map.triggerRepaint();")
    wait_for(browser, "cop.map.map.loaded()", 30)
    img = screenshot(browser).crop(map_box(browser))
    magenta = sum(n for n, px in img.getcolors(1_000_000) if math.dist(px, MAGENTA) < 30)
    assert magenta > 2000, "the basemap's tiles are not on screen"
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);"
    )
    assert any(u.endswith("/basemap.pmtiles") for u in loaded)
    browser.get("about:blank")
