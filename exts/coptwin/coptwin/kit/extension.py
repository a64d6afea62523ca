"""The coptwin Kit extension: thin glue between Kit and the Kit-free core.

on_startup follows stage open/close and selection events, watches viewport
clicks (to know which marker instance was picked), adds a Window menu entry
and — when a stage is open and auto-start is on — runs the engine on Kit's
asyncio loop with the overlay as a session sublayer.  The carb settings
(config path, auto-start, ...) are read again at every engine start, so a
value set from the Script Editor applies to the next stage opened.
on_shutdown undoes every one of those, so disabling and re-enabling the
extension leaves no duplicate subscription, task, window or layer behind.

Kit's main thread never waits on storage and never does O(sensors) work per
refresh: the panel's snapshot and table are prepared in a worker thread
(:meth:`PanelVM.prepare_refresh`) and applied here (O(changed rows)).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import carb.tokens
import omni.ext
import omni.kit.actions.core
import omni.kit.app
import omni.kit.menu.utils
import omni.ui as ui
import omni.usd
from omni.kit.menu.utils import MenuItemDescription

from ..ui.layers import core_palette
from ..ui.panel import PanelChanges, PanelVM
from ..ui.prim_attrs import read_prim_attributes
from ..ui.session import EngineFactory, EngineSession
from . import stage_events, viewport
from .settings import ExtensionSettings, read_carb_settings
from .window import TITLE, CoptwinWindow

log = logging.getLogger(__name__)

MENU_PATH = "Window"
ACTION_SHOW = "show_window"

_instance: CoptwinExtension | None = None


def get_instance() -> CoptwinExtension | None:
    """The running extension (for Kit tests and scripts); None when disabled."""
    return _instance


def resolve_config_path(raw: str, ext_root: str | None) -> str:
    """Resolve Kit tokens (${app}, ${data} ...); relative paths are relative to the extension."""
    if not raw:
        return ""
    resolved = carb.tokens.get_tokens_interface().resolve(raw)
    path = Path(resolved).expanduser()
    if not path.is_absolute() and ext_root:
        path = Path(ext_root) / path
    return str(path)


class CoptwinExtension(omni.ext.IExt):
    """Live COP panel and engine for the stage open in Kit."""

    #: Tests and embedding apps may swap the engine factory before startup.
    engine_factory: EngineFactory | None = None

    def on_startup(self, ext_id: str) -> None:
        self._ext_id = ext_id
        self._context = omni.usd.get_context()
        manager = omni.kit.app.get_app().get_extension_manager()
        self._ext_root = manager.get_extension_path(ext_id) or None
        self._read_settings()
        self._session = EngineSession(self.engine_factory)
        self._bound_generation = -1
        self._panel = PanelVM(
            select_prims=self._select_prims,
            frame_selection=viewport.frame,
            stale_after_s=self._settings.stale_after_s,
            author=self._settings.note_author(),
        )
        self._picks = viewport.ViewportPicks(self._on_viewport_pick)
        self._palette = core_palette()
        self._window: CoptwinWindow | None = None
        self._subscriptions: list[Any] = stage_events.subscribe(
            self._context,
            {
                omni.usd.StageEventType.OPENED: self._on_stage_opened,
                omni.usd.StageEventType.CLOSING: self._on_stage_closing,
                omni.usd.StageEventType.SELECTION_CHANGED: self._on_selection_changed,
            },
            observer_name="coptwin",
        )
        self._register_menu()
        ui.Workspace.set_show_window_fn(TITLE, self._show_window)
        if self._settings.show_window:
            self._show_window(True)
        if self._settings.auto_start and self._context.get_stage() is not None:
            self.start()
        else:
            self._rebind("no stage is open" if self._settings.auto_start else "auto-start is off")
        self._refresh_task: asyncio.Task | None = asyncio.ensure_future(self._refresh_loop())
        global _instance
        _instance = self
        log.info("coptwin extension started (config %s)", self._config_path or "not set")

    def on_shutdown(self) -> None:
        global _instance
        if _instance is self:
            _instance = None
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            self._refresh_task = None
        self._picks.destroy()
        self._session.stop()
        stage_events.release(self._subscriptions)
        ui.Workspace.set_show_window_fn(TITLE, None)
        self._unregister_menu()
        if self._window is not None:
            self._window.set_visibility_changed_fn(None)
            self._window.destroy()
            self._window = None
        self._panel.bind(None, idle_reason="extension shut down")
        log.info("coptwin extension stopped")

    # ------------------------------------------------------------------ engine
    @property
    def session(self) -> EngineSession:
        return self._session

    @property
    def panel(self) -> PanelVM:
        return self._panel

    @property
    def window(self) -> CoptwinWindow | None:
        return self._window

    def _read_settings(self) -> None:
        """Read the carb settings now (every start: Script Editor changes apply)."""
        self._settings: ExtensionSettings = read_carb_settings()
        self._config_path = resolve_config_path(self._settings.config_path, self._ext_root)

    def start(self) -> bool:
        """(Re)start the engine on the current stage, with the settings as they are now."""
        self._read_settings()
        self._panel.stale_after_s = self._settings.stale_after_s
        ok = self._session.start(self._config_path, self._context.get_stage())
        self._rebind()
        return ok

    def stop(self, reason: str = "stopped") -> None:
        self._session.stop()
        self._rebind(reason)

    def _rebind(self, idle_reason: str = "") -> None:
        """Point the panel at the session's engine (or say why there is none)."""
        session = self._session
        reason = session.error or idle_reason
        stage = self._context.get_stage

        def building_attributes(path: str) -> list[tuple[str, str]]:
            return read_prim_attributes(stage(), path)

        self._panel.bind(session.engine, building_attributes, idle_reason=reason)
        self._bound_generation = session.generation
        self._refresh_panel()

    def _refresh_panel(self) -> None:
        """Refresh now, all on this thread (after a rebind or a user action)."""
        if self._session.generation != self._bound_generation:
            self._rebind()
            return
        self._paint(self._panel.refresh())

    def _paint(self, changes: PanelChanges) -> None:
        if self._window is not None:
            self._window.update(changes)

    async def _refresh_async(self) -> None:
        """A timed refresh: the O(sensors) part in a worker, the rest here."""
        if self._session.generation != self._bound_generation:
            self._rebind()
            return
        prepared = await asyncio.to_thread(self._panel.prepare_refresh)
        self._paint(self._panel.apply_refresh(prepared))

    async def _refresh_loop(self) -> None:
        """Repaint the panel from engine snapshots; the engine runs at its own pace."""
        failures = 0
        while True:
            await asyncio.sleep(self._settings.refresh_interval_s)
            try:
                await self._refresh_async()
                failures = 0
            except Exception:
                failures += 1
                if failures in (1, 10, 100):  # log, but do not flood the console
                    log.exception("coptwin panel refresh failed (%d times in a row)", failures)

    # ------------------------------------------------------------------ stage events
    def _on_stage_opened(self) -> None:
        self._read_settings()
        if self._settings.auto_start:
            self.start()
        else:
            self._rebind("auto-start is off")

    def _on_stage_closing(self) -> None:
        self.stop("no stage is open")

    def _on_selection_changed(self) -> None:
        paths = list(self._context.get_selection().get_selected_prim_paths())
        self._paint(self._panel.on_stage_selection(paths))

    def _on_viewport_pick(self, path: str, world: tuple[float, float, float] | None) -> None:
        self._paint(self._panel.on_viewport_pick(path, world))

    # ------------------------------------------------------------------ selection
    def _select_prims(self, paths: list[str]) -> None:
        self._context.get_selection().set_selected_prim_paths(paths, True)

    # ------------------------------------------------------------------ window & menu
    def _show_window(self, visible: bool) -> None:
        if visible and self._window is None:
            self._window = CoptwinWindow(self._panel, self._palette)
            self._window.set_visibility_changed_fn(self._on_visibility_changed)
            self._on_visibility_changed(True)  # the menu tick follows the new window
        if self._window is not None:
            self._window.visible = visible
            if visible:
                self._window.update(self._panel.refresh())

    def _toggle_window(self) -> None:
        self._show_window(not self._is_window_visible())

    def _is_window_visible(self) -> bool:
        return self._window is not None and bool(self._window.visible)

    def _on_visibility_changed(self, _visible: bool) -> None:
        omni.kit.menu.utils.refresh_menu_items(MENU_PATH)

    def _register_menu(self) -> None:
        registry = omni.kit.actions.core.get_action_registry()
        registry.register_action(
            self._ext_id,
            ACTION_SHOW,
            self._toggle_window,
            display_name="coptwin: show/hide COP panel",
            description="Show or hide the coptwin Common Operating Picture panel",
        )
        self._menu_items = [
            MenuItemDescription(
                name=TITLE,
                ticked=True,
                ticked_fn=self._is_window_visible,
                onclick_action=(self._ext_id, ACTION_SHOW),
            )
        ]
        omni.kit.menu.utils.add_menu_items(self._menu_items, MENU_PATH)

    def _unregister_menu(self) -> None:
        omni.kit.menu.utils.remove_menu_items(self._menu_items, MENU_PATH)
        self._menu_items = []
        omni.kit.actions.core.get_action_registry().deregister_all_actions_for_extension(
            self._ext_id
        )
