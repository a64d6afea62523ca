"""Full reads of a Delta table (current state or time travel) via deltalake + polars.

Used for the first load, for reloads after overwrite/RESTORE/expired history,
for "as of" views and for small tables such as the sensors registry.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError as _DlTableNotFound

from coptwin.delta.errors import DeltaStorageError, TableNotFoundError
from coptwin.delta.store import safe_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """A full table state plus what an incremental reader needs to continue from it."""

    version: int
    data: pl.DataFrame
    schema: pl.Schema
    partition_columns: list[str]
    files: int


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
) -> Snapshot:
    """Read every row of ``table`` at its loaded version (deletion vectors applied).

    ``transform`` narrows the lazy scan before anything is materialised (the
    engine keeps only the newest rows per sensor of a large readings table, so a
    cold start's memory follows sensors, not rows); it then runs on polars'
    streaming engine.
    """
    schema = table_schema(table)
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
        raise DeltaStorageError(
            uri, f"cannot read version {table.version()}: {safe_message(exc, storage_options)}"
        ) from None
    return Snapshot(
        version=table.version(),
        data=data,
        schema=schema,
        partition_columns=list(table.metadata().partition_columns),
        files=files,
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
