"""STAND-IN for the omni/carb APIs coptwin.kit uses — for pytest only, NOT Kit.

Each fake module is a plain ``types.ModuleType`` built by :func:`build` and put
into ``sys.modules`` by the test fixture.  The stand-in is deliberately
*stricter* than Kit, never kinder, on the points where code written without a
real Kit goes wrong:

* **Deferred UI.**  ``Frame.set_build_fn``/``rebuild`` and a TreeView's
  ``_item_changed`` build nothing at once; the next frame (``await
  App.next_update_async()``, or :meth:`World.frame`) does.
* **Events on the next update.**  Stage events (opened, closing, selection
  changed) and viewport pick queries are queued and delivered by the next frame.
* **The live stage belongs to the main thread.**  Reading a stage handed out by
  ``omni.usd`` (Traverse, GetPrimAtPath, its layers, its metadata) from another
  thread, or any change to it processed on another thread (an ``ObjectsChanged``
  notice, which USD sends on the writing thread), is recorded as a violation;
  reads also raise in the offending thread.  The fixture fails a test with any.
* **Clicks are positional.**  ``omni.kit.ui_test`` clicks a widget's screen
  centre, as Kit's does.  A simple layout model places every widget; a centre
  outside the window or clipped by a ``ScrollingFrame`` hits nothing and raises.
* **Stale widgets.**  A rebuilt frame detaches its old widgets; clicking one, or
  using a ``WidgetRef`` to it, raises (Kit's ui_test logs a warning, or acts on a
  detached widget).
* **Module purge on disable.**  Disabling the extension through the extension
  manager removes every ``coptwin`` module from ``sys.modules``, as Kit unloads
  an extension's Python modules; references held across disable/enable go stale.
* **Ports linger.**  While installed, an ``asyncio`` server's listening sockets
  stay bound until ``wait_closed()`` is awaited (Windows' proactor loop frees a
  port only once the loop has processed the close), so a restart that does not
  await the old server's close finds its port taken.

It renders nothing and proves nothing about Kit itself: the ``omni.kit.test``
tests in ``exts/coptwin/coptwin/kit/tests`` are for a real Kit (not run here).
The USD side is real usd-core.
"""

from __future__ import annotations

import asyncio
import enum
import importlib
import sys
import threading
import types
import unittest
from collections.abc import Callable, Iterator
from typing import Any

from pxr import Tf, Usd, UsdGeom

# ============================================================================= the world


class StaleWidgetError(RuntimeError):
    """A widget (or a WidgetRef to it) was used after the frame holding it was rebuilt."""


class ClickMissed(AssertionError):
    """A positional click did not land on the widget (clipped, hidden or off-window)."""


class World:
    """Everything the stand-in tracks, for assertions."""

    def __init__(self, modern_events: bool = True) -> None:
        self.modern_events = modern_events
        self.main_thread = threading.current_thread()
        self.settings: dict[str, Any] = {}
        self.observers: list[Observer] = []
        self.stream_subs: list[StreamSub] = []
        self.menus: dict[str, list[Any]] = {}
        self.menu_refreshes = 0
        self.actions: dict[tuple[str, str], Callable[[], Any]] = {}
        self.windows: list[Window] = []
        self.show_window_fns: dict[str, Callable | None] = {}
        self.framed_selection = 0
        self.has_viewport = True
        self.ext_paths: dict[str, str] = {}
        self.context: UsdContext | None = None
        self.viewport: ViewportWindow | None = None
        self.manager: ExtensionManager | None = None
        #: Frames run so far; work queued for the next one.
        self.frames = 0
        self._next: list[Callable[[], None]] = []
        self._dirty: list[Any] = []
        #: Live-stage thread violations ("read Traverse on Thread-3", ...).
        self.violations: list[str] = []
        self.live_stages: list[Usd.Stage] = []
        self._notice_keys: list[Any] = []

    # -------------------------------------------------------------- frames
    def later(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the next frame (how Kit delivers events and builds UI)."""
        self._next.append(fn)

    def mark_dirty(self, thing: Any) -> None:
        if thing not in self._dirty:
            self._dirty.append(thing)

    def frame(self) -> None:
        """One Kit update: queued events first, then pending UI builds."""
        self._check_thread("a frame")
        self.frames += 1
        work, self._next = self._next, []
        for fn in work:
            fn()
        for _ in range(10):  # builds may dirty more (nested frames), bounded
            dirty, self._dirty = self._dirty, []
            if not dirty:
                break
            for thing in dirty:
                thing._build_now()
        for window in self.live_windows:  # positions as Kit's next draw computes them
            window.layout()

    async def frames_async(self, n: int = 1) -> None:
        for _ in range(n):
            await asyncio.sleep(0)
            self.frame()

    # -------------------------------------------------------------- live stages
    def add_live_stage(self, stage: Usd.Stage) -> None:
        self.live_stages.append(stage)
        self._notice_keys.append(
            Tf.Notice.Register(Usd.Notice.ObjectsChanged, self._on_changed, stage)
        )

    def is_live(self, stage: Any) -> bool:
        return any(stage is s or stage == s for s in self.live_stages)

    def _on_changed(self, notice: Any, stage: Any) -> None:
        if threading.current_thread() is not self.main_thread:
            self.violations.append(
                f"the live stage was changed on {threading.current_thread().name} "
                "(USD: one writer, and Kit's is the main thread)"
            )

    def _check_thread(self, what: str) -> None:
        if threading.current_thread() is not self.main_thread:
            message = f"{what} on {threading.current_thread().name}, not Kit's main thread"
            self.violations.append(message)
            raise AssertionError(f"STAND-IN: {message}")

    def release(self) -> None:
        for key in self._notice_keys:
            key.Revoke()
        self._notice_keys.clear()

    # -------------------------------------------------------------- counts
    @property
    def live_windows(self) -> list[Window]:
        return [w for w in self.windows if not w.destroyed]

    @property
    def live_observers(self) -> list[Observer]:
        return [o for o in self.observers if o.alive]

    @property
    def live_stream_subs(self) -> list[StreamSub]:
        return [s for s in self.stream_subs if s.alive]


WORLD: World = World()


# ============================================================================= pxr guards

_STAGE_READS = (
    "Traverse",
    "TraverseAll",
    "GetPrimAtPath",
    "GetObjectAtPath",
    "GetPseudoRoot",
    "GetDefaultPrim",
    "GetRootLayer",
    "GetSessionLayer",
    "GetUsedLayers",
    "GetLayerStack",
    "HasAuthoredMetadata",
    "GetMetadata",
    "GetEditTarget",
    "DefinePrim",
    "OverridePrim",
    "RemovePrim",
    "Flatten",
    "ExportToString",
    "Export",
    "Save",
)
_GEOM_FUNCS = (
    "GetStageUpAxis",
    "GetStageMetersPerUnit",
    "StageHasAuthoredMetersPerUnit",
    "SetStageUpAxis",
    "SetStageMetersPerUnit",
)


class StageGuard:
    """Patches pxr so that touching a live stage off the main thread is caught."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        for name in _STAGE_READS:
            self._wrap(Usd.Stage, name, method=True)
        for name in _GEOM_FUNCS:
            self._wrap(UsdGeom, name, method=False)

    def _wrap(self, owner: Any, name: str, method: bool) -> None:
        original = getattr(owner, name)

        def guarded(stage: Any, *args: Any, **kwargs: Any) -> Any:
            world = WORLD
            if threading.current_thread() is not world.main_thread and world.is_live(stage):
                world._check_thread(f"the live stage was read ({name})")
            return original(stage, *args, **kwargs)

        guarded.__name__ = name
        self._saved.append((owner, name, original))
        setattr(owner, name, guarded)

    def remove(self) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()


#: How long a closed server's port stays bound after its close was awaited.
LINGER_S = 0.05


class LingeringPorts:
    """asyncio servers keep their listening sockets until ``wait_closed()`` is awaited.

    CPython's selector loop closes them in ``Server.close()``; Windows' proactor
    loop frees the port only once the loop has run the cancelled accept.  The
    stand-in takes the stricter side: bound until the close is awaited.
    """

    def __init__(self) -> None:
        self._saved: tuple[Any, Any] | None = None
        self._servers: list[Any] = []

    def install(self) -> None:
        from asyncio import base_events

        server_cls = base_events.Server
        close, wait_closed = server_cls.close, server_cls.wait_closed
        self._saved = (close, wait_closed)
        servers = self._servers

        def lingering_close(server: Any) -> None:
            sockets = server._sockets
            if sockets is None:
                return
            server._coptwin_lingering = list(sockets)
            servers.append(server)
            server._sockets = None
            for sock in server._coptwin_lingering:
                server._loop._remove_reader(sock.fileno())  # stop accepting, keep the port
            server._serving = False
            forever = getattr(server, "_serving_forever_fut", None)
            if forever is not None and not forever.done():
                forever.cancel()
                server._serving_forever_fut = None
            if getattr(server, "_active_count", 0) == 0:
                server._wakeup()

        async def awaited_close(server: Any) -> None:
            await wait_closed(server)
            # Windows' proactor frees the port once the cancelled accept has completed,
            # some time after close(): the stand-in takes a slow machine's view of it.
            await asyncio.sleep(LINGER_S)
            for sock in getattr(server, "_coptwin_lingering", ()):
                sock.close()
            server._coptwin_lingering = []

        server_cls.close = lingering_close
        server_cls.wait_closed = awaited_close

    def remove(self) -> None:
        for server in self._servers:  # nothing outlives the test
            for sock in getattr(server, "_coptwin_lingering", ()):
                sock.close()
        self._servers.clear()
        if self._saved is None:
            return
        from asyncio import base_events

        base_events.Server.close, base_events.Server.wait_closed = self._saved
        self._saved = None


# ============================================================================= carb


class Observer:
    def __init__(self, event_name: str, on_event: Callable, name: str) -> None:
        self.event_name, self.on_event, self.name, self.alive = event_name, on_event, name, True

    def reset(self) -> None:
        self.alive = False


class EventDispatcher:
    def observe_event(
        self, *, observer_name: str = "", event_name: str, on_event: Callable, order: int = 0
    ) -> Observer:
        obs = Observer(event_name, on_event, observer_name)
        WORLD.observers.append(obs)
        return obs

    def dispatch_event(self, event_name: str, payload: dict | None = None) -> None:
        event = types.SimpleNamespace(event_name=event_name, payload=payload or {})
        for obs in list(WORLD.observers):
            if obs.alive and obs.event_name == event_name:
                obs.on_event(event)


class Settings:
    def get(self, path: str) -> Any:
        return WORLD.settings.get(path)

    def set(self, path: str, value: Any) -> None:
        WORLD.settings[path] = value

    def destroy_item(self, path: str) -> None:
        WORLD.settings.pop(path, None)


class Tokens:
    def resolve(self, text: str) -> str:
        return text.replace("${app}", "/standin/app")


# ============================================================================= omni.usd


class StageEventType(enum.IntEnum):
    SAVED = 0
    OPENING = 3
    OPENED = 4
    CLOSING = 6
    CLOSED = 7
    SELECTION_CHANGED = 8


class StreamSub:
    def __init__(self, fn: Callable, name: str) -> None:
        self.fn, self.name, self.alive = fn, name, True

    def unsubscribe(self) -> None:
        self.alive = False


class EventStream:
    def create_subscription_to_pop(self, fn: Callable, name: str = "") -> StreamSub:
        sub = StreamSub(fn, name)
        WORLD.stream_subs.append(sub)
        return sub


class Selection:
    def __init__(self, context: UsdContext) -> None:
        self._context = context
        self._paths: list[str] = []

    def get_selected_prim_paths(self) -> list[str]:
        return list(self._paths)

    def set_selected_prim_paths(self, paths: list[str], expand_in_stage: bool) -> None:
        WORLD._check_thread("selection set")
        self._paths = [str(p) for p in paths]
        self._context.emit(StageEventType.SELECTION_CHANGED)


class UsdContext:
    def __init__(self) -> None:
        self._stage: Usd.Stage | None = None
        self._selection = Selection(self)
        self._stream = EventStream()

    def get_stage(self) -> Usd.Stage | None:
        return self._stage

    def get_selection(self) -> Selection:
        return self._selection

    def get_stage_event_stream(self) -> EventStream:
        if WORLD.modern_events:
            raise AttributeError("stand-in in modern mode: use carb.eventdispatcher")
        return self._stream

    def stage_event_name(self, event_type: StageEventType) -> str:
        return f"omni.usd:stage:{event_type.name.lower()}"

    def __getattribute__(self, name: str) -> Any:
        if name == "stage_event_name" and not WORLD.modern_events:
            raise AttributeError(name)  # older Kit: no event-dispatcher names
        return object.__getattribute__(self, name)

    def emit(self, event_type: StageEventType) -> None:
        """Queue a stage event; Kit delivers it on the next update."""
        WORLD.later(lambda: self._deliver(event_type))

    def _deliver(self, event_type: StageEventType) -> None:
        if WORLD.modern_events:
            DISPATCHER.dispatch_event(self.stage_event_name(event_type))
        else:
            event = types.SimpleNamespace(type=int(event_type), payload={})
            for sub in list(WORLD.stream_subs):
                if sub.alive:
                    sub.fn(event)

    def open_stage_object(self, stage: Usd.Stage) -> None:
        """Test helper: make ``stage`` the open stage, with Kit's event sequence."""
        self.close_stage()
        self.emit(StageEventType.OPENING)
        self._stage = stage
        WORLD.add_live_stage(stage)
        self.emit(StageEventType.OPENED)

    async def open_stage_async(self, path: str) -> tuple[bool, str]:
        stage = Usd.Stage.Open(str(path))
        if stage is None:
            return False, f"cannot open {path}"
        self.open_stage_object(stage)
        await WORLD.frames_async(1)
        return True, ""

    async def new_stage_async(self) -> tuple[bool, str]:
        self.new_stage()
        await WORLD.frames_async(1)
        return True, ""

    async def close_stage_async(self) -> tuple[bool, str]:
        self.close_stage()
        await WORLD.frames_async(1)
        return True, ""

    def new_stage(self) -> Usd.Stage:
        self.open_stage_object(Usd.Stage.CreateInMemory())
        return self._stage

    def close_stage(self) -> None:
        if self._stage is None:
            return
        self.emit(StageEventType.CLOSING)
        self._selection._paths = []
        self._stage = None
        self.emit(StageEventType.CLOSED)


DISPATCHER = EventDispatcher()


# ============================================================================= omni.ui

_COMMON = {"width", "height", "name", "style", "visible", "tooltip", "identifier", "enabled"}
_BUILD_STACK: list[Widget] = []
#: Heights (px) the layout model gives widgets without an explicit height.
_DEFAULT_HEIGHT = {
    "Label": 20,
    "Button": 22,
    "StringField": 22,
    "CheckBox": 20,
    "Rectangle": 0,
    "Spacer": 0,
    "Line": 1,
    "Plot": 60,
}
TITLE_BAR = 20
ROW = 20
#: Wall time of one frame of App.next_update_async (Kit: ~16 ms at 60 Hz).
FRAME_S = 0.004


class Length(float):
    pass


class FractionLength(Length):
    pass


def Fraction(value: float) -> Length:  # noqa: N802 - mirrors omni.ui
    return FractionLength(value)


def Pixel(value: float) -> Length:  # noqa: N802
    return Length(value)


class Type(enum.Enum):
    LINE = "line"
    HISTOGRAM = "histogram"


class Widget:
    allowed: frozenset[str] = frozenset()

    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - _COMMON - set(self.allowed)
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keywords {sorted(unknown)}")
        self.kwargs = kwargs
        self.name = kwargs.get("name", "")
        self.visible = kwargs.get("visible", True)
        self.enabled = kwargs.get("enabled", True)
        self.identifier = kwargs.get("identifier", "")
        self.children: list[Widget] = []
        self.parent: Widget | None = None
        self.detached = False
        #: set by the layout pass
        self.screen_position_x = 0.0
        self.screen_position_y = 0.0
        self.computed_content_width = 0.0
        self.computed_content_height = 0.0
        if _BUILD_STACK:
            _BUILD_STACK[-1]._adopt(self)

    # -------------------------------------------------------------- tree
    def _adopt(self, child: Widget) -> None:
        child.parent = self
        self.children.append(child)

    def _detach_children(self) -> None:
        for child in self.children:
            for w in child.walk():
                w.detached = True
        self.children = []

    def walk(self) -> Iterator[Widget]:
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def window(self) -> Window | None:
        node: Widget | None = self
        while node is not None:
            owner = getattr(node, "owner_window", None)
            if owner is not None:
                return owner
            node = node.parent
        return None

    def check_alive(self, what: str = "used") -> None:
        window = self.window
        if self.detached or window is None or window.destroyed:
            raise StaleWidgetError(
                f"STAND-IN: {type(self).__name__} {self.name or self.identifier or ''} {what} "
                "after the frame holding it was rebuilt (re-query it)"
            )

    # -------------------------------------------------------------- layout model
    def _height(self, width: float) -> float:
        h = self.kwargs.get("height")
        if not self.visible:
            return 0.0
        if isinstance(h, (int, float)) and not isinstance(h, FractionLength) and h > 0:
            return float(h)
        return self._content_height(width)

    def _content_height(self, width: float) -> float:
        return float(_DEFAULT_HEIGHT.get(type(self).__name__, ROW))

    def _width_hint(self) -> float | None:
        w = self.kwargs.get("width")
        if isinstance(w, (int, float)) and not isinstance(w, FractionLength) and w > 0:
            return float(w)
        if w == 0 and isinstance(self, Label):
            return 7.0 * len(self.text) + 4
        return None

    def _layout(self, x: float, y: float, width: float, clip: tuple[float, float]) -> float:
        """Place self at (x, y) with ``width``; returns the height used."""
        self.screen_position_x, self.screen_position_y = x, y
        self.computed_content_width = width
        self.clip = clip
        height = self._place_children(x, y, width, clip) if self.visible else 0.0
        self.computed_content_height = height
        return height

    def _place_children(self, x: float, y: float, width: float, clip: tuple[float, float]) -> float:
        return self._height(width)

    @property
    def computed_width(self) -> float:
        return self.computed_content_width

    @property
    def computed_height(self) -> float:
        return self.computed_content_height


class Container(Widget):
    allowed = frozenset({"spacing", "direction"})

    def __enter__(self) -> Container:
        _BUILD_STACK.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _BUILD_STACK.pop()

    def _spacing(self) -> float:
        return float(self.kwargs.get("spacing", 0) or 0)


class VStack(Container):
    def _place_children(self, x: float, y: float, width: float, clip: tuple[float, float]) -> float:
        cy = y
        shown = [c for c in self.children if c.visible]
        for i, child in enumerate(shown):
            used = child._layout(x, cy, width, clip)
            cy += used + (self._spacing() if i < len(shown) - 1 else 0)
        fixed = self.kwargs.get("height")
        if isinstance(fixed, (int, float)) and not isinstance(fixed, FractionLength) and fixed > 0:
            return float(fixed)
        return cy - y


class HStack(Container):
    def _place_children(self, x: float, y: float, width: float, clip: tuple[float, float]) -> float:
        shown = [c for c in self.children if c.visible]
        hints = [c._width_hint() for c in shown]
        fixed = sum(h for h in hints if h is not None) + self._spacing() * max(0, len(shown) - 1)
        flexible = sum(1 for h in hints if h is None)
        share = max(0.0, width - fixed) / flexible if flexible else 0.0
        cx, tallest = x, 0.0
        for child, hint in zip(shown, hints, strict=True):
            w = hint if hint is not None else share
            tallest = max(tallest, child._layout(cx, y, w, clip))
            cx += w + self._spacing()
        own = self.kwargs.get("height")
        if isinstance(own, (int, float)) and not isinstance(own, FractionLength) and own > 0:
            return float(own)
        return tallest


class ZStack(Container):
    def _place_children(self, x: float, y: float, width: float, clip: tuple[float, float]) -> float:
        tallest = 0.0
        for child in self.children:
            if child.visible:
                tallest = max(tallest, child._layout(x, y, width, clip))
        return tallest


class Frame(Container):
    """A frame whose build function runs on the next frame (never at once)."""

    allowed = frozenset({"build_fn"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._build_fn: Callable[[], None] | None = kwargs.get("build_fn")
        self.style: dict = {}
        self.builds = 0
        if self._build_fn is not None:
            WORLD.mark_dirty(self)

    def set_build_fn(self, fn: Callable[[], None]) -> None:
        self._build_fn = fn
        WORLD.mark_dirty(self)

    def clear(self) -> None:
        self._detach_children()

    def rebuild(self) -> None:
        WORLD.mark_dirty(self)

    def _build_now(self) -> None:
        if self.detached:
            return
        self._detach_children()
        if self._build_fn is None:
            return
        with self:
            self._build_fn()
        self.builds += 1

    def _place_children(self, x: float, y: float, width: float, clip: tuple[float, float]) -> float:
        used = 0.0
        for child in self.children:
            used += child._layout(x, y + used, width, clip)
        own = self.kwargs.get("height")
        if isinstance(own, (int, float)) and not isinstance(own, FractionLength) and own > 0:
            return float(own)
        return used


class ScrollingFrame(Frame):
    allowed = frozenset(
        {"horizontal_scrollbar_policy", "vertical_scrollbar_policy", "build_fn", "scroll_y"}
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scroll_y = float(kwargs.get("scroll_y", 0.0))
        self.scroll_y_max = 0.0
        self._viewport_height: float | None = None

    def _place_children(self, x: float, y: float, width: float, clip: tuple[float, float]) -> float:
        own = self.kwargs.get("height")
        if isinstance(own, (int, float)) and not isinstance(own, FractionLength) and own > 0:
            view = float(own)
        else:
            view = self._viewport_height if self._viewport_height is not None else 10_000.0
        content = 0.0
        self.scroll_y_max = 0.0
        inner = (max(clip[0], y), min(clip[1], y + view))
        # Lay out once to measure, then again with the scroll offset applied.
        for child in self.children:
            content += child._layout(x, y + content, width, inner)
        self.scroll_y_max = max(0.0, content - view)
        self.scroll_y = min(max(0.0, self.scroll_y), self.scroll_y_max)
        offset = 0.0
        for child in self.children:
            offset += child._layout(x, y - self.scroll_y + offset, width, inner)
        return view


class CollapsableFrame(Frame):
    allowed = frozenset({"collapsed", "title", "build_fn"})

    def __init__(self, title: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.collapsed = bool(kwargs.get("collapsed", False))

    def _place_children(self, x: float, y: float, width: float, clip: tuple[float, float]) -> float:
        if self.collapsed:
            return float(ROW)
        used = float(ROW)
        for child in self.children:
            used += child._layout(x, y + used, width, clip)
        return used


class Label(Widget):
    allowed = frozenset({"word_wrap", "elided_text", "alignment"})

    def __init__(self, text: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text = text


class Rectangle(Widget):
    pass


class Spacer(Widget):
    pass


class Line(Widget):
    pass


class Button(Widget):
    allowed = frozenset({"clicked_fn", "text"})

    def __init__(self, text: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text = text
        self.clicked_fn = kwargs.get("clicked_fn")

    def call_clicked_fn(self) -> None:
        """What a click that landed on the button does (ui_test clicks positionally)."""
        self.check_alive("clicked")
        if self.enabled and self.clicked_fn is not None:
            self.clicked_fn()


class AbstractValueModel:
    def __init__(self) -> None:
        self._fns: list[Callable] = []
        self._end_fns: list[Callable] = []

    def add_value_changed_fn(self, fn: Callable) -> int:
        self._fns.append(fn)
        return len(self._fns)

    def add_end_edit_fn(self, fn: Callable) -> int:
        self._end_fns.append(fn)
        return len(self._end_fns)

    def _value_changed(self) -> None:
        for fn in list(self._fns):
            fn(self)


class SimpleStringModel(AbstractValueModel):
    def __init__(self, value: str = "") -> None:
        super().__init__()
        self._value = str(value)

    def get_value_as_string(self) -> str:
        return self._value

    @property
    def as_string(self) -> str:
        return self._value

    def set_value(self, value: Any) -> None:
        if str(value) != self._value:
            self._value = str(value)
            self._value_changed()


class SimpleBoolModel(AbstractValueModel):
    def __init__(self, value: bool = False) -> None:
        super().__init__()
        self._value = bool(value)

    def get_value_as_bool(self) -> bool:
        return self._value

    def set_value(self, value: Any) -> None:
        if bool(value) != self._value:
            self._value = bool(value)
            self._value_changed()


class StringField(Widget):
    allowed = frozenset({"model", "read_only", "multiline"})

    def __init__(self, model: AbstractValueModel | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model or kwargs.get("model") or SimpleStringModel()


class CheckBox(Widget):
    allowed = frozenset({"model"})

    def __init__(self, model: AbstractValueModel | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model or SimpleBoolModel()

    def call_clicked_fn(self) -> None:
        self.check_alive("clicked")
        if self.enabled:
            self.model.set_value(not self.model.get_value_as_bool())


class Plot(Widget):
    allowed = frozenset({"scale_min", "scale_max"})

    def __init__(self, type: Type, scale_min: float, scale_max: float, *values: float, **kw):  # noqa: A002
        super().__init__(**kw)
        if not isinstance(type, Type):
            raise TypeError("Plot needs a ui.Type")
        if not all(isinstance(v, float) for v in values):
            raise TypeError("Plot values must be floats")
        self.scale_min, self.scale_max, self.values = scale_min, scale_max, list(values)


class AbstractItem:
    def __init__(self) -> None:
        pass


class AbstractItemModel:
    def __init__(self) -> None:
        self._item_changed_fns: list[Callable] = []

    def add_item_changed_fn(self, fn: Callable) -> int:
        self._item_changed_fns.append(fn)
        return len(self._item_changed_fns)

    def _item_changed(self, item: AbstractItem | None) -> None:
        for fn in list(self._item_changed_fns):
            fn(self, item)


class AbstractItemDelegate:
    def __init__(self) -> None:
        pass


class TreeView(Widget):
    """A flat TreeView: rows are built by the delegate on the next frame.

    ``_item_changed(None)`` rebuilds every row; ``_item_changed(item)`` only that
    item's row.  ``rows_built`` counts delegate row builds (for cost tests).
    """

    allowed = frozenset(
        {
            "delegate",
            "root_visible",
            "header_visible",
            "columns_resizable",
            "column_widths",
            "selection_changed_fn",
        }
    )

    def __init__(self, model: AbstractItemModel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.delegate = kwargs.get("delegate")
        self._selection: list[Any] = []
        self.selection_changed_fn = kwargs.get("selection_changed_fn")
        widths = kwargs.get("column_widths")
        if widths is not None and len(widths) != model.get_item_value_model_count(None):
            raise ValueError("column_widths does not match the model's column count")
        self._header: list[Widget] = []
        self._rows: dict[int, tuple[Any, list[Widget]]] = {}
        self._full = True
        self._changed: list[Any] = []
        self.rows_built = 0
        self.full_redraws = 0
        model.add_item_changed_fn(self._on_item_changed)
        WORLD.mark_dirty(self)

    def _on_item_changed(self, _model: Any, item: Any) -> None:
        if item is None:
            self._full = True
        else:
            self._changed.append(item)
        WORLD.mark_dirty(self)

    def _build_row(self, item: Any, count: int) -> list[Widget]:
        holder = VStack()
        holder.parent = self
        _BUILD_STACK.append(holder)
        try:
            for column in range(count):
                self.model.get_item_value_model(item, column)
                if self.delegate is not None:
                    self.delegate.build_widget(self.model, item, column, 0, False)
        finally:
            _BUILD_STACK.pop()
        self.rows_built += 1
        return holder.children

    def _build_now(self) -> None:
        if self.detached:
            return
        count = self.model.get_item_value_model_count(None)
        if self._full or not self._header:
            self.full_redraws += 1
            for w in self.walk():
                if w is not self:
                    w.detached = True
            holder = VStack()
            holder.parent = self
            _BUILD_STACK.append(holder)
            try:
                if self.kwargs.get("header_visible") and self.delegate is not None:
                    for column in range(count):
                        self.delegate.build_header(column)
            finally:
                _BUILD_STACK.pop()
            self._header = holder.children
            self._rows = {
                id(item): (item, self._build_row(item, count))
                for item in self.model.get_item_children(None)
            }
        else:
            current = {id(i) for i in self.model.get_item_children(None)}
            for item in self._changed:
                if id(item) in current:
                    old = self._rows.get(id(item))
                    if old is not None:
                        for cell in old[1]:
                            for w in cell.walk():
                                w.detached = True
                    self._rows[id(item)] = (item, self._build_row(item, count))
        self._full, self._changed = False, []
        self.children = list(self._header) + [
            cell
            for item in self.model.get_item_children(None)
            for cell in self._rows.get(id(item), (None, []))[1]
        ]
        for child in self.children:
            child.parent = self

    @property
    def cells(self) -> list[Widget]:
        return list(self.children)

    def _content_height(self, width: float) -> float:
        return float(ROW * (1 + len(self.model.get_item_children(None))))

    def _place_children(self, x: float, y: float, width: float, clip: tuple[float, float]) -> float:
        count = max(1, self.model.get_item_value_model_count(None))
        col_w = width / count
        rows = [self._header] + [
            self._rows.get(id(item), (None, []))[1] for item in self.model.get_item_children(None)
        ]
        for r, cells in enumerate(rows):
            for c, cell in enumerate(cells):
                cell._layout(x + c * col_w, y + r * ROW, col_w, clip)
        return self._height(width)

    def dirty_widgets(self) -> None:
        self._full = True
        WORLD.mark_dirty(self)

    @property
    def selection(self) -> list[Any]:
        return list(self._selection)

    @selection.setter
    def selection(self, items: list[Any]) -> None:
        items = list(items)
        if items != self._selection:
            self._selection = items
            if self.selection_changed_fn is not None:
                self.selection_changed_fn(list(items))

    def user_select(self, items: list[Any]) -> None:
        """Test helper: what a click on rows does."""
        self.check_alive("clicked")
        self.selection = items


class Window:
    def __init__(self, title: str, **kwargs: Any) -> None:
        unknown = set(kwargs) - {"width", "height", "visible", "flags", "dockPreference"}
        if unknown:
            raise TypeError(f"Window() got unexpected keywords {sorted(unknown)}")
        self.title = title
        self.width = float(kwargs.get("width", 400))
        self.height = float(kwargs.get("height", 400))
        self.frame = Frame()
        self.frame.owner_window = self
        self._visible = kwargs.get("visible", True)
        self._visibility_fn: Callable | None = None
        self.destroyed = False
        WORLD.windows.append(self)

    @property
    def visible(self) -> bool:
        return self._visible

    @visible.setter
    def visible(self, value: bool) -> None:
        if bool(value) != self._visible:
            self._visible = bool(value)
            if self._visibility_fn is not None:
                self._visibility_fn(self._visible)

    def set_visibility_changed_fn(self, fn: Callable | None) -> None:
        self._visibility_fn = fn

    def layout(self) -> None:
        """Place every widget: the window's content area starts below its title bar."""
        view = self.height - TITLE_BAR
        for child in self.frame.children:
            if isinstance(child, ScrollingFrame) and child.kwargs.get("height") is None:
                child._viewport_height = view
        self.frame._layout(0.0, TITLE_BAR, self.width, (TITLE_BAR, self.height))

    def focus(self) -> None:
        pass

    def undock(self) -> None:
        pass

    def destroy(self) -> None:
        self.destroyed = True
        self.frame._detach_children()


class Workspace:
    @staticmethod
    def set_show_window_fn(title: str, fn: Callable | None) -> None:
        WORLD.show_window_fns[title] = fn

    @staticmethod
    def get_window(title: str) -> Window | None:
        return next((w for w in WORLD.live_windows if w.title == title), None)

    @staticmethod
    def get_windows() -> list[Window]:
        return list(WORLD.live_windows)


# ============================================================================= omni.kit.ui_test


class WidgetRef:
    """A widget found by a query, as omni.kit.ui_test returns it."""

    def __init__(self, widget: Widget, path: str) -> None:
        self._widget = widget
        self.path = path

    @property
    def widget(self) -> Widget:
        self._widget.check_alive("used through a WidgetRef")
        return self._widget

    @property
    def model(self) -> Any:
        return self.widget.model

    @property
    def center(self) -> tuple[float, float]:
        w = self.widget
        w.window.layout()
        return (
            w.screen_position_x + w.computed_content_width / 2,
            w.screen_position_y + w.computed_content_height / 2,
        )

    def find_all(self, path: str) -> list[WidgetRef]:
        """``"**/<Type>[*]"`` below this widget."""
        kind = path.rsplit("/", 1)[-1].split("[", 1)[0]
        return [
            WidgetRef(w, f"{self.path}/{path}")
            for w in self.widget.walk()
            if w is not self._widget and type(w).__name__ == kind and not w.detached
        ]

    async def click(self) -> None:
        """Click the widget's screen centre, as Kit's ui_test does (no scrolling)."""
        x, y = self.center
        target = self.widget
        window = target.window
        hit = _hit(window, x, y)
        if hit is not target:
            clip = getattr(target, "clip", None)
            raise ClickMissed(
                f"STAND-IN: a click at the centre of {type(target).__name__} "
                f"{target.identifier or getattr(target, 'text', '')!r} ({x:.0f}, {y:.0f}) "
                f"landed on {type(hit).__name__ if hit else 'nothing'}: the widget is outside "
                f"the window or clipped by a ScrollingFrame (visible y range {clip}); "
                "scroll it into view first"
            )
        target.call_clicked_fn()
        await WORLD.frames_async(2)


def _hit(window: Window | None, x: float, y: float) -> Widget | None:
    """The deepest clickable widget at (x, y) that is not clipped, or None."""
    if window is None or window.destroyed or not window.visible:
        return None
    window.layout()
    if not (0 <= x <= window.width and TITLE_BAR <= y <= window.height):
        return None
    found = None
    for w in window.frame.walk():
        if not hasattr(w, "call_clicked_fn") or not _shown(w):
            continue
        lo, hi = getattr(w, "clip", (0.0, 0.0))
        inside = (
            w.screen_position_x <= x <= w.screen_position_x + w.computed_content_width
            and w.screen_position_y <= y <= w.screen_position_y + w.computed_content_height
        )
        if inside and lo <= y <= hi:
            found = w
    return found


def _shown(w: Widget) -> bool:
    node: Widget | None = w
    while node is not None:
        if not node.visible:
            return False
        node = node.parent
    return True


def find_all(path: str) -> list[WidgetRef]:
    """``"<window title>//Frame/**/<Type>[*]"`` queries (the only form coptwin uses)."""
    title, _, rest = path.partition("//")
    kind = rest.rsplit("/", 1)[-1].split("[", 1)[0]
    window = Workspace.get_window(title)
    if window is None:
        return []
    return [
        WidgetRef(w, path)
        for w in window.frame.walk()
        if type(w).__name__ == kind and not w.detached
    ]


def find(path: str) -> WidgetRef | None:
    found = find_all(path)
    return found[0] if len(found) == 1 else None


async def wait_n_updates(n: int = 2) -> None:
    await WORLD.frames_async(n)


# ============================================================================= menus, actions, app


class MenuItemDescription:
    def __init__(
        self,
        name: str = "",
        ticked: bool = False,
        ticked_fn: Callable | None = None,
        onclick_action: tuple[str, str] | None = None,
        sub_menu: list | None = None,
        appear_after: str = "",
    ) -> None:
        self.name, self.ticked, self.ticked_fn = name, ticked, ticked_fn
        self.onclick_action, self.sub_menu = onclick_action, sub_menu


def add_menu_items(items: list, menu: str, priority: int = 0) -> None:
    WORLD.menus.setdefault(menu, []).extend(items)


def remove_menu_items(items: list, menu: str) -> None:
    for item in items:
        WORLD.menus.get(menu, []).remove(item)


def refresh_menu_items(menu: str) -> None:
    WORLD.menu_refreshes += 1


class ActionRegistry:
    def register_action(
        self,
        ext_id: str,
        action_id: str,
        fn: Callable,
        display_name: str = "",
        description: str = "",
    ) -> None:
        if (ext_id, action_id) in WORLD.actions:
            raise RuntimeError(f"action {ext_id}/{action_id} registered twice")
        WORLD.actions[(ext_id, action_id)] = fn

    def deregister_all_actions_for_extension(self, ext_id: str) -> None:
        for key in [k for k in WORLD.actions if k[0] == ext_id]:
            del WORLD.actions[key]

    def execute_action(self, ext_id: str, action_id: str) -> Any:
        return WORLD.actions[(ext_id, action_id)]()


class ExtensionManager:
    """Enables/disables coptwin like Kit: disabling unloads the extension's modules."""

    def __init__(self) -> None:
        self.instance: Any = None
        self.ext_id = "coptwin-0.1.0"

    def get_extension_path(self, ext_id: str) -> str:
        return WORLD.ext_paths.get(ext_id, "")

    def set_extension_enabled_immediate(self, name: str, enabled: bool) -> bool:
        if enabled and self.instance is None:
            module = importlib.import_module("coptwin.kit")
            self.instance = module.CoptwinExtension()
            self.instance.on_startup(self.ext_id)
        elif not enabled and self.instance is not None:
            self.instance.on_shutdown()
            self.instance = None
            purge_modules("coptwin")
        return True


def purge_modules(prefix: str) -> list[str]:
    """Drop ``prefix`` and its submodules from sys.modules (Kit does so on disable)."""
    gone = [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]
    for name in gone:
        del sys.modules[name]
    return gone


class App:
    def get_extension_manager(self) -> ExtensionManager:
        assert WORLD.manager is not None
        return WORLD.manager

    async def next_update_async(self) -> None:
        await asyncio.sleep(FRAME_S)  # a frame takes time; worker threads run meanwhile
        WORLD.frame()


class AsyncTestCase(unittest.IsolatedAsyncioTestCase):
    """omni.kit.test.AsyncTestCase: ``setUp``/``tearDown`` may be coroutines (Kit awaits them)."""

    def _callSetUp(self) -> None:  # noqa: N802 - unittest's hook
        if asyncio.iscoroutinefunction(self.setUp):
            self._callAsync(self.setUp)
        else:
            super()._callSetUp()

    def _callTearDown(self) -> None:  # noqa: N802
        if asyncio.iscoroutinefunction(self.tearDown):
            self._callAsync(self.tearDown)
        else:
            super()._callTearDown()


class IExt:
    def on_startup(self, ext_id: str) -> None: ...

    def on_shutdown(self) -> None: ...


# ============================================================================= viewport


class ViewportAPI:
    """What coptwin uses of a viewport: camera path, picking queries, scene views."""

    camera_path = "/OmniverseKit_Persp"
    resolution = (1280, 720)

    def __init__(self) -> None:
        self.scene_views: list[Any] = []
        self.camera_position = (100.0, 100.0, 100.0)
        self.camera_target = (0.0, 0.0, 0.0)
        #: What a query at any pixel reports next: (prim path, world position).
        self.under_mouse: tuple[str, tuple[float, float, float] | None] = ("", None)

    def add_scene_view(self, view: Any) -> None:
        self.scene_views.append(view)

    def remove_scene_view(self, view: Any) -> None:
        self.scene_views.remove(view)

    def map_ndc_to_texture_pixel(self, ndc: Any) -> tuple[tuple[int, int], ViewportAPI]:
        x = int((ndc[0] + 1.0) * 0.5 * self.resolution[0])
        y = int((1.0 - ndc[1]) * 0.5 * self.resolution[1])
        return (x, y), self

    def request_query(self, pixel: Any, callback: Callable, query_name: str = "") -> None:
        """Answered on a later frame, as the renderer does."""
        path, world = self.under_mouse
        WORLD.later(lambda: callback(path, world, pixel))


class ViewportWindow:
    def __init__(self) -> None:
        self.viewport_api = ViewportAPI()
        self.frames: dict[str, Frame] = {}

    def get_frame(self, name: str) -> Frame:
        if name not in self.frames:
            frame = Frame()
            frame.owner_window = types.SimpleNamespace(destroyed=False)
            self.frames[name] = frame
        return self.frames[name]

    def click(self, path: str, world: tuple[float, float, float] | None) -> None:
        """A user's left click in the viewport on ``path`` at ``world``.

        The click gestures installed on scene views see it (their pick query is
        answered on a later frame) and Kit's own selection manipulator selects
        ``path`` on the next frame.
        """
        self.viewport_api.under_mouse = (path, world)
        for view in list(self.viewport_api.scene_views):
            for gesture in view.gestures():
                gesture.fire((0.0, 0.0))
        context = WORLD.context
        assert context is not None
        WORLD.later(lambda: context.get_selection().set_selected_prim_paths([path], True))


def get_active_viewport() -> Any:
    return WORLD.viewport.viewport_api if WORLD.has_viewport and WORLD.viewport else None


def get_active_viewport_window() -> Any:
    return WORLD.viewport if WORLD.has_viewport else None


def frame_viewport_selection(viewport_api: Any = None, force_legacy_api: bool = False) -> None:
    if viewport_api is None:
        raise TypeError("no viewport given")
    WORLD.framed_selection += 1


class ViewportCameraState:
    """omni.kit.viewport.utility.camera_state.ViewportCameraState, over ViewportAPI."""

    def __init__(self, camera_path: str | None = None, viewport: Any = None, **_kw: Any) -> None:
        self._api = viewport or get_active_viewport()

    @property
    def position_world(self) -> tuple[float, float, float]:
        return self._api.camera_position

    @property
    def target_world(self) -> tuple[float, float, float]:
        return self._api.camera_target

    def set_position_world(self, world_position: Any, rotate: bool) -> None:
        WORLD._check_thread("camera moved")
        self._api.camera_position = tuple(float(v) for v in world_position)

    def set_target_world(self, world_target: Any, rotate: bool) -> None:
        WORLD._check_thread("camera moved")
        self._api.camera_target = tuple(float(v) for v in world_target)


# ----------------------------------------------------------------------------- omni.ui.scene


class GestureManager:
    def can_be_prevented(self, gesture: Any) -> bool:
        return True

    def should_prevent(self, gesture: Any, preventer: Any) -> bool:
        return False


class ClickGesture:
    def __init__(self, on_ended_fn: Callable | None = None, **kwargs: Any) -> None:
        unknown = set(kwargs) - {"mouse_button", "manager", "name"}
        if unknown:
            raise TypeError(f"ClickGesture() got unexpected keywords {sorted(unknown)}")
        self._fn = on_ended_fn
        self.manager = kwargs.get("manager")
        self.sender: Any = None

    def fire(self, ndc: tuple[float, float]) -> None:
        if self.manager is None or self.manager.can_be_prevented(self):
            # Kit's selection manipulator would prevent a preventable click gesture.
            return
        self.sender = types.SimpleNamespace(gesture_payload=types.SimpleNamespace(mouse=ndc))
        if self._fn is not None:
            self._fn(self.sender)


class SceneView:
    def __init__(self, **kwargs: Any) -> None:
        self.scene = _Scene()

    def gestures(self) -> list[ClickGesture]:
        return [g for screen in self.scene.screens for g in screen.gesture]


class _Scene:
    def __init__(self) -> None:
        self.screens: list[Screen] = []

    def __enter__(self) -> _Scene:
        _SCENE_STACK.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _SCENE_STACK.pop()


_SCENE_STACK: list[_Scene] = []


class Screen:
    def __init__(self, gesture: Any = None, **kwargs: Any) -> None:
        self.gesture = list(gesture) if isinstance(gesture, (list, tuple)) else [gesture]
        if _SCENE_STACK:
            _SCENE_STACK[-1].screens.append(self)


# ============================================================================= modules


def _module(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name, f"STAND-IN for {name} (tests only, not Kit)")
    mod.__dict__.update(attrs)
    return mod


def build(world: World) -> dict[str, types.ModuleType]:
    """The fake modules, keyed by import name, bound to ``world``."""
    global WORLD
    WORLD = world
    world.context = UsdContext()
    world.viewport = ViewportWindow()
    world.manager = ExtensionManager()
    ui_names = [
        "Window", "Workspace", "Frame", "ScrollingFrame", "CollapsableFrame", "VStack",
        "HStack", "ZStack", "Label", "Rectangle", "Spacer", "Line", "Button", "StringField",
        "CheckBox", "Plot", "TreeView", "Type", "Fraction", "Pixel", "AbstractValueModel",
        "SimpleStringModel", "SimpleBoolModel", "AbstractItem", "AbstractItemModel",
        "AbstractItemDelegate",
    ]  # fmt: skip
    g = globals()
    mods = {
        "carb": _module("carb"),
        "carb.settings": _module("carb.settings", get_settings=lambda: Settings()),
        "carb.tokens": _module("carb.tokens", get_tokens_interface=lambda: Tokens()),
        "carb.eventdispatcher": _module(
            "carb.eventdispatcher", get_eventdispatcher=lambda: DISPATCHER
        ),
        "omni": _module("omni"),
        "omni.ext": _module("omni.ext", IExt=IExt),
        "omni.ui": _module("omni.ui", **{n: g[n] for n in ui_names}),
        "omni.ui.scene": _module(
            "omni.ui.scene",
            SceneView=SceneView,
            Screen=Screen,
            ClickGesture=ClickGesture,
            GestureManager=GestureManager,
        ),
        "omni.usd": _module(
            "omni.usd", get_context=lambda name="": world.context, StageEventType=StageEventType
        ),
        "omni.kit": _module("omni.kit"),
        "omni.kit.app": _module("omni.kit.app", get_app=lambda: App()),
        "omni.kit.test": _module("omni.kit.test", AsyncTestCase=AsyncTestCase),
        "omni.kit.ui_test": _module(
            "omni.kit.ui_test",
            find_all=find_all,
            find=find,
            wait_n_updates=wait_n_updates,
            WidgetRef=WidgetRef,
        ),
        "omni.kit.menu": _module("omni.kit.menu"),
        "omni.kit.menu.utils": _module(
            "omni.kit.menu.utils",
            MenuItemDescription=MenuItemDescription,
            add_menu_items=add_menu_items,
            remove_menu_items=remove_menu_items,
            refresh_menu_items=refresh_menu_items,
        ),
        "omni.kit.actions": _module("omni.kit.actions"),
        "omni.kit.actions.core": _module(
            "omni.kit.actions.core", get_action_registry=lambda: ActionRegistry()
        ),
        "omni.kit.viewport": _module("omni.kit.viewport"),
        "omni.kit.viewport.utility": _module(
            "omni.kit.viewport.utility",
            get_active_viewport=get_active_viewport,
            get_active_viewport_window=get_active_viewport_window,
            frame_viewport_selection=frame_viewport_selection,
        ),
        "omni.kit.viewport.utility.camera_state": _module(
            "omni.kit.viewport.utility.camera_state", ViewportCameraState=ViewportCameraState
        ),
    }
    for name, mod in mods.items():  # make `import a.b.c` + attribute access work
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(mods[parent], child, mod)
    return mods
