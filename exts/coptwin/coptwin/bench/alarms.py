"""Alarms benchmark: 10k sensors, 5 % of them wavering around a threshold every tick.

One new Delta version per tick carries a reading of each wavering sensor (alternately
just above and just below ``alarm_high``, in random order); the rest of the fleet is
quiet (the stringent case: the tick itself is small, so the alarms' share is large),
and a second run has every sensor report each tick.  Each variant is a real engine over
the same tables, ticked with a clock one second apart, and measured in the same ticks:

* ``tick``          the whole engine tick as the live loop runs it (read, merge, rules,
                    alarms, table append, overlay within the main-thread budget);
* ``evaluate``      the alarms' share of it (:meth:`EngineAlarms.judge`: evaluator, fold
                    into the book, rings), the figure the issue asks to keep within 10 %;
* ``append``        writing the tick's transitions to the alarms table (a Delta commit,
                    in the same worker half of the tick).

Variants: ``no_alarms`` (no alarms table: the tick without any of it), ``plain`` (every
flip is a transition: ~250 per tick, each tick appends) and ``delays`` (``alarm_delay_s``
2, ``clear_delay_s`` 5 and a ``deadband``: chattering protection, the recommended set-up).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from coptwin.bench.common import summarise
from coptwin.bench.tick import _temperatures, config_text, sensor_ids, write_ground_sensors

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
VARIANTS: dict[str, str] = {
    "no_alarms": "",
    "plain": '[tables.alarms]\npath = "alarms-plain"\n',
    "delays": '[tables.alarms]\npath = "alarms-delays"\n',
}
DELAYS = "alarm_delay_s = 2.0\nclear_delay_s = 5.0\ndeadband = 0.2\n"


def build(workdir: Path, n_sensors: int) -> tuple[Path, dict[str, Path]]:
    """City, sensors, one quiet reading each; a config per variant (fresh alarms tables)."""
    import shutil

    from coptwin.scene.citygen import ensure_city
    from coptwin.sim.writer import append_batch

    workdir = Path(workdir).resolve()
    shutil.rmtree(workdir / "tables", ignore_errors=True)
    info = ensure_city(workdir / "data")
    rng = np.random.default_rng(7)
    tables = workdir / "tables"
    ids = write_ground_sensors(tables / "sensors", info, n_sensors, rng)
    first = _temperatures(ids, T0, rng.normal(20, 2, n_sensors), None)
    append_batch(str(tables / "readings"), first, partition_by=["date"])
    base = config_text(tables, info.root_layer, list(info.global_offset))
    configs = {}
    for name, extra in VARIANTS.items():
        text = base + (DELAYS if name == "delays" else "") + extra
        path = workdir / f"bench-{name}.toml"
        path.write_text(text, encoding="utf-8")
        configs[name] = path
    return tables / "readings", configs


WARM_UP = 3


def _run(
    cfg_path: Path, readings: Path, n: int, ticks: int, everyone: bool, clock: dict
) -> dict[str, Any]:
    """``ticks`` measured ticks (after a few warm-up ones) of one variant; ``clock`` goes
    on from run to run, so every run's readings are newer than the table's."""
    from coptwin.config import load_config
    from coptwin.engine.engine import Engine
    from coptwin.sim.writer import append_batch

    cfg = load_config(cfg_path)
    engine = Engine(cfg, clock=lambda: clock["t"])
    engine.open()
    engine.tick()
    ids = np.array(sensor_ids(n))
    rng = np.random.default_rng(11)
    waver = rng.choice(n, size=n // 20, replace=False)
    tick_ms, eval_ms, append_ms, events = [], [], [], []
    for k in range(-WARM_UP, ticks):
        clock["t"] += timedelta(seconds=1)
        values = 35.0 + np.where(rng.random(waver.size) < 0.5, 0.1, -0.1)  # around alarm_high
        if everyone:
            quiet = rng.normal(20, 2, n)
            quiet[waver] = values
            frame = _temperatures(ids, clock["t"], quiet, None)
        else:
            frame = _temperatures(ids[waver], clock["t"], values, None)
        append_batch(str(readings), frame, partition_by=["date"])
        before = engine.alarms.live.event_count if engine.alarms is not None else 0
        t = time.perf_counter()
        engine.commit(engine.prepare())  # the live loop's tick (details within the budget)
        if k < 0:
            continue
        tick_ms.append((time.perf_counter() - t) * 1000)
        if engine.alarms is not None:
            eval_ms.append(engine.alarms.evaluate_ms)
            append_ms.append(
                engine.alarms.append_ms if engine.alarms.live.event_count > before else 0.0
            )
            events.append(engine.alarms.live.event_count - before)
    out: dict[str, Any] = {"tick": summarise(tick_ms)}
    if eval_ms:
        share = [e / t for e, t in zip(eval_ms, tick_ms, strict=True)]
        out.update(
            {
                "evaluate": summarise(eval_ms),
                "evaluate_share_of_tick": round(statistics.median(share), 4),
                "append_when_written": summarise([a for a in append_ms if a]),
                "transitions_per_tick": float(statistics.median(events)),
                "open_alarms_after": len(engine.alarms.live.open_alarms()),
            }
        )
    engine.close()
    return out


def bench_alarms(workdir: Path, *, n_sensors: int = 10_000, ticks: int = 40) -> dict[str, Any]:
    """Every variant, quiet fleet and everyone reporting, with the alarms' share per tick."""
    readings, configs = build(workdir, n_sensors)
    clock = {"t": datetime.now(timezone.utc)}
    out: dict[str, Any] = {
        "what": f"{n_sensors} sensors, 5 % wavering around alarm_high every tick",
        "sensors": n_sensors,
        "ticks": ticks,
    }
    for load, everyone in (("wavering_only", False), ("everyone_reports", True)):
        runs = {
            name: _run(cfg, readings, n_sensors, ticks, everyone, clock)
            for name, cfg in configs.items()
        }
        base = runs["no_alarms"]["tick"]["median_ms"]
        for name in ("plain", "delays"):
            runs[name]["tick_over_no_alarms_ms"] = round(runs[name]["tick"]["median_ms"] - base, 2)
        out[load] = runs
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--workdir", type=Path, default=Path("work/bench/alarms"))
    p.add_argument("--sensors", type=int, default=10_000)
    p.add_argument("--ticks", type=int, default=40)
    args = p.parse_args()
    print(json.dumps(bench_alarms(args.workdir, n_sensors=args.sensors, ticks=args.ticks)))


if __name__ == "__main__":
    main()
