"""TargetCheck: targets are checked against the registry and the stage when given."""

from __future__ import annotations

import pytest

from coptwin.annotations.model import AnnotationError
from coptwin.annotations.targets import TargetCheck


def test_syntax_only_without_registry_or_stage():
    check = TargetCheck()
    assert check("sensor:anything").value == "anything"
    assert check("/World/Anything").kind == "prim"
    with pytest.raises(AnnotationError):
        check("anything")


def test_sensor_ids_from_a_container_or_a_predicate(stage):
    for known in ({"s1"}, lambda sid: sid == "s1"):
        check = TargetCheck(sensor_ids=known, stage=stage)
        assert str(check("sensor:s1")) == "sensor:s1"
        with pytest.raises(AnnotationError, match="unknown sensor 's2'"):
            check("sensor:s2")


def test_prims_must_exist_in_the_stage_points_need_no_stage(stage):
    check = TargetCheck(stage=stage)
    assert check("/World/B1").value == "/World/B1"
    with pytest.raises(AnnotationError, match="unknown prim"):
        check("/World/B3")
    assert check("point:1,2,3").point == (1.0, 2.0, 3.0)
