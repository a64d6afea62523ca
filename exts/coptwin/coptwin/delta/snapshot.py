"""Full reads of a Delta table (current state or time travel) via deltalake + polars.

Used for the first load, for reloads after overwrite/RESTORE/expired history,
for "as of" views and for small tables such as the sensors registry.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError as _DlTableNotFound

from coptwin.delta.errors import DeltaStorageError, TableNotFoundError
from coptwin.delta.files import AbsolutePathError, read_added_files
from coptwin.delta.log import AddFile
from coptwin.delta.store import NOT_FOUND, STORE_ERRORS, safe_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """A full table state plus what an incremental reader needs to continue from it."""

    version: int
    data: pl.DataFrame
    schema: pl.Schema
    partition_columns: list[str]
    files: int
    #: ``metaData.id``: a table deleted and recreated at the same place gets a new one.
    table_id: str = ""
    #: What a file-by-file read had to skip (see :func:`coptwin.delta.files.read_added_files`).
    quarantined: dict[str, str] = field(default_factory=dict)
    quarantined_rows: int = 0
    uncast: dict[str, int] = field(default_factory=dict)


def open_table(
    uri: str,
    storage_options: dict[str, str] | None = None,
    version: int | None = None,
    timestamp: dt.datetime | None = None,
) -> DeltaTable:
    """A DeltaTable at a version or timestamp (naive = UTC), with credential-free errors."""
    if version is not None and timestamp is not None:
        raise ValueError("give a version or a timestamp, not both")
    if timestamp is not None and timestamp.tzinfo is None:
        # Commit timestamps are UTC; a naive "as of" from a CLI or UI means UTC too.
        timestamp = timestamp.replace(tzinfo=dt.timezone.utc)
    try:
        table = DeltaTable(uri, version=version, storage_options=storage_options or None)
        if timestamp is not None:
            table.load_as_version(timestamp)
    except _DlTableNotFound:
        raise TableNotFoundError(uri) from None
    except Exception as exc:  # deltalake raises DeltaError/OSError/ValueError alike
        what = (
            f"version {version}"
            if version is not None
            else (f"as of {timestamp.isoformat()}" if timestamp is not None else "latest version")
        )
        raise DeltaStorageError(
            uri, f"cannot open table ({what}): {safe_message(exc, storage_options)}"
        ) from None
    return table


def table_schema(table: DeltaTable) -> pl.Schema:
    return pl.Schema(table.schema())


def read_snapshot(
    table: DeltaTable,
    uri: str,
    storage_options: dict[str, str] | None = None,
    columns: Sequence[str] | None = None,
    transform: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None,
    store: Any | None = None,
) -> Snapshot:
    """Read every row of ``table`` at its loaded version (deletion vectors applied).

    ``transform`` narrows the lazy scan before anything is materialised (the
    engine keeps only the newest rows per sensor of a large readings table, so a
    cold start's memory follows sensors, not rows); it then runs on polars'
    streaming engine.

    When the one-scan read fails on a bad data file (corrupt parquet, a column
    whose type differs from the schema) and ``store`` (an obstore store rooted
    at the table) is given, the version is read file by file instead, so the bad
    files are quarantined and everything else is read.
    """
    schema = table_schema(table)
    meta = table.metadata()
    try:
        lazy = pl.scan_delta(table)
        if columns is not None:
            lazy = lazy.select([c for c in schema.names() if c in set(columns)])
        if transform is not None:
            data = transform(lazy).collect(engine="streaming")
        else:
            data = lazy.collect()
        files = len(table.file_uris())
    except Exception as exc:
        problem = safe_message(exc, storage_options)
        if store is None or not _per_file_readable(table):
            raise DeltaStorageError(
                uri, f"cannot read version {table.version()}: {problem}"
            ) from None
        log.warning(
            "%s: version %d does not read in one scan (%s); reading it file by file",
            uri,
            table.version(),
            problem,
        )
        return _read_per_file(table, uri, storage_options, columns, transform, store)
    return Snapshot(
        version=table.version(),
        data=data,
        schema=schema,
        partition_columns=list(meta.partition_columns),
        files=files,
        table_id=meta.id,
    )


def _per_file_readable(table: DeltaTable) -> bool:
    """Plain parquet files: no deletion vectors, no column mapping (physical names)."""
    features = table.protocol().reader_features or []
    mapping = table.metadata().configuration.get("delta.columnMapping.mode", "none")
    return "deletionVectors" not in features and str(mapping).lower() == "none"


def _serialized(value: Any) -> str | None:
    """A typed partition value back in the log's text form."""
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _snapshot_adds(table: DeltaTable, partitions: list[str]) -> list[AddFile]:
    actions = pl.DataFrame(table.get_add_actions(flatten=True))
    adds = []
    for row in actions.iter_rows(named=True):
        values = {p: _serialized(row.get(f"partition.{p}")) for p in partitions}
        adds.append(
            AddFile(row["path"], values, True, row.get("size_bytes"), False, row.get("num_records"))
        )
    return adds


def _read_per_file(
    table: DeltaTable,
    uri: str,
    storage_options: dict[str, str] | None,
    columns: Sequence[str] | None,
    transform: Callable[[pl.LazyFrame], pl.LazyFrame] | None,
    store: Any,
) -> Snapshot:
    schema = table_schema(table)
    meta = table.metadata()
    partitions = list(meta.partition_columns)
    wanted = list(columns) if columns is not None else None
    try:
        adds = _snapshot_adds(table, partitions)
        got = read_added_files(store, adds, schema, partitions, wanted, transform)
    except (*NOT_FOUND, *STORE_ERRORS, AbsolutePathError) as exc:
        raise DeltaStorageError(
            uri,
            f"cannot read version {table.version()} file by file: "
            f"{safe_message(exc, storage_options)}",
        ) from None
    return Snapshot(
        version=table.version(),
        data=got.data,
        schema=schema,
        partition_columns=partitions,
        files=len(adds),
        table_id=meta.id,
        quarantined=got.quarantined,
        quarantined_rows=got.quarantined_rows,
        uncast=got.uncast,
    )


def read_table(
    uri: str,
    storage_options: dict[str, str] | None = None,
    columns: Sequence[str] | None = None,
    version: int | None = None,
) -> pl.DataFrame:
    """A whole (small) table as a polars frame, e.g. the sensors registry."""
    table = open_table(uri, storage_options, version=version)
    return read_snapshot(table, uri, storage_options, columns).data
