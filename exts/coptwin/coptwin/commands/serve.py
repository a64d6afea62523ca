"""``coptwin serve``: the live COP in a web browser and as OGC API - Features.

Runs the engine headless (events / polling / backoff, as ``coptwin run``: storage
unreachable at start is retried, a wrong config is one line) and one
HTTP server on 127.0.0.1 (``--host 0.0.0.0`` to share it on a network you trust):
the page at ``/``, the GIS endpoint at ``/ogc``.  Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from coptwin.commands._common import add_config_arg, load

HELP = "serve the live COP to web browsers and GIS tools"


def register(p: argparse.ArgumentParser) -> None:
    add_config_arg(p)
    add_server_args(p)
    p.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    p.set_defaults(func=run)


def add_server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks one)")


def run(args: argparse.Namespace) -> int:
    from coptwin.engine.alarms import sends_notifications
    from coptwin.engine.engine import Engine

    cfg = load(args)
    engine = Engine(cfg, notify=sends_notifications(cfg, "headless"))
    try:
        serve_engine(engine, args.host, args.port, args.duration)
    finally:
        engine.close()
    return 0


def serve_engine(engine: Any, host: str, port: int, duration: float | None = None) -> None:
    """Serve an engine until Ctrl-C / SIGTERM (or ``duration`` seconds); prints the URL."""
    from coptwin.cli import CommandError
    from coptwin.problem import Problem
    from coptwin.web.app import serve

    def ready(url: str) -> None:
        print(f"coptwin: the COP is at {url}  (OGC API: {url}ogc)  Ctrl-C stops", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows
                loop.add_signal_handler(sig, stop.set)
        if duration is not None:
            loop.call_later(duration, stop.set)
        await serve(engine, host, port, stop, on_ready=ready)

    try:
        asyncio.run(main())
    except Problem:  # a config error: one line (coptwin.cli)
        raise
    except ValueError as exc:  # cannot listen, basemap missing
        raise CommandError(str(exc)) from exc
    except KeyboardInterrupt:
        print("coptwin serve: stopped", file=sys.stderr)
