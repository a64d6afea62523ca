"""coptwin.geo.meshes: prototypes read once, drawn where every instance stands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pxr import Gf, Sdf, Usd, UsdGeom

from coptwin.config import SceneConfig
from coptwin.geo.index import SceneIndex
from coptwin.geo.meshes import axis_matrix, read_meshes
from tests.support.require import shared_path

from .conftest import open_stage

OID = "CityEngine:Rule:User:OBJECTID"


def proxy_world_points(stage: Usd.Stage, skip: str) -> np.ndarray:
    """Mesh points in stage coordinates, read the slow way (through instance proxies)."""
    xf = UsdGeom.XformCache()
    out = []
    for prim in Usd.PrimRange(stage.GetPseudoRoot(), Usd.TraverseInstanceProxies()):
        if prim.IsA(UsdGeom.Mesh) and not str(prim.GetPath()).startswith(skip):
            pts = np.asarray(UsdGeom.Mesh(prim).GetPointsAttr().Get(), dtype=np.float64)
            m = np.array(xf.GetLocalToWorldTransform(prim))
            out.append(pts @ m[:3, :3] + m[3, :3])
    return np.concatenate(out)


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
    """An asset (with a nested instance) instanced twice, plus a PointInstancer."""
    stage = Usd.Stage.CreateNew(str(tmp_path / "inst.usda"))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    # asset: a quad, and a nested instanceable leaf holding another quad, moved and scaled
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
    pi = UsdGeom.PointInstancer.Define(stage, "/City/Trees")
    _xform(stage, "/City/Trees/Protos/Tree", Gf.Matrix4d(1).SetTranslate((0, 1, 0)))
    _quad(stage, "/City/Trees/Protos/Tree/mesh")
    pi.CreatePrototypesRel().SetTargets(["/City/Trees/Protos/Tree"])
    pi.CreateProtoIndicesAttr([0, 0])
    pi.CreatePositionsAttr([(100, 0, 0), (200, 0, 0)])
    stage.OverridePrim("/Assets").SetSpecifier(Sdf.SpecifierClass)  # not drawn where defined
    stage.GetRootLayer().Save()
    return stage


def test_instances_nested_instances_and_point_instancers_land_where_drawn(tmp_path):
    stage = instanced_stage(tmp_path)
    meshes = read_meshes(stage, object_id_attribute=OID)
    st = meshes.stats
    # Window (quad + nested leaf) twice, and two trees.
    assert st.meshes == 6 and st.parts == 3
    assert st.instances == 4 and st.point_instancers == 1 and st.pi_instances == 2
    pts, tris, use = meshes.assemble()
    assert tris.shape == (12, 3)
    # Instances as the proxies see them; PointInstancer prototypes (with their own +1 y)
    # at each instance position, not where they are defined.
    tree = np.array([(0, 0, 0), (1, 0, 0), (1, 0, 1), (0, 0, 1)], dtype=float) + (0, 1, 0)
    slow = proxy_world_points(stage, skip="/City/Trees")
    expected = np.concatenate([slow, tree + (100, 0, 0), tree + (200, 0, 0)])
    assert np.allclose(
        np.unique(np.round(pts, 6), axis=0), np.unique(np.round(expected, 6), axis=0)
    )
    # The nested leaf is scaled by 2 and moved 3 along x inside the window asset.
    leaf = meshes.use_path.index("/City/Bldg_0/win/leaf/mesh")
    leaf_pts, _, _ = meshes.assemble(np.array([leaf]))
    assert np.allclose(leaf_pts[:, 0].min(), 13.0) and np.allclose(leaf_pts[:, 0].max(), 14.0)
    # paths are those of instance proxies, so buildings are identified through them
    buildings, owner = meshes.identify_buildings(stage, OID)
    assert [(b.path, b.object_id) for b in buildings] == [
        ("/City/Bldg_0", "100"),
        ("/City/Bldg_1", "101"),
    ]
    assert "/City/Bldg_1/win/leaf/mesh" in meshes.use_path
    assert sorted(owner.tolist()) == [-1, -1, 0, 0, 1, 1]


def test_axis_matrix_matches_the_scene_frame():
    from coptwin.geo.frame import Georeference, SceneFrame

    pts = np.array([[1.0, 2.0, 3.0], [-4.0, 5.0, -6.0]])
    for up, mpu in (("Y", 1.0), ("Z", 0.01)):
        frame = SceneFrame(up, mpu, Georeference("enu", "test", origin=(45.0, -75.0, 0.0)))
        assert np.allclose(pts @ axis_matrix(up, mpu)[:3, :3], frame.stage_to_local(pts))


def test_buildings_are_those_the_scene_index_finds(ottawa):
    stage = open_stage(ottawa.root_layer)
    meshes = read_meshes(stage, object_id_attribute=OID)
    buildings, _ = meshes.identify_buildings(stage, OID)
    index = SceneIndex.build(stage, SceneConfig(), use_cache=False)
    assert [(b.path, b.object_id, b.source) for b in buildings] == [
        (b.path, b.object_id, b.source) for b in index.buildings
    ]
    assert meshes.stats.triangles == index.stats.triangles


@pytest.mark.shared
def test_ce_ottawa_c_buildings_match_the_exporters_boxes():
    root = shared_path("scenes", "ce_ottawa_c", "ce_ottawa_c", "ce_ottawa_c.usdc")
    truth = json.loads((root.parents[1] / "truth.json").read_text(encoding="utf-8"))
    stage = open_stage(root)
    meshes = read_meshes(stage, object_id_attribute=OID)
    assert meshes.stats.prototypes == 314 and meshes.stats.instances == 17_348
    buildings, owner = meshes.identify_buildings(stage, OID)
    pts, tris, use = meshes.assemble()
    tri_owner = owner[use]
    by_path = {b.path: b.index for b in buildings}
    for b in truth["buildings"]:
        v = pts[tris[tri_owner == by_path[b["usd_prim_path"]]].ravel()]
        assert np.allclose(v.min(axis=0), b["usd_bbox_min"], atol=1e-3), b["OBJECTID"]
        assert np.allclose(v.max(axis=0), b["usd_bbox_max"], atol=1e-3), b["OBJECTID"]
