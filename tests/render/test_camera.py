"""Views, sizes and cameras that frame their content."""

from __future__ import annotations

import numpy as np
import pytest

from coptwin.render.camera import View, box_corners, fit, look_direction, parse_size


def test_views_and_sizes_parse_or_say_what_is_expected():
    assert View.parse("oblique") == View() and View.parse("TOP") == View("top")
    assert View.parse("sensor:TEM-0001") == View("sensor", "TEM-0001")
    assert View.parse("building:/city/Bldg_7:2") == View("building", "/city/Bldg_7:2")
    for bad, why in (("side", "not one of"), ("sensor:", "needs an id"), ("top:3", "takes no id")):
        with pytest.raises(ValueError, match=why):
            View.parse(bad)
    assert parse_size("1280x720") == (1280, 720) and parse_size(" 64X64 ") == (64, 64)
    for bad in ("1280", "10x10", "99999x100", "axb"):
        with pytest.raises(ValueError, match="--size"):
            parse_size(bad)


@pytest.mark.parametrize("kind", ["top", "oblique"])
@pytest.mark.parametrize("aspect", [0.5, 1.0, 2.5])
def test_fit_keeps_every_corner_in_the_picture_and_fills_one_side(kind, aspect):
    rng = np.random.default_rng(3)
    lo = rng.uniform(-500, 0, (30, 3))
    hi = lo + rng.uniform(5, 80, (30, 3))
    pts = box_corners(lo, hi)
    north = np.array([np.sin(0.3), np.cos(0.3)])
    d, up = look_direction(kind, north)
    cam = fit(pts, d, up, aspect, margin=0.0)
    view_dir = cam.focal - cam.position
    view_dir /= np.linalg.norm(view_dir)
    right = np.cross(view_dir, cam.up)
    rel = pts - cam.focal
    x = rel @ right / (cam.parallel_scale * aspect)
    y = rel @ cam.up / cam.parallel_scale
    assert np.abs(x).max() <= 1 + 1e-9 and np.abs(y).max() <= 1 + 1e-9
    assert max(np.abs(x).max(), np.abs(y).max()) == pytest.approx(1.0, abs=1e-6)
    assert (rel @ -view_dir).max() < np.linalg.norm(cam.position - cam.focal)  # all in front
    if kind == "top":
        assert np.allclose(cam.up[:2], north) and np.allclose(view_dir, [0, 0, -1])
    else:
        assert view_dir[2] == pytest.approx(-np.sin(np.radians(40)))
