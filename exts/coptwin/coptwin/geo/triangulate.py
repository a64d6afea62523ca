"""Polygon meshes -> triangles, correct for non-convex faces.

CityEngine writes untriangulated meshes: walls are quads, roofs of L-shaped footprints
are single *non-convex* 6-gons. A fan from vertex 0 covers area outside such a roof (a
roof ray would then "hit" the courtyard), so faces with more than four corners are ear
clipped in their own plane, quads pick the diagonal that lies inside, and triangles pass
through. The common cases (3, 4) are vectorised; ear clipping is per face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from coptwin.geo.raycast import cross_rows

_EPS = 1e-12
#: Polygons with up to this many corners are ear clipped in batches (B x n x n tests).
_BATCH_MAX_CORNERS = 64
#: Polygons x corners x corners per batch (bounds the (B, n, n) inside tests).
_BATCH_CELLS = 500_000


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
    big = face_ok & (counts > 4)
    for n in np.unique(counts[big]).tolist():
        faces = np.nonzero(big & (counts == n))[0]
        rings = indices[starts[faces][:, None] + np.arange(n)]  # (B, n) point ids
        rest = [np.arange(faces.size)]
        if n <= _BATCH_MAX_CORNERS:
            rest = []
            step = max(1, _BATCH_CELLS // (n * n))
            for c in range(0, faces.size, step):
                chunk = rings[c : c + step]
                local, state = _ear_clip_many(pts[chunk], st)
                done = state == 1
                out.append(np.take_along_axis(chunk[done], local[done].reshape(-1, 3 * n - 6), 1))
                rest.append(c + np.nonzero(state == -1)[0])
        for k in np.concatenate(rest).tolist():  # what the batch left to the scalar clipper
            local1 = _ear_clip(pts[rings[k]], st)
            if local1.size:
                out.append(rings[k][local1])
    if not out:
        return np.empty((0, 3), dtype=np.int64)
    return np.concatenate([o.reshape(-1, 3) for o in out]).astype(np.int64, copy=False)


def _quads(indices: np.ndarray, s: np.ndarray, pts: np.ndarray, block: int = 8192) -> np.ndarray:
    """Split quads along the diagonal that lies inside (matters for concave quads).

    In blocks of quads, so that the temporaries stay small."""
    i0, i1, i2, i3 = indices[s], indices[s + 1], indices[s + 2], indices[s + 3]
    use02 = np.empty(s.shape[0], dtype=bool)
    for b in range(0, s.shape[0], block):
        k = slice(b, b + block)
        p0 = pts[i0[k]]
        d2 = pts[i2[k]] - p0
        n1 = cross_rows(pts[i1[k]] - p0, d2)
        n2 = cross_rows(d2, pts[i3[k]] - p0)
        # diagonal 0-2 is inside iff both halves turn the same way
        use02[k] = np.einsum("ij,ij->i", n1, n2) >= 0.0
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


def _plane_coords_many(rings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_plane_coords` for (B, n, 3) polygons at once -> ((B, n, 2), usable mask)."""
    nxt = np.roll(rings, -1, axis=1)
    normal = np.stack(
        [
            ((rings[:, :, 1] - nxt[:, :, 1]) * (rings[:, :, 2] + nxt[:, :, 2])).sum(axis=1),
            ((rings[:, :, 2] - nxt[:, :, 2]) * (rings[:, :, 0] + nxt[:, :, 0])).sum(axis=1),
            ((rings[:, :, 0] - nxt[:, :, 0]) * (rings[:, :, 1] + nxt[:, :, 1])).sum(axis=1),
        ],
        axis=1,
    )
    length = np.sqrt((normal * normal).sum(axis=1))
    ok = length >= _EPS
    normal = normal / np.where(ok, length, 1.0)[:, None]
    helper = np.zeros_like(normal)
    x_ok = np.abs(normal[:, 0]) < 0.9
    helper[x_ok, 0] = 1.0
    helper[~x_ok, 1] = 1.0
    u = cross_rows(helper, normal)
    u /= np.maximum(np.sqrt((u * u).sum(axis=1)), _EPS)[:, None]
    v = cross_rows(normal, u)
    rel = rings - rings.mean(axis=1, keepdims=True)
    xy = np.stack([np.einsum("bnk,bk->bn", rel, u), np.einsum("bnk,bk->bn", rel, v)], axis=2)
    return xy, ok


def _ear_clip_many(rings: np.ndarray, st: TriangulationStats) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_ear_clip` for B polygons of n corners at once: ``(tris (B, n-2, 3), state)``.

    ``state`` is 1 where the polygon was clipped, 0 where its plane is degenerate
    (counted, no triangles) and -1 where the scalar clipper must do it.

    Same rule as the scalar clipper: each round clips the first corner (in ring order)
    that is a convex ear with no other corner inside or on it. Polygons whose plane is
    degenerate are counted and left empty; those that run out of ears (collinear or
    self-touching rings) go to the scalar clipper, which knows what to do then.
    """
    b, n = rings.shape[:2]
    xy, ok = _plane_coords_many(rings)
    st.degenerate_faces += int((~ok).sum())
    scale = np.maximum(np.abs(xy).max(axis=(1, 2)), 0.0)
    eps = (1e-9 * np.where(scale > 0, scale, 1.0) ** 2)[:, None]
    x, y = xy[:, :, 0], xy[:, :, 1]
    alive = np.ones((b, n), dtype=bool)
    active = ok.copy()
    tris = np.zeros((b, n - 2, 3), dtype=np.int64)
    pos = np.arange(n)
    rows = np.arange(b)
    # dup[b, j, i]: corner j sits exactly on corner i (touching rings do not block ears)
    dup = (x[:, :, None] == x[:, None, :]) & (y[:, :, None] == y[:, None, :])
    for step in range(n - 3):
        prev, nxt = _neighbours(alive, pos)
        ax, ay = np.take_along_axis(x, prev, 1), np.take_along_axis(y, prev, 1)
        cx, cy = np.take_along_axis(x, nxt, 1), np.take_along_axis(y, nxt, 1)
        convex = (x - ax) * (cy - ay) - (y - ay) * (cx - ax) > eps
        # is any other live corner j inside or on triangle (prev_i, i, next_i)?
        px, py = x[:, None, :], y[:, None, :]  # [b, i, j] -> corner j
        a_x, a_y, b_x, b_y = ax[:, :, None], ay[:, :, None], x[:, :, None], y[:, :, None]
        c_x, c_y = cx[:, :, None], cy[:, :, None]
        e3 = eps[:, :, None]
        inside = (
            ((b_x - a_x) * (py - a_y) - (b_y - a_y) * (px - a_x) >= -e3)
            & ((c_x - b_x) * (py - b_y) - (c_y - b_y) * (px - b_x) >= -e3)
            & ((a_x - c_x) * (py - c_y) - (a_y - c_y) * (px - c_x) >= -e3)
        )
        corner = (
            (pos[None, None, :] == pos[None, :, None])
            | (pos[None, None, :] == prev[:, :, None])
            | (pos[None, None, :] == nxt[:, :, None])
        )
        same = (
            np.take_along_axis(dup, prev[:, :, None].repeat(n, 2), 1)
            | dup.transpose(0, 2, 1)
            | np.take_along_axis(dup, nxt[:, :, None].repeat(n, 2), 1)
        )
        blocked = (inside & alive[:, None, :] & ~corner & ~same).any(axis=2)
        ear = alive & convex & ~blocked
        found = ear.any(axis=1)
        active &= found  # no ear: the scalar clipper decides (collinear corners, fan)
        i = np.argmax(ear, axis=1)
        tris[:, step] = np.column_stack([prev[rows, i], i, nxt[rows, i]])
        alive[rows[active], i[active]] = False
    last = np.nonzero(alive)[1].reshape(b, -1) if active.all() else None
    if last is None:
        last = np.zeros((b, 3), dtype=np.int64)
        keep = np.nonzero(active)[0]
        if keep.size:
            last[keep] = np.nonzero(alive[keep])[1].reshape(-1, 3)
    tris[:, n - 3] = last
    return tris, np.where(active, 1, np.where(ok, -1, 0))


def _neighbours(alive: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Previous and next live corner (cyclic) of every corner, per row of ``alive``."""
    n = alive.shape[1]
    # doubled rows, the second copy shifted by n: a running max / reverse running min
    # then finds the neighbour, wrapping around the ring when there is none on that side
    before = np.maximum.accumulate(
        np.concatenate([np.where(alive, pos, -1), np.where(alive, pos + n, -1)], axis=1), axis=1
    )
    prev = before[:, n - 1 : 2 * n - 1] % n  # last live corner strictly before, cyclic
    live_n = np.where(alive, pos, 2 * n)
    after = np.minimum.accumulate(np.concatenate([live_n, live_n + n], axis=1)[:, ::-1], axis=1)[
        :, ::-1
    ]
    nxt = after[:, 1 : n + 1] % n  # first live corner strictly after, cyclic
    return prev, nxt


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
