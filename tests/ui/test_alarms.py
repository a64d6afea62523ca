"""The panel's alarm list against a real Engine over local Delta tables.

An acknowledgement written by another process (the ``coptwin alarms`` CLI in a
subprocess) reaches the panel's view-model through the engine's table watcher; the
panel's own actions are validated like the CLI's; the status line carries the badge
and names a failing notification destination.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from coptwin.alarms.model import ACK_ACTIVE, UNACK_ACTIVE, AlarmError, shelve_until
from coptwin.engine.alarms import AlarmRow, AlarmsView, NotifyHealth
from coptwin.engine.snapshot import EngineStatus
from coptwin.ui.alarms_vm import AlarmsVM, alarm_items
from coptwin.ui.panel import PanelVM
from coptwin.ui.status import format_status
from tests.support.wait import until

ALARMS = """
[tables.alarms]
path = "alarms"

[rules.temperature]
alarm_high = 35.0
"""
T = datetime(2026, 11, 27, 3, 12, 9, tzinfo=timezone.utc)


@pytest.fixture
def alarm_config(cop_config):
    cop_config.write_text(cop_config.read_text(encoding="utf-8") + ALARMS, encoding="utf-8")
    return cop_config


async def shown(panel: PanelVM, ready: Callable[[], bool], what: str) -> None:
    def refreshed() -> bool:
        panel.refresh()
        return ready()

    await until(refreshed, what=what)


def cli(config, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "coptwin.cli", "alarms", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_an_ack_from_another_process_reaches_the_panel(start_session, alarm_config, city):
    async def scenario():
        session = await start_session(alarm_config, city)
        panel = PanelVM(author="ann")
        panel.bind(session.engine)
        try:
            await shown(panel, lambda: bool(panel.alarms_view.items), "the Harbour alarm")
            [item] = panel.alarms_view.items
            assert (item.sensor, item.state, item.can_ack) == ("Harbour", UNACK_ACTIVE, True)
            assert panel.status.badge == "1 unacknowledged of 1 alarm"
            assert panel.status.badge_level == "error"
            done = cli(alarm_config, "ack", "--sensor", "t2", "--author", "bob", "--note", "on it")
            assert done.returncode == 0, done.stderr
            await shown(
                panel,
                lambda: panel.alarms_view.items[0].state == ACK_ACTIVE,
                "the other process's acknowledgement",
            )
            [item] = panel.alarms_view.items
            assert item.detail == "acknowledged by bob: on it" and not item.can_ack
            assert panel.status.badge == "1 open alarm, all acknowledged"
            # The panel's own ack of the same alarm is refused as the CLI refuses it.
            await panel.ack_alarm(item.alarm_id)
            assert panel.alarms_view.error.startswith(
                f"alarm {item.alarm_id} was already acknowledged by bob"
            )
            # Select shows the sensor's row.
            panel.select_alarm(item.alarm_id)
            assert panel.selection.selected == "t2"
        finally:
            session.stop()

    asyncio.run(scenario())


def test_panel_actions_are_validated_and_past_alarms_are_read_only(
    start_session, alarm_config, city
):
    async def scenario():
        session = await start_session(alarm_config, city)
        panel = PanelVM(author="")
        panel.bind(session.engine)
        try:
            await shown(panel, lambda: bool(panel.alarms_view.items), "the Harbour alarm")
            alarm_id = panel.alarms_view.items[0].alarm_id
            await panel.ack_alarm(alarm_id)
            assert panel.alarms_view.error.startswith("missing author")
            panel.set_note_author("ann")
            panel.open_shelve(alarm_id)
            assert panel.alarms_view.shelving == alarm_id
            await panel.shelve_alarm("night shift", "tomorrow")
            assert "neither a duration" in panel.alarms_view.error
            await panel.shelve_alarm("night shift", "30d")
            assert "at most 168 h ahead" in panel.alarms_view.error
            await panel.shelve_alarm("night shift", "8h")
            assert panel.alarms_view.error == "" and panel.alarms_view.shelving is None
            await shown(panel, lambda: panel.alarms_view.items[0].can_unshelve, "the shelving")
            # Time travel: the list is as of then, and no action is offered.
            await panel.apply_as_of("0")
            assert not panel.alarms_view.live
            assert all(not (i.can_ack or i.can_shelve) for i in panel.alarms_view.items)
            await panel.unshelve_alarm(alarm_id)
            assert panel.alarms_view.error.startswith("the COP shows the past")
            await panel.go_live()
            assert panel.alarms_view.live
        finally:
            session.stop()

    asyncio.run(scenario())


def _row(state: str, **kw) -> AlarmRow:
    return AlarmRow(
        alarm_id=f"W-12@{state}",
        sensor_id="W-12",
        layer="water",
        state=state,
        status="alarm",
        value=4.2,
        reason="value 4.2 m above alarm_high 4",
        raised_at=T,
        **kw,
    )


def test_items_put_every_state_in_words():
    view = AlarmsView(
        rows=(
            _row("unacknowledged-active", repeats=2),
            _row("acknowledged-active", acked_by="ann", ack_note="crew out"),
            _row(
                "shelved",
                shelved_until=T + timedelta(hours=8),
                shelved_by="bob",
                shelve_reason="known bad",
            ),
        ),
        at=T,
    )
    items = alarm_items(view, {"W-12": "Harbour gauge"})
    assert [(i.label, i.detail) for i in items] == [
        ("ACTIVE · unacknowledged", "repeated 2×"),
        ("active · acknowledged", "acknowledged by ann: crew out"),
        ("shelved", "shelved until 2026-11-27 11:12:09 UTC by bob: known bad"),
    ]
    assert [(i.can_ack, i.can_shelve, i.can_unshelve) for i in items] == [
        (True, True, False),
        (False, True, False),
        (True, False, True),
    ]
    assert items[0].sensor == "Harbour gauge" and items[0].raised == "2026-11-27 03:12:09 UTC"


def test_without_a_writer_actions_say_why():
    vm = AlarmsVM(None, author="ann")
    vm.update(AlarmsView(rows=(_row("unacknowledged-active"),), at=T))
    assert not vm.ack("W-12@unacknowledged-active")
    assert vm.error == "alarms are read-only here: no alarms table is configured"


def test_shelve_until_takes_a_duration_or_a_time():
    assert shelve_until("8h", T) == T + timedelta(hours=8)
    assert shelve_until("1h30m", T) == T + timedelta(minutes=90)
    assert shelve_until("2026-11-28 06:00", T) == datetime(2026, 11, 28, 6, tzinfo=timezone.utc)
    with pytest.raises(AlarmError, match="say until when"):
        shelve_until(" ", T)


def test_status_line_badge_and_a_failing_destination():
    status = EngineStatus(connection="connected", last_update=T)
    quiet = format_status(status, T, alarms=AlarmsView(at=T))
    assert (quiet.badge, quiet.level) == ("", "ok")
    failing = AlarmsView(
        rows=(_row("unacknowledged-active"), _row("acknowledged-active", acked_by="ann")),
        at=T,
        notify=NotifyHealth(True, False, "notify: 1/2 ok, 1 pending, teams: HTTP 503", ("teams",)),
    )
    line = format_status(status, T, alarms=failing)
    assert (line.badge, line.badge_level) == ("1 unacknowledged of 2 alarms", "error")
    assert line.level == "warn"
    assert line.text == "Connected · last update just now · notifications failing: teams"
    assert line.details.endswith("notify: 1/2 ok, 1 pending, teams: HTTP 503")
