"""The bucket-event webhook: one aiohttp route, and a server of its own for it.

MinIO, Ceph RGW, AWS SNS (HTTPS subscription) and the SeaweedFS filer all POST
JSON.  :class:`WebhookEndpoint` is the route: it checks the optional bearer
token in constant time, limits the body size (413, without reading it), answers
400 for malformed bodies (counted by the intake) and 200 only once the
resulting hints are queued - so a sender that sees 2xx can rely on coptwin
having taken the event.  HTTP itself (request line, headers, ``Content-Length``
digits, keep-alive) is aiohttp's parser, not ours.

One implementation, two hosts: ``coptwin serve`` mounts the route on its page
server (:mod:`coptwin.web.app` builds on this module, never the reverse);
``coptwin run`` and the Kit extension run :class:`WebhookReceiver`, the same
route alone on its own aiohttp server, on the asyncio loop the engine runs on
(Kit's own loop inside Omniverse; Kit bundles aiohttp).  The receiver binds
127.0.0.1 unless the config says otherwise; port 0 picks a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import logging
import os
from collections.abc import Callable

from aiohttp import web

from coptwin.config import ConfigError, WebhookConfig

log = logging.getLogger(__name__)

#: Seconds a sender gets to send its body, and an idle or slow connection lives
#: (a slowloris sender is cut off after this, whatever it sends).
READ_TIMEOUT_S = 15.0
#: The server options that bound a connection's time (both hosts use them).
SERVER_OPTIONS = {"keepalive_timeout": READ_TIMEOUT_S}
_CLOSE_TIMEOUT_S = 2.0


def expected_token(cfg: WebhookConfig) -> str | None:
    """The bearer token from the env variable the config names (None: no auth)."""
    if not cfg.auth_token_env:
        return None
    token = os.environ.get(cfg.auth_token_env)
    if not token:
        raise ConfigError(
            f"events.webhook.auth_token_env: environment variable {cfg.auth_token_env} is not set"
        )
    return token


def token_matches(header: str | None, token: str) -> bool:
    """``Authorization`` is ``Bearer <token>`` (or the bare token, as older MinIO sends it)."""
    if header is None:
        return False
    value = header.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return hmac.compare_digest(value.encode(), token.encode())


def webhook_path(cfg: WebhookConfig) -> str:
    """The route's path, with one leading slash (``"events"`` and ``"/events/"``: ``/events``)."""
    return "/" + cfg.path.strip("/")


class SlowSenders:
    """Closes connections that have not sent a whole request head within ``READ_TIMEOUT_S``.

    aiohttp 3.14 arms its keep-alive timer as a connection opens and closes such a
    connection itself; older aiohttp (as Kit may bundle) waits for ever for a head
    that trickles in a byte at a time.  Once a connection has sent a request,
    aiohttp's keep-alive timeout (:data:`SERVER_OPTIONS`) bounds every later wait.
    Add :meth:`middleware` to the app and run :meth:`sweep` beside the server.
    """

    def __init__(self) -> None:
        self._waiting: dict[object, float] = {}  # connection -> first seen without a request
        self._served: set[object] = set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        self._served.add(request.protocol)
        return await handler(request)

    async def sweep(self, server: web.Server) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, READ_TIMEOUT_S / 4))
            now, live = loop.time(), server.connections
            self._served.intersection_update(live)
            waiting = {c: self._waiting.get(c, now) for c in live if c not in self._served}
            self._waiting = waiting
            for conn, since in waiting.items():
                if now - since > READ_TIMEOUT_S:
                    conn.force_close()


class WebhookEndpoint:
    """The webhook route; hands each body to ``handle(body) -> bool`` (False: malformed).

    Raises :class:`ConfigError` at once when the token variable is unset, so a
    misconfigured receiver never accepts unauthenticated events.
    """

    def __init__(self, cfg: WebhookConfig, handle: Callable[[bytes], bool]) -> None:
        self.cfg = cfg
        self.handle = handle
        self.path = webhook_path(cfg)
        self._token = expected_token(cfg)
        #: Requests refused, by status code (the intake counts the malformed bodies).
        self.rejected: dict[int, int] = {}

    def route(self) -> web.RouteDef:
        return web.route("*", self.path, self.serve)

    def _refuse(self, status: int, *, close: bool = False) -> web.Response:
        self.rejected[status] = self.rejected.get(status, 0) + 1
        resp = web.Response(status=status)
        if close:
            resp.force_close()  # the body was not read: do not reuse the connection
        return resp

    async def serve(self, request: web.Request) -> web.Response:
        if request.method in ("GET", "HEAD"):
            return web.Response()  # liveness probe (some senders check before sending)
        if request.method != "POST":
            return self._refuse(405, close=True)
        if self._token is not None and not token_matches(
            request.headers.get("Authorization"), self._token
        ):
            log.warning("webhook: rejected a request without the expected bearer token")
            return self._refuse(401, close=True)
        length = request.content_length  # aiohttp's parser accepts digits only
        if length is None:  # chunked or no length: the size must be known before reading
            return self._refuse(411, close=True)
        if length > self.cfg.max_body_bytes:
            limit = self.cfg.max_body_bytes
            log.warning("webhook: rejected %d-byte body (limit %d)", length, limit)
            return self._refuse(413, close=True)
        try:
            body = await asyncio.wait_for(request.content.readexactly(length), READ_TIMEOUT_S)
        except asyncio.TimeoutError:
            return self._refuse(408, close=True)
        except asyncio.IncompleteReadError:  # the sender went away mid-body
            return self._refuse(400, close=True)
        try:
            ok = self.handle(body)  # queues the hints synchronously on this loop
        except Exception:  # never answer a sender with a dropped connection
            log.exception("webhook: unexpected error while handling an event")
            return self._refuse(500)
        return web.Response() if ok else self._refuse(400)


class WebhookReceiver:
    """The endpoint alone on an aiohttp server of its own (``coptwin run``, Kit).

    :meth:`close` returns once the port is free: aiohttp's ``TCPSite.stop`` closes
    its listening server without awaiting it, and on Windows' proactor loop the
    port stays bound until the close has been processed, so the receiver makes
    the listening server itself and awaits its ``wait_closed()``.
    """

    name = "webhook"

    def __init__(self, cfg: WebhookConfig, handle: Callable[[bytes], bool]) -> None:
        self.cfg = cfg
        self.endpoint = WebhookEndpoint(cfg, handle)
        self.path = self.endpoint.path
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.Task | None = None

    @property
    def rejected(self) -> dict[int, int]:
        return self.endpoint.rejected

    @property
    def state(self) -> str:
        if self._server is None:
            return "stopped"
        return f"listening {self.cfg.host}:{self.port}"

    async def start(self) -> None:
        """Listen; :class:`PortInUse` when another server holds the port, else
        :class:`ConfigError` for what no retry can fix."""
        senders = SlowSenders()
        app = web.Application(middlewares=[senders.middleware])
        app.add_routes([self.endpoint.route()])
        runner = web.AppRunner(app, access_log=None, **SERVER_OPTIONS)
        await runner.setup()
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                runner.server, self.cfg.host, self.cfg.port, backlog=128
            )
        except (OSError, OverflowError) as exc:
            await runner.cleanup()
            where = f"{self.cfg.host}:{self.cfg.port}"
            if isinstance(exc, OSError) and exc.errno in _IN_USE:
                raise PortInUse(f"events.webhook: cannot listen on {where}: in use") from None
            errno_ = getattr(exc, "errno", None)
            why = os.strerror(errno_) if errno_ else exc
            raise ConfigError(
                f"events.webhook: cannot listen on {where} ({why}); pick another host or port"
            ) from None
        self._runner = runner
        self._sweeper = asyncio.ensure_future(senders.sweep(runner.server))
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("webhook receiver %s%s", self.state, self.path)

    async def close(self) -> None:
        """Stop listening, end open connections, and return once the port is free."""
        server, runner = self._server, self._runner
        self._server = self._runner = None
        if server is None or runner is None:
            return
        if self._sweeper is not None:
            self._sweeper.cancel()
        server.close()
        await runner.cleanup()  # ends keep-alive and slow connections
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), _CLOSE_TIMEOUT_S)


class PortInUse(ConfigError):
    """Another server holds the port (perhaps our own previous one, still closing)."""


_IN_USE = {errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", errno.EADDRINUSE)}
