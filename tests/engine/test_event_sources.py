"""Issue 12.1: an event source that fails never silently stops updates.

The engine runs on real Delta tables with the webhook (or MQTT) configured to
fail: port in use, token variable unset, broker unreachable, the hub itself dying.
Each time the failure is reported (status line, log) and polling takes over at
its configured interval, so a commit written afterwards is applied.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from coptwin.config import load_config
from coptwin.engine.engine import Engine
from coptwin.ui.status import format_status
from tests.support.wait import until

from .conftest import T0

#: Polling as configured: disabled (push only), but its interval is what takes over.
POLLING = "\n[events.polling]\nenabled = false\ninterval_s = 0.2\n"


@contextmanager
def busy_port() -> Iterator[int]:
    """A port another listener holds for the duration."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def configure(cop, extra: str) -> None:
    path = cop.root / "cop.toml"
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    cop.config = load_config(path)


def follow_a_new_commit(cop, timeout: float = 10.0):
    """Run the engine live, write a commit once it is open, wait until it is applied;
    returns the status and the status line seen then."""
    s = cop.ids("temperature")[0]
    cop.append([{"sensor_id": s, "ts": T0, "value": 20.0}])
    engine = Engine(cop.config, clock=lambda: T0 + timedelta(seconds=5))

    async def scenario():
        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        try:
            await until(lambda: engine.running.rows_read >= 1, what="the first read")
            # the first check after the start is done; only polling can see this one
            await asyncio.sleep(0.3)
            cop.append([{"sensor_id": s, "ts": T0 + timedelta(seconds=1), "value": 36.0}])
            await until(
                lambda: engine.running.rows_read >= 2,
                timeout,
                what="the commit written after the source failed",
            )
            status = engine.snapshot().status
            return status, format_status(status, engine.clock())
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            engine.close()

    return asyncio.run(scenario())


def test_webhook_port_in_use_is_reported_and_polling_takes_over(cop, caplog):
    with busy_port() as port:
        configure(cop, f"\n[events.webhook]\nenabled = true\nport = {port}\n{POLLING}")
        status, line = follow_a_new_commit(cop)
    assert any("webhook" in p and f":{port}" in p and "in use" in p for p in status.event_problems)
    assert line.level == "warn" and "webhook" in line.text and "polling every 0.2 s" in line.text
    assert any(
        r.levelno >= logging.WARNING and f":{port}" in r.getMessage() for r in caplog.records
    )


def test_webhook_token_variable_unset_is_reported_and_polling_takes_over(cop, monkeypatch):
    monkeypatch.delenv("COPTWIN_TEST_UNSET_TOKEN", raising=False)
    extra = "\n[events.webhook]\nenabled = true\nport = 0\n"
    extra += 'auth_token_env = "COPTWIN_TEST_UNSET_TOKEN"\n'
    configure(cop, extra + POLLING)
    status, line = follow_a_new_commit(cop)
    assert any("COPTWIN_TEST_UNSET_TOKEN is not set" in p for p in status.event_problems)
    assert "COPTWIN_TEST_UNSET_TOKEN" in line.text


def test_broker_unreachable_at_start_is_reported_and_polling_takes_over(cop):
    with busy_port() as port:
        pass  # closed again: nothing listens there
    extra = f'\n[events.mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
    configure(cop, extra + POLLING)
    status, line = follow_a_new_commit(cop)
    assert any(p.startswith("mqtt") and "polling every 0.2 s" in p for p in status.event_problems)
    assert "mqtt" in line.text


def test_an_event_hub_that_dies_is_reported_and_the_loop_polls(cop, monkeypatch):
    """The hub task ended with an exception nobody awaited; updates stopped for an hour."""
    from coptwin.events import polling

    async def broken(self, stop):
        raise RuntimeError("polling source broke")

    monkeypatch.setattr(polling.PollingSource, "run", broken)
    configure(cop, f"\n[events.webhook]\nenabled = true\nport = 0\n{POLLING}")
    status, line = follow_a_new_commit(cop)
    assert any("polling source broke" in p for p in status.event_problems)
    assert line.level == "warn"


def test_healthy_sources_report_no_problem(cop):
    configure(
        cop, "\n[events.webhook]\nenabled = true\nport = 0\n[events.polling]\ninterval_s = 0.2\n"
    )
    status, line = follow_a_new_commit(cop)
    assert status.event_problems == () and line.level == "ok"
    assert status.event_sources == ("webhook", "polling")


@pytest.mark.parametrize("as_json", [False, True])
def test_coptwin_run_says_which_source_failed(cop, capsys, caplog, as_json):
    """``coptwin run`` exited 0 with no word about the dead source."""
    from coptwin.cli import main

    s = cop.ids("temperature")[0]
    cop.append([{"sensor_id": s, "ts": T0, "value": 20.0}])
    with busy_port() as port:
        configure(cop, f"\n[events.webhook]\nenabled = true\nport = {port}\n{POLLING}")
        args = ["run", "--config", str(cop.root / "cop.toml"), "--duration", "1"]
        assert main(args + ["--out", str(cop.root / "out" / "o.usda")] + ["--json"] * as_json) == 0
    out = capsys.readouterr()
    if as_json:
        import json

        doc = json.loads(out.out[: out.out.rindex("}") + 1])
        assert any(f":{port}" in p for p in doc["events"]["problems"])
    else:
        assert f"webhook: events.webhook: cannot listen on 127.0.0.1:{port}" in out.out
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(f"127.0.0.1:{port}" in m for m in logged)  # logged when it happened
