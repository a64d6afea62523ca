"""Current state of all notes as a fold of the annotation events.

The fold is deterministic whatever order or how often events arrive: an
``event_id`` is applied once, and a note's events are replayed sorted by
``created_at`` then ``event_id``.  The note's creation is applied first even
when another writer's clock stamped an edit or a resolve slightly earlier, so
clock skew between sessions never drops an event.  Applying a batch re-folds
only the notes the batch touches, so cost grows with what changed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

import polars as pl

from coptwin.annotations.model import (
    EVENTS,
    STATUS_OPEN,
    STATUS_RESOLVED,
    Annotation,
    AnnotationEvent,
)
from coptwin.annotations.schema import COLUMNS, SCHEMA, iter_rows

log = logging.getLogger(__name__)

_CREATING = ("created", "replied")


@dataclass
class ApplyResult:
    """What one :meth:`AnnotationBook.apply` did."""

    #: Notes whose state changed (added, edited, resolved, removed), sorted.
    changed: list[str] = field(default_factory=list)
    rows_in: int = 0
    rows_applied: int = 0
    #: Rows already applied before (same event_id).
    duplicates: int = 0
    #: Bad rows skipped, per reason.
    skipped: dict[str, int] = field(default_factory=dict)


def _row_problem(row: dict) -> str | None:
    """Why a table row cannot be an event (None when it is fine)."""
    if not row.get("annotation_id"):
        return "missing_annotation_id"
    if not row.get("event_id"):
        return "missing_event_id"
    event = row.get("event")
    if event not in EVENTS:
        return "unknown_event"
    if not isinstance(row.get("created_at"), datetime):
        return "missing_created_at"
    if not row.get("author"):
        return "missing_author"
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


class AnnotationBook:
    """All notes, folded from events; fed incrementally by the engine or a store.

    ``apply(rows_canonical)`` takes a canonical polars frame (e.g. a
    ``DeltaBatch.data`` passed through :func:`coptwin.annotations.schema.to_canonical`)
    and returns the ids of notes that changed, so the overlay's pins are
    refreshed only for those.
    """

    def __init__(self) -> None:
        self._events: dict[str, AnnotationEvent] = {}
        self._by_note: dict[str, set[str]] = {}
        self._notes: dict[str, Annotation] = {}
        self._children: dict[str, set[str]] = {}
        #: Bad rows skipped since creation / the last reset, per reason.
        self.skipped: Counter[str] = Counter()

    # ---- feeding ---------------------------------------------------------
    def apply(self, rows: pl.DataFrame, full_reload: bool = False) -> ApplyResult:
        """Fold a batch of canonical rows; ``full_reload`` replaces all events."""
        missing = [c for c in COLUMNS if c not in rows.columns]
        if missing:
            rows = rows.with_columns(pl.lit(None, dtype=SCHEMA[c]).alias(c) for c in missing)
        result = ApplyResult(rows_in=rows.height)
        events: list[AnnotationEvent] = []
        skipped: Counter[str] = Counter()
        for row in iter_rows(rows):
            problem = _row_problem(row)
            if problem:
                skipped[problem] += 1
                continue
            events.append(AnnotationEvent(**{k: row[k] for k in COLUMNS}))
        if skipped:
            self.skipped.update(skipped)
            log.warning(
                "annotations: skipped %d bad rows of %d (%s)",
                sum(skipped.values()),
                rows.height,
                ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())),
            )
        result.skipped = dict(skipped)
        inner = self._apply_events(events, full_reload)
        result.changed, result.rows_applied, result.duplicates = inner
        return result

    def apply_events(self, events: Iterable[AnnotationEvent]) -> list[str]:
        """Fold events written locally (instant echo; the table copy dedupes later)."""
        return self._apply_events(list(events), False)[0]

    def reset(self) -> None:
        self._events.clear()
        self._by_note.clear()
        self._notes.clear()
        self._children.clear()
        self.skipped.clear()

    def _apply_events(
        self, events: list[AnnotationEvent], full_reload: bool
    ) -> tuple[list[str], int, int]:
        before = dict(self._notes) if full_reload else None
        if full_reload:
            self._events.clear()
            self._by_note.clear()
            self._notes.clear()
            self._children.clear()
        touched: set[str] = set()
        applied = duplicates = 0
        for e in events:
            old = self._events.get(e.event_id)
            if old is not None:
                if old == e or old.sort_key() <= e.sort_key():
                    duplicates += 1
                    continue
                # Same event_id, different content: keep the smaller one so any
                # order of arrival folds to the same state.
                self._by_note.get(old.annotation_id, set()).discard(e.event_id)
                touched.add(old.annotation_id)
            self._events[e.event_id] = e
            self._by_note.setdefault(e.annotation_id, set()).add(e.event_id)
            touched.add(e.annotation_id)
            applied += 1
        changed: set[str] = set()
        for aid in touched:
            note = fold_events(self._events[i] for i in self._by_note.get(aid, ()))
            old_note = self._notes.get(aid)
            if note is None:
                self._notes.pop(aid, None)
            else:
                self._notes[aid] = note
            if old_note is not None and old_note.parent_id:
                self._children.get(old_note.parent_id, set()).discard(aid)
            if note is not None and note.parent_id:
                self._children.setdefault(note.parent_id, set()).add(aid)
            if note != old_note:
                changed.add(aid)
        if before is not None:
            changed = {
                aid
                for aid in before.keys() | self._notes.keys()
                if before.get(aid) != self._notes.get(aid)
            }
        return sorted(changed), applied, duplicates

    # ---- queries ---------------------------------------------------------
    def __len__(self) -> int:
        return len(self._notes)

    def __iter__(self) -> Iterator[Annotation]:
        return iter(sorted(self._notes.values(), key=lambda n: (n.created_at, n.annotation_id)))

    def __contains__(self, annotation_id: object) -> bool:
        return annotation_id in self._notes

    def get(self, annotation_id: str) -> Annotation | None:
        return self._notes.get(annotation_id)

    def root_of(self, annotation_id: str) -> str:
        """The thread root a note belongs to (itself for a root)."""
        seen = set()
        note = self._notes.get(annotation_id)
        while note is not None and note.parent_id and note.annotation_id not in seen:
            seen.add(note.annotation_id)
            parent = self._notes.get(note.parent_id)
            if parent is None:
                return note.parent_id
            note = parent
        return note.annotation_id if note is not None else annotation_id

    def roots(self, status: str | None = None) -> list[Annotation]:
        """Thread roots, oldest first; ``status`` "open"/"resolved" filters, None keeps all."""
        return [n for n in self if n.parent_id is None and (status is None or n.status == status)]

    def replies(self, annotation_id: str) -> list[Annotation]:
        """Direct replies to a note, oldest first."""
        kids = (self._notes[i] for i in self._children.get(annotation_id, ()) if i in self._notes)
        return sorted(kids, key=lambda n: (n.created_at, n.annotation_id))

    def thread(self, annotation_id: str) -> list[Annotation]:
        """A root and all replies below it, depth first, oldest first."""
        root = self._notes.get(annotation_id)
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
        return [n for n in self if n.parent_id is not None and n.parent_id not in self._notes]

    def history(self, annotation_id: str) -> list[AnnotationEvent]:
        """A note's events in fold order (its audit trail)."""
        ids = self._by_note.get(annotation_id, ())
        return sorted((self._events[i] for i in ids), key=AnnotationEvent.sort_key)

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
