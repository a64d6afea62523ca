"""An append-only Delta table of events that several writers share.

Kit sessions, the headless engine and the CLI write at once, so every append
is a Delta commit that is retried with jittered exponential backoff when it
loses a commit race (delta-rs rebases most appends itself; a lost event is the
one failure nobody would forgive).  On S3 the commit relies on conditional put
(``coptwin.storage.delta_storage_options``).  A retry after an ambiguous
failure may append an event twice; folds dedupe by ``event_id``.

The table is created with ``delta.appendOnly=true`` so no tool can rewrite
history by accident; older states stay readable by time travel.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Generic, Self, TypeVar

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from coptwin.config import Config, TableConfig
from coptwin.delta import DeltaWatchError, TableWatcher
from coptwin.eventlog.feed import EventFeed
from coptwin.eventlog.fold import FoldedBook
from coptwin.eventlog.model import utc_now
from coptwin.eventlog.schema import EventSchema
from coptwin.storage import Credentials, delta_storage_options, redact

log = logging.getLogger(__name__)

B = TypeVar("B", bound=FoldedBook)


class EventLogError(RuntimeError):
    """An event table could not be read or written (message is redacted)."""


def safe_message(exc: BaseException, storage_options: dict[str, str]) -> str:
    """``Type: message`` with the storage credentials removed."""
    opts = {k.upper(): v for k, v in storage_options.items()}
    creds = Credentials(
        opts.get("AWS_ACCESS_KEY_ID"),
        opts.get("AWS_SECRET_ACCESS_KEY"),
        opts.get("AWS_SESSION_TOKEN"),
    )
    return redact(f"{type(exc).__name__}: {exc}", creds)


class EventLog:
    """Read and append one event table; one instance per writer is cheap. A table that
    cannot be read or written raises :class:`EventLogError` (messages are redacted)."""

    def __init__(
        self,
        uri: str,
        schema: EventSchema,
        *,
        storage_options: dict[str, str] | None = None,
        table: TableConfig | None = None,
        max_attempts: int = 10,
        backoff_s: float = 0.05,
        commit_retries: int = 25,
    ) -> None:
        self.uri = uri
        self.schema = schema
        self.table = table
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        #: delta-rs' own retries of a commit whose version was taken meanwhile.
        self.commit_retries = commit_retries
        #: Commits that had to be retried (for stats and tests).
        self.retries = 0
        self._opts = dict(storage_options or {})
        self._dt: DeltaTable | None = None
        self._lock = threading.RLock()

    def _fail(self, what: str, exc: BaseException) -> EventLogError:
        return EventLogError(f"cannot {what} {self.uri}: {safe_message(exc, self._opts)}")

    # ---- reading ---------------------------------------------------------
    def exists(self) -> bool:
        return self._dt is not None or DeltaTable.is_deltatable(
            self.uri, storage_options=self._opts or None
        )

    def _handle(self) -> DeltaTable | None:
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
                raise self._fail("read", exc) from None
            return self._dt

    def version(self) -> int | None:
        """Latest committed version, None when the table does not exist yet."""
        handle = self._handle()
        return handle.version() if handle is not None else None

    def read(self, version: int | None = None, as_of: datetime | None = None) -> pl.DataFrame:
        """All events (canonical columns), optionally as of a version or a time."""
        if not self.exists():
            if version is not None or as_of is not None:
                raise EventLogError(f"no {self.schema.name} table at {self.uri} to time-travel")
            return self.schema.empty()
        when: int | datetime | None = version if version is not None else as_of
        try:
            frame = pl.read_delta(self.uri, version=when, storage_options=self._opts or None)
        except Exception as exc:  # delta-rs / polars raise several types for I/O problems
            raise self._fail("read", exc) from None
        return self.schema.to_canonical(frame, self.table)

    def follow(self, book: B) -> EventFeed[B]:
        """A feed keeping ``book`` up to date with this table (reads only new commits)."""
        return EventFeed(TableWatcher(self.uri, self._opts), book, self.table)

    def catch_up(self, feed: EventFeed[B]) -> B:
        """Fold what is new into ``feed``'s book and return it (EventLogError if unreadable)."""
        try:
            feed.poll()
        except DeltaWatchError as exc:  # messages carry the URI, never credentials
            raise EventLogError(f"cannot read {self.schema.name}: {exc}") from None
        return feed.book

    def commit_time(self, version: int) -> datetime:
        """When ``version`` was committed (UTC), for "as it was then" views."""
        handle = self._handle()
        if handle is None:
            raise EventLogError(f"no {self.schema.name} table at {self.uri}")
        try:
            history = handle.history()
        except (DeltaError, OSError) as exc:
            raise self._fail("read the history of", exc) from None
        for commit in history:
            if commit.get("version") == version and commit.get("timestamp") is not None:
                return datetime.fromtimestamp(commit["timestamp"] / 1000.0, timezone.utc)
        raise EventLogError(f"{self.schema.name}: version {version} is not in the table's history")

    # ---- writing ---------------------------------------------------------
    def ensure_table(self) -> None:
        """Create the (append-only) table if it does not exist yet; races are fine."""
        if self.exists():
            return
        try:
            DeltaTable.create(
                self.uri,
                self.schema.delta_schema(self.table),
                mode="ignore",
                name=self.schema.name,
                description=f"coptwin {self.schema.name} (append-only event log)",
                configuration={"delta.appendOnly": "true"},
                storage_options=self._opts or None,
            )
            log.info("created %s table %s", self.schema.name, self.uri)
        except (DeltaError, OSError) as exc:
            if not self.exists():  # another writer creating it at the same moment is fine
                raise self._fail("create", exc) from None

    def append(self, frame: pl.DataFrame) -> int:
        """Append canonical rows in one commit, retrying lost races; returns the new version."""
        if frame.is_empty():
            raise ValueError(f"nothing to append to {self.schema.name}")
        user = self.schema.to_user(self.schema.conform(frame), self.table)
        with self._lock:
            return self._append(user)

    def _append(self, frame: pl.DataFrame) -> int:
        self.ensure_table()
        last: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                # The first attempt writes on the handle as it is (delta-rs checks
                # newer commits itself); after a failure the handle is refreshed.
                handle = self._dt if attempt == 1 and self._dt is not None else None
                handle = handle or self._handle()
                write_deltalake(
                    handle if handle is not None else self.uri,
                    frame,
                    mode="append",
                    storage_options=self._opts or None,
                    commit_properties=CommitProperties(max_commit_retries=self.commit_retries),
                )
                version = handle.version() if handle is not None else self.version()
                log.debug("appended %d %s events -> v%s", frame.height, self.schema.name, version)
                return version if version is not None else 0
            except (CommitFailedError, OSError) as exc:
                last = exc
            except DeltaError as exc:
                # Object stores report some transient commit races as generic errors.
                text = str(exc).lower()
                if "conflict" not in text and "exists" not in text:
                    raise self._fail("write", exc) from None
                last = exc
            self.retries += 1
            delay = self.backoff_s * (2 ** min(attempt - 1, 6)) * (0.5 + random.random())
            log.info(
                "%s commit attempt %d/%d failed (%s); retrying in %.2fs",
                self.schema.name,
                attempt,
                self.max_attempts,
                type(last).__name__,
                delay,
            )
            time.sleep(delay)
        detail = safe_message(last, self._opts) if last else "unknown error"
        raise EventLogError(f"cannot write {self.uri} after {self.max_attempts} attempts: {detail}")


class EventStore(Generic[B]):
    """What every event store shares: its :class:`EventLog`, a book kept current by
    following the table, time travel, appends.  Subclasses add validated writes.
    """

    #: The package's book class (its ``schema`` names the table's columns and
    #: ``tables.<name>`` of the config).
    book_type: ClassVar[type[FoldedBook]]
    #: The package's limits on what a writer may append, with their defaults: keyword
    #: arguments of the constructor, attributes of the store, and what :meth:`from_config`
    #: takes from the config section named like the table (``[alarms]``, ``[annotations]``).
    limits: ClassVar[dict[str, float]] = {}

    def __init__(
        self, uri: str, *, clock: Callable[[], datetime] = utc_now, **options: Any
    ) -> None:
        """``options``: the :attr:`limits`, then :class:`EventLog`'s keyword arguments
        (``storage_options``, ``table``, retries)."""
        for name, default in self.limits.items():
            setattr(self, name, options.pop(name, default))
        self.eventlog = EventLog(uri, self.book_type.schema, **options)
        self._clock = clock
        self._last_stamp: datetime | None = None
        self._feed = self.eventlog.follow(self.book_type())

    @classmethod
    def from_config(cls, config: Config, **kwargs) -> Self:
        """Store for the configured ``tables.<name>`` (ConfigError if none), with the
        package's :attr:`limits` from the config."""
        name = cls.book_type.schema.name
        section = getattr(config, name, None)
        return cls(
            config.table_uri(name),
            storage_options=delta_storage_options(config.storage),
            table=getattr(config.tables, name),
            **{k: getattr(section, k) for k in cls.limits},
            **kwargs,
        )

    @property
    def uri(self) -> str:
        return self.eventlog.uri

    @property
    def retries(self) -> int:
        """Commits that had to be retried (for stats and tests)."""
        return self.eventlog.retries

    def now(self) -> datetime:
        return self._clock()

    def _stamp(self) -> datetime:
        """The time of a new event: the clock, but strictly after this writer's last event,
        so one person's quick succession (shelve, then unshelve) keeps its order."""
        now = self._clock()
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = now
        return now

    def exists(self) -> bool:
        return self.eventlog.exists()

    def version(self) -> int | None:
        """Latest committed version, None when the table does not exist yet."""
        return self.eventlog.version()

    def read(self, version: int | None = None, as_of: datetime | None = None) -> pl.DataFrame:
        """All events (canonical columns), optionally as of a version or a time."""
        return self.eventlog.read(version, as_of)

    def load(self, version: int | None = None, as_of: datetime | None = None) -> B:
        """A fresh book folded from the table: the state as it was (time travel)."""
        book = self.book_type()
        book.apply(self.read(version, as_of))
        return book  # type: ignore[return-value]

    def as_of_time(self, version: int | None = None, as_of: datetime | None = None) -> datetime:
        """The time a time-travelled book shows: ``as_of``, the version's commit time, or now."""
        if as_of is not None:
            return as_of
        if version is not None:
            return self.eventlog.commit_time(version)
        return self.now()

    def book(self) -> B:
        """The store's own book, brought up to date (only commits since the last call are read).

        The engine keeps its own book fed by its table watcher; this one is for
        validation and the CLI.
        """
        return self.eventlog.catch_up(self._feed)

    def ensure_table(self) -> None:
        """Create the (append-only) table if it does not exist yet; races are fine."""
        self.eventlog.ensure_table()

    def append(self, events: Iterable) -> int:
        """Append events in one commit (retrying lost races); returns the new version."""
        return self.append_frame(self.book_type.schema.frame(events))

    def append_frame(self, frame: pl.DataFrame) -> int:
        """Append canonical rows in one commit; returns the new version."""
        return self.eventlog.append(frame)
