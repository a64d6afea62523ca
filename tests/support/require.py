"""Prerequisites of the tests: a missing one skips with its reason locally and fails
under CI (``CI`` set to 1/true/yes), where testing less must never pass silently."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The CityEngine test scenes, read only (``<repo>/../shared``).
SHARED = REPO.parent / "shared"


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip the test with ``reason``, or fail it under CI."""
    if under_ci():
        pytest.fail(f"{reason} (required under CI=true)", pytrace=False)
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    """A path inside ``../shared`` that must exist (see :func:`unavailable`)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        unavailable(f"{path} not found: the CityEngine test scenes live in ../shared")
    return path
