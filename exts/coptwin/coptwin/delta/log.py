"""Reading the Delta transaction log (``_delta_log/``) directly, cheaply.

Only what the incremental reader needs: which versions exist (one LIST that
starts at a given version, so its cost does not grow with history) and the
actions of single commit files.  Everything else (snapshots, checkpoints,
time travel) is left to deltalake.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import msgspec
import obstore

from coptwin.delta.errors import DeltaLogError
from coptwin.delta.store import NOT_FOUND

log = logging.getLogger(__name__)

LOG_DIR = "_delta_log/"
_COMMIT = re.compile(r"^(\d{20})\.json$")
# classic, multi-part and v2 (uuid) checkpoints
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(?:\.[^/]+)?\.(?:parquet|json)$")
#: Parallel GETs when many small commits are pending (object stores are latency bound).
_FETCH_WORKERS = 8


def commit_path(version: int) -> str:
    return f"{LOG_DIR}{version:020d}.json"


@dataclass(frozen=True)
class LogListing:
    """Versions visible in ``_delta_log/`` at or after the listing's start."""

    commits: tuple[int, ...]
    checkpoints: tuple[int, ...]
    #: version -> identity of its commit file (ETag, else time and size).  Commit files
    #: are written once, so a different identity for an applied version means the table
    #: was deleted and recreated in between.
    fingerprints: dict[int, str] = field(default_factory=dict, compare=False)

    @property
    def latest(self) -> int | None:
        found = self.commits + self.checkpoints
        return max(found) if found else None

    @property
    def empty(self) -> bool:
        return not self.commits and not self.checkpoints


def _last_checkpoint(store: Any) -> int | None:
    """Version from ``_delta_log/_last_checkpoint``, a hint where listing may start."""
    try:
        raw = bytes(obstore.get(store, LOG_DIR + "_last_checkpoint").bytes())
    except NOT_FOUND:
        return None
    try:
        version = msgspec.json.decode(raw).get("version")
    except (msgspec.DecodeError, AttributeError):
        log.warning("ignoring unreadable _delta_log/_last_checkpoint")
        return None
    return version if isinstance(version, int) and version >= 0 else None


def list_log(store: Any, start: int | None = None) -> LogListing:
    """List commit and checkpoint versions ``>= start`` (all when ``start`` is None).

    Without a start, listing begins at the last checkpoint so a table with a
    long history is not listed from version 0 on every call.
    """
    begin = start if start is not None else _last_checkpoint(store)
    listing = _list_from(store, begin)
    if listing.empty and start is None and begin is not None:
        listing = _list_from(store, None)  # stale _last_checkpoint
    return listing


def _list_from(store: Any, begin: int | None) -> LogListing:
    # ``offset`` lists keys strictly greater than it; "<v:020d>" sorts before
    # "<v:020d>.json", so version ``begin`` itself is included.
    offset = f"{LOG_DIR}{begin:020d}" if begin is not None else None
    commits: list[int] = []
    checkpoints: list[int] = []
    fingerprints: dict[int, str] = {}
    for chunk in obstore.list(store, LOG_DIR, offset=offset, chunk_size=1000):
        for meta in chunk:
            name = meta["path"].rsplit("/", 1)[-1]
            if m := _COMMIT.match(name):
                version = int(m.group(1))
                commits.append(version)
                fingerprints[version] = _fingerprint(meta)
            elif m := _CHECKPOINT.match(name):
                checkpoints.append(int(m.group(1)))
    return LogListing(tuple(sorted(commits)), tuple(sorted(set(checkpoints))), fingerprints)


def _fingerprint(meta: Any) -> str:
    etag = meta.get("e_tag")
    return f"etag:{etag}" if etag else f"{meta.get('last_modified')}/{meta.get('size')}"


@dataclass(frozen=True)
class AddFile:
    """One ``add`` action: a data file that became part of the table."""

    path: str
    partition_values: dict[str, str | None]
    data_change: bool
    size: int | None = None
    has_deletion_vector: bool = False
    #: Rows in the file, from the writer's statistics (None when it wrote none).
    num_records: int | None = None


@dataclass
class Commit:
    """The actions of one commit that matter for incremental reading."""

    version: int
    operation: str | None = None
    adds: list[AddFile] = field(default_factory=list)
    #: ``remove`` actions with dataChange=true (rows disappeared or were rewritten).
    data_removes: int = 0
    #: ``remove`` actions with dataChange=false (compaction, Z-order).
    rearranging_removes: int = 0
    metadata: dict[str, Any] | None = None
    protocol: dict[str, Any] | None = None
    #: When the commit was made, ms since the epoch (``commitInfo``: the in-commit
    #: timestamp when the table has them, else the writer's ``timestamp``); None if absent.
    timestamp_ms: int | None = None


def parse_commit(uri: str, version: int, raw: bytes) -> Commit:
    """Parse newline-delimited JSON actions; malformed input raises :class:`DeltaLogError`."""
    if not raw.strip():
        raise DeltaLogError(uri, version, "commit file is empty (still being written?)")
    commit = Commit(version)
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            action = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            raise DeltaLogError(uri, version, f"line {lineno}: malformed JSON ({exc})") from None
        if not isinstance(action, dict):
            raise DeltaLogError(uri, version, f"line {lineno}: action is not a JSON object")
        _apply_action(uri, commit, lineno, action)
    return commit


def _apply_action(uri: str, commit: Commit, lineno: int, action: dict[str, Any]) -> None:
    version = commit.version
    if (add := action.get("add")) is not None:
        if not isinstance(add, dict) or not isinstance(add.get("path"), str):
            raise DeltaLogError(uri, version, f"line {lineno}: add action without a path")
        pv = add.get("partitionValues") or {}
        if not isinstance(pv, dict):
            raise DeltaLogError(uri, version, f"line {lineno}: partitionValues is not an object")
        commit.adds.append(
            AddFile(
                path=add["path"],
                partition_values={str(k): (None if v is None else str(v)) for k, v in pv.items()},
                # The spec requires dataChange; a writer that omits it gets the safe reading.
                data_change=bool(add.get("dataChange", True)),
                size=add.get("size"),
                has_deletion_vector=bool(add.get("deletionVector")),
                num_records=_num_records(add.get("stats")),
            )
        )
    elif (remove := action.get("remove")) is not None:
        if not isinstance(remove, dict):
            raise DeltaLogError(uri, version, f"line {lineno}: remove action is not an object")
        if remove.get("dataChange", True):
            commit.data_removes += 1
        else:
            commit.rearranging_removes += 1
    elif (info := action.get("commitInfo")) is not None:
        if isinstance(info, dict):
            operation = info.get("operation")
            params = info.get("operationParameters")
            mode = params.get("mode") if isinstance(params, dict) else None
            commit.operation = f"{operation} ({mode})" if operation and mode else operation
            for field_name in ("inCommitTimestamp", "timestamp"):
                ms = info.get(field_name)
                if isinstance(ms, int) and not isinstance(ms, bool) and ms > 0:
                    commit.timestamp_ms = ms
                    break
    elif "metaData" in action:
        commit.metadata = action["metaData"]
    elif "protocol" in action:
        commit.protocol = action["protocol"]
    # txn, cdc, domainMetadata, checkpointMetadata ...: nothing to read


def _num_records(stats: Any) -> int | None:
    """``numRecords`` from an add action's stats (a JSON string); None if absent or bad."""
    if not isinstance(stats, str) or "numRecords" not in stats:
        return None
    try:
        n = msgspec.json.decode(stats).get("numRecords")
    except (msgspec.DecodeError, AttributeError):
        return None
    return n if isinstance(n, int) and n >= 0 else None


def read_commit(store: Any, uri: str, version: int) -> Commit | None:
    """The parsed commit, or None if its file no longer exists (log cleanup)."""
    try:
        raw = bytes(obstore.get(store, commit_path(version)).bytes())
    except NOT_FOUND:
        return None
    return parse_commit(uri, version, raw)


def read_commits(store: Any, uri: str, versions: list[int]) -> list[Commit | None]:
    """Read several commits, in parallel when there are many; order is kept."""
    if len(versions) <= 2:
        return [read_commit(store, uri, v) for v in versions]
    workers = min(_FETCH_WORKERS, len(versions))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="coptwin-delta-log") as pool:
        return list(pool.map(lambda v: read_commit(store, uri, v), versions))
