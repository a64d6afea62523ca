"""Deterministic layout of the demo city: blocks, lots, footprints, heights, terrain.

Kept apart from the USD writer so the geometry (which the simulator and the tests
reason about) can be computed and checked without writing any file.  The layout
copies the real CityEngine test scene (``ce_ottawa_a``): a grid of city blocks
with 2 x 2 lots each, one rectangular or L-shaped building per lot, all aligned
with grid north, on a terrain ``h = base + F(E) + G(N)`` that rises gently and
monotonically towards the north-east.  Because the terrain is separable and
monotone, the lowest point under a footprint is always one of its vertices, so
the CityEngine "translate to minimum" base elevation is exact.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

USES: tuple[str, ...] = ("office", "residential", "retail", "civic", "hotel", "mixed_use")
COLORS: tuple[str, ...] = (
    "#B8B2A7",
    "#9E9A94",
    "#C9BFAE",
    "#8C8F94",
    "#A7A39B",
    "#D2CBBE",
    "#7F8388",
    "#B5A58F",
)
TERRAIN_COLOR = "#8C9473"

#: Largest terrain grid (cells per side); big cities get coarser cells instead.
MAX_TERRAIN_CELLS = 250


@dataclass(frozen=True)
class CityParams:
    """Everything that determines the generated city (and its version stamp)."""

    blocks_x: int = 6
    blocks_y: int = 5
    seed: int = 7
    crs: str = "EPSG:32618"
    #: Projected (E, N) of the city centre; becomes the USD origin.
    origin_en: tuple[float, float] = (445500.0, 5029500.0)
    #: Terrain elevation at the south-west corner, metres; becomes USD y = 0.
    base_elevation: float = 60.0
    block_pitch: tuple[float, float] = (160.0, 190.0)
    block_size: tuple[float, float] = (136.0, 164.0)
    #: Terrain rise from the south-west to the north-east corner, metres.
    terrain_rise_m: float = 15.0
    terrain_cell_m: float = 20.0
    terrain_margin_m: float = 30.0
    first_object_id: int = 101
    l_shape_fraction: float = 0.3

    def validate(self) -> None:
        if self.blocks_x < 1 or self.blocks_y < 1:
            raise ValueError("blocks_x and blocks_y must be at least 1")
        if not all(math.isfinite(v) for v in (*self.origin_en, self.base_elevation)):
            raise ValueError("origin_en and base_elevation must be finite numbers")
        if self.block_size[0] >= self.block_pitch[0] or self.block_size[1] >= self.block_pitch[1]:
            raise ValueError("block_size must be smaller than block_pitch (streets between)")
        if self.block_size[0] < 60.0 or self.block_size[1] < 60.0:
            raise ValueError("block_size must be at least 60 m per side (2 x 2 lots)")
        if self.terrain_cell_m <= 0 or self.terrain_rise_m < 0:
            raise ValueError("terrain_cell_m must be positive and terrain_rise_m non-negative")


@dataclass
class Building:
    """One footprint in the projected CRS (E, N), counter-clockwise seen from above."""

    oid: int
    ring_en: np.ndarray  # (n, 2) float64, n = 4 (rect) or 6 (L)
    shape: str  # "rect" | "L"
    height: float
    base: float
    use: str
    color: str
    block: tuple[int, int]
    #: A point at least ~1 m inside the footprint (roof sensors go here).
    inside_en: tuple[float, float]

    @property
    def name(self) -> str:
        return f"Bldg_{self.oid}"

    @property
    def center_en(self) -> tuple[float, float]:
        lo, hi = self.ring_en.min(axis=0), self.ring_en.max(axis=0)
        return (float((lo[0] + hi[0]) / 2.0), float((lo[1] + hi[1]) / 2.0))

    @property
    def half_size_en(self) -> tuple[float, float]:
        lo, hi = self.ring_en.min(axis=0), self.ring_en.max(axis=0)
        return (float((hi[0] - lo[0]) / 2.0), float((hi[1] - lo[1]) / 2.0))

    @property
    def area(self) -> float:
        local = self.ring_en - self.ring_en[0]  # small numbers: no cancellation
        x, y = local[:, 0], local[:, 1]
        return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


@dataclass(frozen=True)
class Terrain:
    """Separable, monotone terrain sampled on a regular grid (planar per cell)."""

    e0: float
    e1: float
    n0: float
    n1: float
    cell: float
    base: float
    rise: float
    grid_e: np.ndarray = field(repr=False)
    grid_n: np.ndarray = field(repr=False)

    @classmethod
    def build(
        cls, e0: float, e1: float, n0: float, n1: float, cell: float, base: float, rise: float
    ) -> Terrain:
        ne = max(1, round((e1 - e0) / cell))
        nn = max(1, round((n1 - n0) / cell))
        return cls(
            e0,
            e1,
            n0,
            n1,
            cell,
            base,
            rise,
            np.linspace(e0, e1, ne + 1),
            np.linspace(n0, n1, nn + 1),
        )

    def _f(self, e: np.ndarray) -> np.ndarray:
        return self.rise / 4.0 * (1.0 - np.cos(np.pi * (e - self.e0) / (self.e1 - self.e0)))

    def _g(self, n: np.ndarray) -> np.ndarray:
        return self.rise / 4.0 * (1.0 - np.cos(np.pi * (n - self.n0) / (self.n1 - self.n0)))

    @property
    def f_grid(self) -> np.ndarray:
        return self._f(self.grid_e)

    @property
    def g_grid(self) -> np.ndarray:
        return self._g(self.grid_n)

    def height(self, e: np.ndarray | float, n: np.ndarray | float) -> np.ndarray:
        """Exact elevation of the exported (piecewise-planar) surface, metres."""
        e = np.asarray(e, dtype=np.float64)
        n = np.asarray(n, dtype=np.float64)
        return (
            self.base
            + np.interp(e, self.grid_e, self.f_grid)
            + np.interp(n, self.grid_n, self.g_grid)
        )


@dataclass
class CityLayout:
    params: CityParams
    buildings: list[Building]
    terrain: Terrain
    #: Street centre lines as (E0, N0, E1, N1) segments, for moving sensors.
    streets: list[tuple[float, float, float, float]]
    #: Footprint area bounds (E0, N0, E1, N1).
    bounds_en: tuple[float, float, float, float]


def blocks_for(n_buildings: int) -> tuple[int, int]:
    """A near-square block grid holding at least ``n_buildings`` (4 per block)."""
    if n_buildings < 1:
        raise ValueError("n_buildings must be at least 1")
    blocks = math.ceil(n_buildings / 4)
    bx = math.ceil(math.sqrt(blocks))
    by = math.ceil(blocks / bx)
    return bx, by


def _lot_footprint(
    rng: np.random.Generator,
    lx0: float,
    ly0: float,
    lw: float,
    lh: float,
    li: int,
    lj: int,
    l_frac: float,
) -> tuple[list[tuple[float, float]], str, tuple[float, float]]:
    """Footprint of one lot, pushed towards the lot's street corner (as in ce_ottawa_a)."""
    sb_out = rng.uniform(2.0, 5.0)
    sb_in = rng.uniform(4.0, 9.0)
    x0 = lx0 + (sb_out if li == 0 else sb_in)
    x1 = lx0 + lw - (sb_in if li == 0 else sb_out)
    y0 = ly0 + (sb_out if lj == 0 else sb_in)
    y1 = ly0 + lh - (sb_in if lj == 0 else sb_out)
    w = (x1 - x0) * rng.uniform(0.55, 1.0)
    d = (y1 - y0) * rng.uniform(0.45, 1.0)
    if li == 1:
        x0 = x1 - w
    else:
        x1 = x0 + w
    if lj == 1:
        y0 = y1 - d
    else:
        y1 = y0 + d
    x0, x1, y0, y1 = (round(v, 2) for v in (x0, x1, y0, y1))
    want_l = rng.random() < l_frac
    if want_l and (x1 - x0) > 24 and (y1 - y0) > 24:
        cw = round((x1 - x0) * rng.uniform(0.35, 0.6), 2)
        ch = round((y1 - y0) * rng.uniform(0.35, 0.6), 2)
        # cut the corner facing the block interior: (x1, y1) for the south-west lot, etc.
        cut_east, cut_north = li == 0, lj == 0
        xc = round(x1 - cw if cut_east else x0 + cw, 2)
        yc = round(y1 - ch if cut_north else y0 + ch, 2)
        if cut_east and cut_north:
            ring = [(x0, y0), (x1, y0), (x1, yc), (xc, yc), (xc, y1), (x0, y1)]
            inside = ((x0 + xc) / 2.0, (y0 + yc) / 2.0)
        elif not cut_east and cut_north:
            ring = [(x0, y0), (x1, y0), (x1, y1), (xc, y1), (xc, yc), (x0, yc)]
            inside = ((xc + x1) / 2.0, (y0 + yc) / 2.0)
        elif cut_east and not cut_north:
            ring = [(x0, y0), (xc, y0), (xc, yc), (x1, yc), (x1, y1), (x0, y1)]
            inside = ((x0 + xc) / 2.0, (yc + y1) / 2.0)
        else:
            ring = [(xc, y0), (x1, y0), (x1, y1), (x0, y1), (x0, yc), (xc, yc)]
            inside = ((xc + x1) / 2.0, (yc + y1) / 2.0)
        return ring, "L", inside
    ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    return ring, "rect", ((x0 + x1) / 2.0, (y0 + y1) / 2.0)


def make_layout(params: CityParams) -> CityLayout:
    """Compute the whole city deterministically from ``params``."""
    params.validate()
    rng = np.random.default_rng(params.seed)
    pe, pn = params.block_pitch
    bw, bh = params.block_size
    width = params.blocks_x * pe - (pe - bw)
    depth = params.blocks_y * pn - (pn - bh)
    oe, on = params.origin_en
    e_start = round(oe - width / 2.0, 2)
    n_start = round(on - depth / 2.0, 2)

    # Terrain: centred on the origin, whole cells, covering the blocks plus a margin.
    span_e = width + 2 * params.terrain_margin_m
    span_n = depth + 2 * params.terrain_margin_m
    cell = max(params.terrain_cell_m, max(span_e, span_n) / MAX_TERRAIN_CELLS)
    cell = math.ceil(cell / 5.0) * 5.0 if cell > params.terrain_cell_m else cell
    half_e = math.ceil(span_e / 2.0 / cell) * cell
    half_n = math.ceil(span_n / 2.0 / cell) * cell
    terrain = Terrain.build(
        oe - half_e,
        oe + half_e,
        on - half_n,
        on + half_n,
        cell,
        params.base_elevation,
        params.terrain_rise_m,
    )

    buildings: list[Building] = []
    oid = params.first_object_id
    for r in range(params.blocks_y):
        for c in range(params.blocks_x):
            bx0 = e_start + c * pe
            by0 = n_start + r * pn
            lw, lh = bw / 2.0, bh / 2.0
            for li in range(2):
                for lj in range(2):
                    ring, shape, inside = _lot_footprint(
                        rng, bx0 + li * lw, by0 + lj * lh, lw, lh, li, lj, params.l_shape_fraction
                    )
                    height = float(np.clip(round(8.0 + rng.gamma(2.0, 9.0), 1), 8.0, 80.0))
                    if rng.random() < 0.06:
                        height = float(round(rng.uniform(60.0, 80.0), 1))
                    ring_en = np.asarray(ring, dtype=np.float64)
                    hmin = float(terrain.height(ring_en[:, 0], ring_en[:, 1]).min())
                    base = math.floor(hmin * 100.0 + 1e-9) / 100.0
                    buildings.append(
                        Building(
                            oid=oid,
                            ring_en=ring_en,
                            shape=shape,
                            height=height,
                            base=base,
                            use=USES[int(rng.integers(len(USES)))],
                            color=COLORS[int(rng.integers(len(COLORS)))],
                            block=(c, r),
                            inside_en=(round(inside[0], 3), round(inside[1], 3)),
                        )
                    )
                    oid += 1

    streets: list[tuple[float, float, float, float]] = []
    gap_e, gap_n = pe - bw, pn - bh
    e_lo, e_hi = e_start - gap_e / 2.0, e_start + width + gap_e / 2.0
    n_lo, n_hi = n_start - gap_n / 2.0, n_start + depth + gap_n / 2.0
    for r in range(params.blocks_y + 1):
        n = n_start + r * pn - gap_n / 2.0
        streets.append((e_lo, n, e_hi, n))
    for c in range(params.blocks_x + 1):
        e = e_start + c * pe - gap_e / 2.0
        streets.append((e, n_lo, e, n_hi))
    bounds = (e_start, n_start, e_start + width, n_start + depth)
    log.debug("layout: %d buildings, terrain cell %.1f m", len(buildings), cell)
    return CityLayout(params, buildings, terrain, streets, bounds)
