"""Real local receivers for notification tests: an aiohttp webhook server and an aiosmtpd
SMTP server (STARTTLS + AUTH with a trustme CA), both on 127.0.0.1 and stopped by the tests."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: dict
    arrived: float = field(default_factory=time.monotonic)


class HttpReceiver:
    """A webhook receiver; ``answer(post) -> (status, text, headers)`` decides each reply."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.posts: list[Post] = []
        self.accepted: list[Post] = []
        self.answer: Callable[[Post], tuple[int, str, dict]] = lambda post: (200, "ok", {})
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/hook/T0SECRET/B0SECRET/xoxSECRETKEY") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        post = Post(request.path_qs, dict(request.headers), json.loads(await request.read()))
        self.posts.append(post)
        status, text, headers = self.answer(post)
        if 200 <= status < 300 and "HTTP error 429" not in text:
            self.accepted.append(post)
        return web.Response(status=status, text=text, headers=headers)

    def start(self) -> HttpReceiver:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_post("/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
            loop.run_until_complete(site.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10), "receiver did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    def bodies(self) -> list[dict]:
        return [p.body for p in self.accepted]


class SmtpReceiver:
    """aiosmtpd with STARTTLS required and AUTH (user/password) on a trustme certificate."""

    USER, PASSWORD = "alerts", "s3cret-pass"

    def __init__(self, tmp_path, port: int | None = None, *, tls: bool = True) -> None:
        import ssl

        import trustme

        self.port = port or free_port()
        self.messages: list = []
        self.ca_file = None
        self.tls = tls
        kwargs: dict = {}
        if tls:
            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(ctx)
            self.ca_file = tmp_path / "smtp-ca.pem"
            ca.cert_pem.write_to_path(str(self.ca_file))
            kwargs = {
                "tls_context": ctx,
                "require_starttls": True,
                "auth_required": True,
                "auth_require_tls": True,
                "authenticator": self._auth,
            }
        self._kwargs = kwargs
        self._controller = None

    def _auth(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.USER.encode()
            and auth_data.password == self.PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd naming
        from email import message_from_bytes
        from email.policy import default

        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"

    def start(self) -> SmtpReceiver:
        from aiosmtpd.controller import Controller

        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, server_hostname="127.0.0.1", **self._kwargs
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
