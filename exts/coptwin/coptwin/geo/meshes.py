"""Every mesh a stage draws, each prototype read and triangulated once, with where it is drawn.

A CityEngine export of a detailed rule is mostly *instances*: ``ce_ottawa_c`` has 17,348
instanceable leaves sharing 314 prototypes (1.43 M triangles once expanded). Reading every
instance proxy separately repeats the same points, faces and ear clipping thousands of
times, so :func:`read_meshes` reads each mesh prim once as a :class:`MeshPart` (triangles
in the mesh's own space, from :func:`coptwin.geo.triangulate.triangulate`) and lists its
*uses*: the part, a 4x4 matrix (USD row-vector convention, ``world = p @ M``) to stage
coordinates, and the path the use has through instance proxies (the path
``Usd.TraverseInstanceProxies`` would give, so building identification works on it).

Handled: plain meshes, instanceable prims (prototype read once, nested instances
flattened), ``UsdGeom.PointInstancer`` (prototypes read once, per-instance transforms).
Skipped like the scene index skips them: the overlay root, invisible prims, guides.

:meth:`SceneMeshes.assemble` gives world triangles for any subset of uses, transformed
per part in numpy (optionally through one extra matrix, e.g. stage -> local metres);
:meth:`SceneMeshes.identify_buildings` maps every use to a building with the same rules
as :class:`coptwin.geo.index.SceneIndex` (object-id attribute, then connector names).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coptwin.geo.frame import read_axes
from coptwin.geo.triangulate import TriangulationStats, triangulate

log = logging.getLogger(__name__)

#: Relative slack when checking points against an authored ``extent``.
_EXTENT_TOL = 1e-4


@dataclass
class MeshPart:
    """One mesh prim's triangles in its own space (relative to its prototype when instanced)."""

    path: str
    #: (P, 3) float64 points, already through the prim's transform relative to its
    #: prototype root (instanced) or identity (uses carry the prim's world matrix).
    points: np.ndarray
    #: (T, 3) int64 indices into ``points``; faces touching non-finite points are dropped.
    tris: np.ndarray


@dataclass
class MeshStats:
    """What reading found, for ``coptwin inspect`` and logs."""

    #: Mesh uses (meshes as a viewer draws them, instances expanded).
    meshes: int = 0
    #: Distinct mesh prims read (MeshPart count).
    parts: int = 0
    #: Instanceable-prim prototypes, and the instances drawn from them (nested expanded).
    prototypes: int = 0
    instances: int = 0
    #: PointInstancer prims (each counted once) and the instances they draw.
    point_instancers: int = 0
    pi_instances: int = 0
    triangles: int = 0
    #: Meshes with no points or no faces, or inconsistent face arrays (not drawn).
    empty_meshes: list[str] = field(default_factory=list)
    #: Meshes with NaN/inf points (the faces that touch them are not drawn).
    nonfinite_meshes: list[str] = field(default_factory=list)
    #: Meshes whose points lie outside their authored ``extent`` (viewers cull them wrongly).
    stale_extents: list[str] = field(default_factory=list)
    degenerate_faces: int = 0
    fan_fallbacks: int = 0
    seconds: float = 0.0


@dataclass
class _Template:
    """A prototype's content relative to its root: (part, matrix, relative path) entries."""

    parts: list[int] = field(default_factory=list)
    matrices: list[np.ndarray] = field(default_factory=list)
    rel_paths: list[str] = field(default_factory=list)
    #: (relative path, raw value) of prims carrying the object-id attribute.
    ids: list[tuple[str, Any]] = field(default_factory=list)
    #: Instances drawn (nested ones expanded) by instanceable prims and by PointInstancers.
    instances: int = 0
    pi_instances: int = 0


class SceneMeshes:
    """Parts and their uses (see module doc). ``use_*`` arrays are aligned."""

    def __init__(
        self,
        parts: list[MeshPart],
        use_part: np.ndarray,
        use_matrix: np.ndarray,
        use_path: list[str],
        id_prims: list[tuple[str, Any]],
        up_axis: str,
        meters_per_unit: float,
        stats: MeshStats,
    ) -> None:
        self.parts = parts
        self.use_part = use_part
        self.use_matrix = use_matrix
        self.use_path = use_path
        #: (path, raw attribute value) of every prim carrying the object-id attribute.
        self.id_prims = id_prims
        self.up_axis = up_axis
        self.meters_per_unit = meters_per_unit
        self.stats = stats

    def __len__(self) -> int:
        return len(self.use_path)

    def assemble(
        self, uses: np.ndarray | None = None, post: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World triangles of ``uses`` (default all): ``(points (N,3), tris (T,3), use (T,))``.

        ``post`` is an extra 4x4 row-vector matrix applied after each use's matrix (e.g.
        stage -> local metres, minus a render origin). Points are float64.
        """
        sel = np.arange(len(self.use_path)) if uses is None else np.asarray(uses, dtype=np.int64)
        pts_out: list[np.ndarray] = []
        tri_out: list[np.ndarray] = []
        use_out: list[np.ndarray] = []
        offset = 0
        parts = self.use_part[sel]
        order = np.argsort(parts, kind="stable")
        bounds = np.flatnonzero(np.diff(parts[order])) + 1
        for group in np.split(order, bounds) if order.size else []:
            part = self.parts[int(parts[group[0]])]
            if part.tris.shape[0] == 0:
                continue
            use_ids = sel[group]
            mats = self.use_matrix[use_ids]
            if post is not None:
                mats = mats @ post
            homo = np.c_[part.points, np.ones(part.points.shape[0])]
            world = np.einsum("pj,kjl->kpl", homo, mats)[:, :, :3]
            n_pts = part.points.shape[0]
            k = use_ids.shape[0]
            pts_out.append(world.reshape(-1, 3))
            shifts = offset + n_pts * np.arange(k, dtype=np.int64)
            tri_out.append((part.tris[None, :, :] + shifts[:, None, None]).reshape(-1, 3))
            use_out.append(np.repeat(use_ids, part.tris.shape[0]))
            offset += n_pts * k
        if not pts_out:
            return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(pts_out), np.concatenate(tri_out), np.concatenate(use_out)

    def identify_buildings(self, stage: Any, object_id_attribute: str) -> tuple[list, np.ndarray]:
        """Buildings and the building index of every use (-1 = terrain / not a building).

        The rules are :class:`coptwin.geo.index.SceneIndex`'s (object-id attribute on an
        ancestor, then ``<ShapeName>_<OID>`` connector names), applied to the uses' paths.
        """
        from coptwin.geo import index as gi

        buildings: list[gi.Building] = []
        building_of_path: dict[str, int] = {}
        for path, value in self.id_prims:
            if path in building_of_path:
                continue
            building_of_path[path] = len(buildings)
            buildings.append(
                gi.Building(len(buildings), path, gi.normalize_object_id(value), "attribute")
            )
        owners = gi._owners(list(self.use_path), building_of_path)
        gi._assign_connector_buildings(stage, list(self.use_path), owners, buildings)
        return buildings, np.asarray(owners, dtype=np.int64)


def axis_matrix(up_axis: str, meters_per_unit: float) -> np.ndarray:
    """4x4 row-vector matrix: stage coordinates -> local metres (east, north, up).

    The same mapping as :meth:`coptwin.geo.frame.SceneFrame.stage_to_local`, as a matrix
    so it folds into instance matrices.
    """
    m = np.zeros((4, 4))
    if up_axis == "Y":  # local = (x, -z, y)
        m[0, 0], m[2, 1], m[1, 2] = 1.0, -1.0, 1.0
    else:
        m[0, 0], m[1, 1], m[2, 2] = 1.0, 1.0, 1.0
    m[:3, :3] *= meters_per_unit
    m[3, 3] = 1.0
    return m


def read_meshes(stage: Any, *, skip_root: str = "", object_id_attribute: str = "") -> SceneMeshes:
    """Read every drawn mesh of an open ``Usd.Stage`` (see module doc)."""
    t0 = time.perf_counter()
    up_axis, mpu = read_axes(stage)
    reader = _Reader(stage, skip_root.rstrip("/"), object_id_attribute)
    top = reader.walk(stage.GetPseudoRoot(), root_inverse=None)
    parts = reader.finish(top)
    stats = reader.stats
    stats.parts = len(parts)
    stats.prototypes = sum(1 for key in reader.templates if not key.startswith("pi:"))
    stats.instances, stats.pi_instances = top.instances, top.pi_instances
    use_part = np.asarray(top.parts, dtype=np.int64)
    use_matrix = np.stack(top.matrices) if top.matrices else np.zeros((0, 4, 4), dtype=np.float64)
    stats.meshes = len(top.parts)
    stats.triangles = int(sum(parts[p].tris.shape[0] for p in top.parts))
    stats.seconds = time.perf_counter() - t0
    log.info(
        "read %d meshes (%d distinct, %d prototypes, %d instances), %d triangles in %.2f s",
        stats.meshes,
        stats.parts,
        stats.prototypes,
        stats.instances + stats.pi_instances,
        stats.triangles,
        stats.seconds,
    )
    return SceneMeshes(
        parts, use_part, use_matrix, top.rel_paths, top.ids, str(up_axis), mpu, stats
    )


class _Reader:
    def __init__(self, stage: Any, skip_root: str, oid_attr: str) -> None:
        from pxr import Usd, UsdGeom

        self.stage = stage
        self.skip_root = skip_root
        self.oid_attr = oid_attr
        self.xf = UsdGeom.XformCache(Usd.TimeCode.Default())
        #: (path, points, counts, indices, finite) per mesh prim read; triangulated in finish().
        self.raw: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.templates: dict[str, _Template] = {}
        self.stats = MeshStats()

    def world(self, prim: Any) -> np.ndarray:
        return np.array(self.xf.GetLocalToWorldTransform(prim), dtype=np.float64)

    def walk(self, root: Any, root_inverse: np.ndarray | None) -> _Template:
        """Everything drawn under ``root``; matrices relative to ``root_inverse``'s frame
        (None: stage coordinates), paths relative to ``root`` (absolute for the pseudo-root)."""
        from pxr import Usd, UsdGeom

        out = _Template()
        base = "" if root.IsPseudoRoot() else str(root.GetPath())
        it = iter(Usd.PrimRange(root))
        for prim in it:
            path = str(prim.GetPath())
            if self.skip_root and (path == self.skip_root or path.startswith(self.skip_root + "/")):
                it.PruneChildren()
                continue
            if prim.IsA(UsdGeom.Imageable):
                img = UsdGeom.Imageable(prim)
                if (
                    img.GetVisibilityAttr().Get() == UsdGeom.Tokens.invisible
                    or img.GetPurposeAttr().Get() == UsdGeom.Tokens.guide
                ):
                    it.PruneChildren()
                    continue
            rel = path[len(base) :] if base else path
            if self.oid_attr and not prim.IsPseudoRoot():
                attr = prim.GetAttribute(self.oid_attr)
                if attr and attr.HasAuthoredValue():
                    out.ids.append((rel, attr.Get()))
            if prim.IsA(UsdGeom.Mesh):
                part = self.part(prim)
                if part is not None:
                    out.parts.append(part)
                    out.matrices.append(self.relative(prim, root_inverse))
                    out.rel_paths.append(rel)
            if prim.IsInstance():
                tmpl = self.template(prim.GetPrototype())
                out.instances += 1
                _splice(out, tmpl, self.relative(prim, root_inverse), rel)
                it.PruneChildren()
            elif prim.IsA(UsdGeom.PointInstancer):
                self.point_instancer(out, prim, rel, root_inverse)
                it.PruneChildren()
        return out

    def relative(self, prim: Any, root_inverse: np.ndarray | None) -> np.ndarray:
        m = self.world(prim)
        return m if root_inverse is None else m @ root_inverse

    def template(self, prototype: Any) -> _Template:
        key = str(prototype.GetPath())
        hit = self.templates.get(key)
        if hit is None:
            # Relative to the prototype root: the instance prim carries the root's transform.
            hit = self.walk(prototype, np.linalg.inv(self.world(prototype)))
            self.templates[key] = hit
        return hit

    def point_instancer(
        self, out: _Template, prim: Any, rel: str, root_inverse: np.ndarray | None
    ) -> None:
        from pxr import Usd, UsdGeom

        pi = UsdGeom.PointInstancer(prim)
        self.stats.point_instancers += 1
        targets = pi.GetPrototypesRel().GetForwardedTargets()
        indices = pi.GetProtoIndicesAttr().Get()
        if not targets or indices is None or len(indices) == 0:
            return
        now = Usd.TimeCode.Default()
        xforms = pi.ComputeInstanceTransformsAtTime(now, now)
        mats = np.array([np.array(m, dtype=np.float64) for m in xforms]).reshape(-1, 4, 4)
        proto_idx = np.asarray(indices, dtype=np.int64)[: mats.shape[0]]
        pi_world = self.relative(prim, root_inverse)
        for k, target in enumerate(targets):
            proto = self.stage.GetPrimAtPath(target)
            if not proto:
                continue
            key = f"pi:{target}"
            tmpl = self.templates.get(key)
            if tmpl is None:
                # Relative to the prototype root: ComputeInstanceTransformsAtTime already
                # includes the root's own transform (IncludeProtoXform).
                tmpl = self.walk(proto, np.linalg.inv(self.world(proto)))
                self.templates[key] = tmpl
            chosen = mats[proto_idx == k]
            out.pi_instances += int(chosen.shape[0])
            proto_rel = str(target)[len(str(prim.GetPath())) :]
            for m in chosen:
                _splice(out, tmpl, m @ pi_world, f"{rel}{proto_rel}")

    def part(self, prim: Any) -> int | None:
        """Read one mesh prim (once); None when it has nothing to draw."""
        from pxr import Usd, UsdGeom

        path = str(prim.GetPath())
        mesh = UsdGeom.Mesh(prim)
        pts_attr = mesh.GetPointsAttr()
        pts = pts_attr.Get()
        if pts is None and pts_attr.GetNumTimeSamples():
            pts = pts_attr.Get(Usd.TimeCode.EarliestTime())
        counts = mesh.GetFaceVertexCountsAttr().Get()
        indices = mesh.GetFaceVertexIndicesAttr().Get()
        st = self.stats
        if pts is None or counts is None or indices is None or len(pts) == 0 or len(counts) == 0:
            _note(st.empty_meshes, path)
            return None
        p = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
        c = np.asarray(counts, dtype=np.int64)
        i = np.asarray(indices, dtype=np.int64)
        if int(c.sum()) != i.shape[0] or (c < 0).any():
            _note(st.empty_meshes, path)
            log.warning("mesh %s: faceVertexCounts do not match faceVertexIndices; skipped", path)
            return None
        holes = mesh.GetHoleIndicesAttr().Get()
        if holes is not None and len(holes):
            keep = np.ones(c.shape[0], dtype=bool)
            h = np.asarray(holes, dtype=np.int64)
            keep[h[(h >= 0) & (h < c.shape[0])]] = False
            i = i[np.repeat(keep, c)]
            c = c[keep]
        finite = np.isfinite(p).all(axis=1)
        if not finite.all():
            _note(st.nonfinite_meshes, path)
        self._check_extent(mesh, p[finite], path)
        self.raw.append((path, p, c, i, finite))
        return len(self.raw) - 1

    def finish(self, top: _Template) -> list[MeshPart]:
        """Triangulate every mesh read, in one vectorised call (thousands of small unique
        meshes cost one numpy pass, not one each); drop uses of meshes with no triangles."""
        st = self.stats
        if not self.raw:
            return []
        sizes = np.array([r[1].shape[0] for r in self.raw], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        points = np.concatenate([np.where(r[4][:, None], r[1], 0.0) for r in self.raw])
        finite = np.concatenate([r[4] for r in self.raw])
        counts = np.concatenate([r[2] for r in self.raw])
        # out-of-range indices must stay out of range after the shift (triangulate skips them)
        indices = np.concatenate(
            [
                np.where((r[3] >= 0) & (r[3] < n), r[3] + off, -1)
                for r, n, off in zip(self.raw, sizes, offsets[:-1], strict=True)
            ]
        )
        tstats = TriangulationStats()
        tris = triangulate(counts, indices, points, tstats)
        st.degenerate_faces += tstats.degenerate_faces
        st.fan_fallbacks += tstats.fan_fallbacks
        tris = tris[finite[tris].all(axis=1)]
        owner = np.searchsorted(offsets, tris[:, 0], side="right") - 1
        order = np.argsort(owner, kind="stable")
        tris, owner = tris[order], owner[order]
        bounds = np.searchsorted(owner, np.arange(len(self.raw) + 1))
        parts: list[MeshPart] = []
        new_index = np.full(len(self.raw), -1, dtype=np.int64)
        for k, (path, p, _c, _i, fin) in enumerate(self.raw):
            t = tris[bounds[k] : bounds[k + 1]] - offsets[k]
            if t.shape[0] == 0:
                if fin.all():  # a mesh whose faces all touch NaN points is counted once
                    _note(st.empty_meshes, path)
                continue
            new_index[k] = len(parts)
            parts.append(MeshPart(path, p, t))
        keep = [j for j, raw in enumerate(top.parts) if new_index[raw] >= 0]
        top.parts = [int(new_index[top.parts[j]]) for j in keep]
        top.matrices = [top.matrices[j] for j in keep]
        top.rel_paths = [top.rel_paths[j] for j in keep]
        return parts

    def _check_extent(self, mesh: Any, p: np.ndarray, path: str) -> None:
        ext = mesh.GetExtentAttr().Get()
        if ext is None or len(ext) != 2 or p.shape[0] == 0:
            return
        lo, hi = np.asarray(ext[0], dtype=np.float64), np.asarray(ext[1], dtype=np.float64)
        slack = _EXTENT_TOL * max(1.0, float(np.abs(hi - lo).max()))
        if (p.min(axis=0) < lo - slack).any() or (p.max(axis=0) > hi + slack).any():
            _note(self.stats.stale_extents, path)


def _splice(out: _Template, tmpl: _Template, matrix: np.ndarray, rel: str) -> None:
    """Add a template's entries drawn under ``matrix`` at path ``rel``."""
    out.parts.extend(tmpl.parts)
    out.matrices.extend(m @ matrix for m in tmpl.matrices)
    out.rel_paths.extend(rel + r for r in tmpl.rel_paths)
    out.ids.extend((rel + r, v) for r, v in tmpl.ids)
    out.instances += tmpl.instances
    out.pi_instances += tmpl.pi_instances


def _note(paths: list[str], path: str) -> None:
    paths.append(path)
