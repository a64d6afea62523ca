"""Sensor ids and layer names -> valid, collision-proof USD prim names.

Sensor ids come from users' tables ("cam-01", "Zone A/3", "温度1"); prim names must be
identifiers.  A name that needed changing gets a short hash of the original id, so two
ids that sanitise alike ("a-1" and "a.1") never share a prim and the prim name of an id
is the same in every run, whatever order sensors arrive in.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Container
from datetime import datetime, timezone

from pxr import Tf

#: Longer ids are cut (plus hash) so paths stay readable in Kit's stage window.
MAX_NAME_LENGTH = 64


def _short_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()


def prim_name(raw: str, taken: Container[str] = ()) -> str:
    """A valid prim name for ``raw`` that is not in ``taken``."""
    valid = Tf.MakeValidIdentifier(raw) if raw else "_"
    if valid == raw and len(valid) <= MAX_NAME_LENGTH and valid not in taken:
        return valid
    base = f"{valid[:MAX_NAME_LENGTH]}_{_short_hash(raw)}"
    name, i = base, 1
    while name in taken:  # pathological: a literal id equal to another's hashed name
        i += 1
        name = f"{base}_{i}"
    return name


def stable_id(raw: str) -> int:
    """A stable non-negative 63-bit integer for a sensor id (PointInstancer ``ids``)."""
    digest = hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF


@functools.lru_cache(maxsize=4096)
def attr_name(key: str, namespace: str = "coptwin") -> str:
    """``coptwin:<key>`` with every namespace part made a valid identifier."""
    parts = [p for p in key.split(":") if p]
    if parts and parts[0] == namespace:
        parts = parts[1:]
    if not parts:
        raise ValueError(f"empty attribute name {key!r}")
    return ":".join([namespace, *(Tf.MakeValidIdentifier(p) for p in parts)])


def iso_utc(ts: datetime | str | None) -> str:
    """ISO-8601 UTC text with ``Z`` (naive datetimes are taken as UTC); strings pass through."""
    if ts is None:
        return ""
    if isinstance(ts, str):
        return ts
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts.isoformat(timespec="microseconds" if ts.microsecond else "seconds") + "Z"
