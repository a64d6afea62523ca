"""Checking that a note's target exists before anything is written.

A target is checked as far as the caller can: sensor ids against the sensors
registry when one is given, prim paths against the stage when one is given,
points for finite coordinates always.  Without a registry or stage (e.g. the
CLI with no scene configured) only the syntax is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import Any

from coptwin.annotations.model import AnnotationError, Target


class TargetCheck:
    """Parse a target and verify it refers to something that exists.

    ``sensor_ids``: any container of known sensor ids (a set, the registry's
    ids) or a predicate ``sensor_id -> bool``; ``stage``: a ``Usd.Stage``.
    """

    def __init__(
        self,
        sensor_ids: Container[str] | Callable[[str], bool] | None = None,
        stage: Any | None = None,
    ) -> None:
        self._sensor_ids = sensor_ids
        self._stage = stage

    def __call__(self, target: str | Target) -> Target:
        parsed = target if isinstance(target, Target) else Target.parse(target)
        if parsed.kind == "sensor" and self._sensor_ids is not None:
            known = (
                self._sensor_ids(parsed.value)
                if callable(self._sensor_ids)
                else parsed.value in self._sensor_ids
            )
            if not known:
                raise AnnotationError(f"unknown sensor {parsed.value!r}: not in the sensors table")
        if parsed.kind == "prim" and self._stage is not None:
            prim = self._stage.GetPrimAtPath(parsed.value)
            if not prim or not prim.IsValid():
                raise AnnotationError(f"unknown prim {parsed.value!r}: not in the scene")
        return parsed
