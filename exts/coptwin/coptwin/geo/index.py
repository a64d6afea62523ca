"""Spatial index of a city stage: which meshes are buildings, which are terrain.

Built once per scene and cached by the identity and file stamps of the layers it was
built from, so the engine, the CLI and the Kit panel share one build; what it is built
from is also kept on disk (:mod:`coptwin.geo.index_cache`), so a restart of an unchanged
scene skips reading its meshes. The triangles come
from :func:`coptwin.geo.meshes.read_city` (each distinct mesh read and triangulated once,
every use placed with its world matrix in double precision) and the buildings from
:func:`coptwin.geo.buildings.identify_buildings`, the same reading and the same rules
the pictures use; a pure function of the stage, so any thread may build it from a stage
nobody is writing. The overlay root and PointInstancers are skipped: markers must never
become ground for other markers.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from pathlib import Path

import numpy as np

from coptwin.config import SceneConfig
from coptwin.geo import index_cache
from coptwin.geo.buildings import TERRAIN, Building, normalize_object_id
from coptwin.geo.errors import SceneError
from coptwin.geo.meshes import MeshStats, read_city
from coptwin.geo.raycast import (
    TriangleFacts,
    VerticalIndex,
    closest_points_on_triangles,
    expand_ranges,
    pair_chunks,
    triangle_facts,
)

log = logging.getLogger(__name__)

#: Triangles whose normal is this close to horizontal count as walls (cos of ~78 deg).
_WALL_MAX_UP = 0.2
_CACHE_SIZE = 4
#: Most (point, wall triangle) pairs screened at once in nearest-wall queries.
_MAX_WALL_PAIRS = 4_000_000
_cache: collections.OrderedDict[tuple, SceneIndex] = collections.OrderedDict()
_cache_lock = threading.Lock()


class SceneIndex:
    """Buildings, terrain and ray queries over one stage, in the local metric frame."""

    def __init__(
        self,
        tris: np.ndarray,
        owner: np.ndarray,
        buildings: list[Building],
        up_axis: str,
        meters_per_unit: float,
        stats: MeshStats,
        identifier: str = "",
    ) -> None:
        tris = np.asarray(tris, dtype=np.float64).reshape(-1, 3, 3)
        owner = np.asarray(owner, dtype=np.int64)
        facts = triangle_facts(tris, _WALL_MAX_UP)
        if not facts.area.all():  # zero-area triangles answer no query
            keep = facts.area
            tris, owner = tris[keep], owner[keep]
            facts = TriangleFacts(*(a[keep] for a in facts))
        if (np.diff(owner) < 0).any():
            order = np.argsort(owner, kind="stable")
            tris, owner = tris[order], owner[order]
            facts = TriangleFacts(*(a[order] for a in facts))
        lo, hi = facts.lo, facts.hi
        self.tris = np.ascontiguousarray(tris)
        self.owner = owner
        self.buildings = buildings
        self.up_axis = up_axis
        self.meters_per_unit = meters_per_unit
        self.stats = stats
        self.identifier = identifier
        self.by_path = {b.path: b for b in buildings}
        self.by_object_id: dict[str, Building] = {}
        for b in buildings:  # attribute ids first: they win over names
            if b.object_id is not None and b.source == "attribute":
                self.by_object_id.setdefault(b.object_id, b)
        for b in buildings:
            if b.object_id is not None:
                self.by_object_id.setdefault(b.object_id, b)
        t = self.tris
        nb = len(buildings)
        starts = np.searchsorted(owner, np.arange(nb), side="left")
        ends = np.searchsorted(owner, np.arange(nb), side="right")
        full = np.nonzero(ends > starts)[0]
        #: per-building boxes (B, 3), NaN where a building has no geometry
        self.building_min = np.full((nb, 3), np.nan)
        self.building_max = np.full((nb, 3), np.nan)
        if full.size:  # per-building boxes in one pass (segments of the owner-sorted rows)
            bmin = np.minimum.reduceat(lo, starts[full], axis=0)
            bmax = np.maximum.reduceat(hi, starts[full], axis=0)
            # reduceat runs each segment to the next start: the last one must stop at its end
            last = full[-1]
            bmin[-1] = [lo[starts[last] : ends[last], k].min() for k in range(3)]
            bmax[-1] = [hi[starts[last] : ends[last], k].max() for k in range(3)]
            self.building_min[full], self.building_max[full] = bmin, bmax
            for b in full.tolist():
                buildings[b].bbox_min = self.building_min[b]
                buildings[b].bbox_max = self.building_max[b]
        for b, st, en in zip(buildings, starts.tolist(), ends.tolist(), strict=True):
            b.tri_start, b.tri_end = st, en
        self.terrain_triangles = int(np.count_nonzero(owner == TERRAIN))
        stats.triangles = int(t.shape[0])
        stats.terrain_triangles = self.terrain_triangles
        if t.shape[0]:
            self.bbox_min = np.array([lo[:, k].min() for k in range(3)])
            self.bbox_max = np.array([hi[:, k].max() for k in range(3)])
        else:
            self.bbox_min = self.bbox_max = np.full(3, np.nan)
        self.grid = VerticalIndex(t, facts)
        self._build_wall_lists(facts.wall, lo, hi)

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, stage: object, scene_cfg: SceneConfig, *, use_cache: bool = True) -> SceneIndex:
        """Index an open ``Usd.Stage`` (cached per root layer + layer file stamps, in
        memory and on disk; ``use_cache=False`` uses neither, e.g. to time a build)."""
        key = _cache_key(stage, scene_cfg) if use_cache else None
        if key is not None:
            with _cache_lock:
                hit = _cache.get(key)
                if hit is not None:
                    _cache.move_to_end(key)
                    log.debug("scene index cache hit for %s", key[0])
                    return hit
        index = _build(stage, scene_cfg, key)
        if key is not None:
            with _cache_lock:
                _cache[key] = index
                while len(_cache) > _CACHE_SIZE:
                    _cache.popitem(last=False)
        return index

    @staticmethod
    def clear_cache() -> None:
        with _cache_lock:
            _cache.clear()

    def _build_wall_lists(self, wall: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        """Per building, the triangles a facade marker may snap to (walls, else all)."""
        nb = len(self.buildings)
        mine = self.owner >= 0
        has_wall = np.bincount(self.owner[mine & wall], minlength=nb) > 0
        chosen = mine & (wall | ~has_wall[np.maximum(self.owner, 0)]) if nb else mine
        self._wall_tris = np.nonzero(chosen)[0]  # owner-sorted, so grouped by building
        per = np.bincount(self.owner[self._wall_tris], minlength=nb)
        self._wall_start = np.concatenate([[0], np.cumsum(per)]).astype(np.int64)
        # contiguous per-wall boxes: the cheap lower bound that prunes nearest-wall pairs
        self._wall_lo = lo[self._wall_tris]
        self._wall_hi = hi[self._wall_tris]
        self._wall_corner = self.tris[self._wall_tris, 0]  # a point on each wall

    # ------------------------------------------------------------------ lookups
    @property
    def has_terrain(self) -> bool:
        return self.terrain_triangles > 0

    def building_for_path(self, path: str) -> Building | None:
        """The building at ``path`` or the building that contains it (leaf, mesh)."""
        p = path.rstrip("/") or "/"
        while p and p != "/":
            b = self.by_path.get(p)
            if b is not None:
                return b
            p = p.rsplit("/", 1)[0] or "/"
        return None

    def building_for_object_id(self, object_id: object) -> Building | None:
        key = normalize_object_id(object_id)
        return None if key is None else self.by_object_id.get(key)

    # ------------------------------------------------------------------ ray queries
    def surface_up(
        self,
        uv: np.ndarray,
        *,
        include: str = "all",
        building: np.ndarray | None = None,
        max_up: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Highest surface under each (u, v): ``(up, owner)``; NaN / -2 where nothing is hit.

        ``include`` is "all", "terrain" (rays that ignore buildings) or "buildings";
        ``building`` (per point, -1 = no constraint) restricts a point's hits to that
        building's triangles. ``owner`` is the building index, or -1 for terrain.
        """
        if include not in ("all", "terrain", "buildings"):
            raise ValueError(f"include must be all, terrain or buildings, not {include!r}")
        owner = self.owner
        want = None if building is None else np.asarray(building, dtype=np.int64)

        def accept(pidx: np.ndarray, tri: np.ndarray) -> np.ndarray:
            own = owner[tri]
            if include == "terrain":
                ok = own == TERRAIN
            elif include == "buildings":
                ok = own != TERRAIN
            else:
                ok = np.ones(own.shape[0], dtype=bool)
            if want is not None:
                wp = want[pidx]
                ok &= (wp < 0) | (own == wp)
            return ok

        filt = None if include == "all" and want is None else accept
        up, tri = self.grid.highest(uv, filt, max_up)
        own = np.where(tri >= 0, owner[np.maximum(tri, 0)], -2)
        return up, own

    def buildings_at(self, uv: np.ndarray) -> np.ndarray:
        """Index of the (tallest) building whose footprint contains each point, else -1."""
        _, own = self.surface_up(uv, include="buildings")
        return np.where(own >= 0, own, -1)

    def nearest_building(self, uv: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """Building whose walls are nearest to each (u, v), within ``radius`` metres.

        Footprint containment is ill-conditioned for a sensor *on* a wall (rounding puts
        it either side), so facade sensors bind to the nearest wall instead. Returns
        ``(building index or -1, horizontal distance or inf)``.
        """
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        best = np.full(uv.shape[0], -1, dtype=np.int64)
        best_d = np.full(uv.shape[0], np.inf)
        if not self.buildings or uv.shape[0] == 0:
            return best, best_d
        bmin, bmax = self.building_min, self.building_max
        lo2, hi2 = bmin[:, :2], bmax[:, :2]
        step = max(1, 2_000_000 // len(self.buildings))
        pi_l, bi_l = [], []
        for s in range(0, uv.shape[0], step):
            c = uv[s : s + step]
            with np.errstate(invalid="ignore"):
                gap = np.maximum(lo2[None] - c[:, None, :], c[:, None, :] - hi2[None])
                near = np.hypot(*np.maximum(gap, 0.0).transpose(2, 0, 1)) <= radius
            pi, bi = np.nonzero(near)
            pi_l.append(pi + s)
            bi_l.append(bi)
        pi, bi = np.concatenate(pi_l), np.concatenate(bi_l)
        if pi.size == 0:
            return best, best_d
        mid = (bmin[bi, 2] + bmax[bi, 2]) / 2.0
        wall, _ = self.nearest_wall_points(bi, np.column_stack([uv[pi], mid]))
        d = np.hypot(wall[:, 0] - uv[pi, 0], wall[:, 1] - uv[pi, 1])
        d = np.where(np.isfinite(d), d, np.inf)
        order = np.lexsort((-d, pi))
        pi, bi, d = pi[order], bi[order], d[order]
        last = np.ones(pi.shape[0], dtype=bool)
        last[:-1] = pi[1:] != pi[:-1]
        good = last & (d <= radius)
        best[pi[good]] = bi[good]
        best_d[pi[good]] = d[good]
        return best, best_d

    def nearest_wall_points(
        self, building: np.ndarray, query: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Closest point on each query's building walls: ``(points (P,3), distance (P,))``.

        A wall point at the query's height is where a horizontal ray along the wall
        normal would hit; if the wall does not reach that height the answer is the
        closest point on the wall's edge (callers compare heights to detect that).
        Points whose building has no geometry get NaN.
        """
        bld = np.asarray(building, dtype=np.int64)
        q = np.asarray(query, dtype=np.float64).reshape(-1, 3)
        out = np.full_like(q, np.nan)
        dist = np.full(q.shape[0], np.inf)
        ok = (bld >= 0) & np.isfinite(q).all(axis=1)
        pts = np.nonzero(ok)[0]
        if pts.size == 0:
            return out, dist
        cnt = self._wall_start[bld[pts] + 1] - self._wall_start[bld[pts]]
        for part in pair_chunks(cnt, _MAX_WALL_PAIRS):
            self._nearest_walls_chunk(bld, q, pts[part], out, dist)
        return out, dist

    def _nearest_walls_chunk(
        self, bld: np.ndarray, q: np.ndarray, pts: np.ndarray, out: np.ndarray, dist: np.ndarray
    ) -> None:
        s = self._wall_start[bld[pts]]
        cnt = self._wall_start[bld[pts] + 1] - s
        pidx, slot = expand_ranges(pts, s, cnt)
        if slot.size == 0:
            return
        qp = q[pidx]
        # Prune with boxes: a wall whose box is further than some wall's corner cannot
        # hold the nearest point. Detailed facades have ~10^4 walls per building.
        gap = np.maximum(np.maximum(self._wall_lo[slot] - qp, qp - self._wall_hi[slot]), 0.0)
        lower = np.einsum("ij,ij->i", gap, gap)
        d_corner = self._wall_corner[slot] - qp
        upper = np.einsum("ij,ij->i", d_corner, d_corner)
        seg = np.concatenate([[0], np.cumsum(cnt)[:-1]])
        bound = np.minimum.reduceat(upper, seg)[np.repeat(np.arange(pts.size), cnt)]
        near = np.nonzero(lower <= bound * (1 + 1e-9) + 1e-12)[0]
        pidx, qp = pidx[near], qp[near]
        t = self.tris[self._wall_tris[slot[near]]]
        cp = closest_points_on_triangles(qp, t[:, 0], t[:, 1], t[:, 2])
        d = np.linalg.norm(cp - qp, axis=1)
        d = np.where(np.isfinite(d), d, np.inf)
        order = np.lexsort((-d, pidx))  # per point, smallest distance last
        pidx, d, cp = pidx[order], d[order], cp[order]
        last = np.ones(pidx.shape[0], dtype=bool)
        last[:-1] = pidx[1:] != pidx[:-1]
        good = last & np.isfinite(d)
        out[pidx[good]] = cp[good]
        dist[pidx[good]] = d[good]


# ---------------------------------------------------------------------- building the index
def _cache_key(stage: object, scene_cfg: SceneConfig) -> tuple | None:
    """Root layer + (identifier, mtime, size) of every used non-session layer, or None.

    In-memory, unsaved or non-file layers cannot be stamped, so their stages are not
    cached (building again is correct, a stale hit would not be).
    """
    try:
        session = {
            layer.identifier
            for layer in stage.GetLayerStack(includeSessionLayers=True)  # type: ignore[attr-defined]
        } - {
            layer.identifier
            for layer in stage.GetLayerStack(includeSessionLayers=False)  # type: ignore[attr-defined]
        }
        stamps = []
        for layer in stage.GetUsedLayers():  # type: ignore[attr-defined]
            if layer.identifier in session:
                continue
            if layer.anonymous or layer.dirty or not layer.realPath:
                return None
            st = Path(layer.realPath).stat()
            stamps.append((layer.identifier, st.st_mtime_ns, st.st_size))
        root = stage.GetRootLayer().identifier  # type: ignore[attr-defined]
    except OSError:
        return None
    return (root, tuple(sorted(stamps)), scene_cfg.object_id_attribute, scene_cfg.overlay_root)


def _build(stage: object, scene_cfg: SceneConfig, key: tuple | None) -> SceneIndex:
    t0 = time.perf_counter()
    city = index_cache.load(key) if key is not None else None
    if city is not None:
        city.stats.phases = {"cache": round(time.perf_counter() - t0, 4)}
    else:
        city = read_city(
            stage,
            object_id_attribute=scene_cfg.object_id_attribute,
            skip_root=scene_cfg.overlay_root,
        )
        if key is not None and city.stats.distinct_meshes:
            t_store = time.perf_counter()
            index_cache.store(key, city)
            city.stats.phases["cache_store"] = round(time.perf_counter() - t_store, 4)
    stats = city.stats
    identifier = stage.GetRootLayer().identifier  # type: ignore[attr-defined]
    if stats.distinct_meshes == 0:
        raise SceneError(
            f"{identifier}: the scene has no mesh geometry ({stats.prims} prims traversed, "
            f"{stats.skipped_meshes} unreadable meshes); coptwin needs building/terrain "
            f"meshes to place markers"
        )
    t_gather = time.perf_counter()
    tris, owner, buildings = city.points[city.tris], city.owner, city.buildings
    up_axis, mpu = city.up_axis, city.meters_per_unit
    del city
    t_grid = time.perf_counter()
    stats.phases["instance"] = round(stats.phases.get("instance", 0.0) + t_grid - t_gather, 4)
    index = SceneIndex(tris, owner, buildings, up_axis, mpu, stats, identifier=identifier)
    if stats.triangles == 0:
        raise SceneError(f"{identifier}: the scene's meshes have no usable faces")
    stats.seconds = time.perf_counter() - t0
    stats.phases["grid"] = round(time.perf_counter() - t_grid, 4)
    log.info(
        "scene index: %d meshes (%d distinct), %d buildings, %d triangles (%d terrain) in "
        "%.2f s (%s)",
        stats.meshes,
        stats.distinct_meshes,
        len(buildings),
        stats.triangles,
        stats.terrain_triangles,
        stats.seconds,
        ", ".join(f"{k} {v:.2f}" for k, v in stats.phases.items()),
    )
    return index
