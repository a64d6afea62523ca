"""A city stage as one triangle mesh in a *render frame*, ready for VTK.

The render frame is the local metric frame of :mod:`coptwin.geo.frame` (x east, y north,
z up, metres) shifted by ``origin`` so float32 keeps millimetres even for scenes in raw
projected coordinates (~5e6 m). Every triangle knows its building (index into
``buildings``, -1 for terrain and everything else), so pictures can tint bound buildings.
Geometry comes from :func:`coptwin.geo.meshes.read_meshes` (prototypes read once).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from coptwin.geo.index import Building, normalize_object_id
from coptwin.geo.meshes import MeshStats, axis_matrix, read_meshes
from coptwin.geo.stage import open_stage as open_stage  # re-exported for render callers

log = logging.getLogger(__name__)


@dataclass
class RenderScene:
    """Triangles of a stage in the render frame (see module doc)."""

    points: np.ndarray  # (N, 3) float32, render frame
    tris: np.ndarray  # (T, 3) int64
    owner: np.ndarray  # (T,) building index or -1
    buildings: list[Building]
    #: Local metres (east, north, up) of the render frame's origin.
    origin: np.ndarray
    up_axis: str
    meters_per_unit: float
    stats: MeshStats
    #: Per building: (lo, hi) corners in the render frame (NaN when it has no triangles).
    building_lo: np.ndarray
    building_hi: np.ndarray
    seconds: float = 0.0

    @property
    def lo(self) -> np.ndarray:
        return self.points.min(axis=0) if len(self.points) else np.zeros(3, dtype=np.float32)

    @property
    def hi(self) -> np.ndarray:
        return self.points.max(axis=0) if len(self.points) else np.zeros(3, dtype=np.float32)

    def stage_to_render(self, points: Any) -> np.ndarray:
        """(N, 3) stage coordinates -> render frame (float64)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        m = axis_matrix(self.up_axis, self.meters_per_unit)
        return pts @ m[:3, :3] - self.origin

    def find_building(self, key: str) -> Building | None:
        """A building by prim path or object id (``7001``, ``7001.0`` both work)."""
        for b in self.buildings:
            if b.path == key:
                return b
        oid = normalize_object_id(key)
        for b in self.buildings:
            if oid is not None and b.object_id == oid:
                return b
        return None


def load_scene(stage: Any, *, skip_root: str = "", object_id_attribute: str = "") -> RenderScene:
    """Read every drawn mesh of ``stage`` into a :class:`RenderScene`."""
    t0 = time.perf_counter()
    meshes = read_meshes(stage, skip_root=skip_root, object_id_attribute=object_id_attribute)
    buildings, use_owner = meshes.identify_buildings(stage, object_id_attribute)
    to_local = axis_matrix(meshes.up_axis, meshes.meters_per_unit)
    pts, tris, use = meshes.assemble(post=to_local)
    if pts.shape[0]:
        finite = np.isfinite(pts).all(axis=1)
        lo, hi = pts[finite].min(axis=0), pts[finite].max(axis=0)
        origin = np.round((lo + hi) / 2.0)
    else:
        origin = np.zeros(3)
    points = (pts - origin).astype(np.float32)
    owner = use_owner[use] if use.size else np.zeros(0, dtype=np.int64)
    b_lo = np.full((len(buildings), 3), np.nan, dtype=np.float32)
    b_hi = np.full((len(buildings), 3), np.nan, dtype=np.float32)
    if tris.shape[0] and buildings:
        for axis in range(3):
            vals = points[tris, axis]
            tri_lo, tri_hi = vals.min(axis=1), vals.max(axis=1)
            sel = owner >= 0
            lo_b = np.full(len(buildings), np.inf, dtype=np.float32)
            hi_b = np.full(len(buildings), -np.inf, dtype=np.float32)
            np.minimum.at(lo_b, owner[sel], tri_lo[sel])
            np.maximum.at(hi_b, owner[sel], tri_hi[sel])
            has = np.isfinite(lo_b)
            b_lo[has, axis], b_hi[has, axis] = lo_b[has], hi_b[has]
    scene = RenderScene(
        points=points,
        tris=tris,
        owner=owner,
        buildings=buildings,
        origin=origin,
        up_axis=meshes.up_axis,
        meters_per_unit=meshes.meters_per_unit,
        stats=meshes.stats,
        building_lo=b_lo,
        building_hi=b_hi,
        seconds=time.perf_counter() - t0,
    )
    log.info(
        "render scene: %d buildings, %d triangles in %.2f s",
        len(buildings),
        tris.shape[0],
        scene.seconds,
    )
    return scene
