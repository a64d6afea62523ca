"""``coptwin bench``: speed and memory figures, each beside a baseline from the same run.

Suites: ``tick`` (one new Delta version touching 10k sensors on a 5M-row table,
vs. a pandas full scan + per-prim Usd writes), ``placement`` (10k sensors on a
5k-building scene), ``latency`` (commit-to-overlay over SeaweedFS, webhook
and polling), ``scale`` (S/M/L tables and scenes, docs/benchmarks.md; the L
size needs about 21 GiB free for its polars baseline and ~10 minutes), ``panel``
(main-thread cost of one Kit panel refresh with 10k sensors), ``snapshot``
(``coptwin snapshot --scene`` on the 120-building export, a 5,000-building city and the
instanced ce_ottawa_c) and ``web`` (the browser COP with 10k sensors in headless Chromium:
load time, frames/s, server CPU and bytes per update while 1k sensors change per second for 60 s)
and ``alarms`` (10k sensors, 5 % wavering around a threshold every tick: the alarms' share of
the tick, measured in the same ticks, beside the same ticks without alarms).
``--quick`` shrinks every size for a smoke run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

SUITES = ("tick", "placement", "latency", "scale", "panel", "snapshot", "web", "alarms")


HELP = "benchmarks with baselines measured in the same run (JSON)"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print only the JSON document")
    p.add_argument(
        "--suite", action="append", choices=SUITES, help="run only these suites (repeatable)"
    )
    p.add_argument("--quick", action="store_true", help="small sizes (smoke run, seconds)")
    p.add_argument("--workdir", type=Path, default=Path("work") / "bench", help="fixtures (reused)")
    p.set_defaults(func=run)


def _machine() -> dict[str, Any]:
    import os

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def _suite(name: str, args: argparse.Namespace) -> dict[str, Any]:
    work = args.workdir / ("quick" if args.quick else "full")
    if name == "tick":
        from coptwin.bench.tick import bench_tick

        return bench_tick(work / "tick", "quick" if args.quick else "full")
    if name == "placement":
        mod = importlib.import_module("coptwin.bench.placement")
        if args.quick:
            return mod.bench_placement(n_sensors=500, n_buildings=200)
        return mod.bench_placement()
    if name == "latency":
        mod = importlib.import_module("coptwin.bench.latency")
        return mod.bench_latency(commits=10 if args.quick else 50)
    if name == "panel":
        from coptwin.bench.panel import bench_panel

        if args.quick:
            return bench_panel(work / "panel", n_sensors=500, refreshes=5)
        return bench_panel(work / "panel")
    if name == "scale":
        from coptwin.bench.scale import SizeSpec, bench_scale

        if args.quick:
            tiny = SizeSpec("S-quick", 200, 20_000, 20, 100, 5_000, reduced="smoke run")
            return bench_scale((tiny,), work / "scale", ticks=2, appends=(200, 10))
        return bench_scale(("S", "M", "L"), work / "scale")
    if name == "web":
        from coptwin.bench.web import bench_web

        if args.quick:
            return bench_web(
                work / "web",
                n_sensors=2_000,
                n_buildings=200,
                changed_per_s=200,
                duration_s=8,
                idle_s=3,
            )
        return bench_web(work / "web")
    if name == "snapshot":
        from coptwin.bench.snapshot import bench_snapshot

        if args.quick:
            return bench_snapshot(
                work / "snapshot", buildings=200, only=("ce_ottawa_a", "generated")
            )
        return bench_snapshot(work / "snapshot")
    if name == "alarms":
        from coptwin.bench.alarms import bench_alarms

        if args.quick:
            return bench_alarms(work / "alarms", n_sensors=1_000, ticks=8)
        return bench_alarms(work / "alarms")
    raise ValueError(name)


def run(args: argparse.Namespace) -> int:
    suites = args.suite or list(SUITES)
    doc: dict[str, Any] = {"machine": _machine(), "quick": bool(args.quick)}
    failed = False
    for name in suites:
        t = time.perf_counter()
        if not args.json:
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            doc[name] = _suite(name, args)
        except ModuleNotFoundError as exc:
            doc[name] = {"error": f"suite not available in this build ({exc.name})"}
            failed = True
        except Exception as exc:  # report and go on with the other suites
            doc[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            failed = True
        doc[name]["suite_s"] = round(time.perf_counter() - t, 1)
    print(json.dumps(doc, indent=None if args.json else 2, default=str))
    return 1 if failed else 0
