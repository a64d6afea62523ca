"""Operators' alarms on the page: the list for everyone, actions with the bearer token.

The list is the engine's own (:class:`~coptwin.engine.alarms.AlarmsView`, put in words
by :func:`coptwin.ui.alarms_vm.alarm_items`, the Kit panel's rows), live or as of a
viewer's time-travel moment (the fold of the events up to then).  Acknowledge, shelve
and unshelve go through the same :class:`~coptwin.alarms.store.AlarmStore` calls as
``coptwin alarms``, so the page accepts exactly what the CLI accepts (author, reason,
until at most ``alarms.max_shelve_s`` ahead, a valid transition) and a refused action
writes nothing.  Writes need the notes' bearer token (``web.notes_token_env``); the
engine is then asked to read the alarms table at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from coptwin.web.notes import NotesError, check_bearer, refusals, token_from_env

ACTIONS = ("ack", "shelve", "unshelve")


class Alarms:
    """The alarms of one engine for the page and the OGC API."""

    def __init__(self, engine: Any, token_env: str | None = None) -> None:
        from coptwin.alarms import AlarmStore

        self.engine = engine
        self._token_env = token_env
        cfg = engine.config
        self.store = AlarmStore.from_config(cfg) if cfg.tables.alarms is not None else None

    @property
    def enabled(self) -> bool:
        return self.store is not None

    @property
    def writable(self) -> bool:
        return self.store is not None and token_from_env(self._token_env) is not None

    def check_token(self, header: str | None) -> None:
        token = token_from_env(self._token_env) if self.store is not None else None
        check_bearer(header, token, "alarms")

    def view(self, live: Any, state: Any = None) -> Any:
        """The alarms view of the live snapshot, or of a viewer's as-of ``state``
        (:class:`~coptwin.web.asof.AsOfState`: the alarms the time-travel path folded)."""
        from coptwin.engine.alarms import AlarmsView, open_rows

        if state is None or state.alarms is None:
            return live.alarms
        rows = open_rows(state.alarms, state.when)
        return AlarmsView(rows=rows, at=state.when, live=False, writable=False)

    def document(self, view: Any, names: dict[str, str], index: dict[str, int]) -> dict:
        """What ``/api/alarms`` answers: the rows in words, the badge, whether the page
        may act (``i``: each alarm's sensor row on the page, for rings and selection)."""
        from coptwin.ui.alarms_vm import alarm_items
        from coptwin.ui.status import alarm_badge

        items = alarm_items(view, names)
        badge, level = alarm_badge(view)
        return {
            "enabled": self.enabled,
            "writable": self.writable and (view is None or view.live),
            "live": view is None or view.live,
            "badge": badge,
            "badge_level": level,
            "alarms": [{**_fields(i), "i": index.get(i.sensor_id)} for i in items],
        }

    async def write(self, action: str, alarm_id: str, body: dict) -> list[str]:
        """ack / shelve / unshelve one alarm; 400 for what the CLI refuses, 503 for storage."""
        from coptwin.alarms.model import shelve_until

        store = self.store
        assert store is not None
        author = body.get("author", "")
        with refusals():
            if action == "ack":
                events = await asyncio.to_thread(
                    store.acknowledge, alarm_id, author, body.get("note")
                )
            elif action == "shelve":
                until = shelve_until(str(body.get("until") or ""), store.now())
                events = await asyncio.to_thread(
                    store.shelve, alarm_id, author, body.get("reason"), until
                )
            elif action == "unshelve":
                events = await asyncio.to_thread(
                    store.unshelve, alarm_id, author, body.get("reason")
                )
            else:
                raise NotesError(404, f"unknown alarm action {action!r}; use {', '.join(ACTIONS)}")
        self.engine.request_check("alarms")
        return [e.event_id for e in events]


def _fields(item: Any) -> dict:
    import dataclasses

    return dataclasses.asdict(item)
