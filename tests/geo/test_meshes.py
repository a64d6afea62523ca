"""coptwin.geo.meshes, the one USD mesh reader: each distinct mesh read once, drawn where
every instance stands; nesting, hiding, tags and skips; the city in the local frame."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade

from coptwin.config import SceneConfig
from coptwin.geo.frame import axis_matrix
from coptwin.geo.index import SceneIndex
from coptwin.geo.meshes import expand_points, expand_triangles, read_city, read_stage_meshes
from coptwin.geo.triangulate import triangulate
from coptwin.render.scene_mesh import load_scene
from tests.support.require import shared_path

from .conftest import open_stage

OID = "CityEngine:Rule:User:OBJECTID"
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
    scatter = UsdGeom.PointInstancer.Define(stage, "/City/scatter")
    _mesh(stage, "/City/scatter/proto")
    scatter.CreatePrototypesRel().SetTargets(["/City/scatter/proto"])
    scatter.CreateProtoIndicesAttr([0, 0, 0])
    scatter.CreatePositionsAttr([(0, 0, 0), (5, 0, 0), (9, 0, 0)])
    _mesh(stage, "/Overlay/marker")
    return stage


def test_nested_instances_are_read_once_and_placed_everywhere() -> None:
    sm = read_stage_meshes(_stage(), tag_attribute="tag", skip_root="/Overlay")
    want = sorted([f"/City/B{k}/{n}/mesh" for k in range(3) for n in ("a", "b")] + ["/City/plain"])
    assert sorted(sm.use_path) == want
    assert len(sm.meshes) == 2  # the leaf quad (once, for 6 uses) and /City/plain
    st = sm.stats
    assert st.empty_meshes == ["/City/bad"]  # counted once
    assert st.prototypes == 2 and st.instances == 3 * 3  # B<k>, and a and b in each
    # PointInstancers are counted, not read
    assert st.point_instancers == 1 and st.point_instances == 3
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


def _quad(stage: Usd.Stage, path: str, size: float = 1.0) -> None:
    mesh = UsdGeom.Mesh.Define(stage, path)
    mesh.CreatePointsAttr([(0, 0, 0), (size, 0, 0), (size, 0, size), (0, 0, size)])
    mesh.CreateFaceVertexCountsAttr([4])
    mesh.CreateFaceVertexIndicesAttr([0, 1, 2, 3])


def _xform(stage: Usd.Stage, path: str, matrix: Gf.Matrix4d) -> UsdGeom.Xform:
    x = UsdGeom.Xform.Define(stage, path)
    x.AddTransformOp().Set(matrix)
    return x


def instanced_stage(tmp_path) -> Usd.Stage:
    """A Y-up asset (with a nested, scaled instance) instanced twice under two buildings."""
    stage = Usd.Stage.CreateNew(str(tmp_path / "inst.usda"))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    _xform(stage, "/Assets/Leaf", Gf.Matrix4d(1))
    _quad(stage, "/Assets/Leaf/mesh", 0.5)
    _xform(stage, "/Assets/Window", Gf.Matrix4d(1))
    _quad(stage, "/Assets/Window/mesh")
    nested = _xform(stage, "/Assets/Window/leaf", Gf.Matrix4d(2).SetTranslateOnly((3, 0, 0)))
    nested.GetPrim().GetReferences().AddInternalReference("/Assets/Leaf")
    nested.GetPrim().SetInstanceable(True)
    UsdGeom.Xform.Define(stage, "/City")
    rot = Gf.Matrix4d().SetRotate(Gf.Rotation(Gf.Vec3d(0, 1, 0), 30))
    for k, m in enumerate(
        (Gf.Matrix4d(1).SetTranslate((10, 0, 0)), rot * Gf.Matrix4d().SetTranslate((0, 5, 20)))
    ):
        bld = UsdGeom.Xform.Define(stage, f"/City/Bldg_{k}")
        bld.GetPrim().CreateAttribute(OID, Sdf.ValueTypeNames.Double).Set(100.0 + k)
        inst = _xform(stage, f"/City/Bldg_{k}/win", m)
        inst.GetPrim().GetReferences().AddInternalReference("/Assets/Window")
        inst.GetPrim().SetInstanceable(True)
    _quad(stage, "/City/ground", 50.0)
    stage.OverridePrim("/Assets").SetSpecifier(Sdf.SpecifierClass)  # not drawn where defined
    stage.GetRootLayer().Save()
    return stage


def proxy_world_points(stage: Usd.Stage) -> dict[str, np.ndarray]:
    """Mesh points in stage coordinates by proxy path, read the slow way."""
    xf = UsdGeom.XformCache()
    out = {}
    for prim in Usd.PrimRange(stage.GetPseudoRoot(), Usd.TraverseInstanceProxies()):
        if prim.IsA(UsdGeom.Mesh):
            pts = np.asarray(UsdGeom.Mesh(prim).GetPointsAttr().Get(), dtype=np.float64)
            m = np.array(xf.GetLocalToWorldTransform(prim))
            out[str(prim.GetPath())] = pts @ m[:3, :3] + m[3, :3]
    return out


def test_the_city_in_local_metres_with_its_buildings(tmp_path):
    stage = instanced_stage(tmp_path)
    city = read_city(stage, object_id_attribute=OID)
    st = city.stats
    # window quad + nested leaf, twice; the ground quad
    assert st.meshes == 5 and st.distinct_meshes == 3
    assert st.prototypes == 2 and st.instances == 4 and st.triangles == 10
    assert [(b.path, b.object_id, b.source) for b in city.buildings] == [
        ("/City/Bldg_0", "100", "attribute"),
        ("/City/Bldg_1", "101", "attribute"),
    ]
    assert np.bincount(city.owner + 1).tolist() == [2, 4, 4]  # terrain first
    assert (np.diff(city.owner) >= 0).all()
    to_local = axis_matrix("Y", 1.0)[:3, :3]
    slow = proxy_world_points(stage)
    for b, paths in (
        (0, ("/City/Bldg_0/win/mesh", "/City/Bldg_0/win/leaf/mesh")),
        (1, ("/City/Bldg_1/win/mesh", "/City/Bldg_1/win/leaf/mesh")),
    ):
        got = city.points[city.tris[city.owner == b].ravel()]
        want = np.concatenate([slow[p] for p in paths]) @ to_local
        np.testing.assert_allclose(
            np.unique(np.round(got, 6), axis=0), np.unique(np.round(want, 6), axis=0)
        )
    # The nested leaf is scaled by 2 and moved 3 along x inside the window asset.
    leaf = slow["/City/Bldg_0/win/leaf/mesh"]
    assert np.allclose(leaf[:, 0].min(), 13.0) and np.allclose(leaf[:, 0].max(), 14.0)


def test_axis_matrix_matches_the_scene_frame():
    from coptwin.geo.frame import Georeference, SceneFrame

    pts = np.array([[1.0, 2.0, 3.0], [-4.0, 5.0, -6.0]])
    for up, mpu in (("Y", 1.0), ("Z", 0.01)):
        frame = SceneFrame(up, mpu, Georeference("enu", "test", origin=(45.0, -75.0, 0.0)))
        assert np.allclose(pts @ axis_matrix(up, mpu)[:3, :3], frame.stage_to_local(pts))


def test_pictures_and_index_see_the_same_buildings(ottawa):
    stage = open_stage(ottawa.root_layer)
    scene = load_scene(stage, object_id_attribute=OID)
    index = SceneIndex.build(stage, SceneConfig(), use_cache=False)
    assert [(b.path, b.object_id, b.source) for b in scene.buildings] == [
        (b.path, b.object_id, b.source) for b in index.buildings
    ]
    assert scene.stats.triangles == index.stats.triangles
    assert np.bincount(scene.owner + 1).tolist() == np.bincount(index.owner + 1).tolist()


@pytest.mark.shared
def test_ce_ottawa_c_buildings_match_the_exporters_boxes():
    root = shared_path("scenes", "ce_ottawa_c", "ce_ottawa_c", "ce_ottawa_c.usdc")
    truth = json.loads((root.parents[1] / "truth.json").read_text(encoding="utf-8"))
    stage = open_stage(root)
    city = read_city(stage, object_id_attribute=OID)
    assert city.stats.prototypes == 314 and city.stats.instances == 17_348
    assert city.stats.point_instancers == 0  # the encoder writes instanceable references
    by_path = {b.path: b.index for b in city.buildings}
    to_stage = np.linalg.inv(axis_matrix(city.up_axis, city.meters_per_unit)[:3, :3])
    for b in truth["buildings"]:
        v = city.points[city.tris[city.owner == by_path[b["usd_prim_path"]]].ravel()] @ to_stage
        assert np.allclose(v.min(axis=0), b["usd_bbox_min"], atol=1e-3), b["OBJECTID"]
        assert np.allclose(v.max(axis=0), b["usd_bbox_max"], atol=1e-3), b["OBJECTID"]
