"""``coptwin inspect SCENE``: check a CityEngine USD export (or any USD city).

Reports up axis, metersPerUnit, extent (scene units and metres), the georeference found
(config-free: a CityEngine global_offset.json sidecar, Cesium, omni:geospatial, or none),
buildings and how they are identified, instancing, triangles, terrain, problems, and
OpenUSD's own validators. Exit code 0 when there are no errors, 1 when there are, 2 when
the file cannot be read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from coptwin.cli import CommandError

HELP = "check a USD city: frame, georeference, buildings, instancing, problems"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("scene", type=Path, help="root USD layer of the scene")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument(
        "--object-id-attribute",
        default=None,
        help="building id attribute (default CityEngine:Rule:User:OBJECTID)",
    )
    p.add_argument(
        "--no-usd-checks",
        action="store_true",
        help="skip OpenUSD's validators (slow on big scenes)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coptwin.geo.errors import SceneError
    from coptwin.render.inspect import inspect_scene

    try:
        result = inspect_scene(
            args.scene,
            object_id_attribute=args.object_id_attribute,
            compliance=not args.no_usd_checks,
        )
    except SceneError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.table())
    return 0 if result.ok else 1
