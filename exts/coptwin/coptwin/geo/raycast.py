"""Vectorised ray queries over a triangle soup in the local metric frame (Z up).

Sensor placement needs two kinds of query, both answered here in pure numpy so the
same code runs headless and inside Kit (no native wheels to ship into Kit's Python):

* vertical rays (roof, ground, footprint containment): :class:`VerticalGrid`, a 2D
  bucket grid over the horizontal extent of every non-vertical triangle, then one
  barycentric test per (point, candidate triangle) pair, all pairs at once;
* the nearest wall point at a height (facades): :func:`closest_points_on_triangles`,
  which gives exactly where a horizontal ray along the wall normal would hit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

#: Barycentric slack so a point exactly on a shared edge hits one of the two triangles.
_BARY_TOL = 1e-9
#: Most (point, triangle) pairs tested at once; bounds memory for big batches.
_MAX_PAIRS = 2_000_000

Accept = Callable[[np.ndarray, np.ndarray], np.ndarray]


class VerticalGrid:
    """2D bucket grid over non-vertical triangles for fast vertical ray casts.

    ``tris`` is (T, 3, 3) in the local frame. Only triangles with a non-zero footprint
    in the horizontal plane are stored (vertical walls cannot be hit by a vertical ray).
    """

    def __init__(self, tris: np.ndarray, max_cells: int = 4_000_000) -> None:
        tris = np.asarray(tris, dtype=np.float64).reshape(-1, 3, 3)
        a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
        e1, e2 = b - a, c - a
        det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
        size2 = np.maximum((e1[:, :2] ** 2).sum(axis=1), (e2[:, :2] ** 2).sum(axis=1))
        keep = np.abs(det) > 1e-10 * np.maximum(size2, 1e-12)
        self.tri_ids = np.nonzero(keep)[0]
        self._a = a[keep]
        self._e1 = e1[keep]
        self._e2 = e2[keep]
        self._inv_det = 1.0 / det[keep]
        n = self.tri_ids.shape[0]
        self.n_tris = n
        if n == 0:
            self._nx = self._ny = 0
            self._cell = 1.0
            self._origin = np.zeros(2)
            self._cell_start = np.zeros(1, dtype=np.int64)
            self._cell_tris = np.zeros(0, dtype=np.int64)
            return
        xy = tris[keep][:, :, :2]
        lo, hi = xy.min(axis=1), xy.max(axis=1)
        self._origin = lo.min(axis=0)
        extent = np.maximum(hi.max(axis=0) - self._origin, 1e-6)
        sizes = (hi - lo).max(axis=1)
        cell = max(float(np.median(sizes)), math.sqrt(extent[0] * extent[1] / n), 1e-3)
        while True:
            nx = int(extent[0] // cell) + 1
            ny = int(extent[1] // cell) + 1
            i0 = ((lo - self._origin) // cell).astype(np.int64)
            i1 = ((hi - self._origin) // cell).astype(np.int64)
            np.clip(i0, 0, [nx - 1, ny - 1], out=i0)
            np.clip(i1, 0, [nx - 1, ny - 1], out=i1)
            span = i1 - i0 + 1
            counts = span[:, 0] * span[:, 1]
            total = int(counts.sum())
            if nx * ny <= max_cells and total <= 8 * max_cells:
                break
            cell *= 2.0
        self._cell, self._nx, self._ny = cell, nx, ny
        tri_rep = np.repeat(np.arange(n, dtype=np.int64), counts)
        first = np.repeat(np.cumsum(counts) - counts, counts)
        k = np.arange(total, dtype=np.int64) - first
        wx = span[tri_rep, 0]
        cx = i0[tri_rep, 0] + k % wx
        cy = i0[tri_rep, 1] + k // wx
        cid = cy * nx + cx
        order = np.argsort(cid, kind="stable")
        self._cell_tris = tri_rep[order]
        per_cell = np.bincount(cid, minlength=nx * ny)
        self._cell_start = np.concatenate([[0], np.cumsum(per_cell)]).astype(np.int64)
        log.debug("vertical grid: %d triangles, %dx%d cells of %.2f m", n, nx, ny, cell)

    def highest(
        self,
        uv: np.ndarray,
        accept: Accept | None = None,
        max_up: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Highest surface hit by a vertical line at each (u, v).

        ``accept(point_idx, tri_id) -> bool mask`` filters candidate pairs (e.g. "only
        terrain", "only this point's building"); ``max_up`` limits hits to at most that
        height (a ray cast down from there). Returns ``(up, tri_id)`` with NaN / -1 where
        nothing is hit.
        """
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        p = uv.shape[0]
        best_w = np.full(p, np.nan)
        best_t = np.full(p, -1, dtype=np.int64)
        if p == 0 or self.n_tris == 0:
            return best_w, best_t
        rel = (uv - self._origin) / self._cell
        finite = np.isfinite(rel).all(axis=1)
        ix = np.floor(np.where(finite, rel[:, 0], -1)).astype(np.int64)
        iy = np.floor(np.where(finite, rel[:, 1], -1)).astype(np.int64)
        inside = finite & (ix >= 0) & (ix < self._nx) & (iy >= 0) & (iy < self._ny)
        pts = np.nonzero(inside)[0]
        cid = iy[pts] * self._nx + ix[pts]
        cnt = self._cell_start[cid + 1] - self._cell_start[cid]
        # chunk so that no more than _MAX_PAIRS (point, triangle) pairs are live at once
        csum = np.cumsum(cnt)
        start = 0
        while start < pts.shape[0]:
            base = int(csum[start - 1]) if start else 0
            end = max(int(np.searchsorted(csum, base + _MAX_PAIRS, side="right")), start + 1)
            self._highest_chunk(
                uv, pts[start:end], cid[start:end], cnt[start:end], accept, max_up, best_w, best_t
            )
            start = end
        return best_w, best_t

    def _highest_chunk(
        self,
        uv: np.ndarray,
        pts: np.ndarray,
        cid: np.ndarray,
        cnt: np.ndarray,
        accept: Accept | None,
        max_up: np.ndarray | None,
        best_w: np.ndarray,
        best_t: np.ndarray,
    ) -> None:
        total = int(cnt.sum())
        if total == 0:
            return
        pidx = np.repeat(pts, cnt)
        first = np.repeat(np.cumsum(cnt) - cnt, cnt)
        slot = np.repeat(self._cell_start[cid], cnt) + np.arange(total) - first
        g = self._cell_tris[slot]
        a, e1, e2 = self._a[g], self._e1[g], self._e2[g]
        dx = uv[pidx, 0] - a[:, 0]
        dy = uv[pidx, 1] - a[:, 1]
        l1 = (dx * e2[:, 1] - dy * e2[:, 0]) * self._inv_det[g]
        l2 = (e1[:, 0] * dy - e1[:, 1] * dx) * self._inv_det[g]
        hit = (l1 >= -_BARY_TOL) & (l2 >= -_BARY_TOL) & (l1 + l2 <= 1.0 + _BARY_TOL)
        w = a[:, 2] + l1 * e1[:, 2] + l2 * e2[:, 2]
        tri = self.tri_ids[g]
        if max_up is not None:
            hit &= w <= max_up[pidx] + 1e-9
        if accept is not None:
            idx = np.nonzero(hit)[0]
            ok = accept(pidx[idx], tri[idx])
            hit[idx[~ok]] = False
        pidx, w, tri = pidx[hit], w[hit], tri[hit]
        if pidx.size == 0:
            return
        order = np.lexsort((w, pidx))
        pidx, w, tri = pidx[order], w[order], tri[order]
        last = np.ones(pidx.shape[0], dtype=bool)
        last[:-1] = pidx[1:] != pidx[:-1]
        best_w[pidx[last]] = w[last]
        best_t[pidx[last]] = tri[last]


def closest_points_on_triangles(
    p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """Closest point on triangle (a, b, c) to p, row by row; all arrays (M, 3).

    The Voronoi-region method (Ericson, *Real-Time Collision Detection*, 5.1.5),
    vectorised: each region's answer is computed for every row and the first region
    that applies wins, as in the scalar version. Degenerate triangles give NaN rows.
    """
    ab, ac, ap = b - a, c - a, p - a
    d1 = np.einsum("ij,ij->i", ab, ap)
    d2 = np.einsum("ij,ij->i", ac, ap)
    bp = p - b
    d3 = np.einsum("ij,ij->i", ab, bp)
    d4 = np.einsum("ij,ij->i", ac, bp)
    cp = p - c
    d5 = np.einsum("ij,ij->i", ab, cp)
    d6 = np.einsum("ij,ij->i", ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1.0 / (va + vb + vc)
        out = a + ab * (vb * denom)[:, None] + ac * (vc * denom)[:, None]
        # regions in reverse priority so that earlier tests overwrite later ones
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        m = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
        out[m] = (b + (c - b) * t_bc[:, None])[m]
        t_ac = d2 / (d2 - d6)
        m = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
        out[m] = (a + ac * t_ac[:, None])[m]
        m = (d6 >= 0) & (d5 <= d6)
        out[m] = c[m]
        t_ab = d1 / (d1 - d3)
        m = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
        out[m] = (a + ab * t_ab[:, None])[m]
        m = (d3 >= 0) & (d4 <= d3)
        out[m] = b[m]
        m = (d1 <= 0) & (d2 <= 0)
        out[m] = a[m]
    return out
