"""Reading a handful of newly added Delta data files into one polars frame.

Cost is proportional to the files given, never to the table: each file is
fetched by its own path through the table's obstore store.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import obstore
import polars as pl

from coptwin.delta.log import AddFile
from coptwin.delta.partitions import partition_columns

log = logging.getLogger(__name__)

_READ_WORKERS = 4


class AbsolutePathError(ValueError):
    """An add action points outside the table folder (shallow clone); not read incrementally."""


def _read_one(
    store: Any, add: AddFile, schema: pl.Schema, partitions: list[str], columns: list[str] | None
) -> pl.DataFrame:
    if "://" in add.path:
        raise AbsolutePathError(add.path)
    raw = obstore.get(store, unquote(add.path)).bytes()
    frame = pl.read_parquet(bytes(raw))
    # Partition values in the log win over any copy a writer left in the file.
    wanted_parts = [p for p in partitions if columns is None or p in columns]
    frame = frame.drop([p for p in wanted_parts if p in frame.columns])
    if wanted_parts:
        frame = frame.with_columns(partition_columns(add.partition_values, schema, wanted_parts))
    return frame


def align(frame: pl.DataFrame, schema: pl.Schema, columns: list[str] | None = None) -> pl.DataFrame:
    """Table column order and types; columns missing in old files become nulls.

    Columns a file has but the table schema lacks are dropped, as Delta readers do.
    """
    names = [c for c in schema.names() if columns is None or c in columns]
    if frame.width == 0:  # literals on a column-less frame would make one row
        return pl.DataFrame(schema={n: schema[n] for n in names})
    exprs = []
    for name in names:
        dtype = schema[name]
        if name in frame.columns:
            col = pl.col(name)
            exprs.append(col if frame.schema[name] == dtype else col.cast(dtype).alias(name))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(exprs)


def read_added_files(
    store: Any,
    adds: list[AddFile],
    schema: pl.Schema,
    partitions: list[str],
    columns: list[str] | None = None,
) -> pl.DataFrame:
    """Rows of the given files, in order, aligned to ``schema``.

    Raises obstore's NotFoundError when a file is gone (vacuumed) and
    :class:`AbsolutePathError` for files outside the table; the caller reloads.
    """
    if not adds:
        return pl.DataFrame(
            schema={n: t for n, t in schema.items() if columns is None or n in columns}
        )
    if len(adds) == 1:
        frames = [_read_one(store, adds[0], schema, partitions, columns)]
    else:
        workers = min(_READ_WORKERS, len(adds))
        with ThreadPoolExecutor(workers, thread_name_prefix="coptwin-delta-read") as pool:
            frames = list(
                pool.map(lambda a: _read_one(store, a, schema, partitions, columns), adds)
            )
    # diagonal_relaxed: files written before a schema change lack the new columns.
    return align(pl.concat(frames, how="diagonal_relaxed"), schema, columns)
