"""A writer process appending readings commits until it is killed (SIGKILL mid-stream).

Run as ``python writer_worker.py SPEC.json``; SPEC holds ``uri``, ``storage_options``,
``sensors`` and ``rows`` per commit.  Prints ``committed <rows>`` after each commit
(a kill can land between a commit and its line: the table, not this output, is the
truth the test checks against).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import polars as pl
from deltalake import write_deltalake


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    sensors, n = spec["sensors"], int(spec["rows"])
    seq = 0
    while True:
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        i = pl.int_range(seq, seq + n)
        frame = pl.select(
            sensor_id=pl.lit(pl.Series(sensors)).gather(i % len(sensors)),
            ts=pl.lit(now, dtype=pl.Datetime("us", "UTC")) - pl.duration(seconds=300 - i % 200),
            value=(20 + i % 10).cast(pl.Float64),
            quantity=pl.lit("temperature"),
            unit=pl.lit("degC"),
            date=pl.lit(now.strftime("%Y-%m-%d")),
        )
        write_deltalake(
            spec["uri"],
            frame,
            mode="append",
            partition_by=["date"],
            storage_options=spec["storage_options"] or None,
        )
        seq += n
        print("committed", n, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
