"""Scene geometry for the browser: WGS84 positions, building footprints and heights, terrain.

The page draws the city with MapLibre's ``fill-extrusion`` (a polygon raised from a
base height to a top height), so buildings travel as footprint + heights, not meshes.
Why, measured (docs/web.md): a CityEngine building is an extruded lot, so its roof
outline *is* its footprint; roof levels at different heights become separate parts
(like OpenStreetMap's ``building:part``), and a pitched roof becomes a part at its
ridge height.  The demo city's footprints are a few kilobytes where its triangles
are several times more, and MapLibre has no mesh layer (real meshes would need a
custom WebGL layer and a second picking path).

Heights on the page: MapLibre's ground is flat at 0 m, so every height the page gets
is metres above the *page datum*, the scene's lowest ground.  Where the scene's
terrain rises, :func:`terrain_grid` gives stepped ground cells (fill-extrusions from
0 to the terrain height), so buildings and ground markers stand on the terrain and
nothing floats.  The OGC API, for GIS tools, gives real heights in the scene's
vertical datum instead.

Footprints come from :class:`coptwin.geo.index.SceneIndex`'s public surface only
(``tris``, ``owner``, ``buildings``); :func:`building_footprints` is the one place
that knows how, so it can be re-pointed when the index changes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Triangles whose normal has at least this upward component are roof (or floor) surface.
_ROOF_MIN_UP = 0.3
#: A roof triangle flatter than this (metres of height range) is flat.
_FLAT_TOL_M = 0.05
#: Flat roof triangles at heights closer than this share a roof level.
_LEVEL_STEP_M = 0.1
#: Footprint vertices closer than this merge (metres).
_SNAP_M = 1e-3
#: Terrain cells per side at most; bigger scenes get bigger cells.
_TERRAIN_CELLS = 120
#: Terrain heights are rounded to this (metres); the page merges equal neighbours.
_TERRAIN_STEP_M = 0.25
#: Terrain flatter than this (metres, max - min) is drawn as the plain ground plane.
_FLAT_TERRAIN_M = 0.5
_PITCHED = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Part:
    """One polygon of a building raised to ``top``: an outer ring (counter-clockwise)
    and its holes, in local metres (east, north)."""

    rings: tuple[np.ndarray, ...]
    top: float


@dataclass(frozen=True)
class Footprint:
    """A building as the page draws it: parts from ``base`` up to each part's top."""

    index: int
    path: str
    object_id: str | None
    base: float
    top: float
    parts: tuple[Part, ...]


def _signed_area(ring: np.ndarray) -> float:
    rel = ring - ring[0]
    x, y = rel[:, 0], rel[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _inside(point: np.ndarray, ring: np.ndarray) -> bool:
    """Even-odd point-in-polygon test."""
    x, y = float(point[0]), float(point[1])
    xs, ys = ring[:, 0], ring[:, 1]
    xj, yj = np.roll(xs, 1), np.roll(ys, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = (ys > y) != (yj > y)
        at = (xj - xs) * (y - ys) / (yj - ys) + xs
    return bool(np.count_nonzero(cross & (x < at)) % 2)


def _chain(src: np.ndarray, dst: np.ndarray) -> list[list[int]]:
    """Directed boundary edges -> closed vertex loops."""
    nexts: dict[int, list[int]] = {}
    for s, d in zip(src.tolist(), dst.tolist(), strict=True):
        nexts.setdefault(s, []).append(d)
    loops: list[list[int]] = []
    while nexts:
        start = next(iter(nexts))
        loop = [start]
        cur = start
        while True:
            outs = nexts.get(cur)
            if not outs:
                break
            nxt = outs.pop()
            if not outs:
                del nexts[cur]
            if nxt == start:
                break
            loop.append(nxt)
            cur = nxt
        if len(loop) >= 3:
            loops.append(loop)
    return loops


def _polygons(rings: list[np.ndarray]) -> list[tuple[np.ndarray, ...]] | None:
    """Outer rings (counter-clockwise) with the holes (clockwise) they contain."""
    outers = [r for r in rings if _signed_area(r) > 0]
    holes = [r for r in rings if _signed_area(r) < 0]
    polys: list[list[np.ndarray]] = [[o] for o in outers]
    for hole in holes:
        owners = [k for k, o in enumerate(outers) if _inside(hole.mean(axis=0), o)]
        if not owners:
            return None
        best = min(owners, key=lambda k: _signed_area(outers[k]))
        polys[best].append(hole)
    return [tuple(p) for p in polys]


def building_footprints(index: Any) -> list[Footprint]:
    """Footprint parts of every building of a :class:`~coptwin.geo.index.SceneIndex`.

    Upward-facing building triangles are grouped by building and roof level (flat
    triangles by height, the sloped ones of a building together); each group's
    outline is the set of its edges that only one triangle uses, chained into rings.
    Where an outline does not cover exactly the group's area (T-junctions, overlaps)
    the group's triangles are kept as they are, which always draws correctly.
    A building without roof triangles gets its bounding box.
    """
    tris = np.asarray(index.tris, dtype=np.float64)
    owner = np.asarray(index.owner)
    nrm = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    length = np.linalg.norm(nrm, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        up = nrm[:, 2] / length
    roof = (owner >= 0) & (length > 0) & (up > _ROOF_MIN_UP)
    r_tris, r_owner = tris[roof], owner[roof]
    z = r_tris[:, :, 2]
    flat = (z.max(axis=1) - z.min(axis=1)) < _FLAT_TOL_M
    level = np.where(flat, np.round(z.mean(axis=1) / _LEVEL_STEP_M), 0).astype(np.int64)
    level[~flat] = _PITCHED
    groups, gid = np.unique(np.column_stack([r_owner, level]), axis=0, return_inverse=True)
    gid = gid.reshape(-1)
    group_top = np.full(len(groups), -np.inf)
    np.maximum.at(group_top, gid, z.max(axis=1))
    xy = r_tris[:, :, :2]
    e1, e2 = xy[:, 1] - xy[:, 0], xy[:, 2] - xy[:, 0]
    group_area = np.zeros(len(groups))
    np.add.at(group_area, gid, 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]))

    # Vertices merged per group (so two roof levels never share an edge).
    q = np.round(xy / _SNAP_M).astype(np.int64).reshape(-1, 2)
    keys = np.column_stack([np.repeat(gid, 3), q])
    _, first, vid = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    vid = vid.reshape(-1, 3)
    vxy = xy.reshape(-1, 2)[first]
    vgroup = np.repeat(gid, 3)[first]
    src = vid.reshape(-1)
    dst = vid[:, [1, 2, 0]].reshape(-1)
    ok = src != dst
    src, dst = src[ok], dst[ok]
    n_v = max(len(vxy), 1)
    undirected = np.minimum(src, dst) * n_v + np.maximum(src, dst)
    _, inv, counts = np.unique(undirected, return_inverse=True, return_counts=True)
    boundary = counts[inv.reshape(-1)] == 1
    bsrc, bdst = src[boundary], dst[boundary]
    order = np.argsort(vgroup[bsrc], kind="stable")
    bsrc, bdst = bsrc[order], bdst[order]
    bgroup = vgroup[bsrc]
    cuts = np.searchsorted(bgroup, np.arange(len(groups) + 1))
    tri_order = np.argsort(gid, kind="stable")
    tri_cuts = np.searchsorted(gid[tri_order], np.arange(len(groups) + 1))

    parts: dict[int, list[Part]] = {}
    fallbacks = 0
    for g in range(len(groups)):
        s, e = cuts[g], cuts[g + 1]
        rings = [vxy[loop] for loop in _chain(bsrc[s:e], bdst[s:e])]
        polys = _polygons(rings) if rings else None
        area = sum(_signed_area(r) for p in (polys or []) for r in p)
        if polys is None or abs(area - group_area[g]) > 0.01 * group_area[g] + 0.01:
            fallbacks += 1
            own = r_tris[tri_order[tri_cuts[g] : tri_cuts[g + 1]]][:, :, :2]
            polys = [(t if _signed_area(t) > 0 else t[::-1],) for t in own]
        top = float(group_top[g])
        parts.setdefault(int(groups[g][0]), []).extend(Part(p, top) for p in polys)
    if fallbacks:
        log.info("footprints: %d roof outlines kept as triangles (not simple rings)", fallbacks)

    out: list[Footprint] = []
    for b in index.buildings:
        if not b.has_geometry:
            continue
        bparts = parts.get(b.index)
        if not bparts:  # no roof seen from above: its bounding box
            lo, hi = b.bbox_min, b.bbox_max
            box = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
            bparts = [Part((box,), float(hi[2]))]
        out.append(
            Footprint(b.index, b.path, b.object_id, float(b.base), float(b.top), tuple(bparts))
        )
    return out


@dataclass(frozen=True)
class TerrainGrid:
    """The scene's terrain sampled at cell centres: ``heights[j, i]`` (local up, metres,
    NaN where there is none) of the cell whose south-west corner is
    ``(e0 + i * cell, n0 + j * cell)``."""

    e0: float
    n0: float
    cell: float
    heights: np.ndarray


def terrain_grid(index: Any, max_cells: int = _TERRAIN_CELLS) -> TerrainGrid | None:
    """Stepped ground for the page; None when the scene has no terrain or it is flat
    (the page's ground plane is then the terrain)."""
    if not index.has_terrain:
        return None
    ter = np.asarray(index.tris)[np.asarray(index.owner) < 0].reshape(-1, 3)
    lo, hi = ter.min(axis=0), ter.max(axis=0)
    if hi[2] - lo[2] < _FLAT_TERRAIN_M:
        return None
    cell = max((hi[0] - lo[0]) / max_cells, (hi[1] - lo[1]) / max_cells, 1.0)
    nx = max(1, math.ceil((hi[0] - lo[0]) / cell))
    ny = max(1, math.ceil((hi[1] - lo[1]) / cell))
    gx, gy = np.meshgrid(lo[0] + (np.arange(nx) + 0.5) * cell, lo[1] + (np.arange(ny) + 0.5) * cell)
    up, _ = index.surface_up(np.column_stack([gx.ravel(), gy.ravel()]), include="terrain")
    return TerrainGrid(float(lo[0]), float(lo[1]), float(cell), up.reshape(ny, nx))


class PageGeo:
    """Stage coordinates -> what the page and the OGC API need.

    ``frame`` is a :class:`coptwin.geo.frame.SceneFrame`, ``index`` a
    :class:`coptwin.geo.index.SceneIndex` of the same stage.
    """

    def __init__(self, frame: Any, index: Any) -> None:
        self.frame = frame
        self.index = index
        self.footprints = building_footprints(index)
        self.terrain = terrain_grid(index)
        grounds = [f.base for f in self.footprints]
        if index.has_terrain:
            owner = np.asarray(index.owner)
            grounds.append(float(np.asarray(index.tris)[owner < 0][:, :, 2].min()))
        #: Local up (metres) of the page's ground plane: the scene's lowest ground.
        self.datum = min(grounds) if grounds else float(index.bbox_min[2])
        self._by_path = {f.path: f.index for f in self.footprints}

    @classmethod
    def from_stage(cls, stage: Any, scene_cfg: Any) -> PageGeo:
        """Frame and index of an open stage (the index is the one the engine built: cached)."""
        from coptwin.geo.frame import SceneFrame
        from coptwin.geo.index import SceneIndex

        return cls(SceneFrame.from_stage(stage, scene_cfg), SceneIndex.build(stage, scene_cfg))

    # ------------------------------------------------------------------ points
    def stage_to_page(self, points: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N,3) stage coordinates -> lon, lat (degrees) and metres above the page datum."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        local = self.frame.stage_to_local(pts)
        lon, lat, _ = self.frame.local_to_lonlat(local)
        return lon, lat, local[:, 2] - self.datum

    def stage_to_wgs84(self, points: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N,3) stage coordinates -> lon, lat and height in the scene's vertical datum."""
        return self.frame.stage_to_lonlat(np.asarray(points, dtype=np.float64).reshape(-1, 3))

    def lonlat_to_stage(self, lon: float, lat: float, alt_page: float) -> tuple[float, ...]:
        """A point picked on the page (lon, lat, metres above the datum) -> stage x, y, z."""
        local = self.frame.lonlat_to_local(lon, lat, 0.0, apply_vertical_offset=False)
        local[:, 2] = self.datum + alt_page
        return tuple(float(v) for v in self.frame.local_to_stage(local)[0])

    def _lonlat(self, en: np.ndarray, up: float = 0.0) -> np.ndarray:
        local = np.column_stack([en[:, 0], en[:, 1], np.full(len(en), up)])
        lon, lat, _ = self.frame.local_to_lonlat(local)
        return np.column_stack([np.round(lon, 7), np.round(lat, 7)])

    def building_of(self, prim_path: str) -> int:
        """Building index of a bound prim path (or a prim below a building); -1 if none."""
        if not prim_path:
            return -1
        hit = self._by_path.get(prim_path)
        if hit is not None:
            return hit
        b = self.index.building_for_path(prim_path)
        return b.index if b is not None else -1

    @cached_property
    def bounds(self) -> list[float]:
        """[west, south, east, north] of the scene in WGS84 degrees."""
        lo, hi = self.index.bbox_min, self.index.bbox_max
        corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
        ll = self._lonlat(corners)
        return [
            float(ll[:, 0].min()),
            float(ll[:, 1].min()),
            float(ll[:, 0].max()),
            float(ll[:, 1].max()),
        ]

    # ------------------------------------------------------------------ layers
    def _polygon(self, rings: tuple[np.ndarray, ...]) -> list[list[list[float]]]:
        out = []
        for ring in rings:
            ll = self._lonlat(ring).tolist()
            out.append([*ll, ll[0]])
        return out

    @cached_property
    def buildings_page(self) -> dict:
        """GeoJSON of building parts with page heights (feature id = building index)."""
        features = []
        for f in self.footprints:
            for part in f.parts:
                features.append(
                    {
                        "type": "Feature",
                        "id": f.index,
                        "geometry": {"type": "Polygon", "coordinates": self._polygon(part.rings)},
                        "properties": {
                            "b": f.index,
                            "path": f.path,
                            "base": round(f.base - self.datum, 2),
                            "top": round(part.top - self.datum, 2),
                        },
                    }
                )
        return {"type": "FeatureCollection", "features": features}

    @cached_property
    def terrain_page(self) -> dict | None:
        """The terrain grid for the page: heights above the datum in steps of ``step`` metres
        (null: no terrain) and the WGS84 corners the page interpolates cell corners from
        (a projected grid is affine in lon/lat to well under a centimetre per kilometre)."""
        t = self.terrain
        if t is None:
            return None
        ny, nx = t.heights.shape
        e1, n1 = t.e0 + nx * t.cell, t.n0 + ny * t.cell
        sw, se, nw = self._lonlat(np.array([[t.e0, t.n0], [e1, t.n0], [t.e0, n1]])).tolist()
        steps = np.round((t.heights - self.datum) / _TERRAIN_STEP_M)
        return {
            "nx": nx,
            "ny": ny,
            "sw": sw,
            "se": se,
            "nw": nw,
            "step": _TERRAIN_STEP_M,
            "h": [int(v) if math.isfinite(v) else None for v in steps.ravel()],
        }

    @cached_property
    def building_records(self) -> list[dict]:
        """One record per building for the OGC API: WGS84 footprint and real heights."""
        out = []
        for f in self.footprints:
            polys = [self._polygon(p.rings) for p in f.parts]
            ll = np.array([c for poly in polys for ring in poly for c in ring])
            base_h = self._height(f.base)
            out.append(
                {
                    "index": f.index,
                    "path": f.path,
                    "object_id": f.object_id,
                    "geometry": {"type": "MultiPolygon", "coordinates": polys},
                    "bbox": [ll[:, 0].min(), ll[:, 1].min(), ll[:, 0].max(), ll[:, 1].max()],
                    "base_h": round(base_h, 2),
                    "top_h": round(self._height(f.top), 2),
                    "height_m": round(f.top - f.base, 2),
                }
            )
        return out

    def _height(self, local_up: float) -> float:
        """Local up (metres) -> height in the scene's vertical datum (OGC, GIS)."""
        lo = self.index.bbox_min
        _, _, h = self.frame.local_to_lonlat(np.array([[lo[0], lo[1], local_up]]))
        return float(h[0])
