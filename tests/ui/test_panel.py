"""PanelVM against the real Engine: layer toggles reach the overlay, selection, time travel."""

from __future__ import annotations

import asyncio

from pxr import UsdGeom

from coptwin.ui.panel import PanelVM


def visibility(city, path) -> str:
    return UsdGeom.Imageable(city.GetPrimAtPath(str(path))).ComputeVisibility()


def test_layer_toggle_hides_markers_and_rows(start_session, cop_config, city):
    async def scenario():
        session = await start_session(cop_config, city)
        panel = PanelVM()
        panel.bind(session.engine)
        try:
            changes = panel.refresh()
            assert changes.sensors and changes.layers and changes.status
            assert panel.status.state == "Connected", panel.status.text
            assert [i.label for i in panel.layers.items] == ["Environment", "Security"]
            gate = session.engine.overlay.marker_path("m1")
            assert visibility(city, gate) == UsdGeom.Tokens.inherited
            panel.select_row("m1")
            await panel.toggle_layer("security", False)
            assert visibility(city, gate) == UsdGeom.Tokens.invisible
            assert {i.sensor_id for i in panel.sensors.items} == {"t1", "t2"}
            assert panel.selection.selected is None  # its marker is hidden
            await panel.toggle_layer("security", True)
            assert visibility(city, gate) == UsdGeom.Tokens.inherited
            assert panel.sensors.total == len(panel.sensors.items) == 3
        finally:
            session.stop()

    asyncio.run(scenario())


def test_selection_both_ways_and_detail(start_session, cop_config, city):
    selected: list[list[str]] = []
    frames: list[int] = []

    async def scenario():
        session = await start_session(cop_config, city)
        panel = PanelVM(select_prims=selected.append, frame_selection=frames.append)
        panel.bind(session.engine)
        try:
            panel.refresh()
            overlay = session.engine.overlay
            panel.select_row("t2")
            assert selected == [[str(overlay.marker_path("t2"))]]
            (target,) = frames  # the marker itself: its centre and size, not an empty Xform
            assert target.center == session.engine.positions["t2"] and target.size > 0
            assert panel.detail.detail.title.startswith("Harbour (")
            assert panel.detail.detail.plot is not None
            panel.set_filter("motion")
            changes = panel.on_stage_selection([str(overlay.marker_path("t1"))])
            assert changes.selection and changes.sensors
            assert panel.selection.selected == "t1" and panel.sensors.filter_text == ""
        finally:
            session.stop()

    asyncio.run(scenario())


def test_as_of_banner_and_back_to_live(start_session, cop_config, city):
    async def scenario():
        session = await start_session(cop_config, city)
        panel = PanelVM()
        panel.bind(session.engine)
        try:
            panel.refresh()
            await panel.apply_as_of("v0")
            assert panel.time.error == "", panel.time.error
            assert not panel.status.live
            assert panel.status.banner.startswith("NOT LIVE — showing the COP as of version 0.")
            await panel.apply_as_of("v999")
            assert panel.time.error.startswith("cannot show 999:")
            await panel.go_live()
            assert panel.status.live and panel.time.error == ""
        finally:
            session.stop()

    asyncio.run(scenario())


def test_unbound_and_broken_engines_show_as_status(start_session, cop_config, city):
    panel = PanelVM()
    panel.refresh()
    assert panel.status.text == "Stopped: not started"

    async def scenario():
        session = await start_session(cop_config, city)
        engine = session.engine
        panel.bind(engine)
        session.stop()  # a closed engine says so
        panel.refresh()
        assert panel.status.state == "Disconnected"
        assert "engine closed" in panel.status.text
        panel.bind(None, idle_reason="no stage is open")
        panel.refresh()
        assert panel.status.text == "Stopped: no stage is open"
        assert panel.sensors.items == [] and panel.layers.items == []

    asyncio.run(scenario())
