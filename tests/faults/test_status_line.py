"""What the reads left out reaches the status line (issue 12): the engine's
``EngineStatus`` carries quarantined files and their rows, values of the wrong type
and a full reload's reason; the panel / web status line and the ``coptwin run``
summary say them, and the table stays "connected" (storage is reachable).

These cases read through a real engine (``engine_table``), so the fault suite's
invariants hold for the engine as well as for the bare reader.
"""

from __future__ import annotations

from datetime import datetime, timezone

from coptwin.cli import main
from coptwin.ui.status import format_status


def test_a_quarantined_file_is_on_the_status_line_and_the_table_stays_connected(engine_table):
    t = engine_table
    t.append(10)
    t.tick()
    t.add_file(b"PAR1 this is not parquet at all PAR1", rows=4, unreadable=True)
    t.append(6)
    t.tick()
    status = t.reader.engine.snapshot().status
    assert status.connection == "connected"
    assert (status.quarantined_files, status.quarantined_rows) == (1, 4)
    line = format_status(status, datetime.now(timezone.utc))
    assert line.state == "Connected" and line.level == "warn"
    assert "readings: 1 file quarantined (4 rows), see the log" in line.text
    t.check()


def test_values_of_the_wrong_type_and_a_reload_are_in_the_details(engine_table):
    t = engine_table
    t.append(4)
    t.tick()
    t.add_text_values()
    t.tick()
    status = t.reader.engine.snapshot().status
    assert status.uncast == {"value": 2}
    line = format_status(status, datetime.now(timezone.utc))
    assert line.level == "ok"  # counted and skipped as bad_value: nothing to act on
    assert "readings: 2 values of the wrong type (value 2)" in line.details
    # The table is deleted and recreated: a full reload, said once in the details.
    t.delete()
    t.append(3)
    t.append(3)
    t.tick()
    status = t.reader.engine.snapshot().status
    assert "deleted and recreated" in status.last_reload or "went back" in status.last_reload
    line = format_status(status, datetime.now(timezone.utc))
    assert "readings reloaded in full: " in line.details
    t.check()


def test_the_run_summary_says_it_too(cop_files, capsys):
    t = cop_files.table
    t.append(6)
    t.add_file(b"not parquet", rows=3, unreadable=True)
    assert main(["run", "--once", "--config", str(cop_files.path)]) == 0
    printed = capsys.readouterr().out
    assert "readings: 1 file quarantined (3 rows), see the log" in printed, printed
