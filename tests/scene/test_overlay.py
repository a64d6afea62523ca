"""coptwin.scene.overlay: markers and attributes in a session sublayer, base never written."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pxr import Sdf, Tf, Usd, UsdGeom

from coptwin.scene.citygen import CityInfo
from coptwin.scene.overlay import MarkerUpdate, Overlay, write_cop_root

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
GREEN, RED = (0.0, 0.6, 0.5), (0.84, 0.37, 0.0)


def _bldg(info: CityInfo, oid: int = 101) -> str:
    return f"/{info.name}/Buildings/Bldg_{oid}"


def _updates(n: int, info: CityInfo | None = None, t: int = 0, **kw) -> list[MarkerUpdate]:
    out = []
    for i in range(n):
        layer, kind = (("environment", "temperature"), ("security", "camera"))[i % 2]
        fields = dict(
            sensor_id=f"s-{i}",
            layer=layer,
            kind=kind,
            position=(float(i), 10.0, -float(i)),
            color=GREEN,
            status="ok",
            value=20.0 + i + t,
            unit="degC",
            ts=T0 + timedelta(seconds=t),
            quantity="temperature",
        )
        if info is not None and i % 2 == 0:
            fields["bound_prim"] = _bldg(info, 101 + i % 20)
        fields.update(kw)
        out.append(MarkerUpdate(**fields))
    return out


def _attach(info: CityInfo, **kw) -> tuple[Usd.Stage, Overlay]:
    stage = Usd.Stage.Open(str(info.root_layer))
    kw.setdefault("detail_time_budget_s", None)
    ov = Overlay.attach(stage, **kw)
    ov.define_layers([("environment", "Environment", True), ("security", "Security", True)])
    return stage, ov


def test_base_scene_bytes_unchanged(city_copy: CityInfo, tmp_path: Path, digest) -> None:
    before = digest(city_copy.out_dir)
    stage, ov = _attach(city_copy)
    ov.apply(_updates(20, city_copy))
    ov.apply(_updates(20, city_copy, t=1, status="alarm", color=RED))
    ov.set_layer_visible("security", False)
    ov.export(tmp_path / "out" / "overlay.usda")
    write_cop_root(
        tmp_path / "out" / "cop.usda", city_copy.root_layer, tmp_path / "out" / "overlay.usda"
    )
    stage.Save()  # even saving the stage must not reach the base layers
    ov.detach()
    assert digest(city_copy.out_dir) == before
    assert not any(lyr.dirty for lyr in stage.GetUsedLayers() if not lyr.anonymous)


def test_real_export_bytes_unchanged(ce_ottawa: Path, tmp_path: Path, digest) -> None:
    folder = ce_ottawa.parent.parent
    before = digest(folder)
    stage = Usd.Stage.Open(str(ce_ottawa))
    ov = Overlay.attach(stage, detail_budget=None)
    ov.apply(
        [
            MarkerUpdate(
                "roof-1",
                "environment",
                "temperature",
                (-444.46, 19.65, 425.41),
                GREEN,
                "ok",
                21.5,
                "degC",
                T0,
                "temperature",
                bound_prim="/ce_ottawa_a/Buildings/Bldg_101",
            )
        ]
    )
    assert stage.GetPrimAtPath("/ce_ottawa_a/Buildings/Bldg_101").GetAttribute(
        "coptwin:temperature"
    ).Get() == pytest.approx(21.5)
    ov.export(tmp_path / "overlay.usda")
    write_cop_root(tmp_path / "cop.usda", ce_ottawa, tmp_path / "overlay.usda")
    stage.Save()
    ov.detach()
    assert digest(folder) == before


def test_overlay_is_session_sublayer_and_wins(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    session = stage.GetSessionLayer()
    assert list(session.subLayerPaths)[0] == ov.layer.identifier
    assert ov.layer.identifier not in stage.GetRootLayer().subLayerPaths
    path = _bldg(city_copy)
    attr = stage.GetPrimAtPath(path).GetAttribute("CityEngine:Rule:User:text")
    base_value = attr.Get()
    over = Sdf.CreatePrimInLayer(ov.layer, path)
    spec = Sdf.AttributeSpec(over, "CityEngine:Rule:User:text", Sdf.ValueTypeNames.String)
    spec.default = "overridden"
    assert attr.Get() == "overridden"
    ov.detach()
    assert attr.Get() == base_value
    assert ov.layer.identifier not in session.subLayerPaths


def test_markers_and_data_prims(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    stats = ov.apply(_updates(6, city_copy))
    assert stats.created == 6 and stats.details_pending == 0 and not stats.skipped
    inst = UsdGeom.PointInstancer(stage.GetPrimAtPath(ov.instancer_path("environment")))
    assert inst and len(inst.GetPositionsAttr().Get()) == 3
    assert list(inst.GetProtoIndicesAttr().Get()) == [0, 0, 0]
    colors = UsdGeom.PrimvarsAPI(inst).GetPrimvar("displayColor")
    assert colors.GetInterpolation() == "vertex" and len(colors.Get()) == 3
    assert len(set(inst.GetIdsAttr().Get())) == 3
    xforms = inst.ComputeInstanceTransformsAtTime(Usd.TimeCode.Default(), Usd.TimeCode.Default())
    assert len(xforms) == 3
    prim = stage.GetPrimAtPath(ov.marker_path("s-2"))
    assert prim.GetTypeName() == "Xform"
    assert prim.GetAttribute("coptwin:sensorId").Get() == "s-2"
    assert prim.GetAttribute("coptwin:value").Get() == pytest.approx(22.0)
    assert prim.GetAttribute("coptwin:unit").Get() == "degC"
    assert prim.GetAttribute("coptwin:status").Get() == "ok"
    assert prim.GetAttribute("coptwin:ts").Get() == "2024-05-01T12:00:00Z"
    assert prim.GetAttribute("coptwin:kind").Get() == "temperature"
    assert prim.GetAttribute("coptwin:placement").Get() == "exact"
    world = UsdGeom.Xformable(prim).ComputeLocalToWorldTransform(Usd.TimeCode.Default())
    assert tuple(world.ExtractTranslation()) == pytest.approx((2.0, 10.0, -2.0))
    bldg = stage.GetPrimAtPath(_bldg(city_copy, 103))
    assert bldg.GetAttribute("coptwin:temperature").Get() == pytest.approx(22.0)
    assert bldg.GetAttribute("coptwin:status").Get() == "ok"
    assert bldg.GetAttribute("coptwin:ts").Get() == "2024-05-01T12:00:00Z"


def test_tick_touches_only_given_sensors(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    ov.apply(_updates(40, city_copy))
    changed: list[Sdf.Path] = []

    def on_change(notice: Usd.Notice.ObjectsChanged, sender: Usd.Stage) -> None:
        changed.extend(notice.GetChangedInfoOnlyPaths())
        changed.extend(notice.GetResyncedPaths())

    key = Tf.Notice.Register(Usd.Notice.ObjectsChanged, on_change, stage)
    try:
        ups = [u for u in _updates(40, city_copy, t=5) if u.sensor_id in ("s-4", "s-7")]
        ups[0].status, ups[0].color = "alarm", RED
        stats = ov.apply(ups)
    finally:
        key.Revoke()
    assert stats.details_written == 2
    prims = {p.GetPrimPath() for p in changed}
    allowed = {
        ov.marker_path("s-4"),
        ov.marker_path("s-7"),
        ov.instancer_path("environment"),
        ov.instancer_path("security"),
        Sdf.Path(_bldg(city_copy, 105)),  # s-4 is bound to Bldg_105
    }
    assert prims <= allowed
    assert ov.marker_path("s-4") in prims and ov.marker_path("s-7") in prims
    others = {ov.marker_path(f"s-{i}") for i in range(40) if i not in (4, 7)}
    assert not prims & others
    # the instancer arrays were patched in place: s-4 keeps its index, nothing else moved
    layer, index = ov.instance_index("s-4")
    inst = UsdGeom.PointInstancer(stage.GetPrimAtPath(ov.instancer_path(layer)))
    colors = UsdGeom.PrimvarsAPI(inst).GetPrimvar("displayColor").Get()
    assert tuple(colors[index]) == pytest.approx(RED)
    assert sum(tuple(c) == pytest.approx(RED) for c in colors) == 1


def test_unchanged_values_are_not_rewritten(city_copy: CityInfo) -> None:
    _, ov = _attach(city_copy)
    ups = _updates(4)
    ov.apply(ups)
    again = ov.apply(ups)
    assert again.attribute_writes == 0


def test_layer_visibility(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    ov.apply(_updates(4))
    inst = UsdGeom.Imageable(stage.GetPrimAtPath(ov.instancer_path("security")))
    data = UsdGeom.Imageable(stage.GetPrimAtPath(ov.marker_path("s-1")))
    assert inst.ComputeVisibility() == UsdGeom.Tokens.inherited
    ov.set_layer_visible("security", False)
    assert inst.ComputeVisibility() == UsdGeom.Tokens.invisible
    assert data.ComputeVisibility() == UsdGeom.Tokens.invisible
    env = UsdGeom.Imageable(stage.GetPrimAtPath(ov.instancer_path("environment")))
    assert env.ComputeVisibility() == UsdGeom.Tokens.inherited
    ov.set_layer_visible("security", True)
    assert inst.ComputeVisibility() == UsdGeom.Tokens.inherited
    ov.define_layers([("security", "Security", False)])
    assert inst.ComputeVisibility() == UsdGeom.Tokens.invisible
    with pytest.raises(KeyError, match="nope"):
        ov.set_layer_visible("nope", True)


def _mask(stage: Usd.Stage, ov: Overlay, layer: str) -> list[bool]:
    inst = UsdGeom.PointInstancer(stage.GetPrimAtPath(ov.instancer_path(layer)))
    return list(
        inst.ComputeMaskAtTime(Usd.TimeCode.Default()) or [True] * len(inst.GetIdsAttr().Get())
    )


def test_hidden_sensors(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    ov.apply(_updates(6))
    layer, index = ov.instance_index("s-2")
    ov.set_sensor_hidden("s-2", True)
    mask = _mask(stage, ov, layer)
    assert mask[index] is False and mask.count(False) == 1
    ov.set_sensor_hidden("s-2", False)
    assert all(_mask(stage, ov, layer))
    with pytest.raises(KeyError):
        ov.set_sensor_hidden("missing", True)


def test_sensor_without_position_stays_invisible_until_placed(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    ov.apply(_updates(2, position=None))
    layer, index = ov.instance_index("s-0")
    assert _mask(stage, ov, layer)[index] is False
    ov.apply(_updates(1, position=(1.0, 2.0, 3.0)))
    assert _mask(stage, ov, layer)[index] is True


def test_moving_sensor_updates_positions_in_place(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    ov.apply(_updates(4))
    layer, index = ov.instance_index("s-2")
    ov.apply([MarkerUpdate("s-2", "environment", "temperature", position=(50.0, 1.0, 2.0))])
    inst = UsdGeom.PointInstancer(stage.GetPrimAtPath(ov.instancer_path(layer)))
    positions = inst.GetPositionsAttr().Get()
    assert len(positions) == 2 and tuple(positions[index]) == pytest.approx((50.0, 1.0, 2.0))
    assert ov.instance_index("s-2") == (layer, index)
    # fields left None keep their values
    prim = stage.GetPrimAtPath(ov.marker_path("s-2"))
    assert prim.GetAttribute("coptwin:value").Get() == pytest.approx(22.0)


def test_marker_size_in_metres_with_centimetre_stage(tmp_path: Path) -> None:
    stage = Usd.Stage.CreateNew(str(tmp_path / "cm.usda"))
    UsdGeom.SetStageMetersPerUnit(stage, 0.01)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    ov = Overlay.attach(stage, marker_size_m=2.0, detail_budget=None)
    assert ov.meters_per_unit == 0.01 and ov.up_axis == "Z"
    ov.apply(
        [
            MarkerUpdate("t", "env", "temperature", (0.0, 0.0, 0.0)),
            MarkerUpdate("m", "env", "motion", (0.0, 0.0, 0.0)),
        ]
    )
    protos = UsdGeom.PointInstancer(stage.GetPrimAtPath(ov.instancer_path("env")))
    targets = protos.GetPrototypesRel().GetTargets()
    sphere = stage.GetPrimAtPath(targets[0].AppendChild("Shape"))
    assert sphere.GetTypeName() == "Sphere"
    assert sphere.GetAttribute("radius").Get() == pytest.approx(100.0)  # 1 m in cm
    cone = stage.GetPrimAtPath(targets[1].AppendChild("Shape"))
    assert cone.GetTypeName() == "Cone" and cone.GetAttribute("axis").Get() == "Z"
    lift = stage.GetPrimAtPath(targets[1]).GetAttribute("xformOp:translate").Get()
    assert tuple(lift) == pytest.approx((0.0, 0.0, 100.0))


def test_cop_root_composes_both_layers(city_copy: CityInfo, tmp_path: Path) -> None:
    _, ov = _attach(city_copy)
    ov.apply(_updates(10, city_copy))
    out = tmp_path / "out"
    overlay_file = ov.export(out / "overlay.usda")
    cop = write_cop_root(out / "cop.usda", city_copy.root_layer, overlay_file)
    layer = Sdf.Layer.FindOrOpen(str(cop))
    subs = list(layer.subLayerPaths)
    assert subs[0] == "overlay.usda" and not Path(subs[1]).is_absolute()
    stage = Usd.Stage.Open(str(cop))
    assert stage.GetDefaultPrim().GetName() == city_copy.name
    assert UsdGeom.GetStageUpAxis(stage) == "Y" and UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    assert stage.GetPrimAtPath(f"/{city_copy.name}/Buildings/Bldg_101")
    inst = UsdGeom.PointInstancer(stage.GetPrimAtPath("/COP/Sensors/environment/Markers"))
    assert len(inst.GetPositionsAttr().Get()) == 5
    assert stage.GetPrimAtPath(_bldg(city_copy)).GetAttribute("coptwin:status").Get() == "ok"
    with pytest.raises(ValueError):
        write_cop_root(city_copy.root_layer, city_copy.root_layer, overlay_file)


def test_detail_budget_queues_and_export_flushes(city_copy: CityInfo, tmp_path: Path) -> None:
    stage, ov = _attach(city_copy)
    ov.detail_budget = 2
    stats = ov.apply(_updates(5))
    assert stats.details_written == 2 and stats.details_pending == 3
    inst = UsdGeom.PointInstancer(stage.GetPrimAtPath(ov.instancer_path("environment")))
    assert len(inst.GetPositionsAttr().Get()) == 3  # markers never wait
    # a queued sensor gets a newer update with value None: the queued value survives
    ov.apply([MarkerUpdate("s-4", "environment", "temperature", status="alarm", color=RED)])
    assert ov.details_pending == 1  # oldest first: s-2, s-3 written, s-4 (merged) waits
    ov.export(tmp_path / "overlay.usda")
    assert ov.details_pending == 0
    prim = stage.GetPrimAtPath(ov.marker_path("s-4"))
    assert prim.GetAttribute("coptwin:value").Get() == pytest.approx(24.0)
    assert prim.GetAttribute("coptwin:status").Get() == "alarm"
    assert prim.GetAttribute("coptwin:ts").Get() == "2024-05-01T12:00:00Z"


def test_bad_input_is_counted_not_fatal(city_copy: CityInfo, caplog) -> None:
    stage, ov = _attach(city_copy)
    ov.apply(_updates(2))
    stats = ov.apply(
        [
            MarkerUpdate("", "environment"),
            MarkerUpdate("s-0", "environment", "temperature", position=(math.nan, 0.0, 0.0)),
            MarkerUpdate("s-1", "security", "camera", color=(1.0, "x", 0.0)),  # type: ignore[arg-type]
            MarkerUpdate("s-2", "environment", "temperature", value=math.inf, position=(1, 2, 3)),
            MarkerUpdate("s-3", "security", "camera", position=(1, 2, 3), bound_prim="/no/such"),
        ]
    )
    assert stats.skipped == {
        "empty_sensor_id": 1,
        "bad_position": 1,
        "bad_color": 1,
        "bad_value": 1,
        "unknown_bound_prim": 1,
    }
    assert "skipped" in caplog.text
    layer, index = ov.instance_index("s-0")
    inst = UsdGeom.PointInstancer(stage.GetPrimAtPath(ov.instancer_path(layer)))
    assert tuple(inst.GetPositionsAttr().Get()[index]) == pytest.approx((0.0, 10.0, 0.0))
    assert not stage.GetPrimAtPath("/no/such")
    assert ov.sensor_count == 4


def test_sensor_ids_are_sanitised_and_mapped_both_ways(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    ids = ["a-1", "a.1", "a_1", "Zone A/3", "1st", "温度"]
    ov.apply([MarkerUpdate(s, "environment", "temperature", (0.0, 0.0, 0.0)) for s in ids])
    paths = [ov.marker_path(s) for s in ids]
    assert len(set(paths)) == len(ids)
    for sid, path in zip(ids, paths, strict=True):
        assert stage.GetPrimAtPath(path).GetAttribute("coptwin:sensorId").Get() == sid
        assert ov.sensor_for_path(path) == sid
        assert ov.sensor_for_path(path.AppendChild("child")) == sid
        layer, index = ov.instance_index(sid)
        assert ov.sensor_for_instance(layer, index) == sid
    assert ov.marker_path("a_1").name == "a_1"
    assert ov.sensor_for_path("/COP") is None and ov.marker_path("zzz") is None


def test_worst_status_wins_on_shared_building(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    bldg = _bldg(city_copy)
    ov.apply(
        [
            MarkerUpdate(
                "x", "environment", "temperature", (0, 0, 0), status="alarm", bound_prim=bldg
            ),
            MarkerUpdate(
                "y", "environment", "temperature", (0, 0, 0), status="ok", bound_prim=bldg
            ),
        ]
    )
    attr = stage.GetPrimAtPath(bldg).GetAttribute("coptwin:status")
    assert attr.Get() == "alarm"
    ov.apply([MarkerUpdate("x", "environment", "temperature", status="ok", bound_prim=bldg)])
    assert attr.Get() == "ok"


def test_file_backed_layer_and_guard(city_copy: CityInfo, tmp_path: Path) -> None:
    stage = Usd.Stage.Open(str(city_copy.root_layer))
    with pytest.raises(ValueError, match="refusing"):
        Overlay.attach(stage, layer_path=city_copy.root_layer)
    path = tmp_path / "live" / "overlay.usda"
    ov = Overlay.attach(stage, layer_path=path)
    ov.apply(_updates(2))
    ov.save()
    text = path.read_text(encoding="utf-8")
    assert "PointInstancer" in text and "coptwin:sensorId" in text


def test_reset_removes_everything(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    ov.apply(_updates(6, city_copy))
    ov.reset()
    assert ov.sensor_count == 0
    inst = UsdGeom.PointInstancer(stage.GetPrimAtPath(ov.instancer_path("environment")))
    assert len(inst.GetPositionsAttr().Get()) == 0
    assert not stage.GetPrimAtPath(_bldg(city_copy)).GetAttribute("coptwin:status")
    ov.apply(_updates(2))
    assert ov.sensor_count == 2


def test_attach_validates(city_copy: CityInfo) -> None:
    stage = Usd.Stage.Open(str(city_copy.root_layer))
    with pytest.raises(ValueError):
        Overlay.attach(stage, root="COP")
    with pytest.raises(ValueError):
        Overlay.attach(stage, up_axis="X")
    with pytest.raises(ValueError):
        Overlay.attach(stage, marker_size_m=0)
    ov = Overlay.attach(stage, root="/Live")
    assert ov.root_path == Sdf.Path("/Live") and stage.GetPrimAtPath("/Live/Sensors")


def test_time_budget_defers_details_beyond_the_minimum(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy, detail_time_budget_s=0.0)
    ov.detail_min = 1
    stats = ov.apply(_updates(40))
    assert 1 <= stats.details_written < 40
    assert stats.details_pending == 40 - stats.details_written == ov.details_pending
    inst = UsdGeom.PointInstancer(stage.GetPrimAtPath(ov.instancer_path("security")))
    assert len(inst.GetPositionsAttr().Get()) == 20  # every marker is drawn at once
    assert ov.flush_details().details_written == 40 - stats.details_written
    assert all(stage.GetPrimAtPath(ov.marker_path(f"s-{i}")) for i in range(40))
    ov.detail_min = 500
    assert ov.apply(_updates(40, t=1)).details_pending == 0  # small ticks stay complete


def test_kind_change_switches_prototype_and_empty_kind_keeps_it(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    ov.apply([MarkerUpdate("k", "environment", "temperature", (0.0, 0.0, 0.0))])
    layer, index = ov.instance_index("k")
    inst = UsdGeom.PointInstancer(stage.GetPrimAtPath(ov.instancer_path(layer)))
    ov.apply([MarkerUpdate("k", "environment", "camera")])
    assert inst.GetProtoIndicesAttr().Get()[index] == 1
    ov.apply([MarkerUpdate("k", "environment", "")])
    assert inst.GetProtoIndicesAttr().Get()[index] == 1
    assert stage.GetPrimAtPath(ov.marker_path("k")).GetAttribute("coptwin:kind").Get() == "camera"


def _batch(ids: list[str], status: str, value: float, t: int, **kw):
    import numpy as np

    from coptwin.model.palette import color_array
    from coptwin.scene.overlay import MarkerBatch

    n = len(ids)
    fields = dict(
        sensor_ids=ids,
        layers=["environment"] * n,
        kinds=["temperature"] * n,
        statuses=[status] * n,
        colors=color_array([status] * n),
        values=[value] * n,
        units=["degC"] * n,
        ts=[T0 + timedelta(seconds=t)] * n,
        quantities=["temperature"] * n,
        placements=["exact"] * n,
        bound_prims=[""] * n,
    )
    fields.update(kw)
    assert isinstance(fields["colors"], np.ndarray)
    return MarkerBatch(**fields)


def test_columnar_batches_patch_markers_and_queue_details(city_copy: CityInfo) -> None:
    from coptwin.model.palette import PALETTE

    stage, ov = _attach(city_copy)
    first = [u for u in _updates(6) if u.layer == "environment"]  # s-0, s-2, s-4
    ov.apply(first)
    ids = [u.sensor_id for u in first]
    # Staging touches no USD; flush writes the colours and the queued details.
    ov.detail_time_budget_s = None
    ov.stage_batch(_batch(ids, "alarm", 99.0, 5))
    ov.stage_batch(_batch(ids[:1], "warn", 30.0, 6))  # newest wins for s-0
    ov.flush()
    inst = UsdGeom.PointInstancer(stage.GetPrimAtPath(str(ov.instancer_path("environment"))))
    colors = UsdGeom.PrimvarsAPI(inst).GetPrimvar("displayColor").Get()
    index = {sid: ov.instance_index(sid)[1] for sid in ids}
    assert tuple(colors[index["s-0"]]) == pytest.approx(PALETTE["warn"], abs=1e-6)
    assert tuple(colors[index["s-2"]]) == pytest.approx(PALETTE["alarm"], abs=1e-6)
    prim = stage.GetPrimAtPath(str(ov.marker_path("s-0")))
    assert prim.GetAttribute("coptwin:value").Get() == 30.0
    assert prim.GetAttribute("coptwin:status").Get() == "warn"
    s2 = stage.GetPrimAtPath(str(ov.marker_path("s-2")))
    assert s2.GetAttribute("coptwin:value").Get() == 99.0
    # The data prim stays where the marker is (the batch carried no position).
    translate = s2.GetAttribute("xformOp:translate").Get()
    assert tuple(translate) == pytest.approx((2.0, 10.0, -2.0))
    assert ov.details_pending == 0


def test_batch_with_unknown_sensors_and_moves(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    batch = _batch(["new-1"], "ok", 1.0, 1, positions={"new-1": (5.0, 1.0, 5.0)})
    ov.stage_batch(batch)  # a new sensor needs USD structure: created by flush()
    assert ov.marker_path("new-1") is None
    ov.flush()
    prim = stage.GetPrimAtPath(str(ov.marker_path("new-1")))
    assert tuple(prim.GetAttribute("xformOp:translate").Get()) == pytest.approx((5.0, 1.0, 5.0))
    moved = _batch(["new-1"], "ok", 2.0, 2, positions={"new-1": (7.0, 1.0, 5.0)})
    ov.stage_batch(moved)
    ov.flush()
    inst = UsdGeom.PointInstancer(stage.GetPrimAtPath(str(ov.instancer_path("environment"))))
    assert tuple(inst.GetPositionsAttr().Get()[ov.instance_index("new-1")[1]]) == pytest.approx(
        (7.0, 1.0, 5.0)
    )
    assert tuple(prim.GetAttribute("xformOp:translate").Get()) == pytest.approx((7.0, 1.0, 5.0))
