"""`coptwin serve` hosts the bucket-event webhook on its own port (issue 14.1).

The route is the event hub's (`coptwin.events.webhook.WebhookEndpoint`): the same
token, size limits and intake as the receiver `coptwin run` and Kit start.  The
config's `events.webhook.port` is not opened at all under `serve`.
"""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request
import uuid

from coptwin.config import load_config
from coptwin.engine.engine import Engine
from coptwin.web.app import serve
from coptwin.web.live import status_line
from tests.support.wait import until

TOKEN_ENV = "COPTWIN_TEST_SERVE_HOOK_TOKEN"
TEST_EVENT = b'{"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "cop"}'


def config_with(demo, extra: str):
    """The demo's config plus ``extra``, next to it (so its relative paths hold)."""
    path = demo.config_path.with_name(f"hook-{uuid.uuid4().hex[:8]}.toml")
    path.write_text(demo.config_path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return load_config(path)


def post(url: str, data: bytes, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def announce(base: str, length: int, token: str) -> int:
    """Send only the head of a POST announcing ``length`` bytes; the status answered."""
    host, port = base.split("//")[1].rstrip("/").split(":")
    head = (
        f"POST /events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(head.encode())
        return int(s.recv(4096).split(b" ", 2)[1])


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=20) as resp:
        return resp.status, resp.read()


def serving(engine: Engine, scenario):
    """Run ``coptwin serve``'s server around ``scenario(base_url)``."""

    async def main():
        stop = asyncio.Event()
        urls: list[str] = []
        task = asyncio.ensure_future(serve(engine, "127.0.0.1", 0, stop, on_ready=urls.append))
        try:
            await until(lambda: urls or task.done(), 60, what="the server")
            return await scenario(urls[0])
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
            engine.close()

    return asyncio.run(main())


def test_serve_mounts_the_webhook_route_on_its_own_port(demo, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "hook-token")
    with socket.socket() as taken:  # events.webhook.port: serve must not need it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = config_with(
            demo,
            f'\n[events.webhook]\nenabled = true\nport = {port}\nauth_token_env = "{TOKEN_ENV}"\n',
        )
        engine = Engine(cfg)

        async def scenario(base: str):
            hook = base + "events"
            codes = [
                await asyncio.to_thread(post, hook, TEST_EVENT),  # no token
                await asyncio.to_thread(post, hook, TEST_EVENT, "wrong"),
                await asyncio.to_thread(post, hook, TEST_EVENT, "hook-token"),
                await asyncio.to_thread(post, hook, b"not json", "hook-token"),
                await asyncio.to_thread(post, hook, b"[" * 2000, "hook-token"),
            ]
            # a body over max_body_bytes is refused from its headers, before it is sent
            codes.append(await asyncio.to_thread(announce, base, 2_000_000, "hook-token"))
            page = await asyncio.to_thread(get, base)
            liveness = await asyncio.to_thread(get, hook)
            return codes, page, liveness, engine.hub, engine.snapshot()

        codes, page, liveness, hub, snap = serving(engine, scenario)
    assert codes == [401, 401, 200, 400, 400, 413]
    assert page[0] == 200 and b"<html" in page[1].lower()
    assert liveness[0] == 200
    assert hub.webhook is None and hub.source_states["webhook"] == "mounted at /events"
    assert hub.stats["webhook"] == {
        "received": 3,
        "hints": 0,
        "malformed": 2,
        "foreign": 0,
        "ignored": 1,
    }
    assert snap.status.event_problems == ()
    # the page shows the status line; its details carry the counters
    assert "webhook 3 events (2 malformed, 1 ignored)" in status_line(snap)["details"]


def test_serve_with_the_token_variable_unset_refuses_events_and_says_why(demo, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    cfg = config_with(demo, f'\n[events.webhook]\nenabled = true\nauth_token_env = "{TOKEN_ENV}"\n')
    engine = Engine(cfg)

    async def scenario(base: str):
        await until(lambda: engine.hub is not None and engine.hub.problems)
        code = await asyncio.to_thread(post, base + "events", TEST_EVENT)
        return code, status_line(engine.snapshot())

    code, line = serving(engine, scenario)
    assert code == 503
    assert line["level"] == "warn" and f"{TOKEN_ENV} is not set" in line["text"]
    assert "polling every 0.5 s covers" in line["text"]
