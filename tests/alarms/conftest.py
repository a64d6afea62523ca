"""Shared fixtures for the alarm tests: a fake clock, real Delta tables in tmp_path."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from coptwin.alarms.model import AlarmEvent, alarm_id_for, system_event_id
from coptwin.alarms.store import AlarmStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


class FakeClock:
    """A clock tests move by hand (``clock.advance(30)``)."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def store(tmp_path, clock) -> AlarmStore:
    return AlarmStore(str(tmp_path / "alarms"), clock=clock, max_shelve_s=86400.0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def system(
    event: str,
    sensor: str,
    seconds: float,
    *,
    raised: float | None = None,
    status: str = "alarm",
    value: float | None = 12.0,
    layer: str | None = "water",
    reason: str | None = None,
    base: datetime = T0,
) -> AlarmEvent:
    """A system transition as an engine writes it (deterministic ids), ``seconds`` after
    ``base``."""
    ts = base + timedelta(seconds=seconds)
    raised_at = base + timedelta(seconds=raised if raised is not None else seconds)
    return AlarmEvent(
        event_id=system_event_id(sensor, event, ts),
        event=event,
        ts=ts,
        author="coptwin",
        alarm_id=alarm_id_for(sensor, raised_at),
        sensor_id=sensor,
        layer=layer,
        status=status if event != "returned" else None,
        value=value,
        reason=reason if reason is not None else f"{event} by rule",
    )


def operator(
    event: str,
    alarm_id: str | None,
    seconds: float,
    *,
    author: str = "ann",
    reason: str | None = None,
    until: float | None = None,
    sensor: str | None = None,
    layer: str | None = None,
    eid: str | None = None,
) -> AlarmEvent:
    return AlarmEvent(
        event_id=eid or f"{event}-{alarm_id or sensor or layer}-{seconds}-{author}",
        event=event,
        ts=at(seconds),
        author=author,
        alarm_id=alarm_id,
        sensor_id=sensor,
        layer=layer,
        reason=reason,
        until=at(until) if until is not None else None,
    )
