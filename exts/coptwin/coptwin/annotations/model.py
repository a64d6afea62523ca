"""Value types of reviewers' annotations: targets, events and folded notes.

Annotations are event-sourced: every row of the ``annotations`` Delta table is
one immutable :class:`AnnotationEvent`, and a note's current state
(:class:`Annotation`) is a fold of its events (see :mod:`.fold`).  Keeping the
types free of polars, Delta and USD lets the fold, the view-model and the
tests share them cheaply.

Target encoding (the ``target`` column), chosen so one string column can hold
all three kinds and a human can read it in any Delta viewer:

``/World/Buildings/B12``
    an absolute USD prim path (a building or any other prim of the scene);
``sensor:<sensor_id>``
    a sensor from the ``sensors`` table (everything after the first colon is
    the id, so ids may contain colons);
``point:<x>,<y>,<z>``
    a world point in **stage coordinates** (the stage's own units and up axis,
    which is what a viewport click yields); floats are written with Python's
    shortest round-trip ``repr`` so no precision is lost.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from coptwin.eventlog import model as _events
from coptwin.eventlog.model import CONTROL as _CONTROL
from coptwin.eventlog.model import EventError
from coptwin.eventlog.model import utc_now as utc_now  # re-exported: the packages' clock

#: Event types, i.e. the values of the ``event`` column.
EVENTS: tuple[str, ...] = ("created", "replied", "edited", "resolved", "reopened")
#: Statuses a thread root can have.
STATUS_OPEN = "open"
STATUS_RESOLVED = "resolved"
ANNOTATION_STATUSES: tuple[str, ...] = (STATUS_OPEN, STATUS_RESOLVED)

TargetKind = Literal["prim", "sensor", "point"]

_SENSOR = "sensor:"
_POINT = "point:"


class AnnotationError(EventError):
    """Bad annotation input (text, author, target, unknown note); nothing was written."""


@dataclass(frozen=True)
class Target:
    """What a note is attached to; ``str(target)`` is the stored encoding."""

    kind: TargetKind
    #: prim path, sensor id, or the normalised ``x,y,z`` text of a point.
    value: str
    point: tuple[float, float, float] | None = None

    def __str__(self) -> str:
        if self.kind == "sensor":
            return _SENSOR + self.value
        if self.kind == "point":
            return _POINT + self.value
        return self.value

    @classmethod
    def sensor(cls, sensor_id: str) -> Target:
        sensor_id = str(sensor_id)
        if not sensor_id.strip() or _CONTROL.search(sensor_id) or "\n" in sensor_id:
            raise AnnotationError(f"invalid sensor id {sensor_id!r}")
        return cls("sensor", sensor_id)

    @classmethod
    def prim(cls, path: str) -> Target:
        path = str(path)
        if not is_prim_path(path):
            raise AnnotationError(
                f"invalid prim path {path!r}: expected an absolute USD prim path like /World/B12"
            )
        return cls("prim", path)

    @classmethod
    def at_point(cls, x: float, y: float, z: float) -> Target:
        try:
            xyz = (float(x), float(y), float(z))
        except (TypeError, ValueError):
            raise AnnotationError(
                f"invalid point ({x!r}, {y!r}, {z!r}): expected numbers"
            ) from None
        if not all(math.isfinite(v) for v in xyz):
            raise AnnotationError(f"invalid point {xyz}: coordinates must be finite")
        return cls("point", ",".join(repr(v) for v in xyz), xyz)

    @classmethod
    def parse(cls, text: str) -> Target:
        """Decode a stored target; raises :class:`AnnotationError` when malformed."""
        if not isinstance(text, str) or not text:
            raise AnnotationError("missing target: give a prim path, sensor:<id> or point:x,y,z")
        if text.startswith(_SENSOR):
            return cls.sensor(text[len(_SENSOR) :])
        if text.startswith(_POINT):
            parts = text[len(_POINT) :].split(",")
            if len(parts) != 3:
                raise AnnotationError(f"invalid point target {text!r}: expected point:x,y,z")
            try:
                return cls.at_point(*(float(p) for p in parts))
            except ValueError:
                raise AnnotationError(
                    f"invalid point target {text!r}: expected three numbers"
                ) from None
        if text.startswith("/"):
            return cls.prim(text)
        raise AnnotationError(
            f"invalid target {text!r}: expected a prim path '/...', 'sensor:<id>' or 'point:x,y,z'"
        )


def is_prim_path(path: str) -> bool:
    """An absolute, syntactically valid USD prim path (no properties, no variants)."""
    if not path.startswith("/") or path == "/":
        return False
    try:
        from pxr import Sdf
    except ImportError:  # pragma: no cover - usd-core is a dependency; Kit ships pxr
        return bool(re.fullmatch(r"(/[A-Za-z_][A-Za-z0-9_]*)+", path))
    if not Sdf.Path.IsValidPathString(path):
        return False
    p = Sdf.Path(path)
    return p.IsAbsolutePath() and p.IsPrimPath() and not p.ContainsPrimVariantSelection()


def check_text(text: object, max_length: int) -> str:
    """The note text as it will be stored (unchanged), or a clear error.

    Text is plain text: it is stored and shown exactly as given, never parsed
    as markup; only empty, over-long, control-character and bidi-override
    texts are refused.
    """
    if not isinstance(text, str) or not text.strip():
        raise AnnotationError("empty text: a note needs some words")
    if len(text) > max_length:
        raise AnnotationError(
            f"text too long: {len(text)} characters, at most {max_length} allowed "
            "(annotations.max_text_length)"
        )
    if _CONTROL.search(text):
        raise AnnotationError("text contains control characters; plain text only")
    _events.refuse_bidi(text, "text", AnnotationError)
    return text


def check_author(author: object) -> str:
    """The author name, stripped, or a clear error (a note always has an author)."""
    return _events.check_author(author, AnnotationError, "say who writes the note (e.g. --author)")


@dataclass(frozen=True)
class AnnotationEvent(_events.Event):
    """One row of the annotations table (canonical column names)."""

    time_field = "created_at"

    annotation_id: str
    event_id: str
    event: str
    created_at: datetime
    author: str
    target: str | None = None
    text: str | None = None
    status: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True)
class Annotation:
    """The current state of one note (a thread root or a reply)."""

    annotation_id: str
    target: str
    author: str
    created_at: datetime
    text: str
    status: str = STATUS_OPEN
    #: Thread root this note replies to; None for a root.
    parent_id: str | None = None
    #: Time and author of the latest event applied to this note.
    updated_at: datetime | None = None
    updated_by: str | None = None
    edited: bool = False
    events: int = 1

    @property
    def is_reply(self) -> bool:
        return self.parent_id is not None

    @property
    def is_open(self) -> bool:
        return self.status == STATUS_OPEN
