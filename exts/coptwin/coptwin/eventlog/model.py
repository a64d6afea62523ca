"""What the rows of every event table share: a UTC time stamp, an author, and the
checks people's free text passes before it is written.

Plain Python (no polars, no Delta), so the packages' value types can use it cheaply.
"""

from __future__ import annotations

import functools
import re
from dataclasses import fields
from datetime import datetime, timezone
from typing import ClassVar

#: Longest author name accepted (authors are shown in one line of the panel).
MAX_AUTHOR_LENGTH = 200
#: Control characters other than tab / newline / carriage return are refused:
#: they cannot be shown as plain text and break some USD text encodings.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Bidirectional embedding/override (U+202A-202E) and isolate (U+2066-2069) controls
#: make text display in another order than it is stored ("Trojan Source"), so a
#: text could read differently than what was written.  Right-to-left scripts
#: themselves need none of them.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


class EventError(ValueError):
    """Bad input for an event table or a refused change; nothing was written.

    Each package raises its own subclass (``AnnotationError``, ``AlarmError``).
    """


class Event:
    """Base of the packages' event rows (frozen dataclasses with an ``event_id``): their
    total order for the fold."""

    #: The field holding the event's time.
    time_field: ClassVar[str]

    def sort_key(self) -> tuple:
        """Total order used by the fold: time, then event id, then every field (so equal
        keys mean equal events; the fields are compared only when time and id tie)."""
        return (getattr(self, self.time_field), self.event_id, _Content(self))  # type: ignore[attr-defined]


@functools.total_ordering
class _Content:
    """An event's fields in order, a missing value before any value."""

    __slots__ = ("event",)

    def __init__(self, event: Event) -> None:
        self.event = event

    def _values(self) -> tuple:
        values = (getattr(self.event, f.name) for f in fields(self.event))  # type: ignore[arg-type]
        return tuple(x for v in values for x in (v is not None, v))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Content) and self._values() == other._values()

    def __lt__(self, other: _Content) -> bool:
        return self._values() < other._values()


def utc_now() -> datetime:
    """Current time in UTC, at the tables' microsecond resolution."""
    return datetime.now(timezone.utc)


def refuse_bidi(text: str, what: str, error: type[EventError]) -> None:
    """Raise ``error`` when ``text`` holds a bidirectional control character."""
    if m := _BIDI.search(text):
        raise error(
            f"{what} contains the bidirectional control U+{ord(m.group()):04X}, which can "
            "make text display differently than it is written; remove it"
        )


def check_author(author: object, error: type[EventError], hint: str) -> str:
    """The author name, stripped, or ``error`` (every event has an author); ``hint``
    says how to give one."""
    if not isinstance(author, str) or not author.strip():
        raise error(f"missing author: {hint}")
    author = author.strip()
    if len(author) > MAX_AUTHOR_LENGTH or CONTROL.search(author) or "\n" in author:
        raise error(f"invalid author name: one line of at most {MAX_AUTHOR_LENGTH} characters")
    refuse_bidi(author, "author name", error)
    return author
