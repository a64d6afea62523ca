"""coptwin.scene.citygen: the demo city has the CityEngine export's structure."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from pxr import Sdf, Usd, UsdGeom, UsdShade

from coptwin.scene.citygen import (
    GENERATOR_VERSION,
    OBJECTID_ATTR,
    CityInfo,
    ensure_city,
    generate_city,
)


def _shapes(stage: Usd.Stage) -> list[Usd.Prim]:
    return list(stage.GetPrimAtPath(f"/{stage.GetDefaultPrim().GetName()}/Buildings").GetChildren())


def _rows(info: CityInfo) -> list[dict[str, str]]:
    with info.buildings_csv.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_root_layer_and_layer_references(small_city: CityInfo) -> None:
    stage = Usd.Stage.Open(str(small_city.root_layer))
    assert UsdGeom.GetStageUpAxis(stage) == "Y"
    assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    root = stage.GetDefaultPrim()
    assert root.GetName() == small_city.name and root.GetTypeName() == "Xform"
    assert Usd.ModelAPI(root).GetKind() == "group"
    layer = Sdf.Layer.FindOrOpen(str(small_city.root_layer))
    assert list(layer.subLayerPaths) == []
    for child in ("Buildings", "Terrain"):
        spec = layer.GetPrimAtPath(f"/{small_city.name}/{child}")
        refs = list(spec.referenceList.prependedItems)
        assert [(r.assetPath, str(r.primPath)) for r in refs] == [
            (f"layers/{child}.usda", f"/{child}")
        ]
    for sub in ("layers/Buildings.usda", "layers/Terrain.usda", "assets/generated.usda"):
        sub_layer = Sdf.Layer.FindOrOpen(str(small_city.root_layer.parent / sub))
        assert sub_layer.pseudoRoot.GetInfo("upAxis") == "Y"
        assert sub_layer.pseudoRoot.GetInfo("metersPerUnit") == 1.0


def test_buildings_have_cityengine_attributes_and_instanceable_leaves(small_city: CityInfo) -> None:
    stage = Usd.Stage.Open(str(small_city.root_layer))
    shapes = _shapes(stage)
    assert len(shapes) == small_city.n_buildings == 24
    leaf_names = set()
    for shape in shapes:
        assert shape.GetTypeName() == "Xform"
        assert Usd.ModelAPI(shape).GetKind() == "assembly"
        oid_attr = shape.GetAttribute(OBJECTID_ATTR)
        assert oid_attr.GetTypeName() == Sdf.ValueTypeNames.Double
        oid = oid_attr.Get()
        assert shape.GetName() == f"Bldg_{int(oid)}"
        assert shape.GetAttribute("CityEngine:Rule:RuleFile").Get() == "bin/extrusion_rule.cgb"
        assert shape.GetAttribute("CityEngine:Rule:User:minBuildingHeight").Get() > 0
        (leaf,) = shape.GetChildren()
        leaf_names.add(leaf.GetName())
        assert re.fullmatch(r"ReportNext(_\d+)?", leaf.GetName())
        assert leaf.IsInstanceable()
        op = leaf.GetAttribute("xformOp:transform")
        assert op.GetTypeName() == Sdf.ValueTypeNames.Matrix4d
        assert leaf.GetAttribute("CityEngine:Reports:Id").Get()[0] == oid
    assert len(leaf_names) == len(shapes)  # the _k counter runs over the whole file
    terrain = stage.GetPrimAtPath(f"/{small_city.name}/Terrain/Terrain")
    assert not terrain.GetAttribute(OBJECTID_ATTR)


def test_meshes_only_through_instance_proxies(small_city: CityInfo) -> None:
    stage = Usd.Stage.Open(str(small_city.root_layer))
    plain = [p for p in stage.Traverse() if p.IsA(UsdGeom.Mesh)]
    assert plain == []
    pred = Usd.TraverseInstanceProxies(Usd.PrimDefaultPredicate)
    meshes = [p for p in Usd.PrimRange(stage.GetPseudoRoot(), pred) if p.IsA(UsdGeom.Mesh)]
    assert len(meshes) == small_city.n_buildings + 1
    counts_seen = set()
    for prim in meshes:
        assert prim.IsInstanceProxy()
        mesh = UsdGeom.Mesh(prim)
        assert mesh.GetPointsAttr().GetTypeName() == Sdf.ValueTypeNames.Point3fArray
        counts = list(mesh.GetFaceVertexCountsAttr().Get())
        counts_seen.update(counts)
        normals = UsdGeom.PrimvarsAPI(prim).GetPrimvar("normals")
        assert normals.GetInterpolation() == "faceVarying"
        material, _ = UsdShade.MaterialBindingAPI(prim).ComputeBoundMaterial()
        assert material, prim.GetPath()
    assert counts_seen == {4, 6}  # quads (walls, terrain, rect roofs) and L-shaped 6-gons


def test_geometry_matches_building_table(small_city: CityInfo) -> None:
    """World bbox of each building = footprint + base/height of buildings.csv."""
    stage = Usd.Stage.Open(str(small_city.root_layer))
    cache = UsdGeom.BBoxCache(Usd.TimeCode.Default(), ["default", "render"])
    rows = {r["prim_path"]: r for r in _rows(small_city)}
    terrain = small_city.terrain_model()
    l_shapes = 0
    for shape in _shapes(stage):
        row = rows[str(shape.GetPath())]
        box = cache.ComputeWorldBound(shape).ComputeAlignedRange()
        ring = np.array([[float(v) for v in p.split()] for p in row["footprint_en"].split(";")])
        base, height = float(row["base_elevation_m"]), float(row["height_m"])
        lo = small_city.to_usd(ring[:, 0].min(), ring[:, 1].max(), base)
        hi = small_city.to_usd(ring[:, 0].max(), ring[:, 1].min(), base + height)
        np.testing.assert_allclose(np.array(box.GetMin()), lo, atol=2e-3)
        np.testing.assert_allclose(np.array(box.GetMax()), hi, atol=2e-3)
        # CityEngine "translate to minimum": lowest terrain point, floored to the cm
        h_min = terrain.height(ring[:, 0], ring[:, 1]).min()
        assert h_min - 0.01 < base <= h_min + 1e-9
        l_shapes += row["footprint_type"] == "L"
    assert 0 < l_shapes < len(rows)


def test_l_shaped_roof_is_one_nonconvex_hexagon(small_city: CityInfo) -> None:
    stage = Usd.Stage.Open(str(small_city.root_layer))
    pred = Usd.TraverseInstanceProxies(Usd.PrimDefaultPredicate)
    for prim in Usd.PrimRange(stage.GetPseudoRoot(), pred):
        if not prim.IsA(UsdGeom.Mesh) or "Bldg_" not in str(prim.GetPath()):
            continue
        mesh = UsdGeom.Mesh(prim)
        counts = list(mesh.GetFaceVertexCountsAttr().Get())
        if counts[0] != 6:
            continue
        pts = np.array(mesh.GetPointsAttr().Get(), dtype=np.float64)
        roof = list(mesh.GetFaceVertexIndicesAttr().Get())[6:12]
        xz = pts[roof][:, [0, 2]]
        edges = np.roll(xz, -1, axis=0) - xz
        cross = (
            edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1]
            - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
        )
        assert (cross > 0).any() and (cross < 0).any()  # one reflex corner
        assert counts[2:] == [4] * 6
        return
    pytest.fail("no L-shaped building in the small city")


def test_sidecars(small_city: CityInfo) -> None:
    side = json.loads(small_city.offset_json.read_text(encoding="utf-8"))
    assert side["crs"] == "EPSG:32618"
    assert side["global_offset"] == [-445500.0, -60.0, 5029500.0]
    assert (small_city.out_dir / side["usd_root"]).resolve() == small_city.root_layer.resolve()
    assert side["upAxis"] == "Y" and side["metersPerUnit"] == 1.0
    rows = _rows(small_city)
    assert len(rows) == 24
    assert {int(r["object_id"]) for r in rows} == set(range(101, 125))
    for r in rows:
        assert 45.3 < float(r["center_lat"]) < 45.5 and -75.8 < float(r["center_lon"]) < -75.6
        assert float(r["roof_elevation_m"]) == pytest.approx(
            float(r["base_elevation_m"]) + float(r["height_m"]), abs=0.011
        )
    info = CityInfo.load(small_city.out_dir)
    assert info.version == GENERATOR_VERSION and info.n_buildings == 24


def test_same_structure_as_real_export(small_city: CityInfo, ce_ottawa: Path) -> None:
    """Attribute names on shapes and leaves match Esri's encoder output."""

    def names(stage: Usd.Stage) -> tuple[set[str], set[str]]:
        shape_attrs, leaf_attrs = set(), set()
        for shape in _shapes(stage):
            shape_attrs.update(a.GetName() for a in shape.GetAuthoredAttributes())
            for leaf in shape.GetChildren():
                leaf_attrs.update(
                    re.sub(r"_\d+$", "_<OID>", a.GetName()) for a in leaf.GetAuthoredAttributes()
                )
        return shape_attrs, leaf_attrs

    ours = names(Usd.Stage.Open(str(small_city.root_layer)))
    real = names(Usd.Stage.Open(str(ce_ottawa)))
    assert ours == real


def test_deterministic(tmp_path: Path, digest) -> None:
    a = generate_city(tmp_path / "a", blocks_x=2, blocks_y=2, seed=5)
    b = generate_city(tmp_path / "b", blocks_x=2, blocks_y=2, seed=5)
    c = generate_city(tmp_path / "c", blocks_x=2, blocks_y=2, seed=6)
    assert digest(a.out_dir) == digest(b.out_dir)
    assert digest(a.out_dir) != digest(c.out_dir)
    assert a.root_layer.suffix == ".usdc"


def test_ensure_city_builds_once_and_rebuilds_on_change(tmp_path: Path) -> None:
    first = ensure_city(tmp_path, blocks_x=1, blocks_y=1)
    stamp = (first.out_dir / "city.json").stat().st_mtime_ns
    again = ensure_city(tmp_path, blocks_x=1, blocks_y=1)
    assert again.root_layer == first.root_layer
    assert (again.out_dir / "city.json").stat().st_mtime_ns == stamp
    bigger = ensure_city(tmp_path, blocks_x=2, blocks_y=1)
    assert bigger.n_buildings == 8
    (tmp_path / "city" / "city.json").write_text("{broken", encoding="utf-8")
    repaired = ensure_city(tmp_path, blocks_x=2, blocks_y=1)
    assert repaired.n_buildings == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city"]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file_format"):
        generate_city(tmp_path, file_format="obj")
    with pytest.raises(ValueError, match="prim name"):
        generate_city(tmp_path, name="my city")
    with pytest.raises(ValueError, match="blocks_x"):
        generate_city(tmp_path, blocks_x=0)
