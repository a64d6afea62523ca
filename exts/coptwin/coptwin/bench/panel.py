"""Main-thread cost of one panel refresh with 10,000 sensors (issue 11.7).

A real engine over the tick fixture (10k sensors, local Delta tables, the demo
city) feeds a :class:`~coptwin.ui.panel.PanelVM` every 0.5 s of simulated time.

* **today's way** (before issue 11.7): the whole refresh on Kit's main thread —
  the engine snapshot, formatting, filtering and sorting every row — and every
  table row rebuilt by the window, because the age text changes;
* **now**: :meth:`PanelVM.prepare_refresh` in a worker thread (not on the main
  thread's clock) and :meth:`PanelVM.apply_refresh` on the main thread, which
  costs O(changed rows); the window rebuilds only the changed rows.

The omni.ui side cannot run here: the figure is the Kit-free main-thread part
plus the number of table rows the window would rebuild (one ``_item_changed``
each, or the whole table).  Steady state: no new data, time moves on.  After a
tick: one new Delta version that changes every sensor (the worst case).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from coptwin.bench.common import ratio, summarise
from coptwin.bench.tick import _new_version, build_fixture


def _age_texts(panel: Any) -> tuple[str, ...]:
    """The age column as today's table wrote it (to the second)."""
    from coptwin.ui.format import format_age

    return tuple(format_age(item.age_s) for item in panel.sensors.view.shown)


def _rows_rebuilt(panel: Any, changes: Any) -> int:
    """Rows the window rebuilds now: the changed ones, or all when rows moved."""
    if not changes.sensors:
        return 0
    view = panel.sensors.view
    return len(view.order) if view.reordered else len(view.changed)


def bench_panel(workdir: Path, n_sensors: int = 10_000, refreshes: int = 20) -> dict[str, Any]:
    from coptwin.config import load_config
    from coptwin.engine.engine import Engine
    from coptwin.ui.panel import PanelVM

    cfg_path = build_fixture(Path(workdir), n_sensors, n_rows=5 * n_sensors, commits=2)
    engine = Engine(load_config(cfg_path))
    engine.tick()
    today, now_way = PanelVM(), PanelVM()  # one panel per way: each keeps its own view
    today.bind(engine)
    now_way.bind(engine)
    t0 = engine.clock()
    today.refresh(t0)  # warm: the first view builds every row either way
    now_way.refresh(t0)

    def measure(start: Any) -> dict[str, Any]:
        old_ms, new_ms, prep_ms, old_rows, new_rows = [], [], [], [], []
        ages = _age_texts(today)
        for i in range(refreshes):
            now = start + timedelta(seconds=0.5 * (i + 1))
            t = time.perf_counter()
            changes = today.refresh(now)  # today's way: everything on the main thread
            old_ms.append((time.perf_counter() - t) * 1000)
            # Today's table rebuilt every row whenever any row's text changed, and its
            # age column (to the second) changed whenever a row was under a minute old.
            new_ages = _age_texts(today)
            moved = changes.sensors or new_ages != ages
            old_rows.append(len(today.sensors.view.order) if moved else 0)
            ages = new_ages
            t = time.perf_counter()
            prepared = now_way.prepare_refresh(now)  # a worker thread in Kit
            prep_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            changes = now_way.apply_refresh(prepared)
            new_ms.append((time.perf_counter() - t) * 1000)
            new_rows.append(_rows_rebuilt(now_way, changes))
        old, new = summarise(old_ms), summarise(new_ms)
        return {
            "todays_way_main_thread": old,
            "todays_way_rows_rebuilt_per_refresh": round(sum(old_rows) / len(old_rows), 1),
            "main_thread": new,
            "worker_part": summarise(prep_ms),
            "rows_rebuilt_per_refresh": round(sum(new_rows) / len(new_rows), 1),
            "speedup": ratio(old.get("median_ms"), new.get("median_ms")),
        }

    steady = measure(t0)
    _new_version(cfg_path, n_sensors, 0)
    engine.tick()
    after_tick = measure(engine.clock())
    return {
        "sensors": n_sensors,
        "steady": steady,
        "after_a_10k_tick": after_tick,
        "aim_main_thread_ms": 2.0,
        "aim_met": bool(steady["main_thread"].get("median_ms", 1e9) <= 2.0),
    }


def main() -> int:  # pragma: no cover - manual runs
    import sys

    print(json.dumps(bench_panel(Path(sys.argv[1] if len(sys.argv) > 1 else "work/bench/panel"))))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
