"""Reading a handful of Delta data files into one polars frame.

Cost is proportional to the files given, never to the table: each file is
fetched by its own path through the table's obstore store.

One bad file never stalls its table.  A file that cannot be decoded (corrupt
or truncated parquet, a column polars cannot convert to the table's type, a
partition value that does not parse) is *quarantined*: skipped and reported
with the reason, while every other file is read.  Values that do not convert
to the table's type become nulls (NaN for numbers) and are counted per column
(:func:`coptwin.casting.convert`).  Storage errors are not quarantine: they
propagate so the caller retries the same files later.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import obstore
import polars as pl

from coptwin.casting import convert
from coptwin.delta.log import AddFile
from coptwin.delta.partitions import partition_columns

_READ_WORKERS = 4
#: What decoding a data file may raise.  Corrupt parquet can also make polars'
#: Rust code panic, which reaches Python as a BaseException subclass.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
    ValueError,
    TypeError,
    OSError,
)


class AbsolutePathError(ValueError):
    """An add action points outside the table folder (shallow clone); not read incrementally."""


@dataclass(frozen=True)
class FilesRead:
    """Rows of some data files, aligned to the table schema, and what could not be read."""

    data: pl.DataFrame
    #: path (as in the log) -> why it was skipped, for files that could not be decoded.
    quarantined: dict[str, str] = field(default_factory=dict)
    #: Rows in the quarantined files, from the writers' statistics (files without count as 0).
    quarantined_rows: int = 0
    #: column -> values that did not convert to the table's type (now null, NaN for numbers).
    uncast: dict[str, int] = field(default_factory=dict)


def align(
    frame: pl.DataFrame, schema: pl.Schema, columns: list[str] | None = None
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Table column order and types, and per column the values that did not convert.

    Columns missing in old files become nulls; columns a file has but the table
    schema lacks are dropped, as Delta readers do.  Raises (a polars error or
    ValueError) when a column cannot be converted at all.
    """
    names = [c for c in schema.names() if columns is None or c in columns]
    wanted = pl.Schema({n: schema[n] for n in names})
    if frame.width == 0:  # literals on a column-less frame would make one row
        return pl.DataFrame(schema=wanted), {}
    exprs, failures = [], []
    for name, dtype in wanted.items():
        if name not in frame.columns:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
        elif frame.schema[name] == dtype:
            exprs.append(pl.col(name))
        else:
            conv = convert(pl.col(name), frame.schema[name], dtype)
            exprs.append(conv.value.alias(name))
            failures.append(conv.failed.sum().alias(name))
    out = frame.select(exprs)
    if out.schema != wanted:  # e.g. polars "casts" a struct to a struct of floats
        bad = [f"{n} is {out.schema[n]}" for n in names if out.schema[n] != wanted[n]]
        raise ValueError(f"columns do not convert to the table schema: {', '.join(bad)}")
    uncast: dict[str, int] = {}
    if failures:
        counts = frame.select(failures).row(0, named=True)
        uncast = {n: int(v) for n, v in counts.items() if v}
    return out, uncast


@dataclass
class _One:
    data: pl.DataFrame | None
    uncast: dict[str, int]
    error: str = ""


def _read_one(
    store: Any,
    add: AddFile,
    schema: pl.Schema,
    partitions: list[str],
    columns: list[str] | None,
    transform: Callable[[pl.LazyFrame], pl.LazyFrame] | None,
) -> _One:
    if "://" in add.path:
        raise AbsolutePathError(add.path)
    raw = obstore.get(store, unquote(add.path)).bytes()  # storage errors propagate
    try:
        frame = pl.read_parquet(bytes(raw))
        # Partition values in the log win over any copy a writer left in the file.
        wanted_parts = [p for p in partitions if columns is None or p in columns]
        frame = frame.drop([p for p in wanted_parts if p in frame.columns])
        if wanted_parts:
            frame = frame.with_columns(
                partition_columns(add.partition_values, schema, wanted_parts)
            )
        data, uncast = align(frame, schema, columns)
    except _DECODE_ERRORS as exc:
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        return _One(None, {}, f"{type(exc).__name__}: {text}")
    if transform is not None:
        data = transform(data.lazy()).collect()
    return _One(data, uncast)


def read_added_files(
    store: Any,
    adds: list[AddFile],
    schema: pl.Schema,
    partitions: list[str],
    columns: list[str] | None = None,
    transform: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None,
) -> FilesRead:
    """Rows of the given files, in order, aligned to ``schema``; bad files quarantined.

    ``transform`` narrows each file and then the result (it must be a filter
    whose result over all files equals its result over the per-file results,
    e.g. "newest rows per sensor").  Raises obstore's NotFoundError when a file
    is gone (vacuumed), store errors when storage fails, and
    :class:`AbsolutePathError` for files outside the table; the caller decides.
    """
    names = [n for n in schema.names() if columns is None or n in columns]
    empty = pl.DataFrame(schema={n: schema[n] for n in names})
    if not adds:
        return FilesRead(empty)

    def one(add: AddFile) -> _One:
        return _read_one(store, add, schema, partitions, columns, transform)

    if len(adds) == 1:
        results = [one(adds[0])]
    else:
        workers = min(_READ_WORKERS, len(adds))
        with ThreadPoolExecutor(workers, thread_name_prefix="coptwin-delta-read") as pool:
            results = list(pool.map(one, adds))
    frames = [r.data for r in results if r.data is not None]
    data = pl.concat(frames, how="vertical") if frames else empty
    if transform is not None and len(frames) > 1:
        data = transform(data.lazy()).collect()
    quarantined = {a.path: r.error for a, r in zip(adds, results, strict=True) if r.error}
    uncast: dict[str, int] = {}
    for r in results:
        for name, n in r.uncast.items():
            uncast[name] = uncast.get(name, 0) + n
    rows = sum(a.num_records or 0 for a in adds if a.path in quarantined)
    return FilesRead(data, quarantined, rows, uncast)
