"""A lease so that only one maintenance run compacts a table at a time.

delta-rs 1.x lets two OPTIMIZE commits that rewrite the *same* files both
succeed (their removes have ``dataChange=false``, which its conflict checker
no longer treats as a conflict), and then every compacted row is in the table
twice.  Overlapping cron runs are the realistic way to get there, so a run
first creates ``_coptwin/maintenance.lease`` in the table folder with a
create-if-absent put (atomic on local disks and on S3 stores with conditional
writes); a second run finds it and stops.  The lease names its owner and an
expiry so a crashed run does not block maintenance forever: an expired lease
is deleted and re-created, and the owner re-checks the lease before each
partition so it stops if it was taken over.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import socket
import uuid
from typing import Any

import obstore
from obstore.exceptions import AlreadyExistsError, NotFoundError

log = logging.getLogger(__name__)

LEASE_PATH = "_coptwin/maintenance.lease"


class LeaseBusy(RuntimeError):
    """Another maintenance run holds the table's lease."""


class MaintenanceLease:
    """Create-if-absent lease object in a table's store (an obstore store at the table root)."""

    def __init__(self, store: Any, *, ttl_s: float = 3600.0, clock: Any = None) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.token = uuid.uuid4().hex
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self.held = False

    def _document(self) -> bytes:
        expires = self._clock() + dt.timedelta(seconds=self.ttl_s)
        doc = {"token": self.token, "owner": self.owner, "expires": expires.isoformat()}
        return json.dumps(doc).encode()

    def _read(self) -> dict[str, Any] | None:
        try:
            raw = bytes(obstore.get(self.store, LEASE_PATH).bytes())
        except (NotFoundError, FileNotFoundError):
            return None
        try:
            doc = json.loads(raw)
            return doc if isinstance(doc, dict) else {}
        except ValueError:
            return {}  # unreadable lease: treated as expired below

    def _expired(self, doc: dict[str, Any]) -> bool:
        try:
            return dt.datetime.fromisoformat(str(doc["expires"])) < self._clock()
        except (KeyError, ValueError):
            return True

    def acquire(self) -> None:
        """Take the lease or raise :class:`LeaseBusy` naming the holder."""
        for _ in range(2):
            try:
                obstore.put(self.store, LEASE_PATH, self._document(), mode="create")
                self.held = True
                return
            except (AlreadyExistsError, FileExistsError):
                doc = self._read()
                if doc is None:
                    continue  # released between our put and our read
                if not self._expired(doc):
                    raise LeaseBusy(
                        f"another maintenance run ({doc.get('owner', '?')}) holds the lease "
                        f"until {doc.get('expires', '?')}"
                    ) from None
                log.warning("taking over an expired maintenance lease of %s", doc.get("owner"))
                self._delete()
        raise LeaseBusy("the maintenance lease changed hands while acquiring it")

    def still_mine(self) -> bool:
        """True while the lease object is ours (checked before each compaction)."""
        doc = self._read()
        return bool(self.held and doc is not None and doc.get("token") == self.token)

    def _delete(self) -> None:
        with contextlib.suppress(NotFoundError, FileNotFoundError):
            obstore.delete(self.store, LEASE_PATH)

    def release(self) -> None:
        if self.held and self.still_mine():
            self._delete()
        self.held = False

    def __enter__(self) -> MaintenanceLease:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
