"""Writing a layer file so that readers only ever see a whole one, and nothing is left
behind when the writer is killed.

``coptwin run`` rewrites the overlay every few seconds while viewers may open it.  USD's
own ``Layer.Export`` already writes through a temporary file it renames, but a
process killed mid-write (kill -9, a power cut) leaves that temporary file behind,
named like ``overlay.a1B2c3``, which nothing recognises.  Here the layer is exported
to ``<stem>.coptwin-tmp-<pid><suffix>`` beside the target and then renamed over it
(``os.replace``, atomic on one volume on Windows and POSIX), so every leftover,
USD's own temporary files included, starts with ``<stem>.coptwin-tmp``, and
:func:`remove_leftovers` deletes them at the next start.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pxr import Sdf

log = logging.getLogger(__name__)

#: What every temporary file of :func:`write_layer` has after the target's stem.
TEMP_MARK = ".coptwin-tmp"


def temp_path(target: Path) -> Path:
    """The temporary file :func:`write_layer` writes ``target`` through (this process's)."""
    return target.with_name(f"{target.stem}{TEMP_MARK}-{os.getpid()}{target.suffix}")


def write_layer(layer: Sdf.Layer, target: str | Path) -> Path:
    """Write ``layer`` to ``target`` atomically (format from the suffix, as USD does)."""
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    try:
        if not layer.Export(str(tmp)):
            raise OSError(f"{target}: could not write the layer")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def remove_leftovers(target: str | Path) -> list[Path]:
    """Delete temporary files a killed writer of ``target`` left behind; returns them.

    Call it once when a process starts writing ``target`` (not while another
    process writes the same file, whose temporary file it would delete).
    """
    target = Path(target).absolute()
    if not target.parent.is_dir():
        return []
    gone = []
    for leftover in target.parent.glob(f"{target.stem}{TEMP_MARK}*"):
        try:
            leftover.unlink()
        except OSError as exc:  # in use (Windows) or already gone
            log.debug("cannot remove %s: %s", leftover, exc)
            continue
        gone.append(leftover)
    if gone:
        log.info("removed %d temporary file(s) a killed writer left: %s", len(gone), gone[0].name)
    return gone
