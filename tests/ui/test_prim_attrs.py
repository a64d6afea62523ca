from __future__ import annotations

from pxr import Gf, Sdf, Usd, UsdGeom, Vt

from coptwin.ui.prim_attrs import read_prim_attributes


def building_stage() -> Usd.Stage:
    stage = Usd.Stage.CreateInMemory()
    mesh = UsdGeom.Mesh.Define(stage, "/World/Buildings/B7")
    mesh.CreatePointsAttr(Vt.Vec3fArray([Gf.Vec3f(i, 0, 0) for i in range(100)]))
    mesh.CreateFaceVertexCountsAttr(Vt.IntArray([4] * 25))
    mesh.AddTranslateOp().Set(Gf.Vec3d(1, 2, 3))
    prim = mesh.GetPrim()
    prim.CreateAttribute("CityEngine:Rule:User:OBJECTID", Sdf.ValueTypeNames.Int).Set(7)
    prim.CreateAttribute("CityEngine:Rule:User:usage", Sdf.ValueTypeNames.String).Set("office")
    prim.CreateAttribute("cop:status", Sdf.ValueTypeNames.Token).Set("alarm")
    prim.CreateAttribute("cop:long", Sdf.ValueTypeNames.String).Set("x" * 200)
    levels = prim.CreateAttribute("cop:levels", Sdf.ValueTypeNames.IntArray)
    levels.Set(Vt.IntArray(list(range(20))))
    prim.CreateAttribute("cop:unset", Sdf.ValueTypeNames.Float)  # declared, no value
    return stage


def test_reads_information_not_geometry():
    attrs = dict(read_prim_attributes(building_stage(), "/World/Buildings/B7"))
    assert attrs["CityEngine:Rule:User:OBJECTID"] == "7"
    assert attrs["CityEngine:Rule:User:usage"] == "office"
    assert attrs["cop:status"] == "alarm"
    assert attrs["cop:levels"] == "[20 values]"
    assert len(attrs["cop:long"]) == 80 and attrs["cop:long"].endswith("…")
    for geometry in ("points", "faceVertexCounts", "xformOpOrder", "xformOp:translate"):
        assert geometry not in attrs
    assert "cop:unset" not in attrs
    assert list(attrs) == sorted(attrs)


def test_limit_and_missing_prims():
    stage = building_stage()
    assert len(read_prim_attributes(stage, "/World/Buildings/B7", limit=2)) == 2
    assert read_prim_attributes(stage, "/World/Buildings/Gone") == []
    assert read_prim_attributes(stage, "not a path!") == []
    assert read_prim_attributes(None, "/World") == []
    assert read_prim_attributes(stage, "") == []
