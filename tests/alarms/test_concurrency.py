"""4 separate processes x 25 acknowledgements each against one alarms table: nothing lost.

Locally and on S3 (SeaweedFS from the session fixture, conditional put): every
acknowledgement is in the table, each alarm is acknowledged by the writer that
acknowledged it, and the writers really overlapped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from coptwin.alarms.model import utc_now
from coptwin.alarms.store import AlarmStore
from coptwin.storage import delta_storage_options

from .conftest import system

WORKER = Path(__file__).with_name("ack_worker.py")
WRITERS, ACKS = 4, 25


def _raise_all(store: AlarmStore) -> list[str]:
    t0 = utc_now() - timedelta(minutes=5)
    events = [system("raised", f"S-{i:03d}", i / 1000, base=t0) for i in range(WRITERS * ACKS)]
    store.append(events)
    return [e.alarm_id for e in events]


def _run_writers(tmp_path: Path, uri: str, options: dict, alarm_ids: list[str], env: dict):
    go = tmp_path / "go"
    procs = []
    for w in range(WRITERS):
        spec = tmp_path / f"writer-{w}.json"
        spec.write_text(
            json.dumps(
                {
                    "uri": uri,
                    "storage_options": options,
                    "author": f"writer-{w}",
                    "alarm_ids": alarm_ids[w::WRITERS],
                    "go_file": str(go),
                    "ready_file": str(tmp_path / f"ready-{w}"),
                }
            ),
            encoding="utf-8",
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), str(spec)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, **env},
                text=True,
            )
        )
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{w}").exists() for w in range(WRITERS)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a writer died"
        time.sleep(0.01)
    go.touch()  # all four start together
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _check(store: AlarmStore, alarm_ids: list[str], results: list[dict]) -> None:
    written = {eid for r in results for eid in r["written"]}
    assert len(written) == WRITERS * ACKS
    table = store.read()
    acks = table.filter(table["event"] == "acknowledged")
    assert written <= set(acks["event_id"].to_list()), "an acknowledgement was lost"
    book = store.load()
    for w in range(WRITERS):
        for alarm_id in alarm_ids[w::WRITERS]:
            alarm = book.get(alarm_id)
            assert alarm.acked and alarm.acked_by == f"writer-{w}", alarm_id
    # The writers overlapped in time (otherwise this would not test concurrency at all).
    spans = [
        sorted(acks.filter(acks["author"] == f"writer-{w}")["ts"].to_list()) for w in range(WRITERS)
    ]
    assert max(s[0] for s in spans) < min(s[-1] for s in spans)


def test_four_processes_acknowledge_locally(tmp_path):
    uri = str(tmp_path / "alarms")
    store = AlarmStore(uri)
    alarm_ids = _raise_all(store)
    results = _run_writers(tmp_path, uri, {}, alarm_ids, {})
    _check(store, alarm_ids, results)


@pytest.mark.s3
def test_four_processes_acknowledge_on_seaweedfs(tmp_path, s3_server, monkeypatch):
    cfg = s3_server.bucket_config(monkeypatch, "alarms", ["readings", "sensors", "alarms"])
    options = delta_storage_options(cfg.storage)
    assert options.get("AWS_CONDITIONAL_PUT") == "etag"
    store = AlarmStore.from_config(cfg)
    alarm_ids = _raise_all(store)
    results = _run_writers(tmp_path, cfg.table_uri("alarms"), options, alarm_ids, s3_server.env())
    _check(store, alarm_ids, results)
