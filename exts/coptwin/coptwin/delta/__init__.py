"""Incremental Delta Lake reading: a watcher per table that reads only what is new.

See :class:`TableWatcher` (the contract in docs/architecture.md) and
:func:`read_table` for small tables read whole.
"""

from __future__ import annotations

from coptwin.delta.batch import DeltaBatch
from coptwin.delta.errors import (
    DeltaLogError,
    DeltaStorageError,
    DeltaWatchError,
    TableNotFoundError,
)
from coptwin.delta.snapshot import read_table
from coptwin.delta.watcher import TableWatcher

__all__ = [
    "DeltaBatch",
    "DeltaLogError",
    "DeltaStorageError",
    "DeltaWatchError",
    "TableNotFoundError",
    "TableWatcher",
    "read_table",
]
