"""Footprints, heights and WGS84 positions the page and the OGC API draw from."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pxr import Sdf, Usd, UsdGeom
from pyproj import Transformer

from coptwin.config import SceneConfig
from coptwin.geo.index import SceneIndex
from coptwin.web.geometry import PageGeo, _signed_area, building_footprints
from tests.support.require import shared_path

OFFSET = [-445500.0, -60.0, 5029500.0]


@pytest.fixture(scope="module")
def ottawa() -> tuple[PageGeo, dict]:
    ottawa_dir = shared_path("scenes", "ce_ottawa_a")
    stage = Usd.Stage.Open(str(ottawa_dir / "ce_ottawa_a" / "ce_ottawa_a.usdc"))
    geo = PageGeo.from_stage(stage, SceneConfig(crs="EPSG:32618", global_offset=OFFSET))
    return geo, json.loads((ottawa_dir / "truth.json").read_text())


@pytest.mark.shared
def test_footprints_of_a_real_cityengine_export_match_its_ground_truth(ottawa):
    geo, truth = ottawa
    by_oid = {f.object_id: f for f in geo.footprints}
    assert len(by_oid) == len(truth["buildings"]) == 120
    for b in truth["buildings"]:
        f = by_oid[str(int(b["OBJECTID"]))]
        assert len(f.parts) == 1, "a flat-roofed extrusion is one part"
        (ring,) = f.parts[0].rings
        want = np.array(b["footprint_epsg32618"]) - [445500.0, 5029500.0]
        assert len(ring) == len(want)  # 4 corners, or 6 for the L-shapes
        assert abs(_signed_area(ring) - abs(_signed_area(want))) < 0.01
        assert np.abs(np.sort(ring, axis=0) - np.sort(want, axis=0)).max() < 0.01
        assert abs(f.parts[0].top + 60.0 - b["roof_elevation_m"]) < 0.01
        assert abs(f.base + 60.0 - b["base_elevation_m"]) < 0.01


@pytest.mark.shared
def test_wgs84_comes_from_the_scene_frame(ottawa):
    geo, _ = ottawa
    to_wgs84 = Transformer.from_crs("EPSG:32618", "EPSG:4326", always_xy=True)
    pts = np.array([[0.0, 0.0, 0.0], [123.4, 10.0, -321.0], [-400.0, 5.0, 400.0]])
    lon, lat, alt = geo.stage_to_page(pts)
    want_lon, want_lat = to_wgs84.transform(pts[:, 0] + 445500.0, 5029500.0 - pts[:, 2])
    assert np.abs(lon - want_lon).max() < 1e-9 and np.abs(lat - want_lat).max() < 1e-9
    # Page heights are metres above the scene's lowest ground (the page's flat ground).
    assert np.allclose(alt, pts[:, 1] - geo.datum)
    _, _, h = geo.stage_to_wgs84(pts)
    assert np.allclose(h, pts[:, 1] + 60.0)
    back = geo.lonlat_to_stage(float(lon[1]), float(lat[1]), float(alt[1]))
    assert np.allclose(back, pts[1], atol=1e-6)


@pytest.mark.shared
def test_terrain_steps_follow_the_ground(ottawa):
    geo, truth = ottawa
    t = geo.terrain_page
    assert t is not None and t["nx"] * t["ny"] == len(t["h"])
    heights = np.array([h for h in t["h"] if h is not None]) * t["step"]
    # The terrain rises 15 m from the south-west to the north-east (README of the scene).
    assert heights.min() == pytest.approx(0.0, abs=0.3)
    assert heights.max() == pytest.approx(15.0, abs=0.6)


def _mesh(stage: Usd.Stage, path: str, points: list, faces: list[list[int]]) -> None:
    mesh = UsdGeom.Mesh.Define(stage, path)
    mesh.CreatePointsAttr(points)
    mesh.CreateFaceVertexCountsAttr([len(f) for f in faces])
    mesh.CreateFaceVertexIndicesAttr([i for f in faces for i in f])


def _box(stage: Usd.Stage, path: str, x0, y0, x1, y1, z0, z1) -> None:  # noqa: ANN001
    pts = [
        (x0, y0, z0),
        (x1, y0, z0),
        (x1, y1, z0),
        (x0, y1, z0),
        (x0, y0, z1),
        (x1, y0, z1),
        (x1, y1, z1),
        (x0, y1, z1),
    ]
    faces = [[3, 2, 1, 0], [4, 5, 6, 7], [0, 1, 5, 4], [1, 2, 6, 5], [2, 3, 7, 6], [3, 0, 4, 7]]
    _mesh(stage, path, pts, faces)


def _building(stage: Usd.Stage, name: str, oid: int) -> str:
    prim = UsdGeom.Xform.Define(stage, f"/City/{name}").GetPrim()
    prim.CreateAttribute("CityEngine:Rule:User:OBJECTID", Sdf.ValueTypeNames.Double).Set(oid)
    return f"/City/{name}"


def test_roof_levels_become_parts_and_a_pitched_roof_its_ridge():
    stage = Usd.Stage.CreateInMemory()
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    _mesh(
        stage,
        "/City/Ground",
        [(-100, -100, 0), (100, -100, 0), (100, 100, 0), (-100, 100, 0)],
        [[0, 1, 2, 3]],
    )
    b = _building(stage, "Tower", 1)
    _box(stage, f"{b}/podium", 0, 0, 40, 40, 0, 10)
    _box(stage, f"{b}/tower", 15, 15, 25, 25, 10, 40)
    g = _building(stage, "House", 2)
    pts = [
        (50, 0, 0),
        (60, 0, 0),
        (60, 8, 0),
        (50, 8, 0),
        (50, 0, 5),
        (60, 0, 5),
        (60, 8, 5),
        (50, 8, 5),
        (50, 4, 8),
        (60, 4, 8),
    ]
    faces = [
        [3, 2, 1, 0],
        [0, 1, 5, 4],
        [2, 3, 7, 6],
        [4, 5, 9, 8],
        [6, 7, 8, 9],
        [1, 2, 6, 9, 5],
        [3, 0, 4, 8, 7],
    ]
    _mesh(stage, f"{g}/house", pts, faces)
    index = SceneIndex.build(stage, SceneConfig(), use_cache=False)
    fps = {f.object_id: f for f in building_footprints(index)}
    tower = sorted(fps["1"].parts, key=lambda p: p.top)
    assert [p.top for p in tower] == [10.0, 40.0]
    assert abs(_signed_area(tower[0].rings[0])) == pytest.approx(1600.0)
    assert abs(_signed_area(tower[1].rings[0])) == pytest.approx(100.0)
    (house,) = fps["2"].parts
    assert house.top == pytest.approx(8.0)  # the ridge
    assert abs(_signed_area(house.rings[0])) == pytest.approx(80.0)
