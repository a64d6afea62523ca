from __future__ import annotations

from coptwin.ui.selection import SelectionSync


class StageSelection:
    """The stage side of the selection port: records what the panel selected/framed."""

    def __init__(self):
        self.selected: list[list[str]] = []
        self.frames = 0
        self.targets: list = []

    def select(self, paths):
        self.selected.append(list(paths))

    def frame(self, target=None):
        self.frames += 1
        self.targets.append(target)


def make(city_rows, sensor_for_path=None):
    stage = StageSelection()
    sync = SelectionSync(stage.select, stage.frame, sensor_for_path)
    sync.update(city_rows)
    return sync, stage


def test_row_selects_and_frames_its_marker(city_rows):
    sync, stage = make(city_rows)
    assert sync.select_row("t2") == ["/COP/Markers/t2"]
    assert stage.selected == [["/COP/Markers/t2"]] and stage.frames == 1
    assert sync.selected == "t2" and sync.selected_row().name == "Harbour"


def test_row_without_marker_selects_its_building(city_rows):
    sync, stage = make(city_rows)
    assert sync.select_row("w1") == ["/World/Buildings/B9"]
    assert stage.frames == 1


def test_echo_of_our_selection_is_ignored(city_rows):
    sync, stage = make(city_rows)
    sync.select_row("t1")
    assert not sync.on_stage_selection(["/COP/Markers/t1"])
    assert sync.selected == "t1"


def test_picking_a_marker_selects_its_row(city_rows):
    sync, _ = make(city_rows)
    assert sync.on_stage_selection(["/COP/Markers/t2"])
    assert sync.selected == "t2"
    # the most recently picked prim (last) wins
    assert sync.on_stage_selection(["/COP/Markers/t2", "/COP/Markers/t1"])
    assert sync.selected == "t1"
    assert not sync.on_stage_selection(["/COP/Markers/t1"])


def test_picking_a_building_or_its_child_selects_a_bound_sensor(city_rows):
    sync, _ = make(city_rows)
    assert sync.on_stage_selection(["/World/Buildings/B7/Mesh_3"])
    assert sync.selected == "m1"  # first bound sensor by name
    sync.select_row("m2")
    # a second pick of the same building keeps the current bound sensor
    assert not sync.on_stage_selection(["/World/Buildings/B7"])
    assert sync.selected == "m2"
    assert sync.on_stage_selection(["/World/Buildings/B9"]) and sync.selected == "w1"


def test_picking_something_else_clears(city_rows):
    sync, _ = make(city_rows)
    sync.on_stage_selection(["/COP/Markers/t1"])
    assert sync.on_stage_selection(["/World/Terrain"])
    assert sync.selected is None
    assert not sync.on_stage_selection([])


def test_engine_lookup_resolves_instanced_markers(city_rows):
    def sensor_for_path(path):
        if path == "/COP/Instancer":
            return "t3"
        if path == "/COP/Broken":
            raise RuntimeError("overlay gone")
        return None

    sync, _ = make(city_rows, sensor_for_path)
    assert sync.on_stage_selection(["/COP/Instancer"]) and sync.selected == "t3"
    assert sync.on_stage_selection(["/COP/Broken"]) and sync.selected is None


def test_vanished_sensor_drops_the_selection(city_rows):
    sync, stage = make(city_rows)
    sync.select_row("t1")
    assert sync.update(city_rows[1:])
    assert sync.selected is None
    sync.select_row("nope")
    assert sync.selected is None and stage.selected[-1] == []
