"""What a scene index is built from, kept on disk so a restart skips reading the meshes.

Reading a big city's meshes through USD is most of a cold start after the stage open
(50k buildings: ~5 s of read, building rules, triangulation and instancing; see
docs/benchmarks.md). Its result, a :class:`~coptwin.geo.meshes.CityMesh`, is a pure
function of the layers the stage uses, two scene settings and the code that reads it,
so it is stored once per scene in the user's cache directory (never beside or in the
scene) and read back when nothing it depends on changed:

* the key is every used non-session layer's identifier, size and mtime (the key of the
  index's in-memory cache), the object-id attribute and overlay root, the USD version
  and a hash of the modules that read and triangulate (an upgrade never reads an entry
  the old code wrote);
* one file per scene root and settings (a changed scene overwrites its own entry), the
  key stored inside; the most recently used :data:`KEEP` entries are kept;
* a stale entry (a layer changed) or an unreadable one (a torn or corrupt file) is
  logged and rebuilt; entries are written to a temporary file and renamed, so readers
  never see half a file; a cache that cannot be written is logged and skipped.

``COPTWIN_CACHE_DIR`` moves the cache (the tests and the benchmark use their own);
set to an empty string it turns the disk cache off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

from coptwin.geo.buildings import Building
from coptwin.geo.meshes import CityMesh, MeshStats

log = logging.getLogger(__name__)

#: Entries kept (by last use); one per scene root and settings.
KEEP = 8
ENV = "COPTWIN_CACHE_DIR"
#: The modules whose code decides what a scene reads as (hashed into every key).
_CODE = ("meshes.py", "buildings.py", "triangulate.py", "frame.py", "index_cache.py")
_code_stamp: str | None = None


def cache_dir() -> Path | None:
    """Where entries live: ``COPTWIN_CACHE_DIR``, else the platform's user cache
    directory; None when the variable is set empty (disk cache off)."""
    env = os.environ.get(ENV)
    if env is not None:
        return Path(env).expanduser() / "scene-index" if env.strip() else None
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "coptwin" / "Cache" / "scene-index"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "coptwin" / "scene-index"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "coptwin" / "scene-index"


def _code() -> str:
    global _code_stamp
    if _code_stamp is None:
        from pxr import Usd

        digest = hashlib.sha256(repr(Usd.GetVersion()).encode())
        here = Path(__file__).parent
        for name in _CODE:
            digest.update((here / name).read_bytes())
        _code_stamp = digest.hexdigest()
    return _code_stamp


def _entry(key: tuple) -> tuple[Path, str] | None:
    """The entry's file and the full key as stored in it (JSON), or None (cache off)."""
    folder = cache_dir()
    if folder is None:
        return None
    root, stamps, *settings = key
    full = json.dumps([_code(), root, stamps, settings])
    name = hashlib.sha256(json.dumps([root, settings]).encode()).hexdigest()[:32]
    return folder / f"{name}.npz", full


def load(key: tuple) -> CityMesh | None:
    """The stored read for ``key`` (see :func:`coptwin.geo.index._cache_key`), or None."""
    try:
        entry = _entry(key)
    except OSError as exc:  # the code cannot be hashed: do without the cache
        log.warning("scene index cache off: %s", exc)
        return None
    if entry is None or not entry[0].is_file():
        return None
    path, full = entry
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta["key"] != full:
                why = _why(meta, key)
                log.info("scene index cache for %s is stale (%s); rebuilding", key[0], why)
                return None
            city = _city(meta, z["points"], z["tris"], z["owner"])
    except Exception as exc:  # any damage (torn zip, bad JSON, wrong shapes): rebuild
        log.warning(
            "scene index cache entry %s is unreadable (%s: %s); rebuilding",
            path,
            type(exc).__name__,
            exc,
        )
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # last use, for pruning
    return city


def _why(meta: dict, key: tuple) -> str:
    code, _root, stamps, settings = json.loads(meta["key"])
    if code != _code():
        return "coptwin or USD changed"
    if settings != list(key[2:]):
        return "scene settings changed"
    old = {s[0]: s[1:] for s in stamps}
    now = {s[0]: list(s[1:]) for s in key[1]}
    changed = [i for i in now if old.get(i) != now[i]] + [i for i in old if i not in now]
    return "changed layers: " + ", ".join(Path(i).name for i in changed[:5])


def _city(meta: dict, points: np.ndarray, tris: np.ndarray, owner: np.ndarray) -> CityMesh:
    """Check an entry's arrays against each other before anything uses them."""
    buildings = [
        Building(k, path, oid, source) for k, (path, oid, source) in enumerate(meta["buildings"])
    ]
    ok = (
        points.ndim == 2
        and points.shape[1] == 3
        and tris.ndim == 2
        and tris.shape[1] == 3
        and owner.shape == (tris.shape[0],)
        and (tris.size == 0 or (tris.min() >= 0 and tris.max() < points.shape[0]))
        and (owner.size == 0 or (owner.min() >= -1 and owner.max() < len(buildings)))
    )
    if not ok:
        raise ValueError("arrays do not fit together")
    stats = MeshStats(**meta["stats"])
    return CityMesh(points, tris, owner, buildings, meta["up_axis"], meta["meters_per_unit"], stats)


def store(key: tuple, city: CityMesh) -> None:
    """Write ``city`` as the entry for ``key`` (atomically); failures are logged only."""
    try:
        entry = _entry(key)
    except OSError as exc:
        log.warning("scene index cache off: %s", exc)
        return
    if entry is None:
        return
    path, full = entry
    meta = {
        "key": full,
        "up_axis": city.up_axis,
        "meters_per_unit": city.meters_per_unit,
        "stats": dataclasses.asdict(city.stats),
        "buildings": [[b.path, b.object_id, b.source] for b in city.buildings],
    }
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    t0 = time.perf_counter()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as fh:
            arrays = {"points": city.points, "tris": city.tris, "owner": city.owner}
            np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not write the scene index cache %s: %s", path, exc)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return
    log.info("scene index cached in %s (%.2f s)", path, time.perf_counter() - t0)
    _prune(path.parent)


def _prune(folder: Path) -> None:
    """Keep the :data:`KEEP` most recently used entries."""
    try:
        entries = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError as exc:  # another thread or process pruned at the same time
        log.debug("scene index cache prune: %s", exc)
