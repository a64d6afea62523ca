"""CityEngine's ``global_offset.json`` sidecar: the CRS and globalOffset USD does not store.

CityEngine's USD encoder subtracts a global offset from projected coordinates and
records neither it nor the CRS in the file; exports delivered with coptwin (and the
shared test scenes) carry them in ``global_offset.json`` beside the export folder:
``{"usd_root": "<name>/<name>.usdc", "crs": "EPSG:32618", "global_offset": [x, y, z]}``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from coptwin.config import SceneConfig
from coptwin.geo.errors import SceneError

log = logging.getLogger(__name__)

SIDECAR_NAME = "global_offset.json"


@dataclass(frozen=True)
class Sidecar:
    """What a sidecar says."""

    path: Path
    crs: str | None
    global_offset: tuple[float, float, float]
    #: The root layer it describes (resolved), when it names one.
    usd_root: Path | None = None

    def scene_config(self, base: SceneConfig | None = None) -> SceneConfig:
        """``base`` (default: an empty SceneConfig) with this sidecar's crs and offset."""
        import msgspec

        changes: dict[str, object] = {"global_offset": list(self.global_offset)}
        if self.crs:
            changes["crs"] = self.crs
        return msgspec.structs.replace(base or SceneConfig(), **changes)


def read_sidecar(path: Path) -> Sidecar:
    """Parse one sidecar file; a clear :class:`SceneError` when it is not one."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        offset = tuple(float(v) for v in doc["global_offset"])
        crs = str(doc["crs"]) if doc.get("crs") else None
        root = doc.get("usd_root")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SceneError(f"{path}: not a readable {SIDECAR_NAME} sidecar ({exc})") from None
    if len(offset) != 3 or not all(math.isfinite(v) for v in offset):
        raise SceneError(f"{path}: global_offset must be three finite numbers, got {offset}")
    usd_root = (Path(path).parent / str(root)).resolve() if root else None
    return Sidecar(Path(path), crs, (offset[0], offset[1], offset[2]), usd_root)


def find_sidecar(scene: Path) -> Sidecar | None:
    """The sidecar of a root layer: in its folder or the folder above (CityEngine's layout,
    ``<out>/global_offset.json`` + ``<out>/<name>/<name>.usdc``). A sidecar naming another
    root layer (``usd_root``) is not this scene's and is ignored."""
    scene = Path(scene).resolve()
    for folder in (scene.parent, scene.parent.parent):
        candidate = folder / SIDECAR_NAME
        if not candidate.is_file():
            continue
        try:
            found = read_sidecar(candidate)
        except SceneError as exc:
            log.warning("%s", exc)
            continue
        if found.usd_root is not None and found.usd_root != scene:
            log.debug("%s describes %s, not %s", candidate, found.usd_root, scene)
            continue
        return found
    return None
