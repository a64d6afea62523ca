"""One maintenance pass over one Delta table: compact, checkpoint, vacuum, clean the log.

The steps, in order, each retried when it loses a commit race with a writer:

1. compaction (``optimize.compact``) of finished date partitions, one commit
   per partition (see :mod:`coptwin.maintenance.plan`); its adds carry
   ``dataChange=false``, so incremental readers (``TableWatcher``) read nothing
   new and the COP does not flicker;
2. a checkpoint at the new version, so readers replay a short log;
3. VACUUM of files removed longer ago than the retention (>= 7 days), in
   delta-rs' default "lite" mode: only files the log removed are deleted,
   never a file a writer has written but not yet committed;
4. log cleanup (``cleanup_metadata``) of commit files older than the table's
   ``delta.logRetentionDuration`` that a checkpoint already covers.

A dry run plans the same steps and changes nothing (the table version stays).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import obstore
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import TableNotFoundError as _DlTableNotFound

from coptwin.delta.store import credentials_of
from coptwin.maintenance.lease import LeaseBusy, MaintenanceLease
from coptwin.maintenance.plan import CompactionPlan, plan_compaction
from coptwin.maintenance.retention import table_retention_hours, vacuum_retention
from coptwin.maintenance.retry import with_retry
from coptwin.storage import object_store, redact

log = logging.getLogger(__name__)

#: Written into every maintenance commit's commitInfo so the history says who did it.
COMMIT_TAG = "coptwin.maintenance"


@dataclass(frozen=True)
class MaintenanceOptions:
    """What one maintenance pass does."""

    dry_run: bool = False
    #: VACUUM retention; None = max(7 days, the table's deletedFileRetentionDuration).
    retention_hours: int | None = None
    #: Compact partitions dated at least this many days before today (UTC); >= 1.
    older_than_days: int = 1
    target_size: int | None = None
    compact: bool = True
    checkpoint: bool = True
    vacuum: bool = True
    cleanup_log: bool = True
    attempts: int = 8
    #: Hold the table's maintenance lease (see coptwin.maintenance.lease).
    use_lease: bool = True
    lease_ttl_s: float = 3600.0
    #: Tests only: let VACUUM use a retention below 7 days.
    allow_short_retention: bool = False


@dataclass
class PartitionResult:
    value: str
    files_removed: int = 0
    files_added: int = 0
    attempts: int = 0
    version: int | None = None
    error: str = ""


@dataclass
class TableReport:
    """What a pass did (or, in a dry run, would do) to one table."""

    table: str
    uri: str
    dry_run: bool
    version_before: int | None = None
    version_after: int | None = None
    live_files_before: int | None = None
    live_files_after: int | None = None
    partition_column: str | None = None
    compaction_cutoff: str | None = None
    to_compact: list[dict[str, Any]] = field(default_factory=list)
    compaction_skipped: dict[str, int] = field(default_factory=dict)
    compaction_disabled: str = ""
    compacted: list[PartitionResult] = field(default_factory=list)
    checkpoint_version: int | None = None
    retention_hours: int | None = None
    log_retention_hours: float | None = None
    vacuum_files: int = 0
    vacuum_sample: list[str] = field(default_factory=list)
    log_files_removed: int = 0
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _log_commit_files(store: Any) -> set[str]:
    """Names of the JSON commit files in ``_delta_log/``."""
    names: set[str] = set()
    for chunk in obstore.list(store, "_delta_log/"):
        for meta in chunk:
            path = str(meta["path"])
            if path.endswith(".json") and path.rsplit("/", 1)[-1][:20].isdigit():
                names.add(path)
    return names


def _expired_log_files(store: Any, before_version: int, cutoff: dt.datetime) -> int:
    """Commit files log cleanup would delete: covered by a checkpoint and old enough."""
    n = 0
    for chunk in obstore.list(store, "_delta_log/"):
        for meta in chunk:
            name = str(meta["path"]).rsplit("/", 1)[-1]
            if (
                name.endswith(".json")
                and name[:20].isdigit()
                and int(name[:20]) < before_version
                and meta["last_modified"] < cutoff
            ):
                n += 1
    return n


class TableMaintainer:
    """Runs :class:`MaintenanceOptions` against one table (local path or ``s3://`` URI)."""

    def __init__(
        self,
        name: str,
        uri: str,
        partition_column: str,
        options: MaintenanceOptions,
        *,
        storage_options: dict[str, str] | None = None,
        lease_store: Any | None = None,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.name = name
        self.uri = uri
        self.partition_column = partition_column
        self.opts = options
        self.storage_options = dict(storage_options or {})
        self._creds = credentials_of(self.storage_options)
        self._lease_store = lease_store
        self._now = now or (lambda: dt.datetime.now(dt.timezone.utc))
        self.report = TableReport(name, uri, options.dry_run, partition_column=partition_column)
        self._lease: MaintenanceLease | None = None

    # -- helpers -------------------------------------------------------------------------

    def _open(self) -> DeltaTable:
        return DeltaTable(self.uri, storage_options=self.storage_options or None)

    def _safe(self, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return redact(f"{type(exc).__name__}: {text}", self._creds)[:500]

    def _fail(self, step: str, exc: BaseException) -> None:
        msg = f"{step}: {self._safe(exc)}"
        log.error("%s (%s): %s", self.name, self.uri, msg)
        self.report.errors.append(msg)

    def _commit_props(self, what: str) -> CommitProperties:
        return CommitProperties(custom_metadata={COMMIT_TAG: what})

    # -- the pass ------------------------------------------------------------------------

    def run(self) -> TableReport:
        rep = self.report
        try:
            table = self._open()
        except _DlTableNotFound:
            rep.skipped = "no Delta table at this location"
            return rep
        except Exception as exc:
            self._fail("open", exc)
            return rep
        rep.version_before = table.version()
        rep.live_files_before = len(table.file_uris())
        files_h, logs_h = table_retention_hours(table)
        rep.log_retention_hours = logs_h
        try:
            rep.retention_hours = vacuum_retention(
                self.opts.retention_hours, files_h, allow_short=self.opts.allow_short_retention
            )
        except ValueError as exc:
            rep.errors.append(f"vacuum: {exc}")
            return rep
        if logs_h < rep.retention_hours:
            rep.notes.append(
                f"delta.logRetentionDuration ({logs_h:g} h) is shorter than the VACUUM retention "
                f"({rep.retention_hours} h): time travel reaches back only {logs_h:g} h"
            )
        if not self.opts.dry_run and self.opts.use_lease:
            try:
                self._lease = MaintenanceLease(self._store_for_lease(), ttl_s=self.opts.lease_ttl_s)
                self._lease.acquire()
            except LeaseBusy as exc:
                rep.skipped = str(exc)
                rep.errors.append(f"lease: {exc}")
                return rep
            except NotImplementedError:
                rep.errors.append(
                    "lease: the store cannot create objects conditionally; set "
                    "storage.conditional_put = 'etag' or use --no-lease (then never run two "
                    "maintenance passes on one table at once)"
                )
                return rep
            except Exception as exc:
                self._fail("lease", exc)
                return rep
        try:
            if self.opts.compact:
                self._compact(table)
            if self.opts.checkpoint:
                self._checkpoint()
            if self.opts.vacuum:
                self._vacuum()
            if self.opts.cleanup_log:
                self._cleanup_log()
        finally:
            if self._lease is not None:
                try:
                    self._lease.release()
                except Exception as exc:  # the lease expires on its own
                    log.warning("could not release the maintenance lease: %s", self._safe(exc))
        try:
            after = self._open()
            rep.version_after = after.version()
            rep.live_files_after = len(after.file_uris())
        except Exception as exc:
            self._fail("reopen", exc)
        return rep

    def _store_for_lease(self) -> Any:
        if self._lease_store is None:
            self._lease_store = object_store(self.uri, self.storage_options)
        return self._lease_store

    def _compact(self, table: DeltaTable) -> None:
        rep = self.report
        today = self._now().astimezone(dt.timezone.utc).date()
        try:
            plan: CompactionPlan = plan_compaction(
                table,
                self.partition_column,
                today=today,
                older_than_days=self.opts.older_than_days,
                target_size=self.opts.target_size,
            )
        except Exception as exc:
            self._fail("compaction plan", exc)
            return
        rep.partition_column = plan.partition_column
        rep.compaction_cutoff = plan.cutoff.isoformat()
        rep.compaction_skipped = dict(plan.skipped)
        rep.compaction_disabled = plan.disabled
        rep.to_compact = [asdict(p) for p in plan.partitions]
        if plan.disabled:
            log.warning("%s: %s", self.name, plan.disabled)
        if self.opts.dry_run or not plan.partitions:
            return
        assert plan.partition_column is not None
        for part in plan.partitions:
            if self._lease is not None and not self._lease.still_mine():
                rep.errors.append("lease: lost the maintenance lease; compaction stopped")
                return
            res = PartitionResult(part.value)
            filters = [(plan.partition_column, "=", part.value)]

            def step(filters: list = filters) -> tuple[dict[str, Any], int]:
                t = self._open()
                metrics = t.optimize.compact(
                    partition_filters=filters,
                    target_size=plan.target_size,
                    commit_properties=self._commit_props("compact"),
                )
                return metrics, t.version()

            try:
                (metrics, version), res.attempts = with_retry(
                    step,
                    f"compaction of {plan.partition_column}={part.value}",
                    attempts=self.opts.attempts,
                )
                res.files_removed = int(metrics.get("numFilesRemoved", 0))
                res.files_added = int(metrics.get("numFilesAdded", 0))
                res.version = version if res.files_removed else None
            except Exception as exc:
                res.error = self._safe(exc)
                self._fail(f"compaction of {plan.partition_column}={part.value}", exc)
            rep.compacted.append(res)
            log.info(
                "%s: compacted %s=%s: %d -> %d files",
                self.name,
                plan.partition_column,
                part.value,
                res.files_removed,
                res.files_added,
            )

    def _checkpoint(self) -> None:
        rep = self.report
        if self.opts.dry_run:
            rep.checkpoint_version = self._open().version()
            return

        def step() -> int:
            t = self._open()
            t.create_checkpoint()
            return t.version()

        try:
            rep.checkpoint_version, _ = with_retry(step, "checkpoint", attempts=self.opts.attempts)
        except Exception as exc:
            self._fail("checkpoint", exc)

    def _vacuum(self) -> None:
        rep = self.report
        assert rep.retention_hours is not None

        def step() -> list[str]:
            return self._open().vacuum(
                retention_hours=rep.retention_hours,
                dry_run=self.opts.dry_run,
                enforce_retention_duration=not self.opts.allow_short_retention,
                commit_properties=None if self.opts.dry_run else self._commit_props("vacuum"),
            )

        try:
            files, _ = with_retry(step, "vacuum", attempts=self.opts.attempts)
        except Exception as exc:
            self._fail("vacuum", exc)
            return
        rep.vacuum_files = len(files)
        rep.vacuum_sample = sorted(files)[:20]

    def _cleanup_log(self) -> None:
        rep = self.report
        store = object_store(self.uri, self.storage_options)
        try:
            if self.opts.dry_run:
                table = self._open()
                assert rep.log_retention_hours is not None
                cutoff = self._now() - dt.timedelta(hours=rep.log_retention_hours)
                # After the checkpoint this pass would write, everything before it is covered.
                rep.log_files_removed = _expired_log_files(store, table.version(), cutoff)
                return
            before = _log_commit_files(store)
            with_retry(
                lambda: self._open().cleanup_metadata(), "log cleanup", attempts=self.opts.attempts
            )
            rep.log_files_removed = len(before - _log_commit_files(store))
        except Exception as exc:
            self._fail("log cleanup", exc)


def maintain_table(
    uri: str,
    partition_column: str = "date",
    options: MaintenanceOptions | None = None,
    *,
    name: str = "readings",
    storage_options: dict[str, str] | None = None,
    lease_store: Any | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> TableReport:
    """One maintenance pass over the table at ``uri``; never raises for table problems."""
    maintainer = TableMaintainer(
        name,
        uri,
        partition_column,
        options or MaintenanceOptions(),
        storage_options=storage_options,
        lease_store=lease_store,
        now=now,
    )
    return maintainer.run()
