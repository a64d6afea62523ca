"""Vectorised ray queries over a triangle soup in the local metric frame (Z up).

Sensor placement needs two kinds of query, both answered here in pure numpy so the
same code runs headless and inside Kit (no native wheels to ship into Kit's Python):

* vertical rays (roof, ground, footprint containment): :class:`VerticalIndex`, a tree
  of 2D boxes over the footprints of the non-vertical triangles, then one barycentric
  test per (point, candidate triangle) pair, all pairs at once;
* the nearest wall point at a height (facades): :func:`closest_points_on_triangles`,
  which gives exactly where a horizontal ray along the wall normal would hit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

log = logging.getLogger(__name__)

#: Barycentric slack so a point exactly on a shared edge hits one of the two triangles.
_BARY_TOL = 1e-9
#: Most (point, triangle) pairs tested at once; bounds memory for big batches.
_MAX_PAIRS = 2_000_000

#: Triangles per leaf of :class:`VerticalIndex`.
_LEAF = 8
#: Rows per block in blockwise passes over all triangles (temporaries of ~100 KB).
_BLOCK = 4096

Accept = Callable[[np.ndarray, np.ndarray], np.ndarray]


def cross_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of (N, 3) arrays (np.cross is several times slower)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    out[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    out[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out


def expand_ranges(
    pts: np.ndarray, start: np.ndarray, cnt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Point ``pts[i]`` paired with each slot of its range ``start[i] : start[i] + cnt[i]``,
    flat: (point of each pair, slot of each pair), in point order."""
    total = int(cnt.sum())
    pidx = np.repeat(pts, cnt)
    first = np.repeat(np.cumsum(cnt) - cnt, cnt)
    slot = np.repeat(start, cnt) + np.arange(total) - first
    return pidx, slot


def pair_chunks(cnt: np.ndarray, max_pairs: int) -> Iterator[slice]:
    """Consecutive slices of ``cnt`` whose sum stays within ``max_pairs`` (one item at
    least), so that no more (point, candidate) pairs than that are live at once."""
    csum = np.cumsum(cnt)
    begin = 0
    while begin < cnt.size:
        base = int(csum[begin - 1]) if begin else 0
        end = max(int(np.searchsorted(csum, base + max_pairs, side="right")), begin + 1)
        yield slice(begin, end)
        begin = end


class TriangleFacts(NamedTuple):
    """Per-triangle facts the index needs, from one pass (:func:`triangle_facts`)."""

    lo: np.ndarray  # (T, 3) box corners
    hi: np.ndarray
    area: np.ndarray  # (T,) bool: non-zero area (the others answer no query)
    wall: np.ndarray  # (T,) bool: normal within ~78 degrees of horizontal
    footprint: np.ndarray  # (T,) bool: a vertical ray can hit it (not a vertical wall)


def triangle_facts(tris: np.ndarray, wall_max_up: float, block: int = _BLOCK) -> TriangleFacts:
    """Boxes and kinds of every triangle, in blocks of rows so that temporaries stay
    small (cache-sized, and reused by the allocator instead of fresh pages each time).

    ``wall_max_up``: largest |normal z| / |normal| of a wall triangle.
    """
    n = tris.shape[0]
    lo, hi = np.empty((n, 3)), np.empty((n, 3))
    area, wall, footprint = (np.empty(n, dtype=bool) for _ in range(3))
    for s in range(0, n, block):
        e = min(s + block, n)
        t = tris[s:e]
        a, b, c = t[:, 0], t[:, 1], t[:, 2]
        bl, bh = lo[s:e], hi[s:e]
        np.minimum(np.minimum(a, b), c, out=bl)
        np.maximum(np.maximum(a, b), c, out=bh)
        nrm = cross_rows(b - a, c - a)
        nz = np.abs(nrm[:, 2])
        length = np.sqrt(np.einsum("ij,ij->i", nrm, nrm))
        area[s:e] = length > 1e-12
        wall[s:e] = nz <= wall_max_up * length
        w, h = bh[:, 0] - bl[:, 0], bh[:, 1] - bl[:, 1]
        # a footprint this thin for its size is a vertical triangle (rounding noise)
        footprint[s:e] = nz > 1e-10 * np.maximum(w * w + h * h, 1e-12)
    return TriangleFacts(lo, hi, area, wall, footprint)


def _morton(q: np.ndarray) -> np.ndarray:
    """Interleave the bits of 16-bit (x, y) pairs (N, 2) uint64 -> Z-order codes."""
    out = np.zeros(q.shape[0], dtype=np.uint64)
    for k, col in enumerate((q[:, 0], q[:, 1])):
        v = col & np.uint64(0xFFFF)
        v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
        v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
        v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
        v = (v | (v << np.uint64(1))) & np.uint64(0x55555555)
        out |= v << np.uint64(k)
    return out


class VerticalIndex:
    """Bounding-volume tree over the footprints of non-vertical triangles (vertical rays).

    ``tris`` is (T, 3, 3) in the local frame (kept by reference, not copied). Only
    triangles with a non-zero footprint in the horizontal plane are stored (vertical
    walls cannot be hit by a vertical ray).

    Built like a linear BVH, all in numpy: triangles are sorted along a Morton curve of
    their footprint centres, cut into leaves of :data:`_LEAF` consecutive triangles, and
    an implicit complete binary tree of 2D boxes is built bottom-up over the leaves. A
    query walks the tree level by level for all points at once. One sort builds it, so
    it costs about as much as reading the triangles; a bucket grid has to copy long thin
    triangles (terrain strips 48 m x 1.25 m, ledges on rotated blocks) into every cell
    their box covers (9.4M entries for ce_ottawa_c's 0.8M non-vertical triangles).
    """

    def __init__(self, tris: np.ndarray, facts: TriangleFacts | None = None) -> None:
        """``facts`` from :func:`triangle_facts` when the caller has them already."""
        tris = np.asarray(tris, dtype=np.float64).reshape(-1, 3, 3)
        self._tris = tris
        if facts is None:
            facts = triangle_facts(tris, wall_max_up=0.0)
        lo, hi = facts.lo, facts.hi
        kept = np.nonzero(facts.footprint)[0]
        n = kept.shape[0]
        self.n_tris = n
        #: per tree level, node boxes (nodes, 4): min x, min y, max x, max y
        self._boxes: list[np.ndarray] = []
        self._tri_ids = np.zeros(0, dtype=np.int64)
        if n == 0:
            return
        x0, y0, x1, y1 = lo[kept, 0], lo[kept, 1], hi[kept, 0], hi[kept, 1]
        ox, oy = float(x0.min()), float(y0.min())
        extent = float(max(x1.max() - ox, y1.max() - oy, 1e-9))
        # slack so that a point a rounding error outside a box still reaches its triangle
        slack = 1e-9 * (extent + max(abs(ox), abs(oy)))
        scale = 32767.5 / extent  # centre = (lo + hi) / 2, mapped onto 0..65535
        cx = np.clip(((x0 - ox) + (x1 - ox)) * scale, 0, 65535).astype(np.uint64)
        cy = np.clip(((y0 - oy) + (y1 - oy)) * scale, 0, 65535).astype(np.uint64)
        order = np.argsort(_morton(np.column_stack([cx, cy])))  # ties: either way is fine
        self._tri_ids = kept[order]
        leaves = -(-n // _LEAF)
        depth = max(0, int(leaves - 1).bit_length())
        level = np.empty((1 << depth, 4))
        level[:, :2], level[:, 2:] = np.inf, -np.inf  # padding leaves contain nothing
        starts = np.arange(0, n, _LEAF)
        ids = self._tri_ids
        level[:leaves, :2] = np.minimum.reduceat(lo[ids, :2], starts, axis=0) - slack
        level[:leaves, 2:] = np.maximum.reduceat(hi[ids, :2], starts, axis=0) + slack
        self._boxes = [level]
        while level.shape[0] > 1:
            pair = level.reshape(-1, 2, 4)
            level = np.concatenate(
                [
                    np.minimum(pair[:, 0, :2], pair[:, 1, :2]),
                    np.maximum(pair[:, 0, 2:], pair[:, 1, 2:]),
                ],
                axis=1,
            )
            self._boxes.append(level)
        self._boxes.reverse()  # root first
        log.debug("vertical index: %d triangles, %d leaves, depth %d", n, leaves, depth)

    @property
    def tri_ids(self) -> np.ndarray:
        """Indices (into ``tris``) of the stored triangles, in leaf order."""
        return self._tri_ids

    def _candidates(self, uv: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(point, leaf)`` pairs whose leaf box contains the point, sorted by point."""
        node = np.zeros(pts.shape[0], dtype=np.int64)
        owner = pts
        u, v = uv[:, 0], uv[:, 1]
        for d, boxes in enumerate(self._boxes):
            if d:
                owner = np.repeat(owner, 2)
                node = (node[:, None] * 2 + np.array([0, 1])).ravel()
            b = boxes[node]
            pu, pv = u[owner], v[owner]
            inside = (b[:, 0] <= pu) & (pu <= b[:, 2]) & (b[:, 1] <= pv) & (pv <= b[:, 3])
            owner, node = owner[inside], node[inside]
            if owner.size == 0:
                break
        order = np.argsort(owner, kind="stable")
        return owner[order], node[order]

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
        pts = np.nonzero(np.isfinite(uv).all(axis=1))[0]
        owner, leaf = self._candidates(uv, pts)
        start = leaf * _LEAF
        cnt = np.minimum(start + _LEAF, self.n_tris) - start
        for part in pair_chunks(cnt, _MAX_PAIRS):
            self._highest_chunk(
                uv, owner[part], start[part], cnt[part], accept, max_up, best_w, best_t
            )
        return best_w, best_t

    def _highest_chunk(
        self,
        uv: np.ndarray,
        pts: np.ndarray,
        start: np.ndarray,
        cnt: np.ndarray,
        accept: Accept | None,
        max_up: np.ndarray | None,
        best_w: np.ndarray,
        best_t: np.ndarray,
    ) -> None:
        pidx, slot = expand_ranges(pts, start, cnt)
        if slot.size == 0:
            return
        tri = self._tri_ids[slot]
        t = self._tris[tri]
        a = t[:, 0]
        e1, e2 = t[:, 1] - a, t[:, 2] - a
        dx = uv[pidx, 0] - a[:, 0]
        dy = uv[pidx, 1] - a[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_det = 1.0 / (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
        l1 = (dx * e2[:, 1] - dy * e2[:, 0]) * inv_det
        l2 = (e1[:, 0] * dy - e1[:, 1] * dx) * inv_det
        hit = (l1 >= -_BARY_TOL) & (l2 >= -_BARY_TOL) & (l1 + l2 <= 1.0 + _BARY_TOL)
        w = a[:, 2] + l1 * e1[:, 2] + l2 * e2[:, 2]
        if max_up is not None:
            hit &= w <= max_up[pidx] + 1e-9
        if accept is not None:
            idx = np.nonzero(hit)[0]
            ok = accept(pidx[idx], tri[idx])
            hit[idx[~ok]] = False
        pidx, w, tri = pidx[hit], w[hit], tri[hit]
        if pidx.size == 0:
            return
        order = np.lexsort((tri, w, pidx))  # per point: highest, then highest id (ties)
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
