"""coptwin.kit's IExt against the omni/carb STAND-IN (see standin/README.md).

The stand-in is stricter than Kit: UI builds and events wait for the next
frame, the live stage may only be touched on the main thread, disabling the
extension unloads its modules.  Enable, disable and re-enable must leave no
duplicate subscription, task, menu item, action, window, scene view or
overlay layer.  Real Kit behaviour is covered by exts/coptwin/coptwin/kit/tests
(run inside Kit; not run here).
"""

from __future__ import annotations

import asyncio
import importlib

import pytest


def alive(kit) -> dict[str, int]:
    w = kit.world
    return {
        "observers": len(w.live_observers),
        "stream_subs": len(w.live_stream_subs),
        "menu_items": sum(len(items) for items in w.menus.values()),
        "actions": len(w.actions),
        "windows": len(w.live_windows),
        "show_window_fns": sum(1 for fn in w.show_window_fns.values() if fn is not None),
        "scene_views": len(w.viewport.viewport_api.scene_views),
    }


NOTHING = dict.fromkeys(
    (
        "observers",
        "stream_subs",
        "menu_items",
        "actions",
        "windows",
        "show_window_fns",
        "scene_views",
    ),
    0,
)


def labels(window) -> list[str]:
    return [w.text for w in window.frame.walk() if type(w).__name__ == "Label"]


def instance():
    """The running extension, looked up in the coptwin module loaded *now*."""
    return importlib.import_module("coptwin.kit.extension").get_instance()


def drawn(ext) -> bool:
    """The panel shows the three sensors with their markers (the overlay is attached)."""
    sel = ext.panel.selection
    return ext.panel.sensors.total == 3 and all(sel.prim_paths_for(s) for s in ("t1", "t2"))


@pytest.mark.parametrize("kit", ["modern-events", "legacy-stream"], indirect=True)
def test_enable_disable_reenable_leaves_nothing_behind(kit):
    async def scenario():
        baseline = len(asyncio.all_tasks())
        seen = []
        for _ in range(3):
            kit.manager.set_extension_enabled_immediate("coptwin", True)
            await kit.frames()
            seen.append((alive(kit), len(asyncio.all_tasks())))
            kit.manager.set_extension_enabled_immediate("coptwin", False)
            await kit.frames()
            assert alive(kit) == NOTHING
            assert len(asyncio.all_tasks()) == baseline
            assert instance() is None  # a fresh module: nothing survives the unload
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] == seen[1] == seen[2]
    during, tasks = seen[0]
    assert during["menu_items"] == 1 and during["actions"] == 1 and during["windows"] == 1
    assert during["show_window_fns"] == 1 and during["scene_views"] == 1
    if kit.world.modern_events:
        assert (during["observers"], during["stream_subs"]) == (3, 0)
    else:
        assert (during["observers"], during["stream_subs"]) == (0, 1)
    assert tasks == 2  # this scenario + the panel refresh loop


def test_module_references_go_stale_across_disable_enable(kit):
    """What the Kit tests must not do: keep get_instance from before a disable."""

    async def scenario():
        kit.manager.set_extension_enabled_immediate("coptwin", True)
        old_get_instance = importlib.import_module("coptwin.kit.extension").get_instance
        assert old_get_instance() is not None
        kit.manager.set_extension_enabled_immediate("coptwin", False)
        kit.manager.set_extension_enabled_immediate("coptwin", True)
        try:
            assert old_get_instance() is None  # the unloaded module's instance is gone
            assert instance() is not None  # looked up afresh: the running extension
        finally:
            kit.manager.set_extension_enabled_immediate("coptwin", False)

    asyncio.run(scenario())


def test_without_a_stage_the_panel_says_so(kit):
    mod = kit.import_kit()

    async def scenario():
        ext = mod.CoptwinExtension()
        ext.on_startup(kit.ext_id)
        try:
            window = kit.world.live_windows[0]
            assert window.title == "coptwin COP"
            assert labels(window) == []  # Kit builds the window on the next frame
            await kit.frames()
            assert ext.panel.status.text == "Stopped: no stage is open"
            assert "Stopped: no stage is open" in labels(window)
            assert ext.session.engine is None
        finally:
            ext.on_shutdown()

    asyncio.run(scenario())


def test_missing_and_broken_config_are_reported(kit, tmp_path):
    mod = kit.import_kit()
    kit.context.new_stage()
    kit.frame()

    async def scenario(expected: str):
        ext = mod.CoptwinExtension()
        ext.on_startup(kit.ext_id)
        await kit.frames()
        try:
            assert ext.session.engine is None
            assert expected in ext.panel.status.text
            assert ext.panel.status.level == "error"
        finally:
            ext.on_shutdown()

    asyncio.run(scenario("no configuration: set the setting /exts/coptwin/config_path"))
    kit.settings(config_path=str(tmp_path / "missing.toml"))
    asyncio.run(scenario("missing.toml: cannot read config file"))
    bad = tmp_path / "bad.toml"
    bad.write_text('[storage]\nuri = "x"\nsecret_access_key = "hunter2"\n', encoding="utf-8")
    kit.settings(config_path=str(bad))
    asyncio.run(scenario("credentials are never read from the config file"))


def test_config_path_set_after_startup_applies_to_the_next_stage(kit, cop_tables, city_stage):
    """Issue 11.5: the setting is read at every start, not once at startup."""
    mod = kit.import_kit()

    async def scenario():
        ext = mod.CoptwinExtension()
        ext.on_startup(kit.ext_id)  # no config yet
        await kit.frames()
        try:
            kit.settings(config_path=str(cop_tables))  # as from the Script Editor
            kit.context.open_stage_object(city_stage)
            await kit.frames()
            assert ext.session.engine is not None, ext.panel.status.text
            await kit.until(lambda: ext.panel.sensors.total == 3, "the sensors")
        finally:
            ext.on_shutdown()

    asyncio.run(scenario())


def test_author_setting_signs_the_panel_notes(kit):
    mod = kit.import_kit()

    async def scenario() -> tuple[str, str]:
        ext = mod.CoptwinExtension()
        ext.on_startup(kit.ext_id)
        try:
            return ext.panel.author, ext.panel.notes_view.reason
        finally:
            ext.on_shutdown()

    kit.settings(author="Ann Reviewer")
    author, reason = asyncio.run(scenario())
    assert author == "Ann Reviewer" and reason == "the COP is not running"
    kit.settings(author="")
    author, _ = asyncio.run(scenario())
    assert author == mod.settings.os_user_name()


def test_config_path_tokens_and_relative_paths(kit):
    mod = kit.import_kit()
    resolve = mod.extension.resolve_config_path
    assert resolve("${app}/demo.toml", "/exts/coptwin") == "/standin/app/demo.toml"
    relative = resolve("cfg/cop.toml", "/exts/coptwin").replace("\\", "/")
    assert relative == "/exts/coptwin/cfg/cop.toml"
    assert resolve("", "/exts/coptwin") == ""


def test_window_menu_action_toggles_the_panel(kit):
    mod = kit.import_kit()
    kit.settings(show_window=False)

    async def scenario():
        ext = mod.CoptwinExtension()
        ext.on_startup(kit.ext_id)
        await kit.frames()
        try:
            (item,) = kit.world.menus["Window"]
            assert item.name == "coptwin COP" and item.ticked_fn() is False
            assert kit.world.live_windows == []
            kit.standin.ActionRegistry().execute_action(*item.onclick_action)
            assert item.ticked_fn() is True and ext.window.visible
            kit.standin.ActionRegistry().execute_action(*item.onclick_action)
            assert item.ticked_fn() is False and not ext.window.visible
            assert kit.world.menu_refreshes == 2
            kit.world.show_window_fns["coptwin COP"](True)  # Kit's workspace restoring the layout
            assert ext.window.visible
        finally:
            ext.on_shutdown()

    asyncio.run(scenario())


def test_stage_open_and_close_are_followed(kit, cop_tables):
    mod = kit.import_kit()
    kit.settings(config_path=str(cop_tables), refresh_interval_s=0.01)

    async def scenario():
        ext = mod.CoptwinExtension()
        ext.on_startup(kit.ext_id)
        await kit.frames()
        try:
            assert ext.panel.status.text == "Stopped: no stage is open"
            kit.context.new_stage()
            assert ext.session.engine is None  # Kit delivers OPENED on the next update
            await kit.frames()
            assert ext.session.engine is not None, ext.panel.status.text
            kit.context.close_stage()
            await kit.frames()
            assert ext.session.engine is None
            assert ext.panel.status.text == "Stopped: no stage is open"
            await kit.until(
                lambda: "Stopped: no stage is open" in labels(ext.window), "the repaint"
            )
        finally:
            ext.on_shutdown()

    asyncio.run(scenario())


def test_auto_start_off_waits(kit, cop_tables):
    mod = kit.import_kit()
    kit.settings(config_path=str(cop_tables), auto_start=False)
    kit.context.new_stage()
    kit.frame()

    async def scenario():
        ext = mod.CoptwinExtension()
        ext.on_startup(kit.ext_id)
        try:
            assert ext.session.engine is None
            assert ext.panel.status.text == "Stopped: auto-start is off"
            kit.context.new_stage()
            await kit.frames()
            assert ext.session.engine is None
        finally:
            ext.on_shutdown()

    asyncio.run(scenario())


def test_real_engine_cycles_leave_one_overlay_and_sync_selection(kit, cop_tables, city_stage):
    """Enable/disable through the extension manager (modules unloaded in between).

    The engine indexes the city while Kit keeps the live stage: the stand-in
    fails the test if the stage is read or written off the main thread.
    """
    kit.settings(config_path=str(cop_tables), refresh_interval_s=0.01)
    kit.context.open_stage_object(city_stage)
    kit.frame()
    session_layer = city_stage.GetSessionLayer()

    async def scenario():
        for _ in range(2):
            kit.manager.set_extension_enabled_immediate("coptwin", True)
            ext = instance()
            try:
                assert ext.session.engine is not None, ext.panel.status.text
                await kit.until(lambda: drawn(ext), "the sensors and their markers")  # noqa: B023
                assert len(session_layer.subLayerPaths) == 1
                marker = ext.session.engine.overlay.marker_path("t2")
                kit.context.get_selection().set_selected_prim_paths([str(marker)], True)
                await kit.frames()
                assert ext.panel.selection.selected == "t2"
                assert ext.panel.notes_view.add_label == "Add a note to sensor Harbour"
                await kit.until(
                    lambda: "Add a note to sensor Harbour" in labels(ext.window),  # noqa: B023
                    "the notes label",
                )
                ext.panel.select_row("t1")
                assert kit.context.get_selection().get_selected_prim_paths() == [
                    str(ext.session.engine.overlay.marker_path("t1"))
                ]
                camera = kit.viewport.viewport_api
                assert camera.camera_target == ext.session.engine.positions["t1"]  # framed
                await ext.panel.toggle_layer("security", False)
                assert ext.panel.sensors.total == 3 and len(ext.panel.sensors.items) == 2
            finally:
                kit.manager.set_extension_enabled_immediate("coptwin", False)
            await kit.frames()
            assert len(session_layer.subLayerPaths) == 0
            assert alive(kit) == NOTHING

    asyncio.run(scenario())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_disable_then_enable_at_once_keeps_live_updates(kit, cop_tables, city_stage):
    """Issue 11.6: the old webhook receiver still holds its port when the new one starts.

    The stand-in keeps a closed asyncio server's port bound until its close is
    awaited (as Windows' proactor loop does).  Shutdown awaits the old receiver's
    close; meanwhile the new engine says the port is taken and polling covers; then
    the new receiver binds the port and takes events, and readings keep coming.
    """
    import http.client

    port = _free_port()
    config = cop_tables.read_text(encoding="utf-8")
    config += f"\n[events.webhook]\nenabled = true\nport = {port}\n"
    cop_tables.write_text(config, encoding="utf-8")
    kit.settings(config_path=str(cop_tables), refresh_interval_s=0.02)
    kit.context.open_stage_object(city_stage)
    kit.frame()
    data = kit.kit_test("_data")

    def post_event() -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", "/events", body=b'{"Event": "s3:TestEvent"}')
            return conn.getresponse().status
        finally:
            conn.close()

    async def scenario():
        kit.manager.set_extension_enabled_immediate("coptwin", True)
        await kit.until(lambda: drawn(instance()), "the first engine")
        first = instance().session.engine.hub
        await kit.until(lambda: first.webhook_port == port, "the first receiver")
        kit.manager.set_extension_enabled_immediate("coptwin", False)
        kit.manager.set_extension_enabled_immediate("coptwin", True)  # at once
        ext = instance()
        try:
            await kit.until(lambda: drawn(ext), "the second engine")
            hub = ext.session.engine.hub
            await kit.until(
                lambda: hub.webhook_port == port and not hub.problems,
                "the new receiver on the port the old one freed",
            )
            assert await asyncio.to_thread(post_event) == 200
            assert hub.stats["webhook"]["received"] == 1
            data.append_reading(cop_tables.parent, "t1", 33.3)
            await kit.until(
                lambda: any(
                    i.sensor_id == "t1" and i.row.value == 33.3 for i in ext.panel.sensors.items
                ),
                "the new reading (live updates after the restart)",
                frames=300,
            )
            status = ext.panel.status
            assert "events: webhook, polling" in status.details and status.level != "error"
            assert "webhook" not in status.text  # no problem left to report
        finally:
            kit.manager.set_extension_enabled_immediate("coptwin", False)
            await kit.frames()

    asyncio.run(scenario())
