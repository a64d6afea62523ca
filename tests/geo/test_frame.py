"""SceneFrame: axes and units from the stage, georeference precedence, exact conversions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pxr import Gf, Sdf, Usd, UsdGeom
from pyproj import Transformer

from coptwin.config import EnuOrigin, SceneConfig
from coptwin.geo import SceneError, SceneFrame
from coptwin.geo.frame import Georeference

from .conftest import Ottawa, open_stage

UTM = "EPSG:32618"


def _stage(up: str = "Y", mpu: float = 1.0) -> Usd.Stage:
    stage = Usd.Stage.CreateInMemory()
    UsdGeom.SetStageUpAxis(stage, up)
    UsdGeom.SetStageMetersPerUnit(stage, mpu)
    return stage


def _enu_reference(lat0: float, lon0: float, h0: float, lon, lat, h) -> np.ndarray:  # noqa: ANN001
    """ENU by the textbook formula (independent of the code under test)."""
    to_ecef = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    x0 = np.array(to_ecef.transform(lon0, lat0, h0))
    x = np.column_stack(to_ecef.transform(lon, lat, h))
    p, lam = math.radians(lat0), math.radians(lon0)
    r = np.array(
        [
            [-math.sin(lam), math.cos(lam), 0],
            [-math.sin(p) * math.cos(lam), -math.sin(p) * math.sin(lam), math.cos(p)],
            [math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p)],
        ]
    )
    return (x - x0) @ r.T


def test_ottawa_export_frame_reproduces_expected_horizontal_positions(ottawa: Ottawa) -> None:
    stage = open_stage(ottawa.root_layer)
    frame = SceneFrame.from_stage(stage, ottawa.scene_cfg())
    assert (frame.up_axis, frame.meters_per_unit) == ("Y", 1.0)
    s = ottawa.sensors
    pts = frame.lonlat_to_stage(s["lon"].to_numpy(), s["lat"].to_numpy())
    exp = ottawa.expected()
    # x = E + off0, z = -N + off2; the CSV keeps 4 decimals and lon/lat 10 decimals
    assert np.abs(pts[:, 0] - exp[:, 0]).max() < 2e-4
    assert np.abs(pts[:, 2] - exp[:, 2]).max() < 2e-4


def test_stage_to_lonlat_inverts_and_keeps_heights(ottawa: Ottawa) -> None:
    frame = SceneFrame.from_stage(open_stage(ottawa.root_layer), ottawa.scene_cfg())
    exp = ottawa.expected()
    lon, lat, h = frame.stage_to_lonlat(exp)
    assert np.abs(lon - ottawa.sensors["lon"].to_numpy()).max() < 1e-8
    assert np.abs(lat - ottawa.sensors["lat"].to_numpy()).max() < 1e-8
    np.testing.assert_allclose(h, exp[:, 1] - ottawa.offset[1], atol=1e-9)
    back = frame.lonlat_to_stage(lon, lat, h)
    np.testing.assert_allclose(back, exp, atol=1e-6)


@pytest.mark.parametrize(("up", "mpu"), [("Y", 1.0), ("Z", 1.0), ("Z", 0.01), ("Y", 0.3048)])
def test_axes_and_units_map_the_same_point(up: str, mpu: float) -> None:
    cfg = SceneConfig(crs=UTM, global_offset=[-445500.0, -60.0, 5029500.0])
    frame = SceneFrame.from_stage(_stage(up, mpu), cfg)
    fwd = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    lon, lat, h = -75.6975, 45.4170, 72.5
    e, n = fwd.transform(lon, lat)
    p = frame.lonlat_to_stage(lon, lat, h)[0] * mpu  # metres
    ce = np.array([e - 445500.0, h - 60.0, -n + 5029500.0])  # CityEngine Y-up, offset applied
    want = ce if up == "Y" else np.array([ce[0], -ce[2], ce[1]])  # Z-up: +90 deg about X
    np.testing.assert_allclose(p, want, atol=1e-7)
    lon2, lat2, h2 = frame.stage_to_lonlat(p[None] / mpu)
    assert abs(lon2[0] - lon) < 1e-10 and abs(lat2[0] - lat) < 1e-10 and abs(h2[0] - h) < 1e-7


def test_raw_projected_coordinates_with_zero_offset() -> None:
    frame = SceneFrame.from_stage(_stage(), SceneConfig(crs=UTM))
    e, n = Transformer.from_crs("EPSG:4326", UTM, always_xy=True).transform(-75.7, 45.41)
    np.testing.assert_allclose(
        frame.lonlat_to_stage(-75.7, 45.41, 10.0)[0], [e, 10.0, -n], atol=1e-6
    )


def test_vertical_offset_is_added_to_sensor_heights_only() -> None:
    cfg = SceneConfig(crs=UTM, vertical_offset_m=-33.5)
    frame = SceneFrame.from_stage(_stage("Z"), cfg)
    assert frame.lonlat_to_stage(-75.7, 45.41, 100.0)[0, 2] == pytest.approx(66.5)
    assert frame.datum_height_to_local_up(-75.7, 45.41, 100.0)[0] == pytest.approx(100.0)
    assert frame.stage_to_lonlat(frame.lonlat_to_stage(-75.7, 45.41, 100.0))[2][0] == pytest.approx(
        100.0
    )


def test_explicit_enu_origin_matches_textbook_enu() -> None:
    lat0, lon0, h0 = 45.4172, -75.6981, 60.0
    cfg = SceneConfig(enu_origin=EnuOrigin(lat=lat0, lon=lon0, height=h0))
    frame = SceneFrame.from_stage(_stage("Z"), cfg)
    lon = np.array([-75.6981, -75.70, -75.69, -75.705])
    lat = np.array([45.4172, 45.41, 45.42, 45.425])
    h = np.array([60.0, 70.0, 50.0, 100.0])
    np.testing.assert_allclose(
        frame.lonlat_to_stage(lon, lat, h), _enu_reference(lat0, lon0, h0, lon, lat, h), atol=1e-6
    )
    yup = SceneFrame.from_stage(_stage("Y", 0.01), cfg).lonlat_to_stage(lon, lat, h) * 0.01
    enu = _enu_reference(lat0, lon0, h0, lon, lat, h)
    np.testing.assert_allclose(yup, np.column_stack([enu[:, 0], enu[:, 2], -enu[:, 1]]), atol=1e-6)
    back = frame.stage_to_lonlat(frame.lonlat_to_stage(lon, lat, h))
    np.testing.assert_allclose(np.column_stack(back), np.column_stack([lon, lat, h]), atol=1e-8)


def test_cesium_georeference_prim_is_found() -> None:
    stage = _stage("Z")
    prim = stage.DefinePrim("/CesiumGeoreference", "CesiumGeoreferencePrim")
    for name, value in (("latitude", 45.4), ("longitude", -75.7), ("height", 61.0)):
        prim.CreateAttribute(f"cesium:georeferenceOrigin:{name}", Sdf.ValueTypeNames.Double).Set(
            value
        )
    frame = SceneFrame.from_stage(stage, SceneConfig())
    assert frame.georef.kind == "enu" and frame.georef.origin == (45.4, -75.7, 61.0)
    assert "/CesiumGeoreference" in frame.georef.source
    np.testing.assert_allclose(frame.lonlat_to_stage(-75.7, 45.4, 61.0)[0], [0, 0, 0], atol=1e-6)


def test_omni_geospatial_reference_is_found_and_ned_refused() -> None:
    stage = _stage("Z")
    world = stage.DefinePrim("/World", "Xform")
    world.CreateAttribute(
        "omni:geospatial:wgs84:reference:referencePosition", Sdf.ValueTypeNames.Double3
    ).Set(Gf.Vec3d(45.41, -75.69, 70.0))
    plane = world.CreateAttribute(
        "omni:geospatial:wgs84:reference:tangentPlane", Sdf.ValueTypeNames.Token
    )
    plane.Set("ENU")
    frame = SceneFrame.from_stage(stage, SceneConfig())
    assert frame.georef.origin == (45.41, -75.69, 70.0)
    plane.Set("NED")
    with pytest.raises(SceneError, match="NED"):
        SceneFrame.from_stage(stage, SceneConfig())


def test_config_wins_over_stage_georeference() -> None:
    stage = _stage("Z")
    prim = stage.DefinePrim("/CesiumGeoreference")
    prim.CreateAttribute("cesium:georeferenceOrigin:latitude", Sdf.ValueTypeNames.Double).Set(1.0)
    prim.CreateAttribute("cesium:georeferenceOrigin:longitude", Sdf.ValueTypeNames.Double).Set(2.0)
    frame = SceneFrame.from_stage(stage, SceneConfig(crs=UTM))
    assert frame.georef.kind == "projected" and frame.georef.source == "config scene.crs"
    origin = EnuOrigin(lat=45.0, lon=-75.0)
    assert SceneFrame.from_stage(stage, SceneConfig(enu_origin=origin)).georef.origin == (
        45.0,
        -75.0,
        0.0,
    )


def test_missing_or_bad_georeference_is_a_clear_error() -> None:
    with pytest.raises(SceneError, match="no georeference"):
        SceneFrame.from_stage(_stage(), SceneConfig())
    with pytest.raises(SceneError, match="not a projected CRS"):
        SceneFrame.from_stage(_stage(), SceneConfig(crs="EPSG:4326"))
    with pytest.raises(SceneError, match="not a known CRS"):
        SceneFrame.from_stage(_stage(), SceneConfig(crs="EPSG:999999"))
    with pytest.raises(SceneError, match="upAxis"):
        SceneFrame("X", 1.0, Georeference(kind="projected", source="t", crs=UTM))
    with pytest.raises(SceneError, match="metersPerUnit"):
        SceneFrame("Y", 0.0, Georeference(kind="projected", source="t", crs=UTM))


def test_bad_coordinates_give_nan_rows_not_exceptions() -> None:
    frame = SceneFrame.from_stage(_stage(), SceneConfig(crs=UTM))
    out = frame.lonlat_to_stage(
        [-75.7, float("nan"), -75.7, float("inf")], [45.4, 45.4, 200.0, 45.4]
    )
    assert np.isfinite(out[0]).all()
    assert np.isnan(out[1:]).all()
