"""coptwin.scene.overlay: markers and attributes in a session sublayer, base never written."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from pxr import Sdf, Tf, Usd, UsdGeom

from coptwin.scene.citygen import CityInfo
from coptwin.scene.naming import stable_id
from coptwin.scene.overlay import DETAIL_FLOOR, MarkerBatch, Overlay, OverlayStats, write_cop_root

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
GREEN, RED, GREY = (0.0, 0.6, 0.5), (0.84, 0.37, 0.0), (0.6, 0.6, 0.6)
_COLUMNS = {
    "layer": "layers",
    "kind": "kinds",
    "status": "statuses",
    "value": "values",
    "unit": "units",
    "ts": "ts",
    "quantity": "quantities",
    "placement": "placements",
    "bound_prim": "bound_prims",
}


def _bldg(info: CityInfo, oid: int = 101) -> str:
    return f"/{info.name}/Buildings/Bldg_{oid}"


def _rows(n: int, info: CityInfo | None = None, t: int = 0, **kw) -> list[dict]:
    """``n`` sensors as row dicts (environment/security alternating); ``kw`` sets a
    field in every row."""
    out = []
    for i in range(n):
        layer, kind = (("environment", "temperature"), ("security", "camera"))[i % 2]
        row = dict(
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
            row["bound_prim"] = _bldg(info, 101 + i % 20)
        row.update(kw)
        out.append(row)
    return out


def _row(sensor_id: str, layer: str, kind: str = "", position=None, **kw) -> dict:
    return dict(sensor_id=sensor_id, layer=layer, kind=kind, position=position, **kw)


def _batch(rows: list[dict]) -> MarkerBatch:
    """Row dicts as one MarkerBatch (missing fields take the batch defaults)."""
    defaults = {"status": "unknown", "placement": "exact", "value": None, "ts": None}
    columns = {
        col: [r.get(key, defaults.get(key, "")) for r in rows] for key, col in _COLUMNS.items()
    }
    return MarkerBatch(
        sensor_ids=[r["sensor_id"] for r in rows],
        colors=[r.get("color", GREY) for r in rows],
        positions={r["sensor_id"]: r["position"] for r in rows if r.get("position") is not None},
        building_attrs={r["sensor_id"]: r["building_attrs"] for r in rows if "building_attrs" in r},
        **columns,
    )


def _apply(ov: Overlay, rows: list[dict] | MarkerBatch) -> OverlayStats:
    ov.stage_batch(rows if isinstance(rows, MarkerBatch) else _batch(rows))
    return ov.flush()


def _instancer_path(stage: Usd.Stage, ov: Overlay, layer: str) -> Sdf.Path:
    """``<root>/Sensors/<layer prim>/Markers`` of the layer named ``layer`` (its
    prim carries ``coptwin:layer``)."""
    for prim in stage.GetPrimAtPath(ov.root_path.AppendChild("Sensors")).GetChildren():
        if prim.GetAttribute("coptwin:layer").Get() == layer:
            return prim.GetPath().AppendChild("Markers")
    raise KeyError(layer)


def _instancer(stage: Usd.Stage, ov: Overlay, layer: str) -> UsdGeom.PointInstancer:
    return UsdGeom.PointInstancer(stage.GetPrimAtPath(_instancer_path(stage, ov, layer)))


def _index(stage: Usd.Stage, ov: Overlay, layer: str, sensor_id: str) -> int:
    """The sensor's instance in its layer's PointInstancer, found through its id."""
    return list(_instancer(stage, ov, layer).GetIdsAttr().Get()).index(stable_id(sensor_id))


def _attach(info: CityInfo, **kw) -> tuple[Usd.Stage, Overlay]:
    stage = Usd.Stage.Open(str(info.root_layer))
    kw.setdefault("detail_time_budget_s", None)
    ov = Overlay.attach(stage, **kw)
    ov.define_layers([("environment", "Environment", True), ("security", "Security", True)])
    return stage, ov


def test_base_scene_bytes_unchanged(city_copy: CityInfo, tmp_path: Path, digest) -> None:
    before = digest(city_copy.out_dir)
    stage, ov = _attach(city_copy)
    _apply(ov, _rows(20, city_copy))
    _apply(ov, _rows(20, city_copy, t=1, status="alarm", color=RED))
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
    ov = Overlay.attach(stage, detail_time_budget_s=None)
    row = _row(
        "roof-1",
        "environment",
        "temperature",
        (-444.46, 19.65, 425.41),
        color=GREEN,
        status="ok",
        value=21.5,
        unit="degC",
        ts=T0,
        quantity="temperature",
        bound_prim="/ce_ottawa_a/Buildings/Bldg_101",
    )
    _apply(ov, [row])
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
    stats = _apply(ov, _rows(6, city_copy))
    assert stats.created == 6 and stats.details_pending == 0 and not stats.skipped
    inst = _instancer(stage, ov, "environment")
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
    _apply(ov, _rows(40, city_copy))
    changed: list[Sdf.Path] = []

    def on_change(notice: Usd.Notice.ObjectsChanged, sender: Usd.Stage) -> None:
        changed.extend(notice.GetChangedInfoOnlyPaths())
        changed.extend(notice.GetResyncedPaths())

    key = Tf.Notice.Register(Usd.Notice.ObjectsChanged, on_change, stage)
    try:
        rows = [r for r in _rows(40, city_copy, t=5) if r["sensor_id"] in ("s-4", "s-7")]
        rows[0].update(status="alarm", color=RED)
        stats = _apply(ov, rows)
    finally:
        key.Revoke()
    assert stats.details_written == 2
    prims = {p.GetPrimPath() for p in changed}
    allowed = {
        ov.marker_path("s-4"),
        ov.marker_path("s-7"),
        _instancer_path(stage, ov, "environment"),
        _instancer_path(stage, ov, "security"),
        Sdf.Path(_bldg(city_copy, 105)),  # s-4 is bound to Bldg_105
    }
    assert prims <= allowed
    assert ov.marker_path("s-4") in prims and ov.marker_path("s-7") in prims
    others = {ov.marker_path(f"s-{i}") for i in range(40) if i not in (4, 7)}
    assert not prims & others
    # the instancer arrays were patched in place: only s-4's colour changed
    colors = UsdGeom.PrimvarsAPI(_instancer(stage, ov, "environment"))
    colors = colors.GetPrimvar("displayColor").Get()
    assert tuple(colors[_index(stage, ov, "environment", "s-4")]) == pytest.approx(RED)
    assert sum(tuple(c) == pytest.approx(RED) for c in colors) == 1


def test_unchanged_values_are_not_rewritten(city_copy: CityInfo) -> None:
    _, ov = _attach(city_copy)
    batch = _batch(_rows(4))
    _apply(ov, batch)
    again = _apply(ov, batch)
    assert again.attribute_writes == 0


def test_layer_visibility(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    _apply(ov, _rows(4))
    inst = UsdGeom.Imageable(stage.GetPrimAtPath(_instancer_path(stage, ov, "security")))
    data = UsdGeom.Imageable(stage.GetPrimAtPath(ov.marker_path("s-1")))
    assert inst.ComputeVisibility() == UsdGeom.Tokens.inherited
    ov.set_layer_visible("security", False)
    assert inst.ComputeVisibility() == UsdGeom.Tokens.invisible
    assert data.ComputeVisibility() == UsdGeom.Tokens.invisible
    env = UsdGeom.Imageable(stage.GetPrimAtPath(_instancer_path(stage, ov, "environment")))
    assert env.ComputeVisibility() == UsdGeom.Tokens.inherited
    ov.set_layer_visible("security", True)
    assert inst.ComputeVisibility() == UsdGeom.Tokens.inherited
    ov.define_layers([("security", "Security", False)])
    assert inst.ComputeVisibility() == UsdGeom.Tokens.invisible
    with pytest.raises(KeyError, match="nope"):
        ov.set_layer_visible("nope", True)


def _mask(stage: Usd.Stage, ov: Overlay, layer: str) -> list[bool]:
    inst = _instancer(stage, ov, layer)
    return list(
        inst.ComputeMaskAtTime(Usd.TimeCode.Default()) or [True] * len(inst.GetIdsAttr().Get())
    )


def test_sensor_without_position_stays_invisible_until_placed(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    _apply(ov, _rows(2, position=None))
    index = _index(stage, ov, "environment", "s-0")
    assert _mask(stage, ov, "environment")[index] is False
    _apply(ov, _rows(1, position=(1.0, 2.0, 3.0)))
    assert _mask(stage, ov, "environment")[index] is True


def test_moving_sensor_updates_positions_in_place(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    _apply(ov, _rows(4))
    index = _index(stage, ov, "environment", "s-2")
    _apply(ov, [_row("s-2", "environment", "temperature", (50.0, 1.0, 2.0))])
    positions = _instancer(stage, ov, "environment").GetPositionsAttr().Get()
    assert len(positions) == 2 and tuple(positions[index]) == pytest.approx((50.0, 1.0, 2.0))
    assert _index(stage, ov, "environment", "s-2") == index
    prim = stage.GetPrimAtPath(ov.marker_path("s-2"))
    translate = prim.GetAttribute("xformOp:translate").Get()
    assert tuple(translate) == pytest.approx((50.0, 1.0, 2.0))
    # a value of None keeps the one written
    assert prim.GetAttribute("coptwin:value").Get() == pytest.approx(22.0)


def test_marker_size_in_metres_with_centimetre_stage(tmp_path: Path) -> None:
    stage = Usd.Stage.CreateNew(str(tmp_path / "cm.usda"))
    UsdGeom.SetStageMetersPerUnit(stage, 0.01)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    ov = Overlay.attach(stage, marker_size_m=2.0, detail_time_budget_s=None)
    assert ov.meters_per_unit == 0.01 and ov.up_axis == "Z"
    _apply(
        ov,
        [
            _row("t", "env", "temperature", (0.0, 0.0, 0.0)),
            _row("m", "env", "motion", (0.0, 0.0, 0.0)),
        ],
    )
    protos = _instancer(stage, ov, "env")
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
    _apply(ov, _rows(10, city_copy))
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


def test_time_budget_queues_details_newest_wins_and_export_flushes(
    city_copy: CityInfo, tmp_path: Path
) -> None:
    n = 40  # new data prims count ten units each: beyond DETAIL_FLOOR
    assert n * 10 > DETAIL_FLOOR
    stage, ov = _attach(city_copy, detail_time_budget_s=0.0)
    stats = _apply(ov, _rows(n))
    assert 1 <= stats.details_written < n
    assert stats.details_pending == n - stats.details_written == ov.details_pending
    assert (
        len(_instancer(stage, ov, "security").GetPositionsAttr().Get()) == n // 2
    )  # markers never wait
    # a queued sensor gets a newer row: the newest row is what gets written
    last = f"s-{n - 2}"
    ov.stage_batch(_batch([_row(last, "environment", "temperature", status="alarm", value=99.0)]))
    ov.export(tmp_path / "overlay.usda")
    assert ov.details_pending == 0
    assert all(stage.GetPrimAtPath(ov.marker_path(f"s-{i}")) for i in range(n))
    prim = stage.GetPrimAtPath(ov.marker_path(last))
    assert prim.GetAttribute("coptwin:value").Get() == pytest.approx(99.0)
    assert prim.GetAttribute("coptwin:status").Get() == "alarm"
    # small ticks (within the floor) are always complete
    assert _apply(ov, _rows(n, t=1)).details_pending == 0


def test_bad_input_is_counted_not_fatal(city_copy: CityInfo, caplog) -> None:
    stage, ov = _attach(city_copy)
    _apply(ov, _rows(2))
    stats = _apply(
        ov,
        [
            _row("", "environment"),
            _row("s-0", "environment", "temperature", (math.nan, 0.0, 0.0)),
            _row("s-1", "security", "camera", color=(1.0, math.nan, 0.0)),
            _row("s-2", "environment", "temperature", (1, 2, 3), value=math.inf),
            _row("s-3", "security", "camera", (1, 2, 3), bound_prim="/no/such"),
        ],
    )
    assert stats.skipped == {
        "empty_sensor_id": 1,
        "bad_position": 1,
        "bad_color": 1,
        "bad_value": 1,
        "unknown_bound_prim": 1,
    }
    assert "skipped" in caplog.text
    index = _index(stage, ov, "environment", "s-0")
    positions = _instancer(stage, ov, "environment").GetPositionsAttr().Get()
    assert tuple(positions[index]) == pytest.approx((0.0, 10.0, 0.0))
    assert not stage.GetPrimAtPath("/no/such")
    assert len(ov.sensor_ids()) == 4


def test_sensor_ids_are_sanitised_and_mapped_both_ways(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    ids = ["a-1", "a.1", "a_1", "Zone A/3", "1st", "温度"]
    _apply(ov, [_row(s, "environment", "temperature", (0.0, 0.0, 0.0)) for s in ids])
    paths = [ov.marker_path(s) for s in ids]
    assert len(set(paths)) == len(ids)
    for sid, path in zip(ids, paths, strict=True):
        assert stage.GetPrimAtPath(path).GetAttribute("coptwin:sensorId").Get() == sid
        assert ov.sensor_for_path(path) == sid
        assert ov.sensor_for_path(path.AppendChild("child")) == sid
    assert ov.marker_path("a_1").name == "a_1"
    assert ov.sensor_for_path("/COP") is None and ov.marker_path("zzz") is None


def test_worst_status_wins_on_shared_building(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    bldg = _bldg(city_copy)
    _apply(
        ov,
        [
            _row("x", "environment", "temperature", (0, 0, 0), status="alarm", bound_prim=bldg),
            _row("y", "environment", "temperature", (0, 0, 0), status="ok", bound_prim=bldg),
        ],
    )
    attr = stage.GetPrimAtPath(bldg).GetAttribute("coptwin:status")
    assert attr.Get() == "alarm"
    _apply(ov, [_row("x", "environment", "temperature", status="ok", bound_prim=bldg)])
    assert attr.Get() == "ok"


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


def test_kind_change_switches_prototype_and_empty_kind_keeps_it(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    _apply(ov, [_row("k", "environment", "temperature", (0.0, 0.0, 0.0))])
    index = _index(stage, ov, "environment", "k")
    inst = _instancer(stage, ov, "environment")
    _apply(ov, [_row("k", "environment", "camera")])
    assert inst.GetProtoIndicesAttr().Get()[index] == 1
    _apply(ov, [_row("k", "environment", "")])
    assert inst.GetProtoIndicesAttr().Get()[index] == 1
    assert stage.GetPrimAtPath(ov.marker_path("k")).GetAttribute("coptwin:kind").Get() == "camera"
    _apply(ov, [_row("k", "environment", "temperature")])  # back: the prototype exists
    assert inst.GetProtoIndicesAttr().Get()[index] == 0


def test_batch_rows_are_checked() -> None:
    with pytest.raises(ValueError, match="statuses"):
        MarkerBatch(["a", "b"], ["l", "l"], ["k", "k"], [GREY, GREY], statuses=["ok"])


def test_staging_writes_no_usd_and_newest_row_wins(city_copy: CityInfo) -> None:
    from coptwin.model.palette import PALETTE, color_array

    stage, ov = _attach(city_copy)
    first = [r for r in _rows(6) if r["layer"] == "environment"]  # s-0, s-2, s-4
    _apply(ov, first)
    ids = [r["sensor_id"] for r in first]

    def batch(ids: list[str], status: str, value: float, t: int) -> MarkerBatch:
        n = len(ids)
        return MarkerBatch(
            ids,
            ["environment"] * n,
            ["temperature"] * n,
            color_array([status] * n),
            statuses=[status] * n,
            values=[value] * n,
            ts=[T0 + timedelta(seconds=t)] * n,
        )

    layer = ov.layer.ExportToString()
    ov.stage_batch(batch(ids, "alarm", 99.0, 5))
    ov.stage_batch(batch(ids[:1], "warn", 30.0, 6))  # newest wins for s-0
    assert ov.layer.ExportToString() == layer  # staging touched no USD
    ov.flush()
    colors = UsdGeom.PrimvarsAPI(_instancer(stage, ov, "environment"))
    colors = colors.GetPrimvar("displayColor").Get()
    index = {sid: _index(stage, ov, "environment", sid) for sid in ids}
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


def test_new_sensors_are_created_by_flush_and_move(city_copy: CityInfo) -> None:
    stage, ov = _attach(city_copy)
    ov.stage_batch(_batch([_row("new-1", "environment", "temperature", (5.0, 1.0, 5.0))]))
    assert ov.marker_path("new-1") is None  # new USD structure waits for flush()
    ov.flush()
    prim = stage.GetPrimAtPath(str(ov.marker_path("new-1")))
    assert tuple(prim.GetAttribute("xformOp:translate").Get()) == pytest.approx((5.0, 1.0, 5.0))
    _apply(ov, [_row("new-1", "environment", "temperature", (7.0, 1.0, 5.0))])
    positions = _instancer(stage, ov, "environment").GetPositionsAttr().Get()
    assert tuple(positions[_index(stage, ov, "environment", "new-1")]) == pytest.approx(
        (7.0, 1.0, 5.0)
    )
    assert tuple(prim.GetAttribute("xformOp:translate").Get()) == pytest.approx((7.0, 1.0, 5.0))


def test_a_large_layer_spans_chunks_and_a_tick_rewrites_only_the_chunks_it_touched(
    city_copy: CityInfo,
) -> None:
    """Issue 10.8: markers are split over PointInstancers of CHUNK instances; picking
    still maps every instance of every instancer to its sensor."""
    from coptwin.scene.overlay import CHUNK

    n = CHUNK + 10
    stage, ov = _attach(city_copy, detail_time_budget_s=0.0)
    ids = [f"t-{i}" for i in range(n)]
    positions = np.column_stack([np.arange(n, dtype=float), np.zeros(n), np.zeros(n)])
    ov.stage_batch(
        MarkerBatch(ids, ["environment"] * n, ["temperature"] * n, [GREY] * n, positions=positions)
    )
    ov.flush()
    chunks = {p: lay for p, lay in ov.instancers().items() if lay == "environment"}
    assert len(chunks) == 2
    mapped = []
    for path in sorted(chunks):
        inst = UsdGeom.PointInstancer(stage.GetPrimAtPath(path))
        count = len(inst.GetPositionsAttr().Get())
        assert len(inst.GetProtoIndicesAttr().Get()) == count
        assert inst.GetPrototypesRel().GetTargets()  # each chunk has its prototypes
        mapped += [ov.sensor_for_instance(path, i) for i in range(count)]
        assert ov.sensor_for_instance(path, count) is None
    assert sorted(mapped) == sorted(ids)
    # the instance index of a sensor is its position: x says which sensor it is
    for path in chunks:
        xs = UsdGeom.PointInstancer(stage.GetPrimAtPath(path)).GetPositionsAttr().Get()
        assert all(ov.sensor_for_instance(path, i) == f"t-{int(p[0])}" for i, p in enumerate(xs))
    changed: list[Sdf.Path] = []

    def on_change(notice: Usd.Notice.ObjectsChanged, sender: Usd.Stage) -> None:
        changed.extend(notice.GetChangedInfoOnlyPaths())

    key = Tf.Notice.Register(Usd.Notice.ObjectsChanged, on_change, stage)
    try:
        last = ids[-1]  # lives in the second chunk
        ov.stage_batch(MarkerBatch([last], ["environment"], ["temperature"], [RED]))
        ov.flush()
    finally:
        key.Revoke()
    instancers = {p.GetPrimPath() for p in changed} & {Sdf.Path(p) for p in chunks}
    (second,) = [p for p in chunks if ov.sensor_for_instance(p, 0) == f"t-{CHUNK}"]
    assert instancers == {Sdf.Path(second)}


def test_keyed_batches_find_their_sensors_and_follow_a_new_key_space(city_copy: CityInfo) -> None:
    """A batch keyed into a key space (the engine's registry ids) finds sensors by array
    lookups; a new key space (the sensors table was re-read) is resolved again."""
    stage, ov = _attach(city_copy)
    space = np.array(["a", "b", "c"], dtype=object)
    n = space.size
    keyed = MarkerBatch(
        space,
        ["environment"] * n,
        ["temperature"] * n,
        [GREY] * n,
        positions=np.zeros((n, 3)),
        keys=np.arange(n),
        key_space=space,
    )
    _apply(ov, keyed)
    index = _index(stage, ov, "environment", "b")
    # the same sensors in another order, with "b" changed
    space2 = np.array(["c", "b", "a", "d"], dtype=object)
    _apply(
        ov,
        MarkerBatch(
            space2[[1, 3]],
            ["environment"] * 2,
            ["temperature"] * 2,
            [RED, RED],
            positions=np.ones((2, 3)),
            keys=np.array([1, 3]),
            key_space=space2,
        ),
    )
    colors = UsdGeom.PrimvarsAPI(_instancer(stage, ov, "environment")).GetPrimvar("displayColor")
    colors = colors.Get()
    assert _index(stage, ov, "environment", "b") == index
    assert tuple(colors[index]) == pytest.approx(RED)
    assert tuple(colors[_index(stage, ov, "environment", "a")]) == pytest.approx(GREY)
    assert tuple(colors[_index(stage, ov, "environment", "d")]) == pytest.approx(RED)
    assert sorted(ov.sensor_ids()) == ["a", "b", "c", "d"]


def test_a_large_queue_has_no_floor_but_always_progresses(city_copy: CityInfo) -> None:
    """Beyond DETAIL_FLOOR queued sensors the budget bounds the flush (a 10k tick must not
    cost the main thread 200 sensors' writes first); each flush still writes one."""
    n = DETAIL_FLOOR + 50
    _, ov = _attach(city_copy, detail_time_budget_s=0.0)
    first = _apply(ov, _rows(n))
    assert first.details_written == 1 and first.details_pending == n - 1
    second = ov.flush()
    assert second.details_written == 1 and second.details_pending == n - 2
