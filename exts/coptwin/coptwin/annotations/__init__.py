"""Reviewers' annotations: shared, append-only notes on sensors, prims and points.

- :mod:`.model` value types, target encoding and input checks;
- :mod:`.schema` the table's columns and the config's column mapping;
- :mod:`.fold` :class:`AnnotationBook`, current state as a fold of events;
- :mod:`.store` :class:`AnnotationStore`, validated appends with retry;
- :mod:`.targets` :class:`TargetCheck`, "does this target exist";
- :mod:`.export` GeoJSON / CSV export.
"""

from __future__ import annotations

from coptwin.annotations.fold import AnnotationBook
from coptwin.annotations.model import (
    STATUS_OPEN,
    STATUS_RESOLVED,
    Annotation,
    AnnotationError,
    AnnotationEvent,
    Target,
)
from coptwin.annotations.store import AnnotationStore
from coptwin.annotations.targets import TargetCheck

__all__ = [
    "STATUS_OPEN",
    "STATUS_RESOLVED",
    "Annotation",
    "AnnotationBook",
    "AnnotationError",
    "AnnotationEvent",
    "AnnotationStore",
    "Target",
    "TargetCheck",
]
