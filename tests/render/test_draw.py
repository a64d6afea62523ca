"""VTK off-screen drawing: exact marker colours at projected pixels, lit triangles."""

from __future__ import annotations

import numpy as np

from coptwin.render.camera import fit, look_direction
from coptwin.render.draw import BACKGROUND, Layer, draw


def test_unlit_markers_keep_their_colours_and_project_where_vtk_drew_them():
    # a 40 m ground square, lit, and three markers above it
    pts = np.array([[-20, -20, 0], [20, -20, 0], [20, 20, 0], [-20, 20, 0]], dtype=np.float32)
    tris = np.array([[0, 1, 2], [0, 2, 3]])
    colors = np.array([[200, 200, 200], [200, 200, 200]], dtype=np.uint8)
    markers = np.array([[-10.0, -10.0, 1.0], [0.0, 5.0, 1.0], [12.0, 0.0, 1.0]])
    rgb = np.array([[213, 94, 0], [86, 180, 233], [0, 158, 115]], dtype=np.uint8)
    d, up = look_direction("oblique", np.array([0.0, 1.0]))
    cam = fit(np.vstack([pts, markers]), d, up, 320 / 240)
    frame = draw(pts, tris, colors, cam, (320, 240), markers=Layer(markers, rgb))
    assert frame.image.shape == (240, 320, 3) and frame.image.dtype == np.uint8
    for (x, y), want in zip(frame.project(markers), rgb, strict=True):
        assert (frame.image[int(y), int(x)] == want).all()
    assert (frame.image[0, 0] == BACKGROUND).all()
    ground = frame.project(np.array([[5.0, -15.0, 0.0]]))[0]
    lit = frame.image[int(ground[1]), int(ground[0])].astype(int)
    assert 60 < lit.mean() < 255 and abs(lit[0] - lit[1]) <= 2  # grey, shaded, not background
