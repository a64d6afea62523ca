"""A city stage as one triangle mesh in a *render frame*, ready for VTK.

The render frame is the local metric frame of :mod:`coptwin.geo.frame` (x east, y north,
z up, metres) shifted by ``origin`` so float32 keeps millimetres even for scenes in raw
projected coordinates (~5e6 m). Every triangle knows its building (index into
``buildings``, -1 for terrain and everything else), so pictures can tint bound buildings.
Geometry and buildings come from :func:`coptwin.geo.meshes.read_city`, the reader and
building rules the scene index uses (prototypes read once).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from coptwin.geo.buildings import Building, normalize_object_id
from coptwin.geo.frame import axis_matrix
from coptwin.geo.meshes import MeshStats, read_city
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


def load_scene(
    stage: Any,
    *,
    skip_root: str = "",
    object_id_attribute: str = "",
    check_extents: bool = False,
) -> RenderScene:
    """Read every drawn mesh of ``stage`` into a :class:`RenderScene`.

    ``check_extents`` also lists meshes outside their authored extent (``coptwin inspect``).
    """
    t0 = time.perf_counter()
    city = read_city(
        stage,
        object_id_attribute=object_id_attribute,
        skip_root=skip_root,
        check_extents=check_extents,
    )
    pts, tris, owner, buildings = city.points, city.tris, city.owner, city.buildings
    finite = pts if not city.stats.nonfinite_meshes else pts[np.isfinite(pts).all(axis=1)]
    origin = (
        np.round((finite.min(axis=0) + finite.max(axis=0)) / 2.0) if finite.size else np.zeros(3)
    )
    del finite
    pts -= origin  # in place: nothing else holds the city's points
    points = pts.astype(np.float32)
    city.points = pts = np.zeros((0, 3))
    nb = len(buildings)
    b_lo = np.full((nb, 3), np.nan, dtype=np.float32)
    b_hi = np.full((nb, 3), np.nan, dtype=np.float32)
    if tris.shape[0] and nb:
        # triangles come grouped by owner (terrain first): one reduceat per corner
        starts = np.searchsorted(owner, np.arange(nb), side="left")
        full = np.flatnonzero(np.searchsorted(owner, np.arange(nb), side="right") > starts)
        at = starts[full]
        for k in range(3):
            corner = points[tris[:, k]]
            lo_k, hi_k = np.minimum.reduceat(corner, at), np.maximum.reduceat(corner, at)
            b_lo[full] = lo_k if k == 0 else np.minimum(b_lo[full], lo_k)
            b_hi[full] = hi_k if k == 0 else np.maximum(b_hi[full], hi_k)
    scene = RenderScene(
        points=points,
        tris=tris,
        owner=owner,
        buildings=buildings,
        origin=origin,
        up_axis=city.up_axis,
        meters_per_unit=city.meters_per_unit,
        stats=city.stats,
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
