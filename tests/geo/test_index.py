"""SceneIndex on the real CityEngine export: buildings, terrain, caching, odd scenes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from pxr import Sdf, Usd, UsdGeom

from coptwin.config import SceneConfig
from coptwin.geo import SceneError, SceneIndex
from coptwin.geo.index import normalize_object_id

from .conftest import Ottawa, open_stage


def _local_bbox(b: dict) -> tuple[np.ndarray, np.ndarray]:
    """truth.json bbox (USD Y-up frame) -> local (east, north, up)."""
    lo, hi = np.array(b["usd_bbox_min"]), np.array(b["usd_bbox_max"])
    return np.array([lo[0], -hi[2], lo[1]]), np.array([hi[0], -lo[2], hi[1]])


def test_buildings_and_terrain_of_the_export(ottawa: Ottawa) -> None:
    index = SceneIndex.build(open_stage(ottawa.root_layer), ottawa.scene_cfg(), use_cache=False)
    assert len(index.buildings) == len(ottawa.truth["buildings"]) == 120
    assert index.has_terrain and index.terrain_triangles == 2 * 2500
    for b in ottawa.truth["buildings"]:
        got = index.building_for_object_id(b["OBJECTID"])
        assert got is not None and got.path == b["usd_prim_path"] and got.source == "attribute"
        lo, hi = _local_bbox(b)
        np.testing.assert_allclose(got.bbox_min, lo, atol=1e-3)
        np.testing.assert_allclose(got.bbox_max, hi, atol=1e-3)
        # a leaf or mesh path resolves to its building
        assert index.building_for_path(b["usd_mesh_prims"][0]) is got
    assert index.stats.fan_fallbacks == 0 and index.stats.degenerate_faces == 0


def test_footprint_containment_respects_l_shaped_courtyards(ottawa: Ottawa) -> None:
    index = SceneIndex.build(open_stage(ottawa.root_layer), ottawa.scene_cfg())
    off_e, off_n = ottawa.offset[0], -ottawa.offset[2]
    l_shapes = [b for b in ottawa.truth["buildings"] if b["footprint_type"] == "L"]
    assert l_shapes
    for b in l_shapes[:10]:
        ring = np.array(b["footprint_epsg32618"]) + [off_e, off_n]
        bb_lo, bb_hi = ring.min(axis=0), ring.max(axis=0)
        # the missing corner of the L: inside the bbox, outside the footprint
        grid = np.stack(
            np.meshgrid(
                *[np.linspace(lo + 0.5, hi - 0.5, 25) for lo, hi in zip(bb_lo, bb_hi, strict=True)]
            ),
            -1,
        ).reshape(-1, 2)
        inside = np.array([_point_in_ring(ring, p) for p in grid])
        found = index.buildings_at(grid)
        me = index.building_for_object_id(b["OBJECTID"]).index
        assert ((found == me) == inside).all(), b["OBJECTID"]


def _point_in_ring(ring: np.ndarray, p: np.ndarray) -> bool:
    inside = False
    for i in range(len(ring)):
        (x1, y1), (x2, y2) = ring[i], ring[(i + 1) % len(ring)]
        if (y1 > p[1]) != (y2 > p[1]) and p[0] < x1 + (p[1] - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def test_cache_hit_and_invalidation_by_file_stamp(ottawa: Ottawa, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(ottawa.root_layer.parent, tree)
    root = tree / ottawa.root_layer.name
    cfg = ottawa.scene_cfg()
    first = SceneIndex.build(open_stage(root), cfg)
    assert SceneIndex.build(open_stage(root), cfg) is first
    # another object-id attribute is another index (here: buildings found by name only)
    other = SceneIndex.build(open_stage(root), SceneConfig(object_id_attribute="x:y"))
    assert other is not first and {b.source for b in other.buildings} == {"name"}
    # touching a sublayer file (as a re-export would) invalidates the entry
    terrain = tree / "layers" / "Terrain.usdc"
    st = terrain.stat()
    os.utime(terrain, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert SceneIndex.build(open_stage(root), cfg) is not first


def test_in_memory_stages_are_not_cached(ottawa: Ottawa) -> None:
    stage = Usd.Stage.CreateInMemory()
    stage.GetRootLayer().subLayerPaths.append(str(ottawa.root_layer))
    a = SceneIndex.build(stage, ottawa.scene_cfg())
    assert SceneIndex.build(stage, ottawa.scene_cfg()) is not a
    assert len(a.buildings) == 120


def test_overlay_markers_and_guides_are_not_geometry(ottawa: Ottawa) -> None:
    stage = open_stage(ottawa.root_layer)
    base = SceneIndex.build(stage, ottawa.scene_cfg(), use_cache=False)
    with Usd.EditContext(stage, stage.GetSessionLayer()):
        cube = UsdGeom.Mesh.Define(stage, "/COP/markers/big")
        cube.CreatePointsAttr([(-1e4, 500, -1e4), (1e4, 500, -1e4), (1e4, 500, 1e4)])
        cube.CreateFaceVertexCountsAttr([3])
        cube.CreateFaceVertexIndicesAttr([0, 1, 2])
        guide = UsdGeom.Mesh.Define(stage, "/guide")
        guide.CreatePointsAttr([(-1e4, 600, -1e4), (1e4, 600, -1e4), (1e4, 600, 1e4)])
        guide.CreateFaceVertexCountsAttr([3])
        guide.CreateFaceVertexIndicesAttr([0, 1, 2])
        guide.CreatePurposeAttr(UsdGeom.Tokens.guide)
    again = SceneIndex.build(stage, ottawa.scene_cfg(), use_cache=False)
    assert again.stats.triangles == base.stats.triangles
    assert again.bbox_max[2] == pytest.approx(base.bbox_max[2])


def test_connector_style_names_without_attributes(ottawa: Ottawa, tmp_path: Path) -> None:
    tree = tmp_path / "connector"
    shutil.copytree(ottawa.root_layer.parent, tree)
    rename_to_connector_style(tree / "layers" / "Buildings.usdc", "CityEngine:Rule:User:OBJECTID")
    index = SceneIndex.build(open_stage(tree / ottawa.root_layer.name), ottawa.scene_cfg())
    assert len(index.buildings) == 120
    assert {b.source for b in index.buildings} == {"name"}
    b = index.building_for_object_id(150)
    assert b is not None and b.path == "/ce_ottawa_a/Buildings/Structure_150"
    # the terrain leaf ReportNext_120 is an only child: it stays terrain, and the
    # building with OBJECTID 120 is the Structure_120 shape
    assert index.terrain_triangles == 2 * 2500
    assert index.building_for_object_id(120).path == "/ce_ottawa_a/Buildings/Structure_120"


def rename_to_connector_style(layer_path: Path, oid_attr: str) -> None:
    """Strip the OBJECTID attribute and rename shapes to ``Structure_<OID>``."""
    layer = Sdf.Layer.FindOrOpen(str(layer_path))
    for spec in list(layer.GetPrimAtPath("/Buildings").nameChildren):
        oid = int(spec.attributes[oid_attr].default)
        spec.RemoveProperty(spec.attributes[oid_attr])
        spec.name = f"Structure_{oid}"
    assert layer.Save()


def test_scene_without_mesh_is_a_clear_error(tmp_path: Path) -> None:
    stage = Usd.Stage.CreateNew(str(tmp_path / "empty.usda"))
    UsdGeom.Xform.Define(stage, "/World/Buildings/Bldg_1")
    UsdGeom.Sphere.Define(stage, "/World/ball")
    with pytest.raises(SceneError, match="no mesh geometry"):
        SceneIndex.build(stage, SceneConfig())


def test_meshes_with_bad_topology_are_skipped_and_counted(tmp_path: Path) -> None:
    stage = Usd.Stage.CreateNew(str(tmp_path / "bad.usda"))
    good = UsdGeom.Mesh.Define(stage, "/good")
    good.CreatePointsAttr([(0, 0, 0), (10, 0, 0), (10, 0, -10), (0, 0, -10)])
    good.CreateFaceVertexCountsAttr([4])
    good.CreateFaceVertexIndicesAttr([0, 1, 2, 3])
    bad = UsdGeom.Mesh.Define(stage, "/bad")
    bad.CreatePointsAttr([(0, 0, 0), (1, 0, 0)])
    bad.CreateFaceVertexCountsAttr([4])
    bad.CreateFaceVertexIndicesAttr([0, 1])
    UsdGeom.Mesh.Define(stage, "/empty")
    index = SceneIndex.build(stage, SceneConfig())
    assert index.stats.meshes == 1 and index.stats.skipped_meshes == 2
    assert index.terrain_triangles == 2


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (101, "101"),
        (101.0, "101"),
        ("101", "101"),
        (" 101.0 ", "101"),
        ("A7", "A7"),
        (None, None),
        ("", None),
        (float("nan"), None),
        (2.5, "2.5"),
    ],
)
def test_object_ids_normalise(value: object, want: str | None) -> None:
    assert normalize_object_id(value) == want
