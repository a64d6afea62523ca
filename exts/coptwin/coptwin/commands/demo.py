"""``coptwin demo``: the whole COP on one machine, no server needed.

Builds (or reuses) the sample city in ``data/``, registers sensors and
streams readings into local Delta tables under ``work/demo``, runs the engine
for ``--duration`` seconds and writes ``out/overlay.usda`` and ``out/cop.usda``
(a root stage that sublayers the overlay and the base scene, so any USD viewer
or Omniverse opens the result), and ``out/cop.png``, a picture of the COP.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from coptwin.commands._common import default_config
from coptwin.commands.serve import add_server_args, serve_engine
from coptwin.config import load_config

#: A file in the tables folder that marks it as the demo's own (safe to wipe).
_MARKER = ".coptwin-demo"


HELP = "run the embedded demo (sample city, local tables, simulator)"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", type=Path, default=None, help="default: config/demo.toml")
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds to stream (default 20; --serve: until Ctrl-C)",
    )
    p.add_argument("--serve", action="store_true", help="also serve the live COP to browsers")
    add_server_args(p)
    p.add_argument("--interval", type=float, default=0.5, help="seconds between sensor batches")
    p.add_argument("--out", type=Path, default=Path("out"), help="output folder (default out/)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def _prepare_tables(tables: Path) -> None:
    """A fresh tables folder per demo run; refuse to wipe anything not made by the demo."""
    if tables.exists():
        if not (tables / _MARKER).exists() and any(tables.iterdir()):
            raise SystemExit(
                f"coptwin demo: {tables} exists and was not created by the demo; "
                "choose another storage.uri"
            )
        shutil.rmtree(tables)
    tables.mkdir(parents=True)
    (tables / _MARKER).write_text("created by coptwin demo; wiped on every demo run\n")


def run(args: argparse.Namespace) -> int:
    from coptwin.engine.engine import Engine
    from coptwin.engine.summary import format_summary, summary_dict
    from coptwin.scene.citygen import ensure_city
    from coptwin.sim.feed import Feed, write_sensors
    from coptwin.sim.readings import ReadingSimulator
    from coptwin.sim.sensors import demo_sensors, street_routes

    cfg = load_config(args.config or default_config("demo.toml"))
    if cfg.storage.is_s3:
        raise cfg.error("storage.uri", "the demo runs on local tables; use `coptwin run` for S3")
    scene_path = cfg.resolve_path(cfg.scene.path or "")
    say = _Progress()
    say.line("city: building or reusing the sample scene ...")
    info = ensure_city(scene_path.parents[2])  # <data>/city/<name>/<name>.usdc
    if info.root_layer.resolve() != scene_path.resolve():
        raise cfg.error("scene.path", f"should be {info.root_layer} for the demo, not {scene_path}")
    layout = info.layout()

    tables = cfg.resolve_path(cfg.storage.uri)
    _prepare_tables(tables)
    sensors = demo_sensors(layout)
    write_sensors(cfg, sensors)
    sim = ReadingSimulator(sensors, routes=street_routes(layout), fraction=0.3)
    feed = Feed(cfg, sim, interval_s=args.interval, bad_rows=True)
    feed.backfill(minutes=30, step_min=10)
    say.line(f"tables: {sensors.height} sensors registered, history back-filled in {tables}")

    engine = Engine(cfg)
    t_open = time.perf_counter()
    engine.open()
    say.line(
        f"scene: {info.n_buildings} buildings, engine ready in {time.perf_counter() - t_open:.1f}s"
    )
    feed.start()
    end = time.monotonic() + (args.duration if args.duration is not None else 20.0)
    try:
        if args.serve:
            serve_engine(engine, args.host, args.port, args.duration)
        while not args.serve and time.monotonic() < end:
            engine.tick()
            snap = engine.snapshot()
            say.progress(_progress_text(snap, engine, end - time.monotonic()))
            time.sleep(cfg.events.polling.interval_s)
    finally:
        feed.stop()
    engine.tick()
    say.done()

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    engine.export(out / "overlay.usda", out / "cop.usda")
    from coptwin.render.snapshot import cop_picture

    cop_picture(engine).save(out / "cop.png")
    snap = engine.snapshot()
    if args.json:
        print(json.dumps(summary_dict(snap, engine.running), indent=2, default=str))
    else:
        print(format_summary(snap, engine.running))
        print(
            f"\nwrote {out / 'overlay.usda'}, {out / 'cop.usda'} (open it in any USD viewer) "
            f"and {out / 'cop.png'} (a picture of the COP)"
        )
    engine.close()
    return 0


def _progress_text(snap, engine, left: float) -> str:  # noqa: ANN001
    counts: dict[str, int] = {}
    for layer in snap.layers:
        for st, n in layer.counts.items():
            counts[st] = counts.get(st, 0) + n
    st = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    v = snap.status.versions.get("readings", "-")
    last = engine.last_tick.total_ms if engine.last_tick else 0.0
    return f"live: v{v} rows={engine.running.rows_read} {st} tick={last:.0f}ms ({left:.0f}s left)"


class _Progress:
    """One updating line on a terminal, plain lines otherwise (CI logs)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self._last = 0.0

    def line(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def progress(self, text: str) -> None:
        if self.tty:
            print("\r" + text.ljust(100)[:100], end="", file=sys.stderr, flush=True)
        elif time.monotonic() - self._last > 5:
            self._last = time.monotonic()
            print(text, file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty:
            print(file=sys.stderr)
