"""coptwin.scene.markers: prototype shapes per kind, sized in metres, oriented to up axis."""

from __future__ import annotations

import logging

import pytest
from pxr import Sdf, Usd, UsdGeom

from coptwin.scene.markers import SHAPES, author_prototype, shape_for


def test_shape_for_kinds() -> None:
    assert shape_for("camera") == "cube"
    assert shape_for("motion") == "cone"
    assert shape_for("gps_tracker") == "capsule"
    assert shape_for("water_level") == "cylinder"
    assert shape_for("something_new") == "sphere"
    assert shape_for("camera", {"camera": "cylinder"}) == "cylinder"


def test_unknown_shape_falls_back_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert shape_for("camera", {"camera": "teapot"}) == "sphere"
    assert "teapot" in caplog.text


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("up", ["Y", "Z"])
def test_prototype_sits_on_the_point(shape: str, up: str) -> None:
    layer = Sdf.Layer.CreateAnonymous()
    parent = Sdf.CreatePrimInLayer(layer, "/P")
    parent.specifier = Sdf.SpecifierDef
    author_prototype(parent, "k", shape, 4.0, up)
    stage = Usd.Stage.Open(layer)
    UsdGeom.SetStageUpAxis(stage, up)
    prim = stage.GetPrimAtPath("/P/k")
    assert not prim.GetChildren()[0].GetAttribute("primvars:displayColor").HasAuthoredValue()
    box = UsdGeom.BBoxCache(Usd.TimeCode.Default(), ["default"]).ComputeWorldBound(prim)
    rng = box.ComputeAlignedRange()
    axis = 1 if up == "Y" else 2
    assert rng.GetMin()[axis] == pytest.approx(0.0, abs=1e-6)  # bottom on the placement point
    assert rng.GetMax()[axis] == pytest.approx(4.0, abs=1e-6)
    other = 0
    assert rng.GetMax()[other] <= 2.0 + 1e-6
