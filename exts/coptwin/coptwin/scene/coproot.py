"""The COP root stage: a tiny .usda that sublayers the overlay over the base scene.

Any USD viewer (usdview, Omniverse, Blender) opening it sees the city with the live
markers, without coptwin.  Paths are relative so the folder can be moved or zipped.
The base scene is opened read-only for its metadata; nothing in it is written.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pxr import Sdf

from coptwin.scene.layer_file import write_layer

log = logging.getLogger(__name__)


def _rel(target: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(target, start)).as_posix()
    except ValueError:  # another drive on Windows: no relative path exists
        return target.resolve().as_posix()


def write_cop_root(path: Path | str, base_scene_path: Path | str, overlay_path: Path | str) -> Path:
    """Write ``path`` sublayering ``overlay_path`` (strongest) and ``base_scene_path``.

    upAxis, metersPerUnit and defaultPrim are copied from the base scene's root layer so
    the composed stage has the base scene's frame.
    """
    path = Path(path).absolute()
    base = Path(base_scene_path).absolute()
    overlay = Path(overlay_path).absolute()
    if path.resolve() in (base.resolve(), overlay.resolve()):
        raise ValueError(f"{path}: the COP root must not replace the base scene or the overlay")
    base_layer = Sdf.Layer.FindOrOpen(str(base))
    if base_layer is None:
        raise ValueError(f"{base}: cannot open the base scene")
    path.parent.mkdir(parents=True, exist_ok=True)
    layer = Sdf.Layer.CreateAnonymous(".usda")
    info = base_layer.pseudoRoot
    for key in ("upAxis", "metersPerUnit"):
        if info.HasInfo(key):
            layer.pseudoRoot.SetInfo(key, info.GetInfo(key))
    if base_layer.defaultPrim:
        layer.defaultPrim = base_layer.defaultPrim
    layer.subLayerPaths.append(_rel(overlay, path.parent))
    layer.subLayerPaths.append(_rel(base, path.parent))
    layer.comment = "coptwin Common Operating Picture: overlay (strongest) over the base scene"
    write_layer(layer, path)
    log.info("wrote COP root %s", path)
    return path
