"""Snapshot benchmark (issue 13): ``coptwin snapshot --scene`` time and peak memory.

Scenes: the shared 120-building CityEngine export ``ce_ottawa_a`` (aim < 5 s), a generated
5,000-building city (aim < 20 s) and the detailed, instanced ``ce_ottawa_c`` (1.43 M
triangles). Each runs in its own process (peak memory is its own) and reports:

* ``import_s``  -- importing VTK and the render modules (paid once per process);
* ``read_s``    -- open the stage, read every mesh (prototypes once) and identify
  buildings (:func:`coptwin.render.scene_mesh.load_scene`);
* ``georef_s``  -- find the georeference (sidecar) and build the frame (pyproj);
* ``render_s``  -- camera, VTK off-screen render, frame and legend, PNG encoding;
* ``total_s``   -- read + georef + render (what the aims are about), and ``peak_rss_mb``;
* baseline in a fresh process of the same run: ``index_read_s``, opening the same stage
  and building :class:`coptwin.geo.index.SceneIndex` (uncached: the same reading, plus
  its ray grid), and ``read_speedup_vs_index``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from coptwin.bench.common import peak_rss_mb, ratio, run_child

#: Aims from the issue, seconds (read + render + PNG).
AIMS = {"ce_ottawa_a": 5.0, "generated": 20.0}
SIZE = (1280, 720)
REPO_ROOT = Path(__file__).resolve().parents[4]
SHARED_SCENES = REPO_ROOT.parent / "shared" / "scenes"


def bench_snapshot(
    workdir: Path,
    *,
    buildings: int = 5000,
    baseline: bool = True,
    only: tuple[str, ...] = ("ce_ottawa_a", "generated", "ce_ottawa_c"),
) -> dict:
    """Run every scene in a child process; missing shared scenes are reported, not failed."""
    from coptwin.scene.citygen import ensure_city
    from coptwin.scene.citylayout import blocks_for

    bx, by = blocks_for(buildings)
    t = time.perf_counter()
    city = ensure_city(Path(workdir) / "cities" / f"b{buildings}", blocks_x=bx, blocks_y=by)
    scenes: dict[str, Path | None] = {
        "ce_ottawa_a": SHARED_SCENES / "ce_ottawa_a" / "ce_ottawa_a" / "ce_ottawa_a.usdc",
        "generated": city.root_layer,
        "ce_ottawa_c": SHARED_SCENES / "ce_ottawa_c" / "ce_ottawa_c" / "ce_ottawa_c.usdc",
    }
    out: dict[str, Any] = {
        "size": f"{SIZE[0]}x{SIZE[1]}",
        "generated_buildings": city.n_buildings,
        "generate_s": round(time.perf_counter() - t, 2),
    }
    for name, path in scenes.items():
        if name not in only:
            continue
        if path is None or not path.is_file():
            out[name] = {"skipped": f"scene not found at {path}"}
            continue
        doc = run_child("coptwin.bench.snapshot", ["--scene", str(path)])
        if baseline:
            base = run_child("coptwin.bench.snapshot", ["--scene", str(path), "--index"])
            doc["index_read_s"] = base["index_read_s"]
            doc["read_speedup_vs_index"] = ratio(base["index_read_s"], doc["read_s"])
        if name in AIMS:
            doc["aim_s"] = AIMS[name]
            doc["within_aim"] = doc["total_s"] < AIMS[name]
        out[name] = doc
    return out


def measure(scene: Path) -> dict[str, Any]:
    """One scene in this process (the child's job)."""
    t0 = time.perf_counter()
    from coptwin.config import SceneConfig
    from coptwin.render.georef import discover
    from coptwin.render.scene_mesh import load_scene, open_stage
    from coptwin.render.snapshot import render_bare

    import_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    stage = open_stage(scene)
    loaded = load_scene(stage, object_id_attribute=SceneConfig().object_id_attribute)
    t_read = time.perf_counter()
    found = discover(stage, scene, None)
    t2 = time.perf_counter()
    png = render_bare(loaded, found, size=SIZE, title=scene.name).png()
    t3 = time.perf_counter()
    return {
        "buildings": len(loaded.buildings),
        "triangles": loaded.stats.triangles,
        "instances": loaded.stats.instances,
        "import_s": round(import_s, 2),
        "read_s": round(t_read - t1, 2),
        "georef_s": round(t2 - t_read, 2),
        "render_s": round(t3 - t2, 2),
        "total_s": round(t3 - t1, 2),
        "png_bytes": len(png),
        "peak_rss_mb": round(peak_rss_mb() or 0.0, 1),
    }


def measure_index(scene: Path) -> dict[str, Any]:
    """The baseline in a fresh process: open + build the scene index (same reader + grid)."""
    from coptwin.config import SceneConfig
    from coptwin.geo.index import SceneIndex
    from coptwin.render.scene_mesh import open_stage

    t = time.perf_counter()
    SceneIndex.build(open_stage(scene), SceneConfig(), use_cache=False)
    return {"index_read_s": round(time.perf_counter() - t, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--scene", type=Path, required=True)
    p.add_argument("--index", action="store_true", help="measure the baseline instead")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(measure_index(args.scene) if args.index else measure(args.scene)))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover - run by bench_snapshot in a child process
    sys.exit(main())
