"""The viewport side of selection: which marker a click hit, and framing a marker.

Picking follows the pattern of Kit's own picking nodes (omni.graph.ui_nodes'
PickingManipulator): a click gesture on an invisible ``sc.Screen`` in a scene
view of the active viewport, whose manager never prevents other gestures (so
Kit's own selection still happens), asks the renderer
``viewport_api.request_query(pixel, callback)``; the callback receives the
picked prim path and world position.  Which sensor that is, is decided by the
Kit-free :mod:`coptwin.ui.picking`.

Framing moves the viewport camera with ``ViewportCameraState`` (from
omni.kit.viewport.utility) to look at the marker's centre from the current
direction; the Kit-free :func:`coptwin.ui.picking.frame_camera` computes where.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import omni.ui.scene as sc
from omni.kit.viewport.utility import (
    frame_viewport_selection,
    get_active_viewport,
    get_active_viewport_window,
)
from omni.kit.viewport.utility.camera_state import ViewportCameraState

from ..ui.picking import FrameTarget, Vec3, frame_camera

log = logging.getLogger(__name__)

OnPick = Callable[[str, "Vec3 | None"], None]


class _DoNotPrevent(sc.GestureManager):
    """Our click watcher must never stop Kit's selection manipulator."""

    def can_be_prevented(self, gesture: Any) -> bool:
        return False

    def should_prevent(self, gesture: Any, preventer: Any) -> bool:
        return False


class ViewportPicks:
    """Reports each left click in the active viewport as (prim path, world point)."""

    FRAME_NAME = "coptwin.picking"

    def __init__(self, on_pick: OnPick) -> None:
        self._on_pick: OnPick | None = on_pick
        self._api: Any = None
        self._view: Any = None
        self._frame: Any = None
        window = get_active_viewport_window()
        if window is None:
            log.info("no viewport: picking markers in the viewport is off")
            return
        self._api = window.viewport_api
        self._frame = window.get_frame(self.FRAME_NAME)
        with self._frame:
            self._view = sc.SceneView()
            with self._view.scene:
                sc.Screen(gesture=[sc.ClickGesture(self._clicked, manager=_DoNotPrevent())])
        self._api.add_scene_view(self._view)

    def _clicked(self, sender: Any) -> None:
        pixel, api = self._api.map_ndc_to_texture_pixel(sender.gesture_payload.mouse)
        if pixel and api:
            api.request_query(pixel, self._answered, query_name="coptwin.pick")

    def _answered(self, path: Any, world: Any, *_rest: Any) -> None:
        if self._on_pick is None:
            return  # answered after shutdown
        point = (float(world[0]), float(world[1]), float(world[2])) if world else None
        try:
            self._on_pick(str(path or ""), point)
        except Exception:  # Kit swallows callback errors badly: log them with context
            log.exception("coptwin: viewport pick handler failed")

    def destroy(self) -> None:
        self._on_pick = None
        if self._api is not None and self._view is not None:
            self._api.remove_scene_view(self._view)
        if self._frame is not None:
            self._frame.clear()
        self._api = self._view = self._frame = None


def frame(target: FrameTarget | None) -> None:
    """Frame a marker (its centre and size), or the stage selection when None."""
    viewport = get_active_viewport()
    if viewport is None:
        log.info("no active viewport to frame the selection in")
        return
    if target is None:
        frame_viewport_selection(viewport)
        return
    camera = ViewportCameraState(viewport.camera_path, viewport)
    eye, look_at = frame_camera(tuple(camera.position_world), tuple(camera.target_world), target)
    camera.set_position_world(eye, False)
    camera.set_target_world(look_at, True)
