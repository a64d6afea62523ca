"""``coptwin inspect`` on the shared CityEngine exports, a Z-up centimetre scene and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pxr import Gf, Sdf, Usd, UsdGeom

from coptwin.cli import main
from coptwin.render.inspect import inspect_scene
from coptwin.scene.citygen import CityInfo

from .conftest import scene_path

#: Y-up metres -> Z-up centimetres (row vectors): x stays east, -z becomes north, y up.
Y_TO_Z_CM = np.array(
    [[100.0, 0, 0, 0], [0, 0, 100.0, 0], [0, -100.0, 0, 0], [0, 0, 0, 1.0]], dtype=float
)


def wrap(out: Path, root: Path, *, matrix: np.ndarray, up: str, mpu: float) -> Path:
    """A new root layer referencing ``root`` under ``matrix`` with its own axes/units."""
    layer = Sdf.Layer.CreateNew(str(out))
    stage = Usd.Stage.Open(layer)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z if up == "Z" else UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, mpu)
    world = UsdGeom.Xform.Define(stage, "/World")
    stage.SetDefaultPrim(world.GetPrim())
    city = UsdGeom.Xform.Define(stage, "/World/city")
    city.GetPrim().GetReferences().AddReference(str(root))
    city.AddTransformOp(UsdGeom.XformOp.PrecisionDouble).Set(Gf.Matrix4d(*matrix.ravel().tolist()))
    layer.Save()
    return out


@pytest.mark.shared
def test_ce_ottawa_a_buildings_frame_and_sidecar(capsys):
    path = scene_path("ce_ottawa_a")
    assert main(["inspect", str(path)]) == 0
    table = capsys.readouterr().out
    assert "sidecar global_offset.json" in table and "EPSG:32618" in table
    assert main(["inspect", "--json", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["buildings"] == 120 and doc["buildings_by_attribute"] == 120
    assert doc["up_axis"] == "Y" and doc["up_axis_authored"]
    assert doc["meters_per_unit"] == 1.0 and doc["meters_per_unit_authored"]
    assert doc["georeference_source"] == "sidecar"
    assert doc["terrain"] and doc["ok"] and doc["problems"] == []
    assert doc["compliance"]["checker"] == "UsdValidation"
    assert doc["compliance"]["validators"] > 10 and doc["compliance"]["errors"] == 0
    truth = json.loads((path.parents[1] / "truth.json").read_text(encoding="utf-8"))
    lo = np.min([b["usd_bbox_min"] for b in truth["buildings"]], axis=0)
    hi = np.max([b["usd_bbox_max"] for b in truth["buildings"]], axis=0)
    ext_lo, ext_hi = np.array(doc["extent"][0]), np.array(doc["extent"][1])
    assert (ext_lo <= lo + 1e-3).all() and (ext_hi >= hi - 1e-3).all()
    assert doc["size_m"][0] == pytest.approx(ext_hi[0] - ext_lo[0], rel=1e-6)


@pytest.mark.shared
def test_ce_ottawa_c_buildings_and_instancing():
    result = inspect_scene(scene_path("ce_ottawa_c"), compliance=False)
    assert result.buildings == 40
    assert result.prototypes == 314 and result.instances == 17_348
    assert result.triangles == 1_432_189  # the README's count, triangulated once per prototype
    assert result.meshes == 17_348 and result.distinct_meshes == 314
    assert result.terrain_triangles == 46_080
    assert sorted(result.id_examples)[:1] == ["7001"] and "7040" in result.id_examples
    assert result.ok and result.compliance.checker == "skipped"


def test_z_up_centimetre_scene_is_reported_as_such(city_dir, tmp_path):
    info = CityInfo.load(city_dir)
    plain = inspect_scene(info.root_layer, compliance=False)
    root = wrap(tmp_path / "zup_cm.usda", info.root_layer, matrix=Y_TO_Z_CM, up="Z", mpu=0.01)
    result = inspect_scene(root, compliance=False)
    assert result.up_axis == "Z" and result.meters_per_unit == 0.01
    assert result.buildings == plain.buildings == info.n_buildings
    # Same city, same size in metres; extents in centimetres, z is the up axis.
    assert result.size_m == pytest.approx(plain.size_m, abs=1e-3)
    lo, hi = np.array(result.extent[0]), np.array(result.extent[1])
    assert (hi - lo) == pytest.approx(np.array(result.size_m) * 100.0, rel=1e-6)
    assert result.georeference_source == "none"  # the sidecar describes the Y-up root
    assert any("no georeference" in p.what for p in result.problems)
    assert result.ok  # missing georeference is a warning, not an error


def test_problems_are_found_and_errors_set_the_exit_code(tmp_path, capsys):
    path = tmp_path / "bad_city.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    attr = "CityEngine:Rule:User:OBJECTID"
    quad = dict(counts=[4], indices=[0, 1, 2, 3])
    for name, oid, pts in (
        ("A", 1.0, [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)]),
        ("B", 1.0, [(5, 0, 0), (6, 0, 0), (6, 1, 0), (5, 1, 0)]),
        ("C", 2.0, [(9, 0, 0), (float("nan"), 0, 0), (10, 1, 0), (9, 1, 0)]),
    ):
        prim = UsdGeom.Xform.Define(stage, f"/City/{name}").GetPrim()
        prim.CreateAttribute(attr, Sdf.ValueTypeNames.Double).Set(oid)
        mesh = UsdGeom.Mesh.Define(stage, f"/City/{name}/mesh")
        mesh.CreatePointsAttr(pts)
        mesh.CreateFaceVertexCountsAttr(quad["counts"])
        mesh.CreateFaceVertexIndicesAttr(quad["indices"])
        mesh.CreateExtentAttr([(0, 0, 0), (0.5, 0.5, 0)])  # stale: points lie outside
    UsdGeom.Mesh.Define(stage, "/City/Empty")
    stage.GetRootLayer().Save()
    assert main(["inspect", "--no-usd-checks", str(path)]) == 1
    out = capsys.readouterr().out
    assert "error: duplicate building ids: 1 (e.g. 1: /City/A, /City/B)" in out
    assert "error: meshes with NaN/inf points: 1 (e.g. /City/C/mesh)" in out
    assert "warning: empty meshes: 1 (e.g. /City/Empty)" in out
    assert "warning: meshes outside their authored extent: 3" in out
    assert "result: ERRORS" in out


def test_garbage_file_gives_one_line(tmp_path, capsys):
    bad = tmp_path / "garbage.usdc"
    bad.write_bytes(b"\x00\x01 definitely not a usd crate file")
    assert main(["inspect", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coptwin inspect: error:")
    assert "not a readable USD file" in lines[0]
    assert main(["inspect", str(tmp_path / "missing.usd")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_point_instancers_are_reported_as_skipped(tmp_path):
    path = tmp_path / "scatter.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    ground = UsdGeom.Mesh.Define(stage, "/City/ground")
    ground.CreatePointsAttr([(0, 0, 0), (10, 0, 0), (10, 10, 0), (0, 10, 0)])
    ground.CreateFaceVertexCountsAttr([4])
    ground.CreateFaceVertexIndicesAttr([0, 1, 2, 3])
    trees = UsdGeom.PointInstancer.Define(stage, "/City/trees")
    tree = UsdGeom.Cube.Define(stage, "/City/trees/proto")
    trees.CreatePrototypesRel().SetTargets([tree.GetPath()])
    trees.CreateProtoIndicesAttr([0, 0])
    trees.CreatePositionsAttr([(1, 1, 0), (5, 5, 0)])
    stage.GetRootLayer().Save()
    result = inspect_scene(path, compliance=False)
    assert result.point_instancers == 1 and result.point_instances == 2
    assert result.triangles == 2 and result.ok  # a warning, not an error
    (problem,) = [p for p in result.problems if "PointInstancers" in p.what]
    assert problem.severity == "warning" and problem.count == 1
    assert "1 PointInstancers skipped (2 instances)" in result.table()
