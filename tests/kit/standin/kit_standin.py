"""STAND-IN for the omni/carb APIs coptwin.kit uses — for pytest only, NOT Kit.

Each fake module is a plain ``types.ModuleType`` built by :func:`build` and
put into ``sys.modules`` by the test fixture.  Widgets accept only keyword
arguments the real omni.ui accepts for them (a typo raises TypeError), build
functions run immediately, and every registry (event observers, stream
subscriptions, menu items, actions, windows) counts what is alive so tests can
assert that shutdown released everything.  The stage is a real usd-core stage.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Callable
from typing import Any

from pxr import Usd


class World:
    """Everything the stand-in tracks, for assertions."""

    def __init__(self, modern_events: bool = True) -> None:
        self.modern_events = modern_events
        self.settings: dict[str, Any] = {}
        self.observers: list[Observer] = []
        self.stream_subs: list[StreamSub] = []
        self.menus: dict[str, list[Any]] = {}
        self.menu_refreshes = 0
        self.actions: dict[tuple[str, str], Callable[[], Any]] = {}
        self.windows: list[Window] = []
        self.show_window_fns: dict[str, Callable | None] = {}
        self.framed = 0
        self.has_viewport = True
        self.ext_paths: dict[str, str] = {}
        self.context: UsdContext | None = None

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

# ----------------------------------------------------------------------------- carb


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


class Tokens:
    def resolve(self, text: str) -> str:
        return text.replace("${app}", "/standin/app")


# ----------------------------------------------------------------------------- omni.usd


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
        self.emit(StageEventType.OPENED)

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


# ----------------------------------------------------------------------------- omni.ui

_COMMON = {"width", "height", "name", "style", "visible", "tooltip", "identifier", "enabled"}
_BUILD_STACK: list[Widget] = []


class Length(float):
    pass


def Fraction(value: float) -> Length:  # noqa: N802 - mirrors omni.ui
    return Length(value)


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
        self.children: list[Widget] = []
        if _BUILD_STACK:
            _BUILD_STACK[-1].children.append(self)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


class Container(Widget):
    allowed = frozenset({"spacing", "direction"})

    def __enter__(self) -> Container:
        _BUILD_STACK.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _BUILD_STACK.pop()


class VStack(Container):
    pass


class HStack(Container):
    pass


class ZStack(Container):
    pass


class ScrollingFrame(Container):
    allowed = frozenset({"horizontal_scrollbar_policy", "vertical_scrollbar_policy"})


class CollapsableFrame(Container):
    allowed = frozenset({"collapsed", "title"})

    def __init__(self, title: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = title


class Frame(Container):
    allowed = frozenset({"build_fn"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._build_fn: Callable[[], None] | None = kwargs.get("build_fn")
        self.style: dict = {}
        self.builds = 0

    def set_build_fn(self, fn: Callable[[], None]) -> None:
        self._build_fn = fn
        self.rebuild()

    def rebuild(self) -> None:
        self.children = []
        if self._build_fn is None:
            return
        with self:
            self._build_fn()
        self.builds += 1


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

    def click(self) -> None:
        if self.clicked_fn is not None:
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
        model.add_item_changed_fn(lambda _m, _i: self._draw())
        self._draw()

    def _draw(self) -> None:
        """Run the delegate for the header and every row, as Kit does when painting."""
        self.cells: list[Widget] = []
        count = self.model.get_item_value_model_count(None)
        holder = VStack()
        _BUILD_STACK.append(holder)
        try:
            if self.kwargs.get("header_visible") and self.delegate is not None:
                for column in range(count):
                    self.delegate.build_header(column)
            for item in self.model.get_item_children(None):
                for column in range(count):
                    self.model.get_item_value_model(item, column)
                    if self.delegate is not None:
                        self.delegate.build_widget(self.model, item, column, 0, False)
        finally:
            _BUILD_STACK.pop()
        self.cells = holder.children
        self.children = [holder]

    def dirty_widgets(self) -> None:
        self._draw()

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
        self.selection = items


class Window:
    def __init__(self, title: str, **kwargs: Any) -> None:
        unknown = set(kwargs) - {"width", "height", "visible", "flags", "dockPreference"}
        if unknown:
            raise TypeError(f"Window() got unexpected keywords {sorted(unknown)}")
        self.title = title
        self.frame = Frame()
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

    def destroy(self) -> None:
        self.destroyed = True
        self.frame.children = []


class Workspace:
    @staticmethod
    def set_show_window_fn(title: str, fn: Callable | None) -> None:
        WORLD.show_window_fns[title] = fn


# ----------------------------------------------------------------------------- menus, actions, app


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
    def get_extension_path(self, ext_id: str) -> str:
        return WORLD.ext_paths.get(ext_id, "")


class App:
    def get_extension_manager(self) -> ExtensionManager:
        return ExtensionManager()


class IExt:
    def on_startup(self, ext_id: str) -> None: ...

    def on_shutdown(self) -> None: ...


def get_active_viewport() -> Any:
    return object() if WORLD.has_viewport else None


def frame_viewport_selection(viewport_api: Any = None, force_legacy_api: bool = False) -> None:
    if viewport_api is None:
        raise TypeError("no viewport given")
    WORLD.framed += 1


# ----------------------------------------------------------------------------- modules


def _module(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name, f"STAND-IN for {name} (tests only, not Kit)")
    mod.__dict__.update(attrs)
    return mod


def build(world: World) -> dict[str, types.ModuleType]:
    """The fake modules, keyed by import name, bound to ``world``."""
    global WORLD
    WORLD = world
    world.context = UsdContext()
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
        "omni.usd": _module(
            "omni.usd", get_context=lambda name="": world.context, StageEventType=StageEventType
        ),
        "omni.kit": _module("omni.kit"),
        "omni.kit.app": _module("omni.kit.app", get_app=lambda: App()),
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
            frame_viewport_selection=frame_viewport_selection,
        ),
    }
    for name, mod in mods.items():  # make `import a.b.c` + attribute access work
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(mods[parent], child, mod)
    return mods
