"""SensorRegistry: validation with counted skips, layer defaults, lookups."""

from __future__ import annotations

import logging
import math

import polars as pl
import pytest


def test_bad_sensor_rows_are_skipped_and_counted(config, make_registry, caplog):
    sensors = [
        {"sensor_id": "ok1", "kind": "temperature"},
        {"sensor_id": None, "kind": "temperature"},
        {"sensor_id": "  ", "kind": "temperature"},
        {"sensor_id": "nokind", "kind": None},
        {"sensor_id": "nanlon", "kind": "temperature", "lon": math.nan},
        {"sensor_id": "badlat", "kind": "temperature", "lat": 123.0},
        {"sensor_id": "nolat", "kind": "temperature", "lat": None},
        {"sensor_id": "mnt", "kind": "camera", "mount": "ceiling"},
        {"sensor_id": "ok1", "kind": "camera"},  # duplicate of the first
        {"sensor_id": "ok2", "kind": "camera", "mount": " Roof "},
    ]
    with caplog.at_level(logging.WARNING, logger="coptwin.model.registry"):
        reg = make_registry(config, sensors)
    assert reg.ids == ["ok1", "ok2"]
    assert reg.skipped == {
        "null_sensor_id": 2,
        "null_kind": 1,
        "bad_position": 3,
        "unknown_mount": 1,
        "duplicate_sensor_id": 1,
    }
    assert reg["ok1"].kind == "temperature"  # the first row of an id wins
    assert reg["ok2"].mount == "roof"
    assert len([r for r in caplog.records if r.name == "coptwin.model.registry"]) == 1


def test_duplicate_after_a_broken_first_row_is_kept(config, make_registry):
    reg = make_registry(
        config,
        [
            {"sensor_id": "s", "kind": "temperature", "lat": math.nan},
            {"sensor_id": "s", "kind": "temperature", "lat": 50.0},
        ],
    )
    assert reg.ids == ["s"] and reg["s"].lat == 50.0
    assert reg.skipped == {"bad_position": 1}


def test_layers_mounts_bindings_and_threshold_overrides(config, make_registry):
    reg = make_registry(
        config,
        [
            {"sensor_id": "t1", "kind": "temperature", "warn_high": 25.0, "object_id": "17"},
            {"sensor_id": "c1", "kind": "camera", "layer": "perimeter", "mount": "facade"},
            {"sensor_id": "g1", "kind": "gps_tracker", "prim_path": "/City/B1", "alt": 3.0},
        ],
    )
    t1, c1, g1 = reg["t1"], reg["c1"], reg["g1"]
    assert (t1.layer, t1.mount, t1.object_id) == ("environment", "ground", "17")
    assert dict(t1.thresholds) == {"warn_high": 25.0}
    assert (c1.layer, c1.mount) == ("perimeter", "facade")
    assert dict(c1.thresholds) == {}
    assert (g1.layer, g1.prim_path, g1.alt) == ("gps_tracker", "/City/B1", 3.0)  # kind as layer
    assert {k: [s.sensor_id for s in v] for k, v in reg.by_layer().items()} == {
        "environment": ["t1"],
        "perimeter": ["c1"],
        "gps_tracker": ["g1"],
    }


def test_lookups_iteration_and_frame(config, make_registry):
    reg = make_registry(config, [{"sensor_id": f"s{i}", "kind": "temperature"} for i in range(5)])
    assert len(reg) == 5
    assert "s3" in reg and "zz" not in reg
    assert reg.get("zz") is None and reg.get("s1").sensor_id == "s1"
    assert [s.sensor_id for s in reg] == reg.ids
    frame = reg.frame
    assert frame.height == 5
    assert frame["idx"].to_list() == list(range(5))
    assert frame["layer"].to_list() == ["environment"] * 5
    assert reg.kinds == ["temperature"]


def test_sensor_is_frozen_and_hashable(config, make_registry):
    reg = make_registry(config, [{"sensor_id": "a", "kind": "camera", "alarm_low": 1.0}])
    sensor = reg["a"]
    with pytest.raises(AttributeError):
        sensor.kind = "x"  # type: ignore[misc]
    assert hash(sensor) == hash(reg["a"])


def test_non_canonical_frame_is_refused(config):
    from coptwin.model.registry import SensorRegistry

    with pytest.raises(ValueError, match="to_canonical"):
        SensorRegistry.from_frame(pl.DataFrame({"sensor_id": ["a"]}), config)


def test_empty_registry(config):
    from coptwin.model.registry import SensorRegistry

    reg = SensorRegistry.empty()
    assert len(reg) == 0 and reg.ids == [] and reg.frame.height == 0
