"""Viewport picks on marker instances -> the sensor; framing a marker (issue 11.4).

Markers are instances of one PointInstancer per layer.  Kit's selection names
the instancer (or a prototype prim below it), never the sensor's data prim, and
its pick query answers a prim path and the picked world point.  These tests pin
the Kit-free mapping; the Kit glue is tested against the stand-in in tests/kit.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from coptwin.ui.picking import (
    FrameTarget,
    Pick,
    frame_camera,
    instancer_of,
    nearest,
    resolve_instance_pick,
)
from coptwin.ui.selection import SelectionSync

ENV = "/COP/Sensors/environment/Markers"
SEC = "/COP/Sensors/security/Markers"
INSTANCERS = {ENV: "environment", SEC: "security"}


@pytest.fixture
def placed(city_rows):
    """The city rows with marker positions 10 units apart along x."""
    spots = {"t1": (0.0, 0.0, 5.0), "t2": (10.0, 0.0, 5.0), "t3": (20.0, 0.0, 5.0)}
    spots |= {"m1": (0.0, 10.0, 1.0), "m2": (10.0, 10.0, 1.0)}
    return tuple(dataclasses.replace(r, position=spots.get(r.sensor_id)) for r in city_rows)


def sync_for(rows, selected=None, framed=None):
    sync = SelectionSync(
        (selected if selected is not None else []).append,
        (framed if framed is not None else []).append,
    )
    sync.bind(
        sync._select_prims,
        sync._frame,
        None,
        instancers=lambda: INSTANCERS,
        sensor_for_instance=lambda inst, i: {(SEC, 1): "m2"}.get((inst, i)),
        marker_size=3.0,
    )
    sync.update(rows)
    return sync


def test_instancer_of_matches_the_instancer_and_its_prototypes():
    assert instancer_of(ENV, INSTANCERS) == ENV
    assert instancer_of(ENV + "/Prototypes/temperature/Mesh", INSTANCERS) == ENV
    assert instancer_of("/COP/Sensors/environment/MarkersX", INSTANCERS) is None
    assert instancer_of("/World/Buildings/B7", INSTANCERS) is None


def test_nearest_within_reach_only():
    spots = [("a", (0.0, 0.0, 0.0)), ("b", (4.0, 0.0, 0.0))]
    assert nearest((3.0, 0.0, 0.0), spots, 2.0) == "b"
    assert nearest((2.0, 9.0, 0.0), spots, 2.0) is None


def test_a_world_point_on_a_marker_names_its_sensor(placed):
    positions = {r.sensor_id: (r.layer, r.position) for r in placed}
    on_t2 = Pick(ENV + "/Prototypes/temperature", (10.8, 0.4, 6.2))
    assert resolve_instance_pick(on_t2, INSTANCERS, positions, 3.0) == "t2"
    # the same point on the other layer's instancer names none of its markers
    assert resolve_instance_pick(Pick(SEC, (10.8, 0.4, 6.2)), INSTANCERS, positions, 3.0) is None
    assert resolve_instance_pick(Pick(ENV), INSTANCERS, positions, 3.0) is None  # no point


def test_an_instance_index_names_its_sensor_through_the_overlay(placed):
    positions = {r.sensor_id: (r.layer, r.position) for r in placed}
    lookup = {(SEC, 1): "m2"}.get
    pick = Pick(SEC + "/Prototypes/camera", None, instance=1)
    found = resolve_instance_pick(pick, INSTANCERS, positions, 3.0, lambda p, i: lookup((p, i)))
    assert found == "m2"


def test_kit_selecting_the_instancer_selects_the_picked_sensor_row(placed):
    """Fails before the fix: an instancer path was 'a prim of no sensor'."""
    sync = sync_for(placed)
    assert sync.on_pick(Pick(ENV, (10.5, 0.0, 6.0))) == "t2"
    sync.selected = None
    assert sync.on_stage_selection([ENV])  # Kit's selection event after the click
    assert sync.selected == "t2"


def test_pending_instancer_selection_changes_nothing(placed):
    """Kit may send the selection event before the pick query answers: wait for it."""
    sync = sync_for(placed)
    sync.select_row("t1")
    assert not sync.on_stage_selection([SEC])  # no pick known yet for that instancer
    assert sync.selected == "t1"


def test_framing_a_row_frames_its_marker_not_an_empty_xform(placed):
    framed: list = []
    sync = sync_for(placed, framed=framed)
    sync.select_row("t2")
    assert framed == [FrameTarget((10.0, 0.0, 5.0), 3.0)]
    sync.select_row("w1")  # no marker: frame what the stage selected (its building)
    assert framed[-1] is None


def test_frame_camera_looks_at_the_marker_from_the_same_direction():
    eye, target = frame_camera((100.0, 0.0, 100.0), (0.0, 0.0, 0.0), FrameTarget((5, 5, 0), 2.0))
    assert target == (5, 5, 0)
    direction = [e - t for e, t in zip(eye, target, strict=True)]
    assert direction[1] == pytest.approx(0.0) and direction[0] == pytest.approx(direction[2])
    distance = math.dist(eye, target)
    assert 5.0 < distance < 20.0  # the 2-unit marker fills about a fifth of a 60° view
