"""Reading a stage once per distinct mesh: nesting, hiding, tags and skips, on small stages."""

from __future__ import annotations

import numpy as np
from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade

from coptwin.geo.stagemeshes import expand_points, expand_triangles, read_stage_meshes
from coptwin.geo.triangulate import triangulate

QUAD = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)]


def _mesh(stage: Usd.Stage, path: str, pts=QUAD, counts=(4,), idx=(0, 1, 2, 3)) -> UsdGeom.Mesh:
    m = UsdGeom.Mesh.Define(stage, path)
    m.CreatePointsAttr([Gf.Vec3f(*p) for p in pts])
    m.CreateFaceVertexCountsAttr(list(counts))
    m.CreateFaceVertexIndicesAttr(list(idx))
    return m


def _move(prim: Usd.Prim, x: float, y: float = 0.0, z: float = 0.0) -> None:
    UsdGeom.Xformable(prim).AddTranslateOp().Set(Gf.Vec3d(x, y, z))


def _stage() -> Usd.Stage:
    """/Assets/Leaf (quad + material), /Assets/Pair (two Leaf instances, one hidden in a
    nested prototype), /City/B<k> instances of Pair, plus odds that must be skipped."""
    stage = Usd.Stage.CreateInMemory()
    _mesh(stage, "/Assets/Leaf/mesh")
    UsdShade.Material.Define(stage, "/Assets/Leaf/material")
    _mesh(stage, "/Assets/Leaf/material/not_drawn")  # under a material: never drawn
    stage.GetPrimAtPath("/Assets").SetSpecifier(Sdf.SpecifierClass)
    for k, name in enumerate(("a", "b", "hidden")):
        leaf = stage.DefinePrim(f"/Pair/{name}", "Xform")
        leaf.GetReferences().AddInternalReference("/Assets/Leaf")
        leaf.SetInstanceable(True)
        _move(leaf, 10.0 * k)
    UsdGeom.Imageable(stage.GetPrimAtPath("/Pair/hidden")).MakeInvisible()
    stage.GetPrimAtPath("/Pair").CreateAttribute("tag", Sdf.ValueTypeNames.Int).Set(7)
    stage.GetPrimAtPath("/Pair/b").CreateAttribute("tag", Sdf.ValueTypeNames.Int).Set(8)
    stage.GetPrimAtPath("/Pair").SetSpecifier(Sdf.SpecifierClass)
    for k in range(3):
        b = stage.DefinePrim(f"/City/B{k}", "Xform")
        b.GetReferences().AddInternalReference("/Pair")
        b.SetInstanceable(True)
        _move(b, 0.0, 100.0 * k)
    _mesh(stage, "/City/plain")  # not instanced
    _mesh(stage, "/City/guide").CreatePurposeAttr(UsdGeom.Tokens.guide)
    _mesh(stage, "/City/bad", counts=(4,), idx=(0, 1, 2))  # counts do not match indices
    UsdGeom.PointInstancer.Define(stage, "/City/scatter")
    _mesh(stage, "/City/scatter/proto")
    _mesh(stage, "/Overlay/marker")
    return stage


def test_nested_instances_are_read_once_and_placed_everywhere() -> None:
    sm = read_stage_meshes(_stage(), tag_attribute="tag", skip_root="/Overlay")
    want = sorted([f"/City/B{k}/{n}/mesh" for k in range(3) for n in ("a", "b")] + ["/City/plain"])
    assert sorted(sm.use_path) == want
    assert len(sm.meshes) == 2  # the leaf quad (once, for 6 uses) and /City/plain
    assert sm.skipped_meshes == 1  # /City/bad, counted once
    assert sorted(sm.tagged) == sorted(
        [(f"/City/B{k}", 7) for k in range(3)] + [(f"/City/B{k}/b", 8) for k in range(3)]
    )
    points, start, _ = expand_points(sm)
    where = {p: k for k, p in enumerate(sm.use_path)}
    k = where["/City/B2/b/mesh"]
    np.testing.assert_allclose(points[start[k] : start[k + 1]], np.array(QUAD) + [10, 200, 0])


def test_triangles_of_every_use() -> None:
    sm = read_stage_meshes(_stage())
    offsets = np.cumsum([0] + [m.points.shape[0] for m in sm.meshes])
    tris = triangulate(
        np.concatenate([m.counts for m in sm.meshes]),
        np.concatenate([m.indices + o for m, o in zip(sm.meshes, offsets, strict=False)]),
        np.concatenate([m.points for m in sm.meshes]),
    )
    points, start, mesh_start = expand_points(sm)
    tri_x, use_of = expand_triangles(tris, mesh_start, sm.use_mesh, start)
    assert tri_x.shape == (2 * len(sm.use_path), 3)
    assert np.bincount(use_of).tolist() == [2] * len(sm.use_path)
    # every triangle's corners belong to its own use
    assert ((tri_x >= start[use_of, None]) & (tri_x < start[use_of + 1, None])).all()
    area = np.linalg.norm(
        np.cross(
            points[tri_x[:, 1]] - points[tri_x[:, 0]], points[tri_x[:, 2]] - points[tri_x[:, 0]]
        ),
        axis=1,
    )
    np.testing.assert_allclose(area, 1.0)  # half a unit quad, doubled
