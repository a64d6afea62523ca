"""The webhook receiver over real HTTP: auth, size limit, malformed bodies, keep-alive."""

from __future__ import annotations

import asyncio
import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from coptwin.config import ConfigError, WebhookConfig
from coptwin.events.webhook import WebhookReceiver, token_matches

from .conftest import body, load_payload


@contextmanager
def receiver(cfg: WebhookConfig, handled: list[bytes]) -> Iterator[WebhookReceiver]:
    """Run a receiver on its own loop thread; yields it once bound."""
    loop = asyncio.new_event_loop()

    def handle(b: bytes) -> bool:
        handled.append(b)
        return b.startswith(b"{")

    rx = WebhookReceiver(cfg, handle)
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
