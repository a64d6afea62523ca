"""Run a webhook receiver in this process until stdin closes (tests of aiohttp's two parsers).

``AIOHTTP_NO_EXTENSIONS=1`` in the environment makes aiohttp use its pure-Python HTTP
parser; without it the C one (llhttp).  Prints ``<port> <parser module>`` once bound;
bodies that start with ``{`` are valid, and each one handled is printed on its own line.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import http_parser

from coptwin.config import WebhookConfig
from coptwin.events.webhook import WebhookReceiver


async def main() -> None:
    def handle(body: bytes) -> bool:
        print(f"body {body!r}", flush=True)
        return body.startswith(b"{")

    rx = WebhookReceiver(WebhookConfig(enabled=True, port=0), handle)
    await rx.start()
    print(rx.port, http_parser.HttpRequestParser.__module__, flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await rx.close()


if __name__ == "__main__":
    asyncio.run(main())
