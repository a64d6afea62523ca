"""Appending annotation events to the shared ``annotations`` Delta table.

Several Kit sessions and the CLI write at once, so every append is a Delta
commit that is retried with jittered exponential backoff when it conflicts
(delta-rs appends rarely conflict, but a lost note is the one failure a
reviewer would not forgive).  On S3 the commit relies on conditional put
(``coptwin.storage.delta_storage_options``).  A retry after an ambiguous
failure may append an event twice; the fold dedupes by ``event_id``.

Everything is validated before the first byte is written: a bad note raises
:class:`~coptwin.annotations.model.AnnotationError` and the table version is
unchanged.  The table is created with ``delta.appendOnly=true`` so no tool can
rewrite history by accident; older states stay readable by time travel.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

import polars as pl
from deltalake import CommitProperties, DeltaTable, Field, Schema, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from deltalake.schema import PrimitiveType

from coptwin.annotations.fold import AnnotationBook
from coptwin.annotations.model import (
    STATUS_OPEN,
    STATUS_RESOLVED,
    AnnotationError,
    AnnotationEvent,
    Target,
    check_author,
    check_text,
    utc_now,
)
from coptwin.annotations.schema import (
    COLUMNS,
    empty_frame,
    events_frame,
    to_canonical,
    to_user,
)
from coptwin.annotations.targets import TargetCheck
from coptwin.config import Config, TableConfig
from coptwin.storage import Credentials, delta_storage_options, redact

log = logging.getLogger(__name__)

_DELTA_TYPES = {"created_at": "timestamp"}


class AnnotationStoreError(RuntimeError):
    """The annotations table could not be read or written (message is redacted)."""


def _safe(exc: BaseException, storage_options: dict[str, str]) -> str:
    opts = {k.upper(): v for k, v in storage_options.items()}
    creds = Credentials(
        opts.get("AWS_ACCESS_KEY_ID"),
        opts.get("AWS_SECRET_ACCESS_KEY"),
        opts.get("AWS_SESSION_TOKEN"),
    )
    return redact(f"{type(exc).__name__}: {exc}", creds)


class AnnotationStore:
    """Read and append the annotations table; one instance per writer is cheap."""

    def __init__(
        self,
        uri: str,
        *,
        storage_options: dict[str, str] | None = None,
        table: TableConfig | None = None,
        max_text_length: int = 2000,
        max_attempts: int = 10,
        backoff_s: float = 0.05,
        commit_retries: int = 25,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.uri = uri
        self._opts = dict(storage_options or {})
        self._table = table
        self.max_text_length = max_text_length
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        #: delta-rs' own retries of a commit whose version was taken meanwhile.
        self.commit_retries = commit_retries
        self._clock = clock
        self._book = AnnotationBook()
        self._book_version: int | None = None
        #: Commits that had to be retried (for stats and tests).
        self.retries = 0
        self._dt: DeltaTable | None = None
        self._lock = threading.RLock()

    @classmethod
    def from_config(cls, config: Config, **kwargs) -> AnnotationStore:
        """Store for the configured ``tables.annotations`` (ConfigError if none)."""
        return cls(
            config.table_uri("annotations"),
            storage_options=delta_storage_options(config.storage),
            table=config.tables.annotations,
            max_text_length=config.annotations.max_text_length,
            **kwargs,
        )

    # ---- reading ---------------------------------------------------------
    def exists(self) -> bool:
        return self._dt is not None or DeltaTable.is_deltatable(
            self.uri, storage_options=self._opts or None
        )

    def _table_handle(self) -> DeltaTable | None:
        """The cached table handle brought up to date (None: no table yet).

        Keeping one handle makes each refresh read only new log entries.
        """
        with self._lock:
            try:
                if self._dt is None:
                    self._dt = DeltaTable(self.uri, storage_options=self._opts or None)
                else:
                    self._dt.update_incremental()
            except TableNotFoundError:
                return None
            except (DeltaError, OSError) as exc:
                raise AnnotationStoreError(
                    f"cannot read {self.uri}: {_safe(exc, self._opts)}"
                ) from None
            return self._dt

    def version(self) -> int | None:
        """Latest committed version, None when the table does not exist yet."""
        handle = self._table_handle()
        return handle.version() if handle is not None else None

    def read(self, version: int | None = None, as_of: datetime | None = None) -> pl.DataFrame:
        """All events (canonical columns), optionally as of a version or time."""
        if not self.exists():
            if version is not None or as_of is not None:
                raise AnnotationStoreError(f"no annotations table at {self.uri} to time-travel")
            return empty_frame()
        when: int | datetime | None = version if version is not None else as_of
        try:
            frame = pl.read_delta(self.uri, version=when, storage_options=self._opts or None)
        except Exception as exc:  # delta-rs / polars raise several types for I/O problems
            raise AnnotationStoreError(
                f"cannot read {self.uri}: {_safe(exc, self._opts)}"
            ) from None
        return to_canonical(frame, self._table)

    def load(self, version: int | None = None, as_of: datetime | None = None) -> AnnotationBook:
        """A fresh book folded from the table (time travel with version/as_of)."""
        book = AnnotationBook()
        book.apply(self.read(version, as_of))
        return book

    def book(self) -> AnnotationBook:
        """The store's own book, re-read when the table version moved.

        The engine keeps its own book fed by the table watcher; this one is for
        validation and the CLI, where annotation tables are small.
        """
        current = self.version()
        if current != self._book_version:
            self._book.apply(self.read(current) if current is not None else empty_frame(), True)
            self._book_version = current
        return self._book

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

    def ensure_table(self) -> None:
        """Create the (append-only) table if it does not exist yet; races are fine."""
        if self.exists():
            return
        col = self._table.column if self._table is not None else (lambda c: c)
        schema = Schema(
            [Field(col(c), PrimitiveType(_DELTA_TYPES.get(c, "string"))) for c in COLUMNS]
        )
        try:
            DeltaTable.create(
                self.uri,
                schema,
                mode="ignore",
                name="annotations",
                description="coptwin reviewers' notes (append-only event log)",
                configuration={"delta.appendOnly": "true"},
                storage_options=self._opts or None,
            )
            log.info("created annotations table %s", self.uri)
        except (DeltaError, OSError) as exc:
            if not self.exists():  # another writer creating it at the same moment is fine
                raise AnnotationStoreError(
                    f"cannot create {self.uri}: {_safe(exc, self._opts)}"
                ) from None

    def append(self, events: Iterable[AnnotationEvent]) -> int:
        """Append events in one commit, retrying conflicts; returns the new version."""
        frame = to_user(events_frame(events), self._table)
        if frame.is_empty():
            raise AnnotationError("nothing to append")
        with self._lock:
            return self._append(frame)

    def _append(self, frame: pl.DataFrame) -> int:
        self.ensure_table()
        last: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                # The first attempt writes on the handle as it is (delta-rs checks
                # newer commits itself); after a failure the handle is refreshed.
                handle = self._dt if attempt == 1 and self._dt is not None else None
                handle = handle or self._table_handle()
                write_deltalake(
                    handle if handle is not None else self.uri,
                    frame,
                    mode="append",
                    storage_options=self._opts or None,
                    commit_properties=CommitProperties(max_commit_retries=self.commit_retries),
                )
                version = handle.version() if handle is not None else self.version()
                log.debug("appended %d annotation events -> v%s", frame.height, version)
                return version if version is not None else 0
            except (CommitFailedError, OSError) as exc:
                last = exc
            except DeltaError as exc:
                # Object stores report some transient commit races as generic errors.
                if "conflict" not in str(exc).lower() and "exists" not in str(exc).lower():
                    raise AnnotationStoreError(
                        f"cannot write {self.uri}: {_safe(exc, self._opts)}"
                    ) from None
                last = exc
            self.retries += 1
            delay = self.backoff_s * (2 ** min(attempt - 1, 6)) * (0.5 + random.random())
            log.info(
                "annotations commit attempt %d/%d failed (%s); retrying in %.2fs",
                attempt,
                self.max_attempts,
                type(last).__name__,
                delay,
            )
            time.sleep(delay)
        raise AnnotationStoreError(
            f"cannot write {self.uri} after {self.max_attempts} attempts: "
            f"{_safe(last, self._opts) if last else 'unknown error'}"
        )
