"""coptwin.scene.citylayout: footprints, terrain and streets of the demo city."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coptwin.scene.citylayout import CityParams, blocks_for, make_layout


def _signed_area(ring: np.ndarray) -> float:
    x, y = (ring - ring[0]).T
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _inside(ring: np.ndarray, e: float, n: float) -> bool:
    hit = False
    for (x0, y0), (x1, y1) in zip(ring, np.roll(ring, -1, axis=0), strict=True):
        if (y0 > n) != (y1 > n) and e < x0 + (n - y0) * (x1 - x0) / (y1 - y0):
            hit = not hit
    return hit


def _edge_distance(ring: np.ndarray, e: float, n: float) -> float:
    best = math.inf
    for a, b in zip(ring, np.roll(ring, -1, axis=0), strict=True):
        ab, ap = b - a, np.array([e, n]) - a
        t = float(np.clip(np.dot(ap, ab) / np.dot(ab, ab), 0.0, 1.0))
        best = min(best, float(np.linalg.norm(ap - t * ab)))
    return best


def test_blocks_for() -> None:
    for n in (1, 120, 5000, 50000):
        bx, by = blocks_for(n)
        assert bx * by * 4 >= n
        assert bx * by * 4 < n + 4 * max(bx, by)  # no more than one spare row
        assert abs(bx - by) <= 1
    with pytest.raises(ValueError):
        blocks_for(0)


def test_footprints_are_valid_and_inside_points_inside() -> None:
    layout = make_layout(CityParams(blocks_x=4, blocks_y=3, seed=3))
    assert len(layout.buildings) == 48
    assert [b.oid for b in layout.buildings] == list(range(101, 149))
    shapes = {b.shape for b in layout.buildings}
    assert shapes == {"rect", "L"}
    e0, n0, e1, n1 = layout.bounds_en
    for b in layout.buildings:
        assert len(b.ring_en) == (4 if b.shape == "rect" else 6)
        assert _signed_area(b.ring_en) > 0  # counter-clockwise seen from above
        assert b.area == pytest.approx(_signed_area(b.ring_en))
        assert _inside(b.ring_en, *b.inside_en)
        assert _edge_distance(b.ring_en, *b.inside_en) >= 1.0
        assert e0 <= b.ring_en[:, 0].min() and b.ring_en[:, 0].max() <= e1
        assert n0 <= b.ring_en[:, 1].min() and b.ring_en[:, 1].max() <= n1
        assert 8.0 <= b.height <= 80.0


def test_base_is_lowest_terrain_under_footprint() -> None:
    layout = make_layout(CityParams(blocks_x=3, blocks_y=3, seed=9))
    t = layout.terrain
    for b in layout.buildings:
        lo, hi = b.ring_en.min(axis=0), b.ring_en.max(axis=0)
        ge, gn = np.meshgrid(np.linspace(lo[0], hi[0], 25), np.linspace(lo[1], hi[1], 25))
        pts = [
            (e, n) for e, n in zip(ge.ravel(), gn.ravel(), strict=True) if _inside(b.ring_en, e, n)
        ]
        heights = t.height(np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))
        assert heights.min() >= b.base - 1e-9
        assert b.base > t.height(b.ring_en[:, 0], b.ring_en[:, 1]).min() - 0.01


def test_terrain_rises_gently_to_the_north_east() -> None:
    layout = make_layout(CityParams(blocks_x=6, blocks_y=5))
    t = layout.terrain
    assert float(t.height(t.e0, t.n0)) == pytest.approx(60.0)
    assert float(t.height(t.e1, t.n1)) == pytest.approx(75.0)
    e = np.linspace(t.e0, t.e1, 200)
    assert (np.diff(t.height(e, np.full_like(e, t.n0))) >= 0).all()
    slope = np.diff(t.height(e, np.full_like(e, t.n0))) / np.diff(e)
    assert slope.max() < 0.05
    # a 10 km city gets coarser terrain cells, not a huge mesh
    big = make_layout(CityParams(blocks_x=3, blocks_y=3, block_pitch=(4000.0, 4000.0)))
    assert big.terrain.e1 - big.terrain.e0 > 8000
    assert len(big.terrain.grid_e) <= 252


def test_streets_clear_of_buildings() -> None:
    layout = make_layout(CityParams(blocks_x=3, blocks_y=2, seed=4))
    assert len(layout.streets) == (2 + 1) + (3 + 1)
    for e_a, n_a, e_b, _n_b in layout.streets:
        for b in layout.buildings:
            lo, hi = b.ring_en.min(axis=0), b.ring_en.max(axis=0)
            if e_a == e_b:  # north-south street
                assert not lo[0] - 3 < e_a < hi[0] + 3
            else:
                assert not lo[1] - 3 < n_a < hi[1] + 3


def test_deterministic_and_seeded() -> None:
    a = make_layout(CityParams(seed=1, blocks_x=2, blocks_y=2))
    b = make_layout(CityParams(seed=1, blocks_x=2, blocks_y=2))
    c = make_layout(CityParams(seed=2, blocks_x=2, blocks_y=2))
    ra = [x.ring_en.tolist() for x in a.buildings]
    assert ra == [x.ring_en.tolist() for x in b.buildings]
    assert ra != [x.ring_en.tolist() for x in c.buildings]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"blocks_x": 0},
        {"block_size": (170.0, 100.0)},
        {"block_size": (40.0, 40.0)},
        {"origin_en": (math.nan, 0.0)},
        {"terrain_cell_m": 0.0},
    ],
)
def test_invalid_params(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        make_layout(CityParams(**kwargs))
