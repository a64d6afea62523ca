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
        frame = pl.DataFrame(
            {
                "sensor_id": [sensors[(seq + i) % len(sensors)] for i in range(n)],
                "ts": [now - dt.timedelta(seconds=300 - (seq + i) % 200) for i in range(n)],
                "value": [20.0 + (seq + i) % 10 for i in range(n)],
                "quantity": ["temperature"] * n,
                "unit": ["degC"] * n,
                "date": [now.strftime("%Y-%m-%d")] * n,
            },
            schema={
                "sensor_id": pl.String(),
                "ts": pl.Datetime("us", "UTC"),
                "value": pl.Float64(),
                "quantity": pl.String(),
                "unit": pl.String(),
                "date": pl.String(),
            },
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
