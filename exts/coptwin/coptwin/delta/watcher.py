"""Incremental reader of one Delta table: only what was appended since last time.

The Delta log version is the truth.  ``poll()`` lists ``_delta_log/`` from the
applied version on, reads the commit files of the new versions and fetches
just the data files they added with ``dataChange=true``.  Anything that is not
a pure append (overwrite, RESTORE, DELETE/UPDATE/MERGE, deletion vectors,
partitioning changes, expired commit files, vacuumed data files, a table
deleted and recreated) makes the next batch a full reload of the table at the
new version: readings are append-only in coptwin's data contract, so a reload
is rare and always correct.

A recreated table is recognised without extra requests: the listing starts at
the applied version, so it shows that version's commit file again, and commit
files are written once; a different ETag (or time and size) means a new table.

A data file that cannot be decoded is quarantined (named in the log with its
reason, listed on the batch and in :attr:`TableWatcher.quarantined`) and the
rest is applied, so one bad file never stalls its table.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import obstore
import polars as pl

from coptwin.delta.batch import DeltaBatch
from coptwin.delta.errors import DeltaStorageError, TableNotFoundError
from coptwin.delta.files import AbsolutePathError, FilesRead, read_added_files
from coptwin.delta.log import Commit, LogListing, commit_path, list_log, parse_commit, read_commits
from coptwin.delta.schema import UnsupportedSchemaError, schema_from_json
from coptwin.delta.snapshot import Snapshot, open_table, read_snapshot
from coptwin.delta.store import NOT_FOUND, STORE_ERRORS, safe_message
from coptwin.storage import is_local, local_path, object_store

log = logging.getLogger(__name__)


class _Reload(Exception):
    """Internal: the pending versions cannot be applied incrementally."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TableWatcher:
    """Remembers the applied version of one table and reads what is new.

    ``columns`` optionally restricts what is read (unknown names are ignored);
    ``store`` lets a caller pass a ready obstore store rooted at the table
    (e.g. :func:`coptwin.storage.object_store`, which also knows the CA bundle).
    ``full_load`` narrows full loads and snapshots lazily before they are read
    (see :func:`coptwin.delta.snapshot.read_snapshot`); incremental reads are
    never narrowed.
    Methods are thread-safe, so the engine may poll from a worker thread;
    :meth:`prefetch` starts the next poll in a thread of its own.
    """

    def __init__(
        self,
        uri: str,
        storage_options: dict[str, str] | None = None,
        *,
        columns: Sequence[str] | None = None,
        store: Any | None = None,
        full_load: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None,
    ) -> None:
        self.uri = uri
        self._full_load = full_load
        self._options = dict(storage_options or {})
        self._columns = list(columns) if columns is not None else None
        self._store = store
        self._applied: int | None = None
        self._schema: pl.Schema | None = None
        self._partitions: list[str] = []
        #: Identity of the applied version's commit file, and the table's metaData.id.
        self._fingerprint: str | None = None
        self._table_id = ""
        self._quarantined: dict[str, str] = {}
        self._lock = threading.RLock()
        #: A poll started by prefetch() whose batch the next poll() returns.
        self._prefetched: Future[DeltaBatch | None] | None = None
        self._prefetch_guard = threading.Lock()

    def __repr__(self) -> str:  # no storage options: they may hold credentials
        return f"TableWatcher({self.uri!r}, applied_version={self._applied})"

    @property
    def applied_version(self) -> int | None:
        return self._applied

    @property
    def quarantined(self) -> dict[str, str]:
        """Data files of the applied table skipped as unreadable: path (as in the log) -> why."""
        with self._lock:
            return dict(self._quarantined)

    # -- version discovery ---------------------------------------------------------------

    def _get_store(self) -> Any | None:
        """The table's store, or None while a local table folder does not exist yet."""
        if self._store is None:
            if is_local(self.uri) and not local_path(self.uri).is_dir():
                return None
            try:
                self._store = object_store(self.uri, self._options)
            except (*STORE_ERRORS, ValueError) as exc:
                raise DeltaStorageError(
                    self.uri, f"cannot open storage: {safe_message(exc, self._options)}"
                ) from None
        return self._store

    def _listing(self) -> LogListing:
        store = self._get_store()
        if store is None:
            return LogListing((), ())
        try:
            listing = list_log(store, self._applied)
            if listing.empty and self._applied is not None:
                # Nothing at or after the applied version: the table was deleted or recreated.
                listing = list_log(store, None)
        except STORE_ERRORS as exc:
            raise DeltaStorageError(
                self.uri, f"cannot list _delta_log: {safe_message(exc, self._options)}"
            ) from None
        return listing

    def latest_version(self) -> int | None:
        """Newest committed version, from one listing of ``_delta_log/``; None if no table yet.

        The listing starts at the applied version, so its cost does not grow with history.
        """
        with self._lock:
            return self._listing().latest

    # -- reading -------------------------------------------------------------------------

    def poll(self) -> DeltaBatch | None:
        """Rows added since the applied version; None when no new version exists.

        The first call (and any call after :meth:`reset`) is a full load.  A batch may
        be empty when the new versions changed no data (OPTIMIZE, checkpoints).
        Raises :class:`TableNotFoundError`, :class:`DeltaLogError` (malformed commit; the
        applied version is kept) or :class:`DeltaStorageError`.
        After :meth:`prefetch`, the prefetched batch joined with anything committed since
        (a prefetch that failed is retried: what it hit may be over).
        """
        with self._prefetch_guard:
            prefetched, self._prefetched = self._prefetched, None
        if prefetched is None:
            return self._poll()
        try:
            first = prefetched.result()
        except Exception:
            return self._poll()
        more = self._poll()
        if more is None or first is None or more.full_reload:
            return first if more is None else more
        return _joined(first, more)

    def prefetch(self) -> None:
        """Start the next poll in a background thread; the next :meth:`poll` returns its
        batch (plus what was committed meanwhile). A cold start reads the tables this
        way while it reads the scene: Delta and parquet decoding run in native code that
        releases the GIL."""
        with self._prefetch_guard:
            if self._prefetched is not None:
                return
            future: Future[DeltaBatch | None] = Future()
            self._prefetched = future

        def run() -> None:
            try:
                future.set_result(self._poll())
            except BaseException as exc:  # handed to the poll() that takes the result
                future.set_exception(exc)

        threading.Thread(target=run, name="coptwin-prefetch", daemon=True).start()

    def _poll(self) -> DeltaBatch | None:
        with self._lock:
            listing = self._listing()
            latest = listing.latest
            if latest is None:
                raise TableNotFoundError(self.uri)
            applied = self._applied
            if applied is None:
                return self._full_reload(latest, "first load", listing)
            if latest < applied:
                return self._full_reload(
                    latest,
                    f"table went back from version {applied} to {latest} (recreated)",
                    listing,
                )
            seen = listing.fingerprints.get(applied)
            if self._fingerprint is not None and seen is not None and seen != self._fingerprint:
                return self._full_reload(
                    latest,
                    f"table was deleted and recreated (commit {applied} is a new file)",
                    listing,
                )
            if latest == applied:
                return None
            try:
                return self._incremental(applied, latest, listing)
            except _Reload as reload:
                return self._full_reload(latest, reload.reason, listing)

    def _incremental(self, applied: int, latest: int, listing: LogListing) -> DeltaBatch:
        pending = list(range(applied + 1, latest + 1))
        listed = set(listing.commits)
        missing = [v for v in pending if v not in listed]
        if missing:
            raise _Reload(f"commit files from version {missing[0]} on are gone (log cleanup)")
        store = self._get_store()
        try:
            commits = read_commits(store, self.uri, pending)
        except STORE_ERRORS as exc:
            raise DeltaStorageError(
                self.uri, f"cannot read commits: {safe_message(exc, self._options)}"
            ) from None
        schema = self._check_commits(commits)
        adds = [a for c in commits if c is not None for a in c.adds if a.data_change]
        try:
            got = read_added_files(store, adds, schema, self._partitions, self._columns)
        except NOT_FOUND:
            raise _Reload("a new data file is gone (VACUUM)") from None
        except AbsolutePathError as exc:
            raise _Reload(f"data file outside the table folder: {exc}") from None
        except STORE_ERRORS as exc:
            raise DeltaStorageError(
                self.uri, f"cannot read new data files: {safe_message(exc, self._options)}"
            ) from None
        self._applied = latest
        self._fingerprint = listing.fingerprints.get(latest)
        self._schema = schema
        self._note_skips(got, f"versions {applied + 1}..{latest}")
        self._quarantined.update(got.quarantined)
        log.debug(
            "%s: versions %d..%d: %d files, %d rows",
            self.uri,
            applied + 1,
            latest,
            len(adds),
            got.data.height,
        )
        return DeltaBatch(
            self.uri,
            applied,
            latest,
            got.data,
            False,
            len(adds) - len(got.quarantined),
            quarantined=tuple(got.quarantined),
            quarantined_rows=got.quarantined_rows,
            uncast=got.uncast,
        )

    def _note_skips(self, got: FilesRead | Snapshot, where: str) -> None:
        """One warning per quarantined file and one for values that did not convert."""
        for path, why in got.quarantined.items():
            log.warning(
                "%s: %s: quarantined data file %s (%s); it is skipped, the rest is applied",
                self.uri,
                where,
                path,
                why,
            )
        if got.uncast:
            log.warning(
                "%s: %s: values of the wrong type became null: %s",
                self.uri,
                where,
                ", ".join(f"{c}={n}" for c, n in got.uncast.items()),
            )

    def _check_commits(self, commits: list[Commit | None]) -> pl.Schema:
        """Raise _Reload unless all commits are appends; return the schema to read with."""
        assert self._schema is not None
        schema = self._schema
        for commit in commits:
            if commit is None:
                raise _Reload("a commit file vanished while reading (log cleanup)")
            what = f"{commit.operation or 'commit'} at version {commit.version}"
            if commit.data_removes:
                raise _Reload(f"{what} removed or rewrote data")
            if any(a.data_change and a.has_deletion_vector for a in commit.adds):
                raise _Reload(f"{what} added files with deletion vectors")
            if commit.protocol is not None:
                raise _Reload(f"{what} changed the table protocol")
            if commit.metadata is not None:
                schema = self._schema_from_metadata(commit.metadata, what)
        return schema

    def _schema_from_metadata(self, metadata: dict[str, Any], what: str) -> pl.Schema:
        if list(metadata.get("partitionColumns") or []) != self._partitions:
            raise _Reload(f"{what} changed the partition columns")
        config = metadata.get("configuration") or {}
        if str(config.get("delta.columnMapping.mode", "none")).lower() != "none":
            raise _Reload(f"{what} enabled column mapping")
        try:
            schema = schema_from_json(str(metadata.get("schemaString", "")))
        except (UnsupportedSchemaError, ValueError) as exc:
            raise _Reload(f"{what} changed the schema ({exc})") from None
        log.info("%s: %s changed the schema: %s", self.uri, what, list(schema.names()))
        return schema

    def _full_reload(self, version: int, reason: str, listing: LogListing) -> DeltaBatch:
        previous = self._applied
        if previous is not None:
            log.info("%s: full reload at version %d: %s", self.uri, version, reason)
        table = open_table(self.uri, self._options, version=version)
        snap = read_snapshot(
            table, self.uri, self._options, self._columns, self._full_load, self._get_store()
        )
        if self._table_id and snap.table_id != self._table_id:
            log.info(
                "%s: table id changed from %s to %s: the table was recreated",
                self.uri,
                self._table_id,
                snap.table_id,
            )
        self._applied = snap.version
        self._fingerprint = listing.fingerprints.get(snap.version)
        self._table_id = snap.table_id
        self._schema = snap.schema
        self._partitions = snap.partition_columns
        self._quarantined = dict(snap.quarantined)
        return self._snapshot_batch(snap, previous, reason)

    def _snapshot_batch(self, snap: Snapshot, previous: int | None, reason: str) -> DeltaBatch:
        """A full-table batch (reload, snapshot, time travel), with what it had to skip."""
        self._note_skips(snap, f"version {snap.version}")
        return DeltaBatch(
            self.uri,
            previous,
            snap.version,
            snap.data,
            True,
            snap.files - len(snap.quarantined),
            reason,
            quarantined=tuple(snap.quarantined),
            quarantined_rows=snap.quarantined_rows,
            uncast=snap.uncast,
        )

    # -- time travel & state -------------------------------------------------------------

    def snapshot(
        self, version: int | None = None, timestamp: dt.datetime | None = None
    ) -> DeltaBatch:
        """The full table as of a version or a timestamp (naive timestamps are UTC).

        A pure read: the watcher's applied version is not changed.
        """
        table = open_table(self.uri, self._options, version=version, timestamp=timestamp)
        with self._lock:
            store = self._get_store()
        snap = read_snapshot(table, self.uri, self._options, self._columns, self._full_load, store)
        reason = "snapshot" if version is None and timestamp is None else "time travel"
        return self._snapshot_batch(snap, None, reason)

    def commit_time(self, version: int) -> dt.datetime | None:
        """When ``version`` was committed (UTC): its ``commitInfo`` timestamp, else the
        time its log file was written; None when the commit file is gone (log cleanup)."""
        with self._lock:
            store = self._get_store()
        if store is None:
            return None
        try:
            got = obstore.get(store, commit_path(version))
            raw = bytes(got.bytes())
        except NOT_FOUND:
            return None
        except STORE_ERRORS as exc:
            raise DeltaStorageError(
                self.uri, f"cannot read commit {version}: {safe_message(exc, self._options)}"
            ) from None
        ms = parse_commit(self.uri, version, raw).timestamp_ms
        if ms is not None:
            return dt.datetime.fromtimestamp(ms / 1000.0, dt.timezone.utc)
        written = got.meta.get("last_modified")
        return written.astimezone(dt.timezone.utc) if isinstance(written, dt.datetime) else None

    def reset(self) -> None:
        """Forget the applied version; the next poll is a full load."""
        with self._prefetch_guard:
            prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None:  # let it finish first, or it would apply after the reset
            with contextlib.suppress(Exception):
                prefetched.result()
        with self._lock:
            self._applied = None
            self._schema = None
            self._partitions = []
            self._fingerprint = None
            self._quarantined = {}


def _joined(first: DeltaBatch, more: DeltaBatch) -> DeltaBatch:
    """One batch for two consecutive ones (``more`` an increment after ``first``)."""
    uncast = dict(first.uncast)
    for column, n in more.uncast.items():
        uncast[column] = uncast.get(column, 0) + n
    return DeltaBatch(
        first.table_uri,
        first.from_version,
        more.to_version,
        pl.concat([first.data, more.data], how="diagonal_relaxed"),
        first.full_reload,
        first.files_read + more.files_read,
        first.reason,
        quarantined=first.quarantined + more.quarantined,
        quarantined_rows=first.quarantined_rows + more.quarantined_rows,
        uncast=uncast,
    )
