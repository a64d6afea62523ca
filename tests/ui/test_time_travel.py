from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from coptwin.ui.time_travel import AsOfError, TimeVM, parse_as_of

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", ["", "  ", "live", "LIVE", "now"])
def test_live_words(text):
    assert parse_as_of(text, NOW) is None


@pytest.mark.parametrize(("text", "version"), [("12", 12), ("v3", 3), (" V0 ", 0)])
def test_versions(text, version):
    assert parse_as_of(text, NOW) == version


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-05-31", datetime(2025, 5, 31, tzinfo=timezone.utc)),
        ("2025-05-31 13:30", datetime(2025, 5, 31, 13, 30, tzinfo=timezone.utc)),
        ("2025-05-31T13:30:00Z", datetime(2025, 5, 31, 13, 30, tzinfo=timezone.utc)),
        ("2025-05-31T15:30:00+02:00", datetime(2025, 5, 31, 13, 30, tzinfo=timezone.utc)),
    ],
)
def test_times_are_utc(text, expected):
    got = parse_as_of(text, NOW)
    assert got == expected and got.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["yesterday", "-3", "12.5", "2025-13-01"])
def test_garbage_is_a_clear_error(text):
    with pytest.raises(AsOfError, match="neither a table version"):
        parse_as_of(text, NOW)


def test_future_is_refused():
    with pytest.raises(AsOfError, match="in the future"):
        parse_as_of("2025-06-02", NOW)


def test_vm_sends_parsed_moments_and_shows_refusals():
    sent = []

    async def set_as_of(when):
        if when == 999:
            raise ValueError("version 999 does not exist (latest is 41)")
        sent.append(when)

    async def scenario():
        vm = TimeVM(set_as_of)
        assert await vm.apply("v7", NOW) and vm.requested == 7 and vm.error == ""
        assert not await vm.apply("tomorrow", NOW)
        assert "neither a table version" in vm.error and sent == [7]
        assert not await vm.apply("999", NOW)
        assert vm.error == "cannot show 999: version 999 does not exist (latest is 41)"
        assert vm.requested == 7  # the refused request did not change what is shown
        assert await vm.go_live() and sent == [7, None] and vm.requested is None
        assert vm.text == "" and not vm.busy

    asyncio.run(scenario())


def test_vm_refuses_a_second_jump_while_one_is_read():
    gate = asyncio.Event()

    async def set_as_of(when):
        await gate.wait()

    async def scenario():
        vm = TimeVM(set_as_of)
        first = asyncio.ensure_future(vm.apply("v3", NOW))
        await asyncio.sleep(0)
        assert vm.busy
        assert not await vm.apply("v4", NOW)
        assert vm.error.startswith("still reading the previous time")
        gate.set()
        assert await first and vm.requested == 3 and not vm.busy

    asyncio.run(scenario())


def test_vm_without_engine_explains():
    vm = TimeVM()
    assert not asyncio.run(vm.apply("3", NOW))
    assert "not running" in vm.error
