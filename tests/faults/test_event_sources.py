"""Webhook abuse and a storage outage during an event burst, against a real engine.

Each case runs ``coptwin run``'s live loop (:class:`EngineCase`) on a readings
table in SeaweedFS, with the webhook receiver as the only event source (polling
off) and the SeaweedFS filer posting its real bucket events to it.  While the
receiver is abused, commits keep coming; every case ends with
:meth:`EngineCase.check`: rows read = rows written, applied + skipped = read, and
a valid commit written afterwards is read and applied.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from coptwin.events import webhook
from tests.support.wait import until

pytestmark = pytest.mark.s3

#: The webhook alone wakes the engine: a commit is read only if its event got through.
EVENTS = {
    "webhook": {"enabled": True, "port": 0, "max_body_bytes": 4096},
    "polling": {"enabled": False, "interval_s": 3600},
}


async def exchange(port: int, head: bytes, body: bytes = b"", timeout: float = 10.0) -> int:
    """Send bytes as they are; the status answered (0: closed without an answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
        return int(line.split(b" ", 2)[1]) if line else 0
    finally:
        writer.close()


def post_head(length: int | None, extra: str = "") -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else ""
    return f"POST /events HTTP/1.1\r\nHost: coptwin\r\n{size}{extra}\r\n".encode()


def s3_event(bucket: str, key: str) -> bytes:
    """An AWS S3 ``ObjectCreated:Put`` record for ``bucket``/``key``."""
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
    }
    return json.dumps({"Records": [record]}).encode()


async def commit(case, rows: int = 10) -> None:
    """A valid commit the engine must pick up from the filer's event alone."""
    await asyncio.to_thread(case.table.append, rows)
    await case.caught_up(30)


def live(engine_case, s3_running, scenario) -> None:
    case = engine_case(EVENTS)

    async def main():
        await case.start()
        s3_running.webhook_target = case.hook_url
        try:
            await scenario(case, case.hub.webhook_port)
            await case.check()
        finally:
            s3_running.webhook_target = None
            await case.stop()

    asyncio.run(main())


def test_oversize_bodies_are_refused_unread_and_nothing_is_lost(engine_case, s3_running):
    async def scenario(case, port):
        statuses = []
        for announced in (4097, 10_000_000, 2**62):
            statuses.append(await exchange(port, post_head(announced)))  # the head alone
            await commit(case)
        # a body far over the limit, really sent: refused from its head, connection closed
        statuses.append(await exchange(port, post_head(1_000_000), b"{" * 1_000_000))
        # header fields over aiohttp's limits: refused by its parser
        statuses.append(await exchange(port, post_head(2, "X-Big: " + "a" * 70_000 + "\r\n")))
        await commit(case)
        assert statuses[:4] == [413] * 4
        assert statuses[4] in (400, 431)
        assert case.hub.webhook.rejected[413] == 4

    live(engine_case, s3_running, scenario)


def test_chunked_bodies_are_refused_at_once_however_long_they_run(engine_case, s3_running):
    async def scenario(case, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post_head(None, "Transfer-Encoding: chunked\r\n"))
        started = time.monotonic()
        answer = asyncio.ensure_future(reader.readline())
        sent = 0
        while not answer.done() and time.monotonic() - started < 10:  # an endless body
            writer.write(b"400\r\n" + b"[" * 1024 + b"\r\n")
            sent += 1024
            await asyncio.sleep(0.005)
        status = int((await answer).split(b" ", 2)[1])
        writer.close()
        assert status == 411 and time.monotonic() - started < 5
        # Content-Length and chunked together: a request-smuggling shape, refused by the parser
        both = post_head(5, "Transfer-Encoding: chunked\r\n")
        assert await exchange(port, both, b"0\r\n\r\n") == 400
        await commit(case)
        assert case.hub.stats["webhook"]["malformed"] == 0  # nothing reached the intake

    live(engine_case, s3_running, scenario)


@pytest.mark.parametrize("closer", ["aiohttp", "coptwin"])
def test_slowloris_connections_are_cut_off_in_bounded_time(
    engine_case, s3_running, monkeypatch, closer
):
    """Senders that trickle their head or body are closed after the read timeout (1 s
    here, 15 s by default) while valid events keep flowing.

    aiohttp 3.14 closes a connection that sends no request head in time by itself;
    ``coptwin``: with that switched off (older aiohttp, as Kit may bundle, has none),
    coptwin's own sweep (``webhook.SlowSenders``) does."""
    bound = 1.0
    monkeypatch.setattr(webhook, "READ_TIMEOUT_S", bound)
    keepalive = bound if closer == "aiohttp" else 3600.0
    monkeypatch.setitem(webhook.SERVER_OPTIONS, "keepalive_timeout", keepalive)

    async def trickle_head(port: int) -> float:
        """Send one header byte every 0.2 s; seconds until the server hangs up."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        head = post_head(20, "X-Slow: " + "s" * 200 + "\r\n")
        try:
            for byte in head:
                writer.write(bytes([byte]))
                await writer.drain()
                try:
                    if await asyncio.wait_for(reader.read(1), 0.2) == b"":
                        break  # closed by the server
                except asyncio.TimeoutError:
                    continue
        except ConnectionError:
            pass
        finally:
            writer.close()
        return time.monotonic() - started

    async def trickle_body(port: int) -> tuple[int, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(post_head(100))
        answer = asyncio.ensure_future(reader.readline())
        try:
            while not answer.done() and time.monotonic() - started < 20:
                writer.write(b" ")
                await asyncio.sleep(0.2)
            line = await answer
        finally:
            writer.close()
        return int(line.split(b" ", 2)[1]), time.monotonic() - started

    async def scenario(case, port):
        slow = [asyncio.ensure_future(trickle_head(port)) for _ in range(50)]
        body = asyncio.ensure_future(trickle_body(port))
        for _ in range(3):  # valid events get through meanwhile
            await commit(case)
        cut_after = await asyncio.gather(*slow)
        status, body_after = await body
        # a whole head takes 45 s to trickle; every one was cut off after about the bound
        assert max(cut_after) < bound + 4, cut_after
        assert status == 408 and body_after < bound + 4

    live(engine_case, s3_running, scenario)


def test_500_concurrent_posts_are_all_answered_and_fold_into_few_ticks(engine_case, s3_running):
    async def scenario(case, port):
        await asyncio.to_thread(case.table.append, 10)
        version = await asyncio.to_thread(case.table.latest_version)
        bucket = case.table.uri.split("/")[2]
        key = f"cop/readings/_delta_log/{version:020d}.json"
        body = s3_event(bucket, key)
        ticks = case.engine.running.ticks
        received = case.hub.stats["webhook"]["received"]
        statuses = await asyncio.gather(
            *(exchange(port, post_head(len(body)), body, timeout=60) for _ in range(500))
        )
        assert statuses == [200] * 500
        await case.caught_up(30)
        stats = case.hub.stats["webhook"]
        assert stats["received"] - received >= 500 and stats["malformed"] == 0
        # the engine's wake-up flag folds hints that arrive during a tick into one more tick
        assert case.engine.running.ticks - ticks < 500

    live(engine_case, s3_running, scenario)


@pytest.mark.parametrize("down_s", [0.0, 5.0])
def test_s3_outage_during_an_event_burst_loses_nothing(
    engine_case, s3_running, fault_figures, down_s
):
    """SeaweedFS (S3 and the filer sending the events) is stopped by PID in the middle
    of a burst of commits and events, stays down ``down_s`` more seconds after the engine
    noticed (its retries back off meanwhile), and is restarted; the engine catches up
    from its applied version once storage is back.  Recovery: from SeaweedFS answering
    again to the engine showing the last of the commits written after it."""

    async def scenario(case, port):
        bucket = case.table.uri.split("/")[2]
        for _ in range(5):  # the burst: commits whose events are still on their way
            await asyncio.to_thread(case.table.append, 20)
        latest = await asyncio.to_thread(case.table.latest_version)
        await asyncio.to_thread(s3_running.stop)
        # senders retry their events while storage is gone: the engine tries, and says why
        body = s3_event(bucket, f"cop/readings/_delta_log/{latest:020d}.json")
        assert await exchange(port, post_head(len(body)), body) == 200
        await until(lambda: case.engine.connection == "disconnected", 30, what="disconnected")
        assert case.engine.reason and s3_running.secret_key not in case.engine.reason
        await asyncio.sleep(down_s)
        await asyncio.to_thread(s3_running.start)
        back = time.monotonic()
        for _ in range(5):  # the burst goes on once storage is back
            await asyncio.to_thread(case.table.append, 20)
        await case.caught_up(120)
        fault_figures.recoveries.append(time.monotonic() - back)
        await until(lambda: case.engine.connection == "connected", 30, what="connected")

    live(engine_case, s3_running, scenario)
