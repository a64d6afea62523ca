"""A city stage as one triangle mesh in the render frame."""

from __future__ import annotations

import numpy as np
import pytest

from coptwin.geo.errors import SceneError
from coptwin.render.scene_mesh import load_scene, open_stage
from coptwin.scene.citygen import CityInfo

OID = "CityEngine:Rule:User:OBJECTID"


def test_buildings_sit_on_their_footprints_in_local_metres(city_dir):
    info = CityInfo.load(city_dir)
    scene = load_scene(open_stage(info.root_layer), object_id_attribute=OID)
    layout = info.layout()
    assert len(scene.buildings) == len(layout.buildings) == info.n_buildings
    assert scene.points.dtype == np.float32 and scene.tris.shape[0] == scene.owner.shape[0]
    assert (scene.owner == -1).any(), "terrain triangles belong to no building"
    # local = projected E/N + offset (the CityEngine offset, N flipped) minus the origin
    ox, oy, oz = info.global_offset
    for b in layout.buildings:
        got = scene.find_building(str(b.oid))
        assert got is not None and scene.find_building(got.path) is got
        lo, hi = scene.building_lo[got.index], scene.building_hi[got.index]
        ring = b.ring_en + np.array([ox, -oz]) - scene.origin[:2]
        assert np.allclose(lo[:2], ring.min(axis=0), atol=0.01)
        assert np.allclose(hi[:2], ring.max(axis=0), atol=0.01)
        assert hi[2] - lo[2] == pytest.approx(b.height, abs=0.05)
    assert scene.find_building("no-such-building") is None
    # stage -> render frame is the same mapping the triangles went through
    stage_pt = np.array([[1.0, 2.0, 3.0]])
    assert np.allclose(scene.stage_to_render(stage_pt), [[1.0, -3.0, 2.0]] - scene.origin)


def test_unreadable_files_are_one_clear_error(tmp_path):
    with pytest.raises(SceneError, match="no such file"):
        open_stage(tmp_path / "nope.usd")
    bad = tmp_path / "bad.usda"
    bad.write_text("#usda 1.0\n( this is not valid", encoding="utf-8")
    with pytest.raises(SceneError, match="not a readable USD file") as err:
        open_stage(bad)
    assert "\n" not in str(err.value)


def test_a_z_up_centimetre_wrapper_gives_the_same_city_in_metres(city_dir, tmp_path):
    from .test_inspect import Y_TO_Z_CM, wrap

    info = CityInfo.load(city_dir)
    plain = load_scene(open_stage(info.root_layer), object_id_attribute=OID)
    root = wrap(tmp_path / "zup.usda", info.root_layer, matrix=Y_TO_Z_CM, up="Z", mpu=0.01)
    zup = load_scene(open_stage(root), object_id_attribute=OID)
    assert zup.up_axis == "Z" and zup.meters_per_unit == 0.01
    a = plain.points.astype(np.float64) + plain.origin
    b = zup.points.astype(np.float64) + zup.origin
    assert a.shape == b.shape and np.allclose(a, b, atol=0.01)  # same metres, same up
    assert [x.object_id for x in zup.buildings] == [x.object_id for x in plain.buildings]
