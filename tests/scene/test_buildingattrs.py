"""coptwin.scene.buildingattrs: live attributes as overs on bound buildings."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import numpy as np
import pytest
from pxr import Sdf, Usd

from coptwin.scene.buildingattrs import BuildingAttrs, worst_status
from coptwin.scene.citygen import CityInfo


@pytest.fixture()
def setup(city_copy: CityInfo) -> tuple[Usd.Stage, Sdf.Layer, BuildingAttrs, str]:
    stage = Usd.Stage.Open(str(city_copy.root_layer))
    layer = Sdf.Layer.CreateAnonymous()
    stage.GetSessionLayer().subLayerPaths.insert(0, layer.identifier)
    return stage, layer, BuildingAttrs(stage, layer), f"/{city_copy.name}/Buildings/Bldg_101"


def test_worst_status() -> None:
    assert worst_status({"a": "ok", "b": "alarm", "c": "warn"}) == "alarm"
    assert worst_status({"a": "ok", "b": "stale"}) == "stale"
    assert worst_status({}) == "unknown"


def test_update_writes_overs_only(setup) -> None:
    stage, layer, attrs, bldg = setup
    skipped: Counter[str] = Counter()
    n = attrs.update("s1", bldg, "warn", "air quality", 12.5, "2024-05-01T12:00:00Z", {}, skipped)
    assert n == 3 and not skipped
    prim = stage.GetPrimAtPath(bldg)
    assert prim.GetAttribute("coptwin:status").Get() == "warn"
    assert prim.GetAttribute("coptwin:air_quality").Get() == pytest.approx(12.5)
    assert prim.GetAttribute("coptwin:ts").Get() == "2024-05-01T12:00:00Z"
    assert layer.GetPrimAtPath(bldg).specifier == Sdf.SpecifierOver
    # same values again: nothing written
    assert (
        attrs.update("s1", bldg, "warn", "air quality", 12.5, "2024-05-01T12:00:00Z", {}, skipped)
        == 0
    )


def test_several_sensors_and_unbind(setup) -> None:
    stage, _, attrs, bldg = setup
    skipped: Counter[str] = Counter()
    attrs.update("a", bldg, "alarm", "", None, "", {}, skipped)
    attrs.update("b", bldg, "ok", "", None, "", {}, skipped)
    status = stage.GetPrimAtPath(bldg).GetAttribute("coptwin:status")
    assert status.Get() == "alarm"
    attrs.unbind("a", bldg, skipped)
    assert status.Get() == "ok"


def test_extra_values_types_and_bad_input(setup) -> None:
    stage, _, attrs, bldg = setup
    skipped: Counter[str] = Counter()
    extra = {
        "occupied": True,
        "count": np.int64(4),
        "since": datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
        "bad": float("nan"),
        "": 1.0,
    }
    attrs.update("s", bldg, "ok", "", None, "", extra, skipped)
    prim = stage.GetPrimAtPath(bldg)
    assert prim.GetAttribute("coptwin:occupied").Get() is True
    assert prim.GetAttribute("coptwin:count").Get() == 4.0
    assert prim.GetAttribute("coptwin:since").Get() == "2024-05-01T12:00:00Z"
    assert not prim.GetAttribute("coptwin:bad")
    attrs.update("s", bldg, "ok", "", None, "", {"count": "four"}, skipped)
    assert prim.GetAttribute("coptwin:count").Get() == 4.0
    assert skipped == {
        "bad_building_value": 1,
        "bad_building_attr": 1,
        "building_attr_type_changed": 1,
    }


def test_unknown_and_instance_paths(setup, city_copy: CityInfo) -> None:
    stage, layer, attrs, bldg = setup
    skipped: Counter[str] = Counter()
    assert attrs.update("s", "/nowhere/Bldg", "ok", "", None, "", {}, skipped) == 0
    assert attrs.update("s", "not a path", "ok", "", None, "", {}, skipped) == 0
    assert skipped["unknown_bound_prim"] == 2
    assert not layer.GetPrimAtPath("/nowhere")
    leaf = stage.GetPrimAtPath(bldg).GetChildren()[0]
    mesh_path = f"{leaf.GetPath()}/mesh"
    assert stage.GetPrimAtPath(mesh_path).IsInstanceProxy()
    assert attrs.resolve(mesh_path) == str(leaf.GetPath())  # opinions go on the instance
