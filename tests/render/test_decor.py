"""The frame around a view: scale bar lengths, legend rows from the palette."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coptwin.model.palette import PALETTE_SRGB
from coptwin.render.camera import Camera
from coptwin.render.decor import MUTED, Layout, Legend, compose, format_metres, nice_length
from coptwin.render.draw import Frame


@pytest.mark.parametrize(
    ("max_m", "want"), [(7.3, 5.0), (10.0, 10.0), (180.0, 100.0), (260.0, 200.0), (0.9, 0.5)]
)
def test_scale_bar_is_the_longest_1_2_5_length_that_fits(max_m, want):
    metres, px = nice_length(max_m, 0.5)
    assert metres == pytest.approx(want) and px == round(want / 0.5)


def test_metres_and_kilometres():
    assert format_metres(200) == "200 m" and format_metres(2000) == "2 km"


def test_legend_rows_carry_the_palette_colours_and_the_view_is_untouched():
    layout = Layout.for_size(640, 400)
    vw, vh = layout.view_size
    view = np.full((vh, vw, 3), 77, dtype=np.uint8)
    cam = Camera(np.array([0, 0, 10.0]), np.zeros(3), np.array([0, 1.0, 0]), 50.0)
    frame = Frame(view, cam, np.eye(4), marker_px=10)
    img = np.asarray(
        compose(frame, layout, "COP live", "versions", Legend(counts={"ok": 3}), np.array([0, -1]))
    )
    ox, oy = layout.view_origin
    assert (img[oy : oy + vh, ox : ox + vw] == 77).all()
    panel = img[:, vw:].reshape(-1, 3)
    for status, rgb in PALETTE_SRGB.items():
        want = np.round(np.array(rgb) * 255).astype(int)
        assert (np.abs(panel.astype(int) - want).max(axis=1) <= 1).any(), status


@pytest.mark.parametrize("heading", [0.0, 45.0, 90.0, 180.0, 270.0])
def test_the_n_sits_at_the_arrow_head_whichever_way_north_points(heading):
    """The "N" goes round with the arrow: its pixels lie beyond the circle, on the side
    the arrow points to (heading: degrees clockwise from up on screen)."""
    layout = Layout.for_size(640, 400)
    vw, vh = layout.view_size
    cam = Camera(np.array([0, 0, 10.0]), np.zeros(3), np.array([0, 1.0, 0]), 50.0)
    frame = Frame(np.full((vh, vw, 3), 77, dtype=np.uint8), cam, np.eye(4), marker_px=10)
    a = math.radians(heading)
    north = np.array([math.sin(a), -math.cos(a)])  # screen pixels: x right, y down

    def picture(v):  # noqa: ANN001, ANN202
        img = compose(frame, layout, "COP", "v", Legend(counts={"ok": 3}), v)
        return np.asarray(img).astype(int)

    img, unknown = picture(north), picture(None)
    # The ring around the arrow (MUTED, as the arrow's shaded half) gives centre and radius.
    ys, xs = np.nonzero((img == MUTED).all(axis=2) & ((unknown != MUTED).any(axis=2)))
    cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
    radius = (xs.max() - xs.min() + 1) / 2
    # Bright text that only the arrowed picture has, outside the ring: the label.
    bright = (img.sum(axis=2) > 600) & (unknown.sum(axis=2) <= 600)
    ly, lx = np.nonzero(bright)
    outside = np.hypot(lx - cx, ly - cy) > radius + 1
    assert outside.sum() > 10, "no label drawn outside the ring"
    dx, dy = lx[outside].mean() - cx, ly[outside].mean() - cy
    assert np.hypot(dx, dy) > radius
    cos = (dx * north[0] + dy * north[1]) / np.hypot(dx, dy)
    assert cos > math.cos(math.radians(10)), (heading, dx, dy)
