"""Subscribe to omni.usd stage events on old and new Kit alike.

Kit 106.5+ publishes stage events through carb.eventdispatcher (event names
from ``UsdContext.stage_event_name``); older Kit only has the context's
event stream.  One function hides the difference and returns handles that
:func:`release` drops, so the extension can prove it holds none after
shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import omni.usd

log = logging.getLogger(__name__)

Handler = Callable[[], None]


def _guarded(fn: Handler, what: str) -> Handler:
    """Kit swallows exceptions in callbacks badly; log them with context instead."""

    def call(*_args: Any) -> None:
        try:
            fn()
        except Exception:
            log.exception("coptwin: %s handler failed", what)

    return call


def subscribe(
    context: Any, handlers: dict[Any, Handler], observer_name: str = "coptwin"
) -> list[Any]:
    """Call ``handlers[event_type]()`` on each stage event; returns subscription handles."""
    if hasattr(context, "stage_event_name"):
        import carb.eventdispatcher

        dispatcher = carb.eventdispatcher.get_eventdispatcher()
        return [
            dispatcher.observe_event(
                observer_name=f"{observer_name}:{event_type.name}",
                event_name=context.stage_event_name(event_type),
                on_event=_guarded(handler, event_type.name),
            )
            for event_type, handler in handlers.items()
        ]
    by_type = {int(t): _guarded(h, t.name) for t, h in handlers.items()}

    def on_event(event: Any) -> None:
        handler = by_type.get(int(event.type))
        if handler is not None:
            handler()

    stream = context.get_stage_event_stream()
    return [stream.create_subscription_to_pop(on_event, name=observer_name)]


def release(subscriptions: list[Any]) -> None:
    """Unsubscribe every handle (stream subscriptions and observer guards)."""
    for sub in subscriptions:
        for method in ("unsubscribe", "reset"):
            fn = getattr(sub, method, None)
            if callable(fn):
                fn()
                break
    subscriptions.clear()


STAGE_EVENTS = omni.usd.StageEventType
