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
from coptwin.eventlog.store import EventStore


class AnnotationStore(EventStore[AnnotationBook]):
    """Reviewers' validated notes, replies and edits on an :class:`EventStore`."""

    book_type = AnnotationBook
    limits = {"max_text_length": 2000}
    max_text_length: int

    # ---- writing ---------------------------------------------------------
    def add(
        self, target: str | Target, text: str, author: str, *, check: TargetCheck | None = None
    ) -> AnnotationEvent:
        """Create a note on a target; ``check`` verifies the target exists."""
        parsed = (check or TargetCheck())(target)
        return self._append(
            "created", str(uuid.uuid4()), author, text=text, target=str(parsed), status=STATUS_OPEN
        )

    def reply(self, parent_id: str, text: str, author: str) -> AnnotationEvent:
        """Reply to a note; the reply is a note of its own with ``parent_id``."""
        parent = self.book().existing(parent_id)
        target, parent_id = parent.target, parent.annotation_id
        return self._append(
            "replied", str(uuid.uuid4()), author, text=text, target=target, parent_id=parent_id
        )

    def edit(self, annotation_id: str, text: str, author: str) -> AnnotationEvent:
        """Replace a note's text (the old text stays in the history)."""
        note = self.book().existing(annotation_id)
        return self._append("edited", note.annotation_id, author, text=text, target=note.target)

    def resolve(self, annotation_id: str, author: str) -> AnnotationEvent:
        return self._set_status(annotation_id, author, STATUS_RESOLVED)

    def reopen(self, annotation_id: str, author: str) -> AnnotationEvent:
        return self._set_status(annotation_id, author, STATUS_OPEN)

    def _set_status(self, annotation_id: str, author: str, status: str) -> AnnotationEvent:
        note = self.book().existing(annotation_id)
        if note.parent_id is not None:
            raise AnnotationError(
                f"{annotation_id} is a reply; resolve or reopen its thread {note.parent_id}"
            )
        if note.status == status:
            raise AnnotationError(f"{annotation_id} is already {status}")
        event_type = "resolved" if status == STATUS_RESOLVED else "reopened"
        return self._append(
            event_type, note.annotation_id, author, status=status, target=note.target
        )

    def _append(
        self, event: str, annotation_id: str, author: str, **fields: str | None
    ) -> AnnotationEvent:
        """Validate, append (one commit) and return a new event; ``fields``: target,
        text, status, parent_id."""
        author = check_author(author)
        if event in ("created", "replied", "edited"):
            fields["text"] = check_text(fields.get("text"), self.max_text_length)
        new = AnnotationEvent(
            annotation_id, str(uuid.uuid4()), event, self._stamp(), author, **fields
        )
        self.append([new])
        return new
