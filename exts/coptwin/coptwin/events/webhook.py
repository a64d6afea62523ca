"""Webhook receiver: a small asyncio HTTP/1.1 server for storage event POSTs.

MinIO, Ceph RGW, AWS SNS (HTTPS subscription) and the SeaweedFS filer all POST
JSON.  The receiver checks the optional bearer token in constant time, limits
the body size (413), answers 400 for malformed bodies (counted, logged), and
answers 200 only once the resulting hints are queued - so a sender that sees
2xx can rely on coptwin having taken the event.  It binds 127.0.0.1 unless the
config says otherwise; port 0 picks a free port (see :attr:`port`).

stdlib only (no web framework) so it runs unchanged inside Kit's Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
from collections.abc import Callable

from coptwin.config import ConfigError, WebhookConfig

log = logging.getLogger(__name__)

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}
_MAX_HEADER_BYTES = 16 * 1024
_READ_TIMEOUT_S = 15.0


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


class _HttpError(Exception):
    def __init__(self, status: int, close: bool = True) -> None:
        self.status = status
        self.close = close


class WebhookReceiver:
    """Receives event POSTs and hands each body to ``handle(body) -> bool`` (False: malformed)."""

    name = "webhook"

    def __init__(self, cfg: WebhookConfig, handle: Callable[[bytes], bool]) -> None:
        self.cfg = cfg
        self.handle = handle
        self.path = "/" + cfg.path.strip("/") if cfg.path.strip("/") else "/"
        self._token = expected_token(cfg)
        self._server: asyncio.AbstractServer | None = None
        self.port: int | None = None
        self.rejected: dict[int, int] = {}
        self._conns: set[asyncio.StreamWriter] = set()

    @property
    def state(self) -> str:
        if self._server is None:
            return "stopped"
        return f"listening {self.cfg.host}:{self.port}"

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(
                self._serve, host=self.cfg.host, port=self.cfg.port, limit=_MAX_HEADER_BYTES
            )
        except OSError as exc:
            raise ConfigError(
                f"events.webhook: cannot listen on {self.cfg.host}:{self.cfg.port} "
                f"({exc.strerror or exc}); pick another port or stop the other listener"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("webhook receiver %s%s", self.state, self.path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            # Senders keep connections alive; close them so shutdown does not wait for them.
            for writer in list(self._conns):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            while True:
                try:
                    request = self._one_request(reader, writer)
                    keep = await asyncio.wait_for(request, _READ_TIMEOUT_S)
                except _HttpError as err:
                    self.rejected[err.status] = self.rejected.get(err.status, 0) + 1
                    await self._respond(writer, err.status, close=err.close)
                    keep = not err.close
                except asyncio.TimeoutError:
                    keep = False
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # client went away, or the receiver is shutting down
        except Exception:  # never let one bad connection take the receiver down
            log.exception("webhook: unexpected error while serving a request")
        finally:
            self._conns.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; True to keep the connection open."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                return False  # client closed an idle keep-alive connection
            raise _HttpError(400) from None
        except asyncio.LimitOverrunError:
            raise _HttpError(431) from None
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            raise _HttpError(400) from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        keep = version.upper() == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        path = target.split("?", 1)[0]
        if path.rstrip("/") != self.path.rstrip("/"):
            raise _HttpError(404)
        if method in ("GET", "HEAD"):
            # Liveness probe (some senders check the endpoint before sending).
            await self._respond(writer, 200, close=not keep)
            return keep
        if method != "POST":
            raise _HttpError(405)
        if self._token is not None and not token_matches(headers.get("authorization"), self._token):
            log.warning("webhook: rejected a request without the expected bearer token")
            raise _HttpError(401)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _HttpError(411)
        try:
            length = int(headers.get("content-length", ""))
        except ValueError:
            raise _HttpError(411) from None
        if length < 0:
            raise _HttpError(400)
        if length > self.cfg.max_body_bytes:
            limit = self.cfg.max_body_bytes
            log.warning("webhook: rejected %d-byte body (limit %d)", length, limit)
            raise _HttpError(413)
        body = await reader.readexactly(length)
        ok = self.handle(body)  # queues the hints synchronously on this loop
        if not ok:
            raise _HttpError(400, close=not keep)
        await self._respond(writer, 200, close=not keep)
        return keep

    async def _respond(self, writer: asyncio.StreamWriter, status: int, *, close: bool) -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            "Content-Length: 0\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
        )
        writer.write(head.encode("latin-1"))
        await writer.drain()
