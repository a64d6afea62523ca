"""Annotation pins in a real USD overlay layer composed over a real stage."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pxr import Sdf, Usd, UsdGeom

from coptwin.annotations.fold import AnnotationBook
from coptwin.annotations.schema import events_frame
from coptwin.scene import pins

from .conftest import ev


@dataclass
class Host:
    layer: Sdf.Layer
    root_path: str = "/COP"
    meters_per_unit: float = 1.0
    up_axis: str = "Y"


@pytest.fixture()
def composed(stage):
    """The test stage with an overlay layer as a sublayer of its session layer."""
    layer = Sdf.Layer.CreateAnonymous("overlay.usda")
    stage.GetSessionLayer().subLayerPaths.append(layer.identifier)
    return stage, Host(layer)


def _book(*events) -> AnnotationBook:
    book = AnnotationBook()
    book.apply(events_frame(events))
    return book


def _attr(stage, path, name):
    return stage.GetPrimAtPath(path).GetAttribute(name).Get()


def test_pins_sit_on_their_targets_with_text_author_time(composed):
    stage, host = composed
    book = _book(
        ev("created", "a", "e1", 0, target="/World/B1", text='roof "leak" <b>not bold</b>'),
        ev("created", "b", "e2", 1, target="sensor:s1", author="bob"),
        ev("created", "c", "e3", 2, target="point:1.0,2.0,3.0"),
    )
    resolve = pins.TargetResolver(stage, sensor_positions={"s1": (100.0, 5.0, -7.0)})
    stats = pins.apply(host, book, resolve)
    assert stats.written == 3 and stats.skipped == {}
    lift = pins.PinStyle().lift_m
    # B1: centre (10, 15, 20), 30 high, 4 x 6 half extents -> top centre (10, 30, 20).
    expected = {"a": (10, 30 + lift, 20), "b": (100, 5 + lift, -7), "c": (1, 2 + lift, 3)}
    for aid, xyz in expected.items():
        path = pins.pin_path(host, aid)
        prim = stage.GetPrimAtPath(path)
        assert prim.IsA(UsdGeom.Sphere)
        world = UsdGeom.Xformable(prim).ComputeLocalToWorldTransform(Usd.TimeCode.Default())
        assert tuple(world.ExtractTranslation()) == pytest.approx(xyz)
        assert _attr(stage, path, pins.ATTR_ID) == aid
        assert _attr(stage, path, pins.ATTR_STATUS) == "open"
    a = pins.pin_path(host, "a")
    assert _attr(stage, a, pins.ATTR_TEXT) == 'roof "leak" <b>not bold</b>'
    assert _attr(stage, a, pins.ATTR_AUTHOR) == "ann"
    assert _attr(stage, a, pins.ATTR_CREATED) == "2025-03-01T12:00:00Z"
    assert _attr(stage, pins.pin_path(host, "b"), pins.ATTR_AUTHOR) == "bob"
    # The base scene was not written.
    assert not stage.GetRootLayer().GetPrimAtPath("/COP")


def test_status_colours_replies_and_incremental_updates(composed):
    stage, host = composed
    events = [ev("created", "a", "e1", 0, target="point:0,0,0")]
    book = _book(*events)
    pins.apply(host, book, pins.TargetResolver(stage))
    path = pins.pin_path(host, "a")
    open_colour = tuple(_attr(stage, path, "primvars:displayColor")[0])
    result = book.apply(
        events_frame(
            [
                ev("resolved", "a", "e2", 1, status="resolved"),
                ev("replied", "r", "e3", 2, parent_id="a", target="point:0,0,0"),
            ]
        )
    )
    stats = pins.apply(host, book, pins.TargetResolver(stage), changed=result.changed)
    assert stats.written == 1  # the reply updates its root's pin, it gets none of its own
    assert _attr(stage, path, pins.ATTR_STATUS) == "resolved"
    assert _attr(stage, path, pins.ATTR_REPLIES) == 1
    resolved_colour = tuple(_attr(stage, path, "primvars:displayColor")[0])
    assert resolved_colour != open_colour
    assert resolved_colour == pytest.approx(pins.PIN_COLOURS["resolved"])
    assert not stage.GetPrimAtPath(pins.pin_path(host, "r"))


def test_notes_on_one_target_stack_and_removed_notes_lose_their_pin(composed):
    stage, host = composed
    book = _book(
        ev("created", "a", "e1", 0, target="/World/B2"),
        ev("created", "b", "e2", 1, target="/World/B2"),
    )
    pins.apply(host, book, pins.TargetResolver(stage))
    ya = _attr(stage, pins.pin_path(host, "a"), "xformOp:translate")[1]
    yb = _attr(stage, pins.pin_path(host, "b"), "xformOp:translate")[1]
    assert yb - ya == pytest.approx(pins.PinStyle().stack_m)
    result = book.apply(events_frame([ev("created", "b", "e2", 1, target="/World/B2")]), True)
    assert result.changed == ["a"]
    stats = pins.apply(host, book, pins.TargetResolver(stage), changed=result.changed)
    assert stats.removed == 1 and not stage.GetPrimAtPath(pins.pin_path(host, "a"))


def test_unplaceable_targets_are_counted_not_fatal(composed):
    stage, host = composed
    book = _book(
        ev("created", "a", "e1", 0, target="/World/Gone"),
        ev("created", "b", "e2", 1, target="sensor:unplaced"),
        ev("created", "c", "e3", 2, target="point:1,1,1"),
    )
    stats = pins.apply(host, book, pins.TargetResolver(stage, sensor_positions={}))
    assert stats.written == 1 and stats.skipped == {"unresolved_target": 2}


def test_layer_toggle_hides_all_pins(composed):
    stage, host = composed
    book = _book(ev("created", "a", "e1", 0, target="point:0,0,0"))
    pins.apply(host, book, pins.TargetResolver(stage))
    prim = stage.GetPrimAtPath(pins.pin_path(host, "a"))
    assert UsdGeom.Imageable(prim).ComputeVisibility() == UsdGeom.Tokens.inherited
    pins.set_visible(host, False)
    assert not pins.is_visible(host)
    assert UsdGeom.Imageable(prim).ComputeVisibility() == UsdGeom.Tokens.invisible
    pins.set_visible(host, True)
    assert UsdGeom.Imageable(prim).ComputeVisibility() == UsdGeom.Tokens.inherited


def test_z_up_centimetre_stage_scales_and_lifts_along_z():
    host = Host(Sdf.Layer.CreateAnonymous("o.usda"), meters_per_unit=0.01, up_axis="Z")
    book = _book(ev("created", "a", "e1", 0, target="point:10,20,30"))
    pins.apply(host, book, pins.TargetResolver())
    spec = host.layer.GetPrimAtPath(pins.pin_path(host, "a"))
    style = pins.PinStyle()
    assert tuple(spec.attributes["xformOp:translate"].default) == pytest.approx(
        (10, 20, 30 + style.lift_m * 100)
    )
    assert spec.attributes["radius"].default == pytest.approx(style.radius_m * 100)


def test_pin_text_survives_export_verbatim(tmp_path):
    host = Host(Sdf.Layer.CreateAnonymous("o.usda"))
    text = "line1\n'''quotes''' \"\"\" \\ {braces} </def> ${X}"
    book = _book(ev("created", "weird id/../x", "e1", 0, target="point:0,0,0", text=text))
    pins.apply(host, book, pins.TargetResolver())
    out = tmp_path / "overlay.usda"
    host.layer.Export(str(out))
    again = Sdf.Layer.FindOrOpen(str(out))
    path = pins.pin_path(host, "weird id/../x")
    assert again.GetAttributeAtPath(path.AppendProperty(pins.ATTR_TEXT)).default == text
    assert again.GetAttributeAtPath(path.AppendProperty(pins.ATTR_ID)).default == "weird id/../x"
