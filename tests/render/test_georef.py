"""Where a scene's georeference comes from, and which way true north points."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pxr import Sdf, Usd, UsdGeom
from pyproj import CRS, Proj

from coptwin.config import SceneConfig
from coptwin.render.georef import discover, north_local
from coptwin.scene.citygen import CityInfo


def test_sidecar_then_config_then_stage_then_none(city_dir, tmp_path):
    info = CityInfo.load(city_dir)
    stage = Usd.Stage.Open(str(info.root_layer))
    found = discover(stage, info.root_layer)
    assert found.source == "sidecar" and found.frame.georef.crs == "EPSG:32618"
    assert "global_offset.json" in found.describe()
    cfg = SceneConfig(crs="EPSG:32617", global_offset=[0.0, 0.0, 0.0])
    assert discover(stage, info.root_layer, cfg).source == "config"
    # A Cesium georeference prim on a scene with no sidecar.
    path = tmp_path / "cesium.usda"
    st = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(st, UsdGeom.Tokens.z)
    prim = st.DefinePrim("/CesiumGeoreference")
    for name, value in (("latitude", 45.4), ("longitude", -75.7), ("height", 70.0)):
        prim.CreateAttribute(f"cesium:georeferenceOrigin:{name}", Sdf.ValueTypeNames.Double).Set(
            value
        )
    st.GetRootLayer().Save()
    found = discover(st, path)
    assert found.source == "cesium" and "lat 45.400000" in found.describe()
    empty = Usd.Stage.CreateInMemory()
    assert discover(empty, None).source == "none" and discover(empty, None).frame is None


def test_true_north_differs_from_grid_north_by_the_meridian_convergence(city_dir):
    info = CityInfo.load(city_dir)
    stage = Usd.Stage.Open(str(info.root_layer))
    frame = discover(stage, info.root_layer).frame
    centre = np.zeros(3)
    north = north_local(frame, centre)
    lon, lat, _ = frame.local_to_lonlat(centre)
    factors = Proj(CRS.from_user_input("EPSG:32618")).get_factors(lon[0], lat[0])
    convergence = factors.meridian_convergence  # degrees, grid north east of true north
    angle = math.degrees(math.atan2(north[0], north[1]))  # true north, east of grid north
    assert abs(angle) > 0.1  # Ottawa is ~0.7 degrees west of UTM 18N's central meridian
    assert angle == pytest.approx(-convergence, abs=0.01)
    assert north_local(None, centre) is None
