"""Appending annotation events to the shared ``annotations`` Delta table.

The table mechanics (append-only creation, commit retry on lost races,
conditional put on S3, time travel) are :class:`coptwin.eventlog.EventLog`'s;
this module adds what a note is.  A retry after an ambiguous failure may
append an event twice; the fold dedupes by ``event_id``.

Everything is validated before the first byte is written: a bad note raises
:class:`~coptwin.annotations.model.AnnotationError` and the table version is
unchanged.
"""

from __future__ import annotations

import uuid

from coptwin.annotations.fold import AnnotationBook
from coptwin.annotations.model import (
    STATUS_OPEN,
    STATUS_RESOLVED,
    AnnotationError,
    AnnotationEvent,
    Target,
    check_author,
    check_text,
)
from coptwin.annotations.targets import TargetCheck
from coptwin.eventlog.store import EventLogError, EventStore


class AnnotationStoreError(EventLogError):
    """The annotations table could not be read or written (message is redacted)."""


class AnnotationStore(EventStore[AnnotationBook]):
    """Read and append the annotations table; one instance per writer is cheap.

    Reading, following and time travel are :class:`coptwin.eventlog.EventStore`'s.
    """

    book_type = AnnotationBook
    error = AnnotationStoreError
    invalid = AnnotationError
    description = "coptwin reviewers' notes (append-only event log)"
    limits = ("max_text_length",)

    def __init__(self, uri: str, *, max_text_length: int = 2000, **kwargs) -> None:
        super().__init__(uri, **kwargs)
        self.max_text_length = max_text_length

    # ---- writing ---------------------------------------------------------
    def add(
        self,
        target: str | Target,
        text: str,
        author: str,
        *,
        check: TargetCheck | None = None,
    ) -> AnnotationEvent:
        """Create a note on a target; ``check`` verifies the target exists."""
        parsed = (check or TargetCheck())(target)
        event = self._event(
            "created", str(uuid.uuid4()), author, text=text, target=str(parsed), status=STATUS_OPEN
        )
        self.append([event])
        return event

    def reply(
        self, parent_id: str, text: str, author: str, *, book: AnnotationBook | None = None
    ) -> AnnotationEvent:
        """Reply to a note; the reply is a note of its own with ``parent_id``."""
        parent = self._existing(parent_id, book)
        event = self._event(
            "replied",
            str(uuid.uuid4()),
            author,
            text=text,
            target=parent.target,
            parent_id=parent.annotation_id,
        )
        self.append([event])
        return event

    def edit(
        self, annotation_id: str, text: str, author: str, *, book: AnnotationBook | None = None
    ) -> AnnotationEvent:
        """Replace a note's text (the old text stays in the history)."""
        note = self._existing(annotation_id, book)
        event = self._event("edited", note.annotation_id, author, text=text, target=note.target)
        self.append([event])
        return event

    def resolve(
        self, annotation_id: str, author: str, *, book: AnnotationBook | None = None
    ) -> AnnotationEvent:
        return self._set_status(annotation_id, author, STATUS_RESOLVED, book)

    def reopen(
        self, annotation_id: str, author: str, *, book: AnnotationBook | None = None
    ) -> AnnotationEvent:
        return self._set_status(annotation_id, author, STATUS_OPEN, book)

    def _set_status(
        self, annotation_id: str, author: str, status: str, book: AnnotationBook | None
    ) -> AnnotationEvent:
        note = self._existing(annotation_id, book)
        if note.parent_id is not None:
            raise AnnotationError(
                f"{annotation_id} is a reply; resolve or reopen its thread {note.parent_id}"
            )
        if note.status == status:
            raise AnnotationError(f"{annotation_id} is already {status}")
        event_type = "resolved" if status == STATUS_RESOLVED else "reopened"
        event = self._event(
            event_type, note.annotation_id, author, status=status, target=note.target
        )
        self.append([event])
        return event

    def _existing(self, annotation_id: str, book: AnnotationBook | None):
        if not isinstance(annotation_id, str) or not annotation_id.strip():
            raise AnnotationError("missing annotation id")
        known = book if book is not None else self.book()
        note = known.get(annotation_id.strip())
        if note is None:
            raise AnnotationError(f"unknown annotation {annotation_id!r}")
        return note

    def _event(
        self,
        event: str,
        annotation_id: str,
        author: str,
        *,
        text: str | None = None,
        target: str | None = None,
        status: str | None = None,
        parent_id: str | None = None,
    ) -> AnnotationEvent:
        author = check_author(author)
        if event in ("created", "replied", "edited"):
            text = check_text(text, self.max_text_length)
        return AnnotationEvent(
            annotation_id=annotation_id,
            event_id=str(uuid.uuid4()),
            event=event,
            created_at=self._clock(),
            author=author,
            target=target,
            text=text,
            status=status,
            parent_id=parent_id,
        )
