"""Opening a scene file: one clear :class:`SceneError` line when it is missing or not USD."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from coptwin.geo.errors import SceneError


def open_stage(path: str | Path) -> Any:
    """Open a USD file read-only in spirit (nothing here ever saves it).

    Usd raises a multi-line ``Tf.ErrorException`` (or returns None) for a file that
    is not USD; the error names the file and the one line of Tf's reason that says why.
    """
    from pxr import Tf, Usd

    path = Path(path)
    if not path.is_file():
        raise SceneError(f"{path}: no such file")
    try:
        stage = Usd.Stage.Open(str(path), Usd.Stage.LoadAll)
    except Tf.ErrorException as exc:
        first = str(exc).strip().splitlines()
        reason = next((line.strip() for line in first if line.strip()), "unreadable")
        quoted = re.search(r":\s*'(.+)'\s*$", reason)  # Tf's "Error in '...' at ... : 'why'"
        reason = quoted.group(1) if quoted else reason
        raise SceneError(f"{path}: not a readable USD file ({reason[:200]})") from None
    if stage is None:
        raise SceneError(f"{path}: not a readable USD file")
    return stage
