"""``coptwin simulate``: stream realistic readings into the configured tables.

Works against any configured storage (local folder or S3).  Sensors come from
the configured sensors table; ``--register-demo-sensors`` first registers the
sample city's sensors (run ``coptwin demo`` once, or point ``--city`` at a city
made by coptwin.scene.citygen).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from coptwin.commands._common import add_config_arg, load

HELP = "append simulated sensor readings to the Delta tables"


def register(p: argparse.ArgumentParser) -> None:
    add_config_arg(p)
    p.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between commits")
    p.add_argument("--fraction", type=float, default=0.3, help="share of sensors per batch")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--bad-rows", action="store_true", help="mix in malformed rows now and then")
    p.add_argument(
        "--register-demo-sensors",
        action="store_true",
        help="write the sample city's sensors to the sensors table first",
    )
    p.add_argument("--city", type=Path, default=None, help="city folder (default data/city)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from coptwin.commands._common import REPO_ROOT
    from coptwin.delta import read_table
    from coptwin.model.columns import to_canonical
    from coptwin.sim.feed import Feed, write_sensors
    from coptwin.sim.readings import ReadingSimulator, Route
    from coptwin.storage import delta_storage_options

    cfg = load(args)
    routes: list[Route] = []
    if args.register_demo_sensors:
        from coptwin.scene.citygen import ensure_city
        from coptwin.sim.sensors import demo_sensors, street_routes

        info = ensure_city((args.city or REPO_ROOT / "data" / "city").parent)
        layout = info.layout()
        write_sensors(cfg, demo_sensors(layout))
        routes = street_routes(layout)
    sensors = to_canonical(
        read_table(cfg.table_uri("sensors"), delta_storage_options(cfg.storage)),
        cfg.tables.sensors,
        "sensors",
    )
    if not routes:
        # Trackers drive a 300 m square around where they were registered.
        for lon, lat in (
            sensors.filter(sensors["kind"] == "gps_tracker").select("lon", "lat").rows()
        ):
            d_lat, d_lon = 0.0027, 0.0027 / max(np.cos(np.radians(lat)), 0.1)
            routes.append(
                Route(
                    np.array([lon, lon + d_lon, lon + d_lon, lon]),
                    np.array([lat, lat, lat + d_lat, lat + d_lat]),
                )
            )
    sim = ReadingSimulator(sensors, routes=routes, seed=args.seed, fraction=args.fraction)
    feed = Feed(cfg, sim, interval_s=args.interval, bad_rows=args.bad_rows)
    end = time.monotonic() + args.duration
    feed.start()
    try:
        while time.monotonic() < end and (feed._thread and feed._thread.is_alive()):
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        feed.stop()
    print(f"simulate: {feed.commits} commits, {feed.rows} rows to {cfg.table_uri('readings')}")
    return 0
