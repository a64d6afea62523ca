"""Triangulation: non-convex roofs and concave quads are covered exactly, never by a fan."""

from __future__ import annotations

import numpy as np
import pytest

from coptwin.geo.triangulate import TriangulationStats, triangulate

# CityEngine-style L-shaped roof: a non-convex 6-gon, counter-clockwise, at height 20.
L_ROOF = np.array([[0, 0], [30, 0], [30, 10], [12, 10], [12, 25], [0, 25]], dtype=float)


def _area(pts2: np.ndarray) -> float:
    x, y = pts2[:, 0], pts2[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _inside(poly: np.ndarray, p: np.ndarray) -> bool:
    """Even-odd rule point-in-polygon (reference implementation for the test)."""
    inside = False
    n = len(poly)
    for i in range(n):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % n]
        if (y1 > p[1]) != (y2 > p[1]) and p[0] < x1 + (p[1] - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _check_cover(poly2: np.ndarray, tris: np.ndarray, pts3: np.ndarray) -> None:
    areas = [_area(pts3[t][:, :2]) for t in tris]
    assert sum(areas) == pytest.approx(_area(poly2), rel=1e-12)
    for t in tris:
        assert _inside(poly2, pts3[t][:, :2].mean(axis=0)), "a triangle lies outside the polygon"


@pytest.mark.parametrize("rotate", range(6))
def test_l_shaped_roof_is_ear_clipped_not_fanned(rotate: int) -> None:
    ring = np.roll(L_ROOF, rotate, axis=0)
    pts = np.column_stack([ring, np.full(6, 20.0)])
    tris = triangulate(np.array([6]), np.arange(6), pts)
    assert tris.shape == (4, 3)
    _check_cover(ring, tris, pts)


def test_fan_would_be_wrong_for_the_l_roof() -> None:
    """Guards the test above: a fan from the outer corner (30, 10) leaves the polygon."""
    ring = np.roll(L_ROOF, -2, axis=0)
    assert ring[0].tolist() == [30.0, 10.0]
    fan = [[0, k, k + 1] for k in range(1, 5)]
    outside = [not _inside(ring, ring[t].mean(axis=0)) for t in fan]
    assert any(outside)
    assert sum(_area(ring[t]) for t in fan) != pytest.approx(_area(ring))


def test_vertical_and_tilted_polygons_use_their_own_plane() -> None:
    # the L-shape stood up as a wall (x, z plane) and tilted 30 degrees
    a = np.radians(30)
    rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    for pts in (
        np.column_stack([L_ROOF[:, 0], np.zeros(6), L_ROOF[:, 1]]),
        np.column_stack([L_ROOF, np.zeros(6)]) @ rot.T,
    ):
        tris = triangulate(np.array([6]), np.arange(6), pts)
        total = sum(
            np.linalg.norm(np.cross(pts[b] - pts[a_], pts[c] - pts[a_])) / 2 for a_, b, c in tris
        )
        assert total == pytest.approx(_area(L_ROOF), rel=1e-9)


@pytest.mark.parametrize("start", range(4))
def test_concave_quad_takes_the_inner_diagonal(start: int) -> None:
    dart = np.array([[0, 0], [10, 0], [3, 3], [0, 10]], dtype=float)  # reflex corner at (3, 3)
    ring = np.roll(dart, start, axis=0)
    pts = np.column_stack([ring, np.zeros(4)])
    tris = triangulate(np.array([4]), np.arange(4), pts)
    assert tris.shape == (2, 3)
    _check_cover(ring, tris, pts)


def test_mixed_mesh_and_bad_faces_are_counted() -> None:
    pts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 2, 0]], dtype=float)
    counts = np.array([3, 4, 2, 3])  # tri, quad, a 2-gon, a tri with a bad index
    idx = np.array([0, 1, 2, 0, 1, 2, 3, 0, 1, 0, 1, 99])
    stats = TriangulationStats()
    tris = triangulate(counts, idx, pts, stats)
    assert tris.shape == (3, 3)
    assert stats.faces == 4 and stats.degenerate_faces == 2
    with pytest.raises(ValueError, match="faceVertexCounts"):
        triangulate(np.array([4]), np.arange(3), pts)


def test_collinear_corners_are_tolerated() -> None:
    # a rectangle with an extra corner in the middle of one edge (common in exports)
    ring = np.array([[0, 0], [5, 0], [10, 0], [10, 4], [0, 4]], dtype=float)
    pts = np.column_stack([ring, np.zeros(5)])
    stats = TriangulationStats()
    tris = triangulate(np.array([5]), np.arange(5), pts, stats)
    total = sum(_area(pts[t][:, :2]) for t in tris)
    assert total == pytest.approx(40.0)
    assert stats.fan_fallbacks == 0


def test_batched_ear_clipping_matches_the_scalar_clipper() -> None:
    """Random non-convex polygons in random planes, some with collinear or repeated
    corners: the batch gives the scalar clipper's triangles, or hands the polygon back."""
    from coptwin.geo.triangulate import _ear_clip, _ear_clip_many

    rng = np.random.default_rng(0)
    for n in (5, 6, 9, 11, 17):
        ang = np.sort(rng.uniform(0, 2 * np.pi, (200, n)), axis=1)
        r = rng.uniform(0.3, 1.0, (200, n))
        flat = np.stack([r * np.cos(ang), r * np.sin(ang), np.zeros((200, n))], axis=2)
        rot = np.linalg.qr(rng.normal(size=(200, 3, 3)))[0]
        rings = np.einsum("bnk,bjk->bnj", flat, rot) * 50 + rng.normal(0, 1000, (200, 1, 3))
        rings[:20, 2] = (rings[:20, 1] + rings[:20, 3]) / 2  # collinear corner
        rings[20:30, 4] = rings[20:30, 3]  # repeated corner
        tris, state = _ear_clip_many(rings, TriangulationStats())
        assert (state == 1).sum() > 150
        for k in range(200):
            want = _ear_clip(rings[k], TriangulationStats())
            if state[k] == 1:
                np.testing.assert_array_equal(tris[k], want)
