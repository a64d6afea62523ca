"""The detailed CityEngine export (1.43M triangles, 17k instanced leaves) against its truth.

Every sensor must land within 0.25 m of where ``truth.json`` says, bound to the right
building, including the 18 hard cases (notch walls, ground in an L's notch, roofs near
edges); and the index must see the instanced geometry exactly as the instance proxies do.
"""

from __future__ import annotations

import numpy as np
import pytest
from pxr import Usd, UsdGeom

from coptwin.geo import Placer, SceneFrame, SceneIndex

from .conftest import Ottawa, open_stage, placement_errors


@pytest.fixture(scope="module")
def index_c(ottawa_c: Ottawa) -> SceneIndex:
    return SceneIndex.build(open_stage(ottawa_c.root_layer), ottawa_c.scene_cfg(), use_cache=False)


def test_index_holds_every_instanced_triangle(ottawa_c: Ottawa, index_c: SceneIndex) -> None:
    ins = ottawa_c.truth["export_inspection"]
    assert (
        index_c.stats.meshes
        == sum(b["usd_mesh_prim_count"] for b in ottawa_c.truth["buildings"]) + 1
    )
    assert index_c.stats.triangles == 1_432_189  # README: all polygons, triangulated
    assert index_c.terrain_triangles == 15_360 * 2 + 15_360  # quads split, triangles kept
    assert ins["instance_prototypes"] == 314
    assert index_c.stats.fan_fallbacks == 0 and index_c.stats.degenerate_faces == 0
    assert len(index_c.buildings) == 40
    for b in ottawa_c.truth["buildings"]:
        got = index_c.building_for_object_id(b["OBJECTID"])
        assert got is not None and got.path == b["usd_prim_path"]
        lo, hi = np.array(b["usd_bbox_min"]), np.array(b["usd_bbox_max"])
        # truth bboxes are in the USD frame (Y up, z = -north): compare in the local frame
        np.testing.assert_allclose(got.bbox_min, [lo[0], -hi[2], lo[1]], atol=2e-3)
        np.testing.assert_allclose(got.bbox_max, [hi[0], -lo[2], hi[1]], atol=2e-3)


def test_all_sensors_placed_and_bound_right(ottawa_c: Ottawa, index_c: SceneIndex) -> None:
    stage = open_stage(ottawa_c.root_layer)
    cfg = ottawa_c.scene_cfg()
    placed = Placer(SceneFrame.from_stage(stage, cfg), index_c, cfg).place(ottawa_c.sensors)
    err = placement_errors(placed, ottawa_c.sensors, ottawa_c.expected())
    ids = ottawa_c.sensors["sensor_id"].to_list()
    far = {ids[k]: round(float(err[k]), 3) for k in np.nonzero(~(err <= 0.25))[0]}
    assert not far, f"sensors further than 0.25 m from truth: {far}"
    assert placed["placement"].to_list() == ["exact"] * 120
    want = ottawa_c.prim_by_oid
    by_id = dict(zip(placed["sensor_id"].to_list(), placed["prim_path"].to_list(), strict=True))
    bound = ottawa_c.sensors.filter(ottawa_c.sensors["object_id"].is_not_null())
    assert bound.height == 80
    wrong = [
        sid
        for sid, oid in zip(bound["sensor_id"], bound["object_id"], strict=True)
        if by_id[sid] != want[int(float(oid))]
    ]
    assert not wrong
    hard = {h["sensor_id"] for h in ottawa_c.truth["sensors"]["hard_cases"]}
    assert len(hard) == 18 and all(err[ids.index(s)] <= 0.25 for s in hard)


def test_ground_sensors_bind_to_no_building(ottawa_c: Ottawa, index_c: SceneIndex) -> None:
    """Ground sensors in an L's notch lie inside its bbox and hull but outside it."""
    stage = open_stage(ottawa_c.root_layer)
    cfg = ottawa_c.scene_cfg()
    ground = ottawa_c.sensors.filter(ottawa_c.sensors["mount"] == "ground")
    frame = SceneFrame.from_stage(stage, cfg)
    uv = frame.lonlat_to_local(ground["lon"].to_numpy(), ground["lat"].to_numpy(), None)[:, :2]
    assert (index_c.buildings_at(uv) == -1).all()


def test_instanced_geometry_matches_the_instance_proxies(ottawa_c: Ottawa) -> None:
    """The reader's uses are the proxy meshes, at the proxies' world transforms."""
    from coptwin.geo.meshes import expand_points, read_stage_meshes

    stage = open_stage(ottawa_c.root_layer)
    sm = read_stage_meshes(stage)
    proxies = [
        p
        for p in Usd.PrimRange(stage.GetPseudoRoot(), Usd.TraverseInstanceProxies())
        if p.IsA(UsdGeom.Mesh)
    ]
    assert sorted(sm.use_path) == sorted(str(p.GetPath()) for p in proxies)
    assert len(sm.meshes) < len(proxies) // 2  # each prototype read once
    points, start, _ = expand_points(sm)
    where = {p: k for k, p in enumerate(sm.use_path)}
    rng = np.random.default_rng(5)
    for prim in rng.choice(np.array(proxies, dtype=object), 300, replace=False):
        k = where[str(prim.GetPath())]
        m = np.array(UsdGeom.Xformable(prim).ComputeLocalToWorldTransform(Usd.TimeCode.Default()))
        local = np.asarray(UsdGeom.Mesh(prim).GetPointsAttr().Get(), dtype=np.float64)
        np.testing.assert_allclose(
            points[start[k] : start[k + 1]], local @ m[:3, :3] + m[3, :3], atol=1e-9
        )


def test_pruned_nearest_wall_matches_every_wall(index_c: SceneIndex) -> None:
    """Box pruning keeps the answer of testing every wall triangle of the building."""
    from coptwin.geo.raycast import closest_points_on_triangles

    rng = np.random.default_rng(3)
    bld = rng.integers(0, len(index_c.buildings), 12)
    lo, hi = index_c.building_min[bld], index_c.building_max[bld]
    q = lo - 3 + rng.uniform(0, 1, (12, 3)) * (hi - lo + 6)
    got, dist = index_c.nearest_wall_points(bld, q)
    for k, b in enumerate(bld.tolist()):
        walls = index_c._wall_tris[index_c._wall_start[b] : index_c._wall_start[b + 1]]
        t = index_c.tris[walls]
        cp = closest_points_on_triangles(
            np.repeat(q[k : k + 1], len(t), 0), t[:, 0], t[:, 1], t[:, 2]
        )
        d = np.linalg.norm(cp - q[k], axis=1)
        assert dist[k] == pytest.approx(np.nanmin(d), abs=1e-9)
        np.testing.assert_allclose(got[k], cp[np.nanargmin(d)], atol=1e-9)
