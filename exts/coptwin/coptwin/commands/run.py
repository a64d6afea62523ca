"""``coptwin run``: the headless engine, writing the overlay to a USD file.

``--once`` applies everything up to now (or ``--as-of`` a version / time) and
exits; otherwise it follows the tables live (bucket events and/or polling) and
re-exports the overlay every few seconds until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from coptwin.commands._common import add_as_of_arg, add_config_arg, load

HELP = "run the engine headless and write the overlay to a file"


def register(p: argparse.ArgumentParser) -> None:
    add_config_arg(p)
    p.add_argument("--once", action="store_true", help="apply what is there now, write, exit")
    add_as_of_arg(p, "time travel: a Delta version number or an ISO-8601 time (implies --once)")
    p.add_argument("--duration", type=float, default=None, help="stop after S seconds (live mode)")
    p.add_argument(
        "--out", type=Path, default=None, help="overlay file (default engine.overlay_path)"
    )
    p.add_argument("--export-every", type=float, default=5.0, help="seconds between overlay writes")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coptwin.engine.alarms import sends_notifications
    from coptwin.engine.engine import Engine

    cfg = load(args)
    out = args.out or cfg.resolve_path(cfg.engine.overlay_path)
    cop = Path(out).with_name("cop.usda")
    live = args.as_of is None and not args.once
    engine = Engine(cfg, notify=live and sends_notifications(cfg, "headless"))
    try:
        if args.as_of is not None:
            engine.set_as_of(args.as_of)
        elif args.once:
            engine.tick()
        else:  # the loop opens the engine, retrying while storage is unreachable
            asyncio.run(_live(engine, out, cop, args.duration, args.export_every))
        wrote = engine.export(out, cop)
        _print_summary(engine, args.json)
        if wrote:
            print(f"wrote {out} and {cop}")
        else:
            print(f"kept {out} as it was: no state was read ({engine.reason or 'not connected'})")
    finally:
        engine.close()
    return 0


async def _live(engine, out: Path, cop: Path, duration: float | None, every: float) -> None:  # noqa: ANN001
    stop = asyncio.Event()
    task = asyncio.ensure_future(engine.run(stop))
    started = time.monotonic()
    try:
        while not task.done():
            await asyncio.sleep(min(every, 1.0) if duration else every)
            if not task.done():
                engine.export(out, cop)  # only a state that was read (see Engine.export)
            if duration is not None and time.monotonic() - started >= duration:
                break
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    finally:
        stop.set()
        await task  # raises what stopped the loop (a ConfigError: one line, exit 2)


def _print_summary(engine, as_json: bool) -> None:  # noqa: ANN001
    from coptwin.engine.summary import format_summary, summary_dict

    snap = engine.snapshot()
    if as_json:
        print(json.dumps(summary_dict(snap, engine.running), indent=2, default=str))
    else:
        print(format_summary(snap, engine.running))
