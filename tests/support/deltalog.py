"""Dating a local Delta commit: fixtures with a fake clock write their history in it.

A fixture whose engine runs at a fixed ``NOW`` writes readings stamped around it, but
deltalake dates each commit with the real clock.  Time travel judges a version at its
commit time, so such a fixture dates its commits in its own world: ``commitInfo``
timestamp and the commit file's modification time (what Delta readers use for
"as of a time") both set to ``when``.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path


def date_commit(table: str | Path, version: int, when: datetime) -> None:
    """Make commit ``version`` of the local table at ``table`` look written at ``when``."""
    path = Path(table) / "_delta_log" / f"{version:020d}.json"
    ms = int(when.timestamp() * 1000)
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        action = json.loads(line) if line.strip() else None
        if action is not None and "commitInfo" in action:
            action["commitInfo"]["timestamp"] = ms
            line = json.dumps(action)
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.utime(path, (when.timestamp(), when.timestamp()))
