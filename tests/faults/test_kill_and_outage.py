"""Real processes killed and real storage stopped, under a running engine.

* A writer process (deltalake appends, ``writer_worker.py``) is killed with SIGKILL
  mid-stream, three times, while the engine's live loop follows the table; then the
  engine catches up and what it read is checked against the table itself (rows read
  = rows the table holds at its latest version).  POSIX only: SIGKILL (on Windows
  the same is TerminateProcess).
* SeaweedFS is stopped by PID while the engine polls every 0.1 s (so the outage
  lands during reads), three times; each time the engine says "disconnected", backs
  off, and catches up once the server is back.  The time from the server being back
  to the engine connected again is the suite's "recovery" figure.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import obstore
import polars as pl
import pytest

from tests.support.wait import wait_until

WRITER = Path(__file__).with_name("writer_worker.py")


def _serves(t) -> bool:
    """Does S3 answer a read of the table's log (what the engine's next poll does)?"""
    try:
        obstore.list(t.store(), "_delta_log/").collect()
    except Exception:
        return False
    return True


def _table_rows(t) -> int:
    return pl.read_delta(t.uri, storage_options=t.storage_options or None).height


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX only: SIGKILL (TerminateProcess)")
def test_a_writer_killed_mid_stream_loses_nothing_committed(engine_table, tmp_path):
    t = engine_table
    t.append(8)
    reader = t.reader
    reader.start()
    spec = tmp_path / "writer.json"
    spec.write_text(
        json.dumps(
            {
                "uri": t.uri,
                "storage_options": t.storage_options,
                "sensors": [f"s{i}" for i in range(8)],
                "rows": 25,
            }
        ),
        encoding="utf-8",
    )
    rng = random.Random(9)
    commits = 0
    for _kill in range(3):
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(spec)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None
            for _ in range(2):  # mid-stream: it has committed, and is writing the next
                assert proc.stdout.readline().startswith("committed"), "the writer died"
                commits += 1
            time.sleep(rng.uniform(0.0, 0.4))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    latest = t.latest_version()
    wait_until(
        lambda: reader.engine.watchers["readings"].applied_version == latest,
        timeout=60,
        what=f"the engine caught up to version {latest}",
    )
    reader.stop()
    in_table = _table_rows(t)
    assert in_table >= 8 + 25 * commits  # what the writers said they committed, at least
    t.counts.written = in_table  # the table is the truth (a kill can hide a last "committed")
    assert t.counts.read == in_table
    t.check()


@pytest.mark.s3
@pytest.mark.parametrize("where", ["s3"])
def test_s3_outages_during_reads_lose_nothing_and_recover(engine_table, s3_running, fault_figures):
    t, s3 = engine_table, s3_running
    reader = t.reader
    engine = reader.engine
    t.append(10)
    reader.start()
    wait_until(lambda: t.counts.read == 10, timeout=30, what="the first rows")
    for _outage in range(3):
        t.append(6)  # committed just before the outage; maybe not read yet
        pid = s3.pid
        s3.stop()  # by PID, while the engine lists the log every 0.1 s
        assert not s3.running and pid is not None
        wait_until(lambda: engine.connection == "disconnected", timeout=60, what="disconnected")
        assert engine.reason  # says why
        starting = threading.Thread(target=s3.start)
        starting.start()
        wait_until(lambda: _serves(t), timeout=90, interval=0.05, what="S3 serving again")
        back = time.monotonic()  # storage answers reads again: the outage is over
        wait_until(lambda: engine.connection == "connected", timeout=90, what="reconnected")
        fault_figures.recoveries.append(time.monotonic() - back)
        starting.join(90)
        wait_until(
            lambda: t.counts.read == t.counts.written,
            timeout=30,
            what="every committed row read after the outage",
        )
    reader.stop()
    t.check()
