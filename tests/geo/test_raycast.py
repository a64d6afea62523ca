"""Vertical grid ray casts and closest points agree with brute force on random geometry."""

from __future__ import annotations

import numpy as np

from coptwin.geo.raycast import VerticalIndex, closest_points_on_triangles


def _brute_highest(tris: np.ndarray, uv: np.ndarray) -> np.ndarray:
    out = np.full(uv.shape[0], np.nan)
    for k, (u, v) in enumerate(uv):
        for a, b, c in tris:
            m = np.array([[b[0] - a[0], c[0] - a[0]], [b[1] - a[1], c[1] - a[1]]])
            if abs(np.linalg.det(m)) < 1e-12:
                continue
            l1, l2 = np.linalg.solve(m, [u - a[0], v - a[1]])
            if l1 >= -1e-9 and l2 >= -1e-9 and l1 + l2 <= 1 + 1e-9:
                w = a[2] + l1 * (b[2] - a[2]) + l2 * (c[2] - a[2])
                out[k] = w if np.isnan(out[k]) else max(out[k], w)
    return out


def _random_tris(rng: np.random.Generator, n: int, span: float = 100.0) -> np.ndarray:
    centres = rng.uniform(0, span, (n, 1, 3))
    return centres + rng.normal(0, 4.0, (n, 3, 3))


def test_highest_hit_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    tris = _random_tris(rng, 150)
    grid = VerticalIndex(tris)
    uv = rng.uniform(-10, 110, (150, 2))
    got, tri = grid.highest(uv)
    want = _brute_highest(tris, uv)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], atol=1e-9)
    assert (tri[np.isnan(got)] == -1).all() and (tri[~np.isnan(got)] >= 0).all()


def test_accept_filter_and_max_up_restrict_hits() -> None:
    # two stacked squares: ground at 0 (tris 0, 1), roof at 10 (tris 2, 3)
    sq = np.array(
        [[[0, 0, 0], [10, 0, 0], [10, 10, 0]], [[0, 0, 0], [10, 10, 0], [0, 10, 0]]], float
    )
    tris = np.concatenate([sq, sq + [0, 0, 10]])
    grid = VerticalIndex(tris)
    uv = np.array([[2.0, 3.0], [7.0, 1.0], [50.0, 50.0]])
    w, t = grid.highest(uv)
    assert w[:2].tolist() == [10.0, 10.0] and np.isnan(w[2]) and t[2] == -1
    w, _ = grid.highest(uv, accept=lambda p, tri: tri < 2)
    assert w[:2].tolist() == [0.0, 0.0]
    w, _ = grid.highest(uv, max_up=np.array([5.0, 20.0, 5.0]))
    assert w[:2].tolist() == [0.0, 10.0]


def test_points_on_shared_edges_and_vertical_triangles() -> None:
    sq = np.array(
        [[[0, 0, 1], [10, 0, 1], [10, 10, 1]], [[0, 0, 1], [10, 10, 1], [0, 10, 1]]], float
    )
    wall = np.array([[[0, 0, 0], [10, 0, 0], [10, 0, 50]]], float)
    grid = VerticalIndex(np.concatenate([sq, wall]))
    assert grid.n_tris == 2  # the wall cannot be hit from above
    w, _ = grid.highest(np.array([[5.0, 5.0], [0.0, 0.0], [10.0, 10.0]]))
    assert w.tolist() == [1.0, 1.0, 1.0]


def test_empty_grid_and_many_points_in_chunks() -> None:
    empty = VerticalIndex(np.zeros((0, 3, 3)))
    w, t = empty.highest(np.zeros((3, 2)))
    assert np.isnan(w).all() and (t == -1).all()
    big = np.array([[[0, 0, 2], [100, 0, 2], [0, 100, 2]]], float)
    w, _ = VerticalIndex(big).highest(np.random.default_rng(0).uniform(0, 40, (50_000, 2)))
    assert (w == 2.0).all()


def test_closest_points_match_dense_sampling() -> None:
    rng = np.random.default_rng(3)
    a, b, c = (rng.normal(0, 5, (200, 3)) for _ in range(3))
    p = rng.normal(0, 8, (200, 3))
    got = closest_points_on_triangles(p, a, b, c)
    s = np.linspace(0, 1, 61)
    l1, l2 = np.meshgrid(s, s)
    keep = l1 + l2 <= 1
    l1, l2 = l1[keep], l2[keep]
    for k in range(200):
        samples = a[k] + l1[:, None] * (b[k] - a[k]) + l2[:, None] * (c[k] - a[k])
        best = np.linalg.norm(samples - p[k], axis=1).min()
        d = np.linalg.norm(got[k] - p[k])
        assert d <= best + 1e-9, k  # never worse than any sample
        assert d >= best - 0.3, k  # and close to the dense optimum


def test_deep_tree_with_long_thin_triangles_matches_brute_force() -> None:
    """Terrain-like strips (48 m x 1.25 m) and small clutter: thousands of triangles, so
    the tree has many levels; every hit must still be the brute-force highest."""
    rng = np.random.default_rng(7)
    xs, ys = np.meshgrid(np.arange(0, 480, 48.0), np.arange(0, 100, 1.25))
    a = np.stack([xs, ys, rng.normal(0, 1, xs.shape)], -1).reshape(-1, 3)
    strips = np.concatenate(
        [
            np.stack([a, a + [48, 0, 0.1], a + [48, 1.25, 0.2]], 1),
            np.stack([a, a + [48, 1.25, 0.2], a + [0, 1.25, 0.3]], 1),
        ]
    )
    clutter = rng.uniform([0, 0, 0], [480, 100, 30], (3000, 1, 3)) + rng.normal(
        0, 0.5, (3000, 3, 3)
    )
    tris = np.concatenate([strips, clutter])
    uv = rng.uniform([-5, -5], [485, 105], (400, 2))
    got, tri = VerticalIndex(tris).highest(uv)
    x, y = tris[:, :, 0], tris[:, :, 1]
    e1x, e1y, e2x, e2y = x[:, 1] - x[:, 0], y[:, 1] - y[:, 0], x[:, 2] - x[:, 0], y[:, 2] - y[:, 0]
    det = e1x * e2y - e1y * e2x
    want = np.full(uv.shape[0], np.nan)
    for k, (u, v) in enumerate(uv):
        dx, dy = u - x[:, 0], v - y[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            l1 = (dx * e2y - dy * e2x) / det
            l2 = (e1x * dy - e1y * dx) / det
        hit = (l1 >= -1e-9) & (l2 >= -1e-9) & (l1 + l2 <= 1 + 1e-9) & (det != 0)
        w = tris[hit, 0, 2] + l1[hit] * (tris[hit, 1, 2] - tris[hit, 0, 2])
        w += l2[hit] * (tris[hit, 2, 2] - tris[hit, 0, 2])
        if w.size:
            want[k] = w.max()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], atol=1e-9)
