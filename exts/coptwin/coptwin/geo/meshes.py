"""Every visible mesh of a stage, read once per distinct mesh, with where it is drawn.

The one USD mesh reader: the scene index (placement, the browser's footprints) and the
pictures (``coptwin snapshot``, ``coptwin inspect``) both read through :func:`read_city`.

CityEngine's detailed exports make almost every leaf instanceable: ce_ottawa_c draws
17,348 meshes but holds 314 distinct ones (windows sills, pipes and ledges are a handful
of shared assets). Reading through instance proxies repeats the reading -- and a caller's
triangulation -- for every copy. :func:`read_stage_meshes` walks the stage *without*
instance proxies, reads each prototype once (nested instancing included) and returns

* ``meshes``: the distinct meshes, each in its own space (points as authored, face counts
  and indices with hole faces removed);
* the *uses*: for every place a mesh is drawn, which mesh, its mesh-to-stage matrix
  (row-vector USD convention) and its path as seen through instance proxies, so callers
  that key on paths (building ownership, connector names) see the same paths as before;
* ``tagged``: prims carrying ``tag_attribute`` (e.g. CityEngine's OBJECTID), by their
  proxy path, in traversal order;
* :class:`MeshStats`: what was read and what was skipped, for logs and ``coptwin inspect``.

:func:`expand_points` and :func:`expand_triangles` turn that into stage-space arrays for
all uses at once (vectorised, no per-mesh Python loop). :func:`read_city` does the whole
job once for every caller: read, identify buildings
(:func:`coptwin.geo.buildings.identify_buildings`), triangulate each distinct mesh once,
and place every use's triangles in the local metric frame.

Skipped as Hydra would not draw them: invisible and ``guide`` subtrees, material and
shader subtrees and the ``skip_root`` subtree (coptwin's own overlay). PointInstancer
subtrees are skipped too, counted and logged: CityEngine's USD encoder writes instanceable
references, not PointInstancers (none in the shared exports), the pictures draw markers
from the engine's state, and scattered props (trees, lamps) are neither buildings nor
ground a marker should stand on. Only USD reads; a pure function of the stage, so it may
run on any thread against a stage nobody is writing.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coptwin.geo.buildings import Building, identify_buildings
from coptwin.geo.frame import axis_matrix, read_axes
from coptwin.geo.triangulate import TriangulationStats, triangulate

log = logging.getLogger(__name__)

#: Relative slack when checking points against an authored ``extent``.
_EXTENT_TOL = 1e-4


@dataclass(slots=True)
class MeshData:
    """One distinct mesh in its own space."""

    #: where it was read (an ``Sdf.Path``): on the stage, or inside a prototype
    #: (``/__Prototype_N/...``)
    path: object
    points: np.ndarray  # (P, 3) as authored (float32 for point3f; callers widen in bulk)
    counts: np.ndarray  # (F,) int64 faceVertexCounts (hole faces removed)
    indices: np.ndarray  # (sum(counts),) int64 faceVertexIndices


@dataclass
class MeshStats:
    """What reading a stage found, for logs, the index's stats and ``coptwin inspect``."""

    #: meshes drawn (each instance counts) and distinct meshes read (prototypes once)
    meshes: int = 0
    distinct_meshes: int = 0
    #: instance prototypes read, and the instances drawn from them (nested ones expanded)
    prototypes: int = 0
    instances: int = 0
    #: PointInstancers found and skipped (module doc), and the instances they hold
    point_instancers: int = 0
    point_instances: int = 0
    triangles: int = 0
    terrain_triangles: int = 0
    degenerate_faces: int = 0
    fan_fallbacks: int = 0
    #: meshes not drawn: no points or faces, faces that do not match their indices, or
    #: no triangle left (paths)
    empty_meshes: list[str] = field(default_factory=list)
    #: meshes with NaN/inf points (the faces touching them are dropped)
    nonfinite_meshes: list[str] = field(default_factory=list)
    #: meshes whose points lie outside their authored ``extent`` (viewers cull them
    #: wrongly); checked only when asked (``check_extents``)
    stale_extents: list[str] = field(default_factory=list)
    prims: int = 0  # prims visited (prototype prims once)
    seconds: float = 0.0
    #: seconds per phase (read, buildings, triangulate, instance; the index adds grid)
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def skipped_meshes(self) -> int:
        return len(self.empty_meshes)


@dataclass
class StageMeshes:
    """Distinct meshes and their uses (see the module doc)."""

    meshes: list[MeshData]
    use_mesh: np.ndarray  # (U,) int64 index into meshes
    use_matrix: np.ndarray  # (U, 4, 4) float64 mesh -> stage, row vectors
    use_path: list[str]  # (U,) path through instance proxies
    tagged: list[tuple[str, object]]  # (proxy path, attribute value), traversal order
    stats: MeshStats = field(default_factory=MeshStats)


@dataclass
class _Flat:
    """What one subtree (the stage or one prototype) draws, relative to its root."""

    mesh: list[int] = field(default_factory=list)
    matrix: list[np.ndarray] = field(default_factory=list)
    path: list[str] = field(default_factory=list)  # relative to the subtree root ("" = root)
    tagged: list[tuple[str, object]] = field(default_factory=list)
    instances: int = 0  # instances drawn below the root (nested ones expanded)


#: A use at the top level: what it draws (a prototype's flat, or one mesh), its
#: stage-space matrix and its path; composed all at once in :meth:`_Reader.compose`.
_Use = tuple[_Flat, np.ndarray, str]
_IDENTITY = np.eye(4)
_IDENTITY.flags.writeable = False


class _Reader:
    def __init__(
        self, stage: object, tag_attribute: str | None, skip_root: str | None, check_extents: bool
    ) -> None:
        from pxr import Usd, UsdGeom, UsdShade

        self.stage = stage
        self.tag = tag_attribute
        skip = (skip_root or "").rstrip("/")
        self.skip_prim = stage.GetPrimAtPath(skip) if skip.startswith("/") else None  # type: ignore[attr-defined]
        if self.skip_prim is not None and not self.skip_prim.IsValid():
            self.skip_prim = None
        self.xf = UsdGeom.XformCache(Usd.TimeCode.Default())
        self.meshes: list[MeshData] = []
        self.protos: dict[object, _Flat] = {}  # by prototype prim
        self.stats = MeshStats()
        self.check_extents = check_extents
        #: prim type name -> (prune, imageable, mesh, point instancer); IsA costs a
        #: lookup per call
        self._kinds: dict[str, tuple[bool, bool, bool, bool]] = {}
        self._usd, self._geom, self._shade = Usd, UsdGeom, UsdShade
        self._invisible, self._guide = UsdGeom.Tokens.invisible, UsdGeom.Tokens.guide
        # USD's Python objects check that they are still valid on every attribute
        # access; the walk calls the class's methods on prims it has just been handed,
        # which skips that check (about a sixth of the walk's time on a big city)
        prim_t, attr_t = Usd.Prim, Usd.Attribute
        self._children, self._name = prim_t.GetChildren, prim_t.GetName
        self._authored, self._is_instance = prim_t.GetAuthoredPropertyNames, prim_t.IsInstance
        self._attr, self._get = prim_t.GetAttribute, attr_t.Get
        self._prototype, self._type_name = prim_t.GetPrototype, prim_t.GetTypeName
        self._path = prim_t.GetPath

    def _kind(self, prim: object) -> tuple[bool, bool, bool, bool]:
        name = self._type_name(prim)
        kind = self._kinds.get(name)
        if kind is None:
            geom, shade = self._geom, self._shade
            point_instancer = prim.IsA(geom.PointInstancer)  # type: ignore[attr-defined]
            kind = self._kinds[name] = (
                # PointInstancers are not read (module doc); materials and shaders hold
                # no drawable geometry (Hydra culls their children too)
                point_instancer
                or prim.IsA(shade.NodeGraph)  # type: ignore[attr-defined]
                or prim.IsA(shade.Shader),  # type: ignore[attr-defined]
                prim.IsA(geom.Imageable),  # type: ignore[attr-defined]
                prim.IsA(geom.Mesh),  # type: ignore[attr-defined]
                point_instancer,
            )
        return kind

    def walk(self, root: object, top: bool) -> tuple[_Flat, list[_Use]]:
        """Meshes, instances and tags below ``root`` (the pseudo-root, or a prototype).

        Inside a prototype, uses are composed on the spot into its :class:`_Flat` (a
        prototype is read once). At the top level they are returned as :data:`_Use`
        records for :meth:`compose`, which multiplies all matrices at once.

        Both are walked depth-first over ``GetChildren`` (the prims and order of a
        ``Usd.PrimRange``), which costs less than a range and lets paths be built from
        names. The roots themselves have no properties (an instance keeps its own), so
        the walks start with their children.
        """
        flat = _Flat()
        uses: list[_Use] = []
        self.stats.prims += 1
        # each entry: a prim, its parent's path below the root (paths are built from
        # names, which costs less than asking for them) and whether everything between
        # it and the root is untransformed (then, without an xformOpOrder of its own, it
        # sits at the identity)
        children, name, visit = self._children, self._name, self._visit
        stack = [(c, "", True) for c in reversed(children(root))]
        while stack:
            prim, parent, plain = stack.pop()
            rel = parent + "/" + name(prim)
            plain = visit(prim, flat, uses, rel, top, plain)
            if plain is not None:
                stack.extend((c, rel, plain) for c in reversed(children(prim)))
        return flat, uses

    def _visit(
        self,
        prim: object,
        flat: _Flat,
        uses: list[_Use],
        rel: str,
        top: bool,
        plain: bool,
    ) -> bool | None:
        """Read one prim (``rel``: its path below the walk's root, the stage's or a
        prototype's). None if there is nothing below it to walk (not drawn, or an
        instance, whose prototype is read here), else whether it and its ancestors (up
        to the walk's root) are untransformed."""
        self.stats.prims += 1
        if top and prim == self.skip_prim:
            return None
        prune, imageable, is_mesh, point_instancer = self._kind(prim)
        if prune:
            if point_instancer:
                self._skip_point_instancer(prim)
            return None
        # Only authored opinions can hide a prim or tag it; reading the list once is
        # cheaper than three attribute look-ups on every prim.
        authored = self._authored(prim)
        attr, get = self._attr, self._get
        if imageable and (
            ("visibility" in authored and get(attr(prim, "visibility")) == self._invisible)
            or ("purpose" in authored and get(attr(prim, "purpose")) == self._guide)
        ):
            return None
        parent_plain, plain = plain, plain and "xformOpOrder" not in authored
        instance = self._is_instance(prim)
        tag = self.tag
        if tag is not None and tag in authored:
            value = get(attr(prim, tag))
            if value is not None:  # None: blocked
                flat.tagged.append((rel, value))
        if is_mesh:
            mesh = self._read_mesh(prim, authored)
            if mesh is not None:
                matrix = self._matrix(prim, parent_plain, plain)
                if top:
                    uses.append((_Flat([mesh], [_IDENTITY], [""]), matrix, rel))
                else:
                    flat.mesh.append(mesh)
                    flat.matrix.append(matrix)
                    flat.path.append(rel)
        if instance:  # an instance has no children of its own: its prototype does
            proto = self._prototype(prim)
            sub = self.protos.get(proto)
            if sub is None:
                sub = self.protos[proto] = self.walk(proto, top=False)[0]
            self._use(flat, uses, sub, self._matrix(prim, parent_plain, plain), rel, top)
            flat.instances += 1 + sub.instances
            if sub.tagged:
                flat.tagged.extend((rel + p, v) for p, v in sub.tagged)
            return None
        return plain

    def _skip_point_instancer(self, prim: object) -> None:
        """Counted, not read (module doc); inside a prototype, once per prototype."""
        indices = prim.GetAttribute("protoIndices").Get()  # type: ignore[attr-defined]
        self.stats.point_instancers += 1
        self.stats.point_instances += 0 if indices is None else len(indices)
        log.debug("PointInstancer %s skipped", prim)

    @staticmethod
    def _use(
        flat: _Flat, uses: list[_Use], sub: _Flat, matrix: np.ndarray, rel: str, top: bool
    ) -> None:
        if top:
            uses.append((sub, matrix, rel))
            return
        flat.mesh.extend(sub.mesh)
        flat.matrix.extend(matrix if m is _IDENTITY else m @ matrix for m in sub.matrix)
        flat.path.extend(rel + p for p in sub.path)

    @staticmethod
    def compose(uses: list[_Use]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Top-level uses -> (mesh ids, stage matrices, proxy paths), one matmul for all."""
        if not uses:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 4, 4)), []
        per = np.array([len(f.mesh) for f, _, _ in uses], dtype=np.int64)
        mesh = np.fromiter((m for f, _, _ in uses for m in f.mesh), np.int64, int(per.sum()))
        local = np.array([m for f, _, _ in uses for m in f.matrix], dtype=np.float64)
        where = np.repeat(np.array([w for _, w, _ in uses], dtype=np.float64), per, axis=0)
        paths = [rel + p for f, _, rel in uses for p in f.path]
        return mesh, np.matmul(local.reshape(-1, 4, 4), where), paths

    def _matrix(self, prim: object, parent_plain: bool, plain: bool) -> np.ndarray:
        """Prim -> walk root (the stage, or a prototype root, which has no xform);
        ``plain``: the prim and its ancestors are untransformed, ``parent_plain``: its
        ancestors are (then its own transform is the whole answer)."""
        if plain:
            return _IDENTITY
        if parent_plain:
            local = self._geom.Xformable(prim).GetLocalTransformation()
            return np.array(local, dtype=np.float64)
        return np.array(self.xf.GetLocalToWorldTransform(prim), dtype=np.float64)

    def _read_mesh(self, prim: object, authored: object) -> int | None:
        attr, get = self._attr, self._get
        pts_attr = attr(prim, "points")
        pts = get(pts_attr)
        if pts is None and pts_attr.GetNumTimeSamples():  # type: ignore[attr-defined]
            pts = get(pts_attr, self._usd.TimeCode.EarliestTime())
        counts = get(attr(prim, "faceVertexCounts"))
        indices = get(attr(prim, "faceVertexIndices"))
        if pts is None or counts is None or indices is None or len(pts) == 0 or len(counts) == 0:
            self.stats.empty_meshes.append(str(prim.GetPath()))  # type: ignore[attr-defined]
            log.debug("mesh %s has no points/faces; skipped", prim)
            return None
        p = np.asarray(pts)
        if p.ndim != 2:  # an array of something other than 3-vectors
            p = p.astype(np.float64).reshape(-1, 3)
        c = np.asarray(counts, dtype=np.int64)
        i = np.asarray(indices, dtype=np.int64)
        has_holes = "holeIndices" in authored  # type: ignore[operator]
        holes = get(attr(prim, "holeIndices")) if has_holes else None
        if holes is not None and len(holes):
            if int(c.sum()) != i.shape[0]:  # checked here, before the holes use it
                self._bad_topology(str(prim.GetPath()))  # type: ignore[attr-defined]
                return None
            keep = np.ones(c.shape[0], dtype=bool)
            h = np.asarray(holes, dtype=np.int64)
            keep[h[(h >= 0) & (h < c.shape[0])]] = False
            i = i[np.repeat(keep, c)]
            c = c[keep]
        if self.check_extents and "extent" in authored:  # type: ignore[operator]
            self._check_extent(prim, p)
        self.meshes.append(MeshData(self._path(prim), p, c, i))
        return len(self.meshes) - 1

    def _check_extent(self, prim: object, p: np.ndarray) -> None:
        ext = prim.GetAttribute("extent").Get()  # type: ignore[attr-defined]
        p = p[np.isfinite(p).all(axis=1)]
        if ext is None or len(ext) != 2 or p.shape[0] == 0:
            return
        lo, hi = np.asarray(ext[0], dtype=np.float64), np.asarray(ext[1], dtype=np.float64)
        slack = _EXTENT_TOL * max(1.0, float(np.abs(hi - lo).max()))
        if (p.min(axis=0) < lo - slack).any() or (p.max(axis=0) > hi + slack).any():
            self.stats.stale_extents.append(str(prim.GetPath()))  # type: ignore[attr-defined]

    def _bad_topology(self, path: str) -> None:
        self.stats.empty_meshes.append(path)
        log.warning("mesh %s: faceVertexCounts do not match faceVertexIndices; skipped", path)

    def drop_bad_topology(
        self, mesh: np.ndarray, mats: np.ndarray, paths: list[str]
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Check every mesh's counts against its indices at once (a sum per mesh costs
        more than reading it); drop the bad meshes and their uses."""
        if not self.meshes:
            return mesh, mats, paths
        n_faces = np.array([m.counts.shape[0] for m in self.meshes], dtype=np.int64)
        n_idx = np.array([m.indices.shape[0] for m in self.meshes], dtype=np.int64)
        counts = np.concatenate([m.counts for m in self.meshes])
        csum = np.concatenate([[0], np.cumsum(counts)])
        ends = np.cumsum(n_faces)
        bad = csum[ends] - csum[ends - n_faces] != n_idx
        bad[np.searchsorted(ends, np.flatnonzero(counts < 0), side="right")] = True
        if not bad.any():
            return mesh, mats, paths
        for k in np.nonzero(bad)[0].tolist():
            self._bad_topology(str(self.meshes[k].path))
        new_id = np.cumsum(~bad) - 1
        self.meshes = [m for m, b in zip(self.meshes, bad.tolist(), strict=True) if not b]
        ok = ~bad[mesh]
        kept = [p for p, keep in zip(paths, ok.tolist(), strict=True) if keep]
        return new_id[mesh[ok]], mats[ok], kept


def read_stage_meshes(
    stage: object,
    *,
    tag_attribute: str | None = None,
    skip_root: str | None = None,
    check_extents: bool = False,
) -> StageMeshes:
    """Distinct meshes of ``stage`` and every place they are drawn (module doc).

    ``check_extents`` also compares each distinct mesh's points with its authored
    ``extent`` (one more attribute read per mesh; ``coptwin inspect`` asks for it).
    """
    reader = _Reader(stage, tag_attribute, skip_root, check_extents)
    # The walk allocates a few small objects per prim and frees none: Python's cyclic
    # collector would only rescan them, again and again (~8% of a big city's walk).
    collecting = gc.isenabled()
    gc.disable()
    try:
        flat, uses = reader.walk(stage.GetPseudoRoot(), top=True)  # type: ignore[attr-defined]
    finally:
        if collecting:
            gc.enable()
    mesh, mats, paths = reader.drop_bad_topology(*reader.compose(uses))
    st = reader.stats
    st.meshes, st.distinct_meshes = int(mesh.shape[0]), len(reader.meshes)
    st.prototypes, st.instances = len(reader.protos), flat.instances
    if st.point_instancers:
        log.warning(
            "skipped %d PointInstancers (%d instances): coptwin reads meshes and "
            "instanceable prims only",
            st.point_instancers,
            st.point_instances,
        )
    log.debug(
        "stage meshes: %d distinct meshes, %d uses, %d prototypes, %d prims",
        st.distinct_meshes,
        st.meshes,
        st.prototypes,
        st.prims,
    )
    return StageMeshes(reader.meshes, mesh, mats, paths, flat.tagged, st)


def expand_points(
    sm: StageMeshes, all_points: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage-space points of every use: ``(points (N, 3), use_start (U+1,), mesh_start)``.

    Use ``u``'s points are ``points[use_start[u]:use_start[u+1]]``, in its mesh's point
    order; ``mesh_start[m]`` is where mesh ``m``'s points begin in the concatenation of
    all distinct meshes (handy for mapping per-mesh vertex indices). ``all_points`` is
    that concatenation, if the caller has made it already.
    """
    sizes = np.array([m.points.shape[0] for m in sm.meshes], dtype=np.int64)
    mesh_start = np.concatenate([[0], np.cumsum(sizes)])
    if not sm.meshes or sm.use_mesh.size == 0:
        return np.zeros((0, 3)), np.zeros(sm.use_mesh.size + 1, dtype=np.int64), mesh_start
    if all_points is None:
        all_points = np.concatenate([m.points for m in sm.meshes], dtype=np.float64)
    allp = all_points
    per_use = sizes[sm.use_mesh]
    use_start = np.concatenate([[0], np.cumsum(per_use)])
    total = int(use_start[-1])
    use_of = np.repeat(np.arange(sm.use_mesh.size), per_use)
    src = mesh_start[sm.use_mesh][use_of] + np.arange(total) - use_start[:-1][use_of]
    pts = allp[src]
    out = np.empty_like(pts)
    m = sm.use_matrix
    for j in range(3):  # column by column keeps temporaries at (N,) instead of (N, 4, 4)
        out[:, j] = (
            pts[:, 0] * m[use_of, 0, j]
            + pts[:, 1] * m[use_of, 1, j]
            + pts[:, 2] * m[use_of, 2, j]
            + m[use_of, 3, j]
        )
    return out, use_start, mesh_start


def expand_triangles(
    tris: np.ndarray, mesh_start: np.ndarray, use_mesh: np.ndarray, use_start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Triangles of every use: ``(vertex indices into expand_points' points, use of each)``.

    ``tris`` (T, 3) index the concatenation of all distinct meshes' points (offsets
    ``mesh_start``), e.g. one :func:`~coptwin.geo.triangulate.triangulate` call over all
    distinct meshes; they may come in any order.
    """
    tris = np.asarray(tris, dtype=np.int64).reshape(-1, 3)
    n_mesh = mesh_start.shape[0] - 1
    tri_mesh = np.searchsorted(mesh_start, tris[:, 0], side="right") - 1
    order = np.argsort(tri_mesh, kind="stable")
    tris, tri_mesh = tris[order], tri_mesh[order]
    per_mesh = np.bincount(tri_mesh, minlength=n_mesh)
    tri_start = np.concatenate([[0], np.cumsum(per_mesh)])
    per_use = per_mesh[use_mesh]
    out_start = np.concatenate([[0], np.cumsum(per_use)])
    total = int(out_start[-1])
    use_of = np.repeat(np.arange(use_mesh.size), per_use)
    src = tri_start[use_mesh][use_of] + np.arange(total) - out_start[:-1][use_of]
    shift = use_start[:-1] - mesh_start[use_mesh]  # mesh-concatenation -> expanded index
    out = tris[src]
    out += shift[use_of][:, None]
    return out, use_of


@dataclass
class CityMesh:
    """Every drawn triangle of a stage in the local metric frame, with its building."""

    points: np.ndarray  # (N, 3) float64 local metres (east, north, up); every use's own
    tris: np.ndarray  # (T, 3) int64 into points, grouped by owner (terrain first)
    owner: np.ndarray  # (T,) building index or TERRAIN
    buildings: list[Building]
    up_axis: str
    meters_per_unit: float
    stats: MeshStats


def read_city(stage: object, *, object_id_attribute: str | None = None, **options: Any) -> CityMesh:
    """Read, identify buildings, triangulate each distinct mesh once, place every use.

    ``options`` go to :func:`read_stage_meshes` (``skip_root``, ``check_extents``).

    Triangles touching NaN/inf points are dropped (their meshes are listed in the
    stats); a stage without geometry gives empty arrays (callers decide whether that
    is an error).
    """
    t0 = time.perf_counter()
    up_axis, mpu = read_axes(stage)
    sm = read_stage_meshes(stage, tag_attribute=object_id_attribute or None, **options)
    st = sm.stats
    t_read = time.perf_counter()
    buildings, use_owner = identify_buildings(stage, sm.use_path, sm.tagged)
    t_buildings = time.perf_counter()
    if not sm.meshes:
        st.seconds = time.perf_counter() - t0
        st.phases = {"read": round(t_read - t0, 4), "buildings": round(t_buildings - t_read, 4)}
        empty = np.zeros((0, 3), dtype=np.int64)
        return CityMesh(np.zeros((0, 3)), empty, np.zeros(0, np.int64), buildings, up_axis, mpu, st)
    # Triangulate each distinct mesh once, in its own space.
    sizes = np.array([m.points.shape[0] for m in sm.meshes], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    all_points = np.concatenate([m.points for m in sm.meshes], dtype=np.float64)
    finite = np.isfinite(all_points).all(axis=1)
    clean = finite.all()
    tstats = TriangulationStats()
    tri_idx = triangulate(
        np.concatenate([m.counts for m in sm.meshes]),
        np.concatenate([m.indices + off for m, off in zip(sm.meshes, offsets[:-1], strict=True)]),
        all_points if clean else np.where(finite[:, None], all_points, 0.0),
        tstats,
    )
    st.degenerate_faces, st.fan_fallbacks = tstats.degenerate_faces, tstats.fan_fallbacks
    if not clean:
        bad_mesh = np.unique(np.searchsorted(offsets, np.flatnonzero(~finite), side="right") - 1)
        st.nonfinite_meshes += [str(sm.meshes[k].path) for k in bad_mesh.tolist()]
        tri_idx = tri_idx[finite[tri_idx].all(axis=1)]
    tri_mesh = np.searchsorted(offsets, tri_idx[:, 0], side="right") - 1
    drawn = np.bincount(tri_mesh, minlength=len(sm.meshes)) > 0
    if not drawn.all():  # faces all degenerate (or all touching NaN points)
        nonfinite = set(st.nonfinite_meshes)
        st.empty_meshes += [
            p
            for k in np.flatnonzero(~drawn).tolist()
            if (p := str(sm.meshes[k].path)) not in nonfinite
        ]
    t_tri = time.perf_counter()
    # Uses of meshes that draw something, in building order (terrain first), so the
    # triangles come out grouped by owner; and straight into the local frame: the axis
    # swap and units ride on each use's matrix.
    by_owner = np.argsort(use_owner, kind="stable")
    by_owner = by_owner[drawn[sm.use_mesh[by_owner]]]
    st.meshes = int(by_owner.shape[0])
    sm.use_mesh, use_owner = sm.use_mesh[by_owner], use_owner[by_owner]
    sm.use_matrix = sm.use_matrix[by_owner] @ axis_matrix(up_axis, mpu)
    points, use_start, mesh_start = expand_points(sm, all_points)
    del all_points
    tris, use_of = expand_triangles(tri_idx, mesh_start, sm.use_mesh, use_start)
    owner = use_owner[use_of]
    st.triangles = int(tris.shape[0])
    st.terrain_triangles = int(np.count_nonzero(owner < 0))
    t_end = time.perf_counter()
    st.seconds = t_end - t0
    st.phases = {
        "read": round(t_read - t0, 4),
        "buildings": round(t_buildings - t_read, 4),
        "triangulate": round(t_tri - t_buildings, 4),
        "instance": round(t_end - t_tri, 4),
    }
    if st.degenerate_faces or st.fan_fallbacks or st.empty_meshes or st.nonfinite_meshes:
        log.warning(
            "%s: skipped %d empty or unreadable meshes, %d meshes with NaN/inf points and "
            "%d degenerate faces; %d faces were not simple polygons (fan-triangulated)",
            stage.GetRootLayer().identifier,  # type: ignore[attr-defined]
            len(st.empty_meshes),
            len(st.nonfinite_meshes),
            st.degenerate_faces,
            st.fan_fallbacks,
        )
    return CityMesh(points, tris, owner, buildings, up_axis, mpu, st)
