"""The frame around a view: scale bar lengths, legend rows from the palette."""

from __future__ import annotations

import numpy as np
import pytest

from coptwin.model.palette import PALETTE_SRGB
from coptwin.render.camera import Camera
from coptwin.render.decor import Layout, Legend, compose, format_metres, nice_length
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
