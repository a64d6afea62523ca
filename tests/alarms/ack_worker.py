"""One writer process of the concurrency test: acknowledges its alarms one commit at a time.

Run as ``python ack_worker.py SPEC.json``; SPEC holds uri, storage_options, author,
alarm_ids, ready_file (touched once warmed up) and go_file (whose appearance starts
all writers at once).
Prints the acknowledgement event ids it wrote as one JSON list.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from coptwin.alarms.store import AlarmStore


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    store = AlarmStore(spec["uri"], storage_options=spec["storage_options"] or None)
    store.book()  # warm up: imports done and the table open before the start signal
    Path(spec["ready_file"]).touch()
    go = Path(spec["go_file"])
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    written = []
    for alarm_id in spec["alarm_ids"]:
        [event] = store.acknowledge(alarm_id, spec["author"], f"ack by {spec['author']}")
        written.append(event.event_id)
    print(json.dumps({"written": written, "retries": store.retries}))


if __name__ == "__main__":
    main(sys.argv[1])
