"""Reviewers' notes on the page: read by anyone, written only with the bearer token.

Writes go through the same :class:`~coptwin.annotations.AnnotationStore` and
:class:`~coptwin.annotations.TargetCheck` as ``coptwin annotate``, so a note the page
accepts is one the CLI would accept (author, text length, existing sensor or prim,
finite point) and a refused one changes nothing.  The token is compared in constant
time; its value never leaves the server (the page only learns *whether* notes are
writable).  Stage reads (target checks, prim positions) stay on the loop's thread,
the thread the engine writes the overlay on; Delta reads and writes go to workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

XYZ = tuple[float, float, float]


class NotesError(Exception):
    """A refused request: ``status`` is the HTTP status, the message is safe to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_bearer(header: str | None, token: str | None, what: str) -> None:
    """``Authorization: Bearer <token>`` against the configured token (constant time);
    raises 403 when ``token`` is None (``what`` is read-only here) or 401 when wrong."""
    if token is None:
        raise NotesError(403, f"{what} are read-only on this server")
    value = (header or "").strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    if not hmac.compare_digest(value.encode(), token.encode()):
        log.warning("web: refused a write to %s without the right bearer token", what)
        raise NotesError(401, f"a valid bearer token is needed to write {what}")


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """What an event store refuses, as HTTP errors: bad input 400, a table that cannot be
    read or written 503 (the store's messages are already redacted)."""
    from coptwin.eventlog import EventError, EventLogError

    try:
        yield
    except EventError as exc:
        raise NotesError(400, str(exc)) from None
    except EventLogError as exc:
        raise NotesError(503, str(exc)) from None


def token_from_env(name: str | None) -> str | None:
    """The bearer token named by ``web.notes_token_env`` (None: unset, read-only)."""
    return (os.environ.get(name) or None) if name else None


class Notes:
    """Notes of one engine's config for the page and the OGC API."""

    def __init__(
        self,
        engine: Any,
        geo: Any,
        sensor_position: Callable[[str], XYZ | None],
        token_env: str | None = None,
    ) -> None:
        from coptwin.annotations import AnnotationStore

        self.engine = engine
        self.geo = geo
        self._sensor_position = sensor_position
        self._token_env = token_env
        cfg = engine.config
        self.store = AnnotationStore.from_config(cfg) if cfg.tables.annotations else None
        self._resolver: Any = None

    # ------------------------------------------------------------------ access
    def _token(self) -> str | None:
        return token_from_env(self._token_env)

    @property
    def writable(self) -> bool:
        """True when a token is configured (the page then offers the write controls)."""
        return self.store is not None and self._token() is not None

    def check_token(self, header: str | None) -> None:
        """``Authorization: Bearer <token>``; raises 403 (read-only) or 401 (wrong token)."""
        check_bearer(header, self._token() if self.store is not None else None, "notes")

    # ------------------------------------------------------------------ reading
    async def book(self, as_of: Any = None) -> Any:
        """The notes as folded from the table (a fresh fold for an as-of time)."""
        from coptwin.annotations import AnnotationBook

        if self.store is None:
            return AnnotationBook()
        if as_of is None:
            return await asyncio.to_thread(self.store.book)
        if isinstance(as_of, int):
            return await asyncio.to_thread(self.store.load, as_of)
        return await asyncio.to_thread(self.store.load, None, as_of)

    def records(self, book: Any, status: str | None = None) -> list[dict]:
        """Flat note records (see :func:`coptwin.annotations.export.records`) with
        ``alt``, the page height of the note's position (loop thread: reads the stage)."""
        from coptwin.annotations.export import Locator, records
        from coptwin.scene.pins import TargetResolver

        if self._resolver is None:
            self._resolver = TargetResolver(self.engine.stage, self._sensor_position)
        out = records(book, Locator(self.geo.frame, self._resolver), status)
        for rec in out:
            xyz = (rec.get("scene_x"), rec.get("scene_y"), rec.get("scene_z"))
            rec["alt"] = None
            if None not in xyz:
                _, _, alt = self.geo.stage_to_page([xyz])
                rec["alt"] = round(float(alt[0]), 2)
        return out

    # ------------------------------------------------------------------ writing
    def target(self, body: dict) -> str:
        """The encoded target of a new note: ``sensor``, ``prim`` or a page point
        (``lon``, ``lat``, ``alt`` metres above the page datum), checked to exist."""
        from coptwin.annotations import AnnotationError, Target, TargetCheck

        registry = self.engine.registry
        check = TargetCheck(registry, self.engine.stage)
        try:
            if body.get("sensor"):
                parsed = check(Target.sensor(str(body["sensor"])))
            elif body.get("prim"):
                parsed = check(Target.prim(str(body["prim"])))
            elif "lon" in body and "lat" in body:
                xyz = self.geo.lonlat_to_stage(
                    float(body["lon"]), float(body["lat"]), float(body.get("alt") or 0.0)
                )
                parsed = check(Target.at_point(*xyz))
            elif body.get("target"):
                parsed = check(str(body["target"]))
            else:
                raise AnnotationError("a note needs a sensor, a prim or a point (lon, lat)")
        except AnnotationError:
            raise
        except (TypeError, ValueError) as exc:  # lon / lat / alt that are not numbers
            raise NotesError(400, f"bad target: {exc}") from None
        return str(parsed)

    async def write(self, action: str, body: dict, note_id: str | None = None) -> str:
        """add / reply / resolve / reopen; returns the note id.  Validation errors are 400,
        storage errors 503 (their text is already redacted by the store)."""
        store = self.store
        assert store is not None
        author = body.get("author", "")
        text = body.get("text", "")
        with refusals():
            if action == "add":
                target = self.target(body)
                event = await asyncio.to_thread(store.add, target, text, author)
            elif action == "reply":
                event = await asyncio.to_thread(store.reply, note_id or "", text, author)
            elif action in ("resolve", "reopen"):
                event = await asyncio.to_thread(getattr(store, action), note_id or "", author)
            else:
                raise NotesError(404, f"unknown note action {action!r}")
        self.engine.request_check("annotations")
        return event.annotation_id
