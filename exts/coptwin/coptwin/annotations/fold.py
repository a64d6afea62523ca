"""Current state of all notes as a fold of the annotation events.

The fold is deterministic whatever order or how often events arrive: an
``event_id`` is applied once, and a note's events are replayed sorted by
``created_at`` then ``event_id``.  The note's creation is applied first even
when another writer's clock stamped an edit or a resolve slightly earlier, so
clock skew between sessions never drops an event.  Applying a batch re-folds
only the notes the batch touches, so cost grows with what changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

import polars as pl

from coptwin.annotations.model import (
    EVENTS,
    STATUS_OPEN,
    STATUS_RESOLVED,
    Annotation,
    AnnotationError,
    AnnotationEvent,
)
from coptwin.annotations.schema import EVENT_SCHEMA
from coptwin.eventlog.fold import ApplyResult, FoldedBook, row_problem

__all__ = ["AnnotationBook", "ApplyResult", "fold_events"]

_CREATING = ("created", "replied")


def _row_problem(row: dict) -> str | None:
    """Why a table row cannot be an event (None when it is fine)."""
    if not row.get("annotation_id"):
        return "missing_annotation_id"
    common = row_problem(row, EVENTS, "created_at")
    if common:
        return common
    event = row["event"]
    if event in _CREATING and not row.get("target"):
        return "missing_target"
    if event in (*_CREATING, "edited") and not row.get("text"):
        return "missing_text"
    if event == "replied" and not row.get("parent_id"):
        return "missing_parent"
    return None


def fold_events(events: Iterable[AnnotationEvent]) -> Annotation | None:
    """State of one note from its events; None while its creation is unknown."""
    ordered = sorted(events, key=AnnotationEvent.sort_key)
    creation = next((e for e in ordered if e.event in _CREATING), None)
    if creation is None:
        return None
    note = Annotation(
        annotation_id=creation.annotation_id,
        target=creation.target or "",
        author=creation.author,
        created_at=creation.created_at,
        text=creation.text or "",
        status=STATUS_OPEN,
        parent_id=creation.parent_id or None,
        updated_at=creation.created_at,
        updated_by=creation.author,
        events=1,
    )
    for e in ordered:
        if e is creation or e.event in _CREATING:
            continue  # a second creation of the same id changes nothing
        if e.event == "edited":
            note = replace(note, text=e.text or note.text, edited=True)
        elif e.event == "resolved":
            note = replace(note, status=STATUS_RESOLVED)
        elif e.event == "reopened":
            note = replace(note, status=STATUS_OPEN)
        note = replace(note, events=note.events + 1)
        if note.updated_at is None or e.created_at >= note.updated_at:
            note = replace(note, updated_at=e.created_at, updated_by=e.author)
    return note


class AnnotationBook(FoldedBook[AnnotationEvent, Annotation]):
    """All notes, folded from events; fed incrementally by the engine or a store.

    ``apply(rows_canonical)`` takes a canonical polars frame (e.g. a
    ``DeltaBatch.data`` passed through :func:`coptwin.annotations.schema.to_canonical`)
    and returns the ids of notes that changed, so the overlay's pins are
    refreshed only for those.  Deduplication and replay order are
    :class:`coptwin.eventlog.FoldedBook`'s.
    """

    schema = EVENT_SCHEMA
    event_type = AnnotationEvent

    def __init__(self) -> None:
        self._children: dict[str, set[str]] = {}
        super().__init__()

    # ---- what a row means ------------------------------------------------
    def _problem(self, row: dict) -> str | None:
        return _row_problem(row)

    def _entity(self, event: AnnotationEvent) -> str:
        return event.annotation_id

    def _fold(self, key: str, events: list[AnnotationEvent]) -> Annotation | None:
        return fold_events(events)

    def _state_changed(self, key: str, old: Annotation | None, new: Annotation | None) -> None:
        if old is not None and old.parent_id:
            self._children.get(old.parent_id, set()).discard(key)
        if new is not None and new.parent_id:
            self._children.setdefault(new.parent_id, set()).add(key)

    def _cleared(self) -> None:
        self._children.clear()

    # ---- queries ---------------------------------------------------------
    def __iter__(self) -> Iterator[Annotation]:
        return iter(sorted(self._states.values(), key=lambda n: (n.created_at, n.annotation_id)))

    def __contains__(self, annotation_id: object) -> bool:
        return annotation_id in self._states

    def get(self, annotation_id: str) -> Annotation | None:
        return self._states.get(annotation_id)

    def existing(self, annotation_id: object) -> Annotation:
        """The note with this id, or an :class:`AnnotationError` saying what is wrong."""
        if not isinstance(annotation_id, str) or not annotation_id.strip():
            raise AnnotationError("missing annotation id")
        note = self._states.get(annotation_id.strip())
        if note is None:
            raise AnnotationError(f"unknown annotation {annotation_id!r}")
        return note

    def root_of(self, annotation_id: str) -> str:
        """The thread root a note belongs to (itself for a root)."""
        seen = set()
        note = self._states.get(annotation_id)
        while note is not None and note.parent_id and note.annotation_id not in seen:
            seen.add(note.annotation_id)
            parent = self._states.get(note.parent_id)
            if parent is None:
                return note.parent_id
            note = parent
        return note.annotation_id if note is not None else annotation_id

    def roots(self, status: str | None = None) -> list[Annotation]:
        """Thread roots, oldest first; ``status`` "open"/"resolved" filters, None keeps all."""
        return [n for n in self if n.parent_id is None and (status is None or n.status == status)]

    def replies(self, annotation_id: str) -> list[Annotation]:
        """Direct replies to a note, oldest first."""
        kids = (self._states[i] for i in self._children.get(annotation_id, ()) if i in self._states)
        return sorted(kids, key=lambda n: (n.created_at, n.annotation_id))

    def thread(self, annotation_id: str) -> list[Annotation]:
        """A root and all replies below it, depth first, oldest first."""
        root = self._states.get(annotation_id)
        if root is None:
            return []
        out, stack, seen = [], [root], set()
        while stack:
            note = stack.pop()
            if note.annotation_id in seen:
                continue
            seen.add(note.annotation_id)
            out.append(note)
            stack.extend(reversed(self.replies(note.annotation_id)))
        return out

    def orphans(self) -> list[Annotation]:
        """Replies whose parent is unknown (not yet read, or written by a broken tool)."""
        return [n for n in self if n.parent_id is not None and n.parent_id not in self._states]

    def frame(self) -> pl.DataFrame:
        """Current state of every note as a polars frame (for listing and CSV)."""
        notes = list(self)
        return pl.DataFrame(
            {
                "annotation_id": [n.annotation_id for n in notes],
                "parent_id": [n.parent_id for n in notes],
                "target": [n.target for n in notes],
                "status": [n.status for n in notes],
                "author": [n.author for n in notes],
                "created_at": [n.created_at for n in notes],
                "updated_at": [n.updated_at for n in notes],
                "updated_by": [n.updated_by for n in notes],
                "edited": [n.edited for n in notes],
                "text": [n.text for n in notes],
            },
            schema={
                "annotation_id": pl.String,
                "parent_id": pl.String,
                "target": pl.String,
                "status": pl.String,
                "author": pl.String,
                "created_at": pl.Datetime("us", "UTC"),
                "updated_at": pl.Datetime("us", "UTC"),
                "updated_by": pl.String,
                "edited": pl.Boolean,
                "text": pl.String,
            },
        )
