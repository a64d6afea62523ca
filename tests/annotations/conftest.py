"""Shared fixtures for the annotation tests: real Delta tables in tmp_path, real stages."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from coptwin.annotations.model import AnnotationEvent
from coptwin.annotations.store import AnnotationStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture()
def store(tmp_path) -> AnnotationStore:
    """A store on a fresh local table with a deterministic, strictly increasing clock."""
    ticks = itertools.count()
    return AnnotationStore(
        str(tmp_path / "annotations"),
        max_text_length=100,
        clock=lambda: T0 + timedelta(seconds=next(ticks)),
    )


def ev(
    event: str,
    aid: str,
    eid: str,
    seconds: float,
    *,
    author: str = "ann",
    target: str | None = "sensor:s1",
    text: str | None = None,
    status: str | None = None,
    parent_id: str | None = None,
) -> AnnotationEvent:
    """A hand-made event at T0 + seconds."""
    if text is None and event in ("created", "replied", "edited"):
        text = f"{event} {eid}"
    return AnnotationEvent(
        annotation_id=aid,
        event_id=eid,
        event=event,
        created_at=T0 + timedelta(seconds=seconds),
        author=author,
        target=target,
        text=text,
        status=status,
        parent_id=parent_id,
    )


@pytest.fixture()
def stage():
    """A small in-memory stage with two buildings (Y-up, metres)."""
    from pxr import Usd, UsdGeom

    st = Usd.Stage.CreateInMemory()
    UsdGeom.SetStageUpAxis(st, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(st, 1.0)
    UsdGeom.Xform.Define(st, "/World")
    for name, (x, z, h) in {"B1": (10.0, 20.0, 30.0), "B2": (-50.0, 5.0, 12.0)}.items():
        cube = UsdGeom.Cube.Define(st, f"/World/{name}")
        cube.GetSizeAttr().Set(2.0)
        xf = UsdGeom.XformCommonAPI(cube)
        xf.SetTranslate((x, h / 2.0, z))
        xf.SetScale((4.0, h / 2.0, 6.0))
    return st
