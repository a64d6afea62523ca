"""The webhook receiver over real HTTP: auth, size limit, malformed bodies, keep-alive."""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from coptwin.config import ConfigError, WebhookConfig
from coptwin.events.webhook import WebhookReceiver, token_matches

from .conftest import body, load_payload


@contextmanager
def serving(rx: WebhookReceiver) -> Iterator[WebhookReceiver]:
    """Run a receiver on its own loop thread; yields it once bound."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(rx.start())
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(10)
    try:
        yield rx
    finally:
        asyncio.run_coroutine_threadsafe(rx.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        t.join(10)
        loop.close()


@contextmanager
def receiver(cfg: WebhookConfig, handled: list[bytes]) -> Iterator[WebhookReceiver]:
    """A receiver that records every body it is handed (valid: starts with ``{``)."""

    def handle(b: bytes) -> bool:
        handled.append(b)
        return b.startswith(b"{")

    with serving(WebhookReceiver(cfg, handle)) as rx:
        yield rx


def post(port: int, data: bytes, headers: dict[str, str] | None = None, path: str = "/events"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=data, headers=headers or {})
        return conn.getresponse().status
    finally:
        conn.close()


def test_valid_event_is_accepted_and_handed_over_on_a_chosen_port():
    got: list[bytes] = []
    payload = body(load_payload("minio_webhook_put.json"))
    with receiver(WebhookConfig(enabled=True, port=0), got) as rx:
        assert rx.port and rx.state == f"listening 127.0.0.1:{rx.port}"
        assert post(rx.port, payload) == 200
        assert post(rx.port, payload, path="/other") == 404
    assert got == [payload]


def test_malformed_body_is_400_and_receiver_keeps_serving():
    got: list[bytes] = []
    with receiver(WebhookConfig(enabled=True, port=0), got) as rx:
        assert post(rx.port, b"garbage") == 400
        assert post(rx.port, b"{}") == 200
        assert rx.rejected == {400: 1}


def test_oversized_body_is_413_without_being_read():
    got: list[bytes] = []
    with receiver(WebhookConfig(enabled=True, port=0, max_body_bytes=100), got) as rx:
        assert post(rx.port, b"{" + b" " * 200 + b"}") == 413
    assert got == []


def test_bearer_token_is_required_when_configured(monkeypatch):
    monkeypatch.setenv("COPTWIN_TEST_HOOK_TOKEN", "s3cret-token")
    cfg = WebhookConfig(enabled=True, port=0, auth_token_env="COPTWIN_TEST_HOOK_TOKEN")
    got: list[bytes] = []
    with receiver(cfg, got) as rx:
        assert post(rx.port, b"{}") == 401
        assert post(rx.port, b"{}", {"Authorization": "Bearer wrong"}) == 401
        assert post(rx.port, b"{}", {"Authorization": "Bearer s3cret-token"}) == 200
    assert len(got) == 1


def test_token_env_unset_is_a_config_error_and_token_compare_forms():
    with pytest.raises(ConfigError, match="NOPE_NOT_SET"):
        WebhookReceiver(WebhookConfig(auth_token_env="NOPE_NOT_SET"), lambda b: True)
    assert token_matches("Bearer abc", "abc") and token_matches("abc", "abc")
    assert not token_matches("Bearer abcd", "abc") and not token_matches(None, "abc")


def test_keep_alive_connection_serves_several_requests():
    got: list[bytes] = []
    with receiver(WebhookConfig(enabled=True, port=0), got) as rx:
        conn = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=10)
        try:
            for i in range(3):
                conn.request("POST", "/events", body=b'{"n": %d}' % i)
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 200
        finally:
            conn.close()
    assert len(got) == 3


def test_port_in_use_is_a_clear_config_error():
    got: list[bytes] = []
    with receiver(WebhookConfig(enabled=True, port=0), got) as rx:
        other = WebhookReceiver(WebhookConfig(enabled=True, port=rx.port), lambda b: True)
        with pytest.raises(ConfigError, match="cannot listen"):
            asyncio.run(other.start())


def test_deeply_nested_body_is_a_400_and_counted(caplog):
    """Issue 12.6: 2,000 ``[`` got no response (RecursionError) and an ERROR per request."""
    from coptwin.events.hint import SourceStats
    from coptwin.events.intake import EventIntake
    from coptwin.events.routing import TableRouter

    stats = SourceStats()
    intake = EventIntake(TableRouter({"readings": "city/readings"}, "cop"), stats, print)
    rx = WebhookReceiver(WebhookConfig(enabled=True, port=0), lambda b: intake.handle("webhook", b))
    with serving(rx):
        assert post(rx.port, b"[" * 2000 + b"]" * 2000) == 400
        assert post(rx.port, b"[" * 4096) == 400
        assert post(rx.port, body(load_payload("aws_s3_test_event.json"))) == 200
    assert stats.get("webhook", "malformed") == 2
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def raw_request(port: int, head: bytes, body: bytes = b"") -> int:
    """Send bytes as they are (http.client would refuse odd headers); the status, 0 for none."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + body)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return 0
            data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.fixture(params=["aiohttp._http_parser", "aiohttp.http_parser"], scope="module")
def parser_receiver(request) -> Iterator[tuple[int, subprocess.Popen]]:
    """A receiver in a child process using aiohttp's C parser, or (``AIOHTTP_NO_EXTENSIONS=1``)
    its pure-Python one; yields its port and the process (whose output lists the bodies)."""
    env = {k: v for k, v in os.environ.items() if k != "AIOHTTP_NO_EXTENSIONS"}
    if request.param == "aiohttp.http_parser":  # the pure-Python one
        env["AIOHTTP_NO_EXTENSIONS"] = "1"
    script = Path(__file__).with_name("receiver_process.py")
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        port, parser = proc.stdout.readline().split()
        assert parser == request.param
        yield int(port), proc
    finally:
        proc.stdin.close()
        proc.wait(10)


@pytest.mark.parametrize("length", ["1_0", "+10", "1e1", "0x0a", "\u0661\u0660", "10, 10", "-10"])
def test_content_length_must_be_plain_digits(length, parser_receiver):
    """Issue 12.9: ``Content-Length: 1_0`` was read as 10 (``int()`` accepts it).

    aiohttp has two HTTP parsers (C, and pure Python where the C one is not built);
    both must refuse."""
    port, _ = parser_receiver
    head = "POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n"
    body = b'{"n": "' + length.encode("unicode_escape") + b'"}'
    padded = body + b" " * 10
    assert raw_request(port, head.format(length).encode("utf-8"), padded) == 400
    assert raw_request(port, head.format(len(body)).encode(), body) == 200
