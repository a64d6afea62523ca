"""Polygon meshes -> triangles, correct for non-convex faces.

CityEngine writes untriangulated meshes: walls are quads, roofs of L-shaped footprints
are single *non-convex* 6-gons. A fan from vertex 0 covers area outside such a roof (a
roof ray would then "hit" the courtyard), so faces with more than four corners are ear
clipped in their own plane, quads pick the diagonal that lies inside, and triangles pass
through. The common cases (3, 4) are vectorised; ear clipping is per face.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from coptwin.geo.raycast import cross_rows

log = logging.getLogger(__name__)

_EPS = 1e-12


@dataclass
class TriangulationStats:
    """What triangulation had to skip or approximate, so callers can log it once."""

    faces: int = 0
    degenerate_faces: int = 0
    fan_fallbacks: int = 0


def triangulate(
    counts: np.ndarray,
    indices: np.ndarray,
    points: np.ndarray,
    stats: TriangulationStats | None = None,
) -> np.ndarray:
    """Triangles ``(T, 3)`` of point indices for a USD-style polygon mesh.

    ``counts`` is faceVertexCounts, ``indices`` faceVertexIndices, ``points`` (P, 3).
    Faces with fewer than three corners or out-of-range indices are skipped and counted.
    """
    st = stats if stats is not None else TriangulationStats()
    counts = np.asarray(counts, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    pts = np.asarray(points, dtype=np.float64)
    st.faces += int(counts.shape[0])
    if counts.size == 0:
        return np.empty((0, 3), dtype=np.int64)
    if counts.sum() != indices.shape[0] or (counts < 0).any():
        raise ValueError(
            f"faceVertexCounts sum {int(counts.sum())} != {indices.shape[0]} faceVertexIndices"
        )
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    valid_idx = (indices >= 0) & (indices < pts.shape[0])
    face_ok = np.ones(counts.shape[0], dtype=bool)
    if not valid_idx.all():
        bad_face = np.repeat(np.arange(counts.shape[0]), counts)[~valid_idx]
        face_ok[np.unique(bad_face)] = False
    small = counts < 3
    st.degenerate_faces += int((small | ~face_ok).sum())
    face_ok &= ~small

    out: list[np.ndarray] = []
    tri_f = np.nonzero(face_ok & (counts == 3))[0]
    if tri_f.size:
        s = starts[tri_f]
        out.append(np.column_stack([indices[s], indices[s + 1], indices[s + 2]]))
    quad_f = np.nonzero(face_ok & (counts == 4))[0]
    if quad_f.size:
        out.append(_quads(indices, starts[quad_f], pts))
    for f in np.nonzero(face_ok & (counts > 4))[0]:
        ring = indices[starts[f] : starts[f] + counts[f]]
        local = _ear_clip(pts[ring], st)
        if local.size:
            out.append(ring[local])
    if not out:
        return np.empty((0, 3), dtype=np.int64)
    return np.concatenate(out).astype(np.int64, copy=False)


def _quads(indices: np.ndarray, s: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Split quads along the diagonal that lies inside (matters for concave quads)."""
    i0, i1, i2, i3 = indices[s], indices[s + 1], indices[s + 2], indices[s + 3]
    p0 = pts[i0]
    n1 = cross_rows(pts[i1] - p0, pts[i2] - p0)
    n2 = cross_rows(pts[i2] - p0, pts[i3] - p0)
    # diagonal 0-2 is inside iff both halves turn the same way
    use02 = (n1 * n2).sum(axis=1) >= 0.0
    tri1 = np.column_stack([i0, i1, np.where(use02, i2, i3)])
    tri2 = np.column_stack([np.where(use02, i0, i1), i2, i3])
    return np.concatenate([tri1, tri2])


def _plane_coords(ring: np.ndarray) -> list[tuple[float, float]]:
    """2D coordinates of a 3D polygon in its own plane, counter-clockwise (Newell normal)."""
    nxt = np.roll(ring, -1, axis=0)
    normal = np.array(
        [
            np.sum((ring[:, 1] - nxt[:, 1]) * (ring[:, 2] + nxt[:, 2])),
            np.sum((ring[:, 2] - nxt[:, 2]) * (ring[:, 0] + nxt[:, 0])),
            np.sum((ring[:, 0] - nxt[:, 0]) * (ring[:, 1] + nxt[:, 1])),
        ]
    )
    length = math.sqrt(float(normal @ normal))
    if length < _EPS:
        return []
    normal /= length
    helper = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = cross_rows(helper[None], normal[None])[0]
    u /= math.sqrt(float(u @ u))
    v = cross_rows(normal[None], u[None])[0]
    rel = ring - ring.mean(axis=0)
    return list(zip((rel @ u).tolist(), (rel @ v).tolist(), strict=True))


Point = tuple[float, float]


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _ear_clip(ring: np.ndarray, st: TriangulationStats) -> np.ndarray:
    """Ear clipping of one simple polygon given as (n, 3) points -> (n-2, 3) local indices.

    Plain Python floats: polygons have a handful of corners, where numpy scalars cost
    more than they save.
    """
    xy = _plane_coords(ring)
    n = ring.shape[0]
    if not xy:
        st.degenerate_faces += 1
        return np.empty((0, 3), dtype=np.int64)
    scale = max(max(abs(x), abs(y)) for x, y in xy) or 1.0
    eps = 1e-9 * scale * scale
    idx = list(range(n))
    tris: list[tuple[int, int, int]] = []
    while len(idx) > 3:
        m = len(idx)
        clipped = False
        for i in range(m):
            a, b, c = idx[i - 1], idx[i], idx[(i + 1) % m]
            if _cross(xy[a], xy[b], xy[c]) <= eps:
                continue  # reflex or collinear corner: not an ear
            if _any_inside(xy, idx, a, b, c, eps):
                continue
            tris.append((a, b, c))
            del idx[i]
            clipped = True
            break
        if clipped:
            continue
        # No ear: drop a zero-area (collinear) corner if there is one, else give up and fan.
        for i in range(m):
            a, b, c = idx[i - 1], idx[i], idx[(i + 1) % m]
            if abs(_cross(xy[a], xy[b], xy[c])) <= eps:
                del idx[i]
                break
        else:
            st.fan_fallbacks += 1
            tris.extend((idx[0], idx[k], idx[k + 1]) for k in range(1, len(idx) - 1))
            idx = []
    if len(idx) == 3:
        tris.append((idx[0], idx[1], idx[2]))
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)


def _any_inside(xy: list[Point], idx: list[int], a: int, b: int, c: int, eps: float) -> bool:
    """True if another polygon corner lies in (or on) triangle abc: then abc is no ear."""
    pa, pb, pc = xy[a], xy[b], xy[c]
    for j in idx:
        if j in (a, b, c):
            continue
        p = xy[j]
        if p in (pa, pb, pc):  # duplicate point (touching rings): not blocking
            continue
        if _cross(pa, pb, p) >= -eps and _cross(pb, pc, p) >= -eps and _cross(pc, pa, p) >= -eps:
            return True
    return False
