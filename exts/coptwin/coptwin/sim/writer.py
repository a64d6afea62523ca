"""Append batches to Delta tables the way sensor gateways do: one commit per batch.

Several gateways (and the annotation writers) may commit to the same table at
once; delta-rs raises ``CommitFailedError`` when it loses the race, and the
batch is simply retried with backoff.  Nothing is dropped: after the last
retry the error propagates to the caller.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence

import polars as pl
from deltalake import write_deltalake
from deltalake.exceptions import CommitFailedError

log = logging.getLogger(__name__)

#: Schema of the default readings table (docs: DESIGN.md "Data contracts").
READINGS_SCHEMA: dict[str, pl.DataType] = {
    "sensor_id": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "value": pl.Float64(),
    "quantity": pl.String(),
    "unit": pl.String(),
    "lon": pl.Float64(),
    "lat": pl.Float64(),
    "alt": pl.Float64(),
    "date": pl.String(),
}


def append_batch(
    table_uri: str,
    frame: pl.DataFrame,
    *,
    storage_options: dict[str, str] | None = None,
    partition_by: Sequence[str] | None = None,
    mode: str = "append",
    retries: int = 8,
    schema_mode: str | None = None,
) -> int:
    """Write ``frame`` as one Delta commit; returns the number of attempts it took."""
    delay = 0.05
    for attempt in range(1, retries + 1):
        try:
            write_deltalake(
                table_uri,
                frame,
                mode=mode,  # type: ignore[arg-type]
                partition_by=list(partition_by) if partition_by else None,
                storage_options=storage_options or None,
                schema_mode=schema_mode,  # type: ignore[arg-type]
            )
            return attempt
        except CommitFailedError as exc:
            if attempt == retries:
                raise
            log.info("commit to %s lost a race (%s); retry %d", table_uri, exc, attempt)
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")  # pragma: no cover
