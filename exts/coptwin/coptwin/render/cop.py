"""What the engine shows at one moment, in the terms a picture or a briefing needs.

Everything comes through the engine's public surface: ``open``/``tick``/``set_as_of``,
``snapshot()`` (sensor rows with status, position in scene units, bound building, layer;
Delta versions and as-of), ``book`` (reviewers' notes) and ``stage``. Pins stand where the
overlay puts them: :class:`coptwin.scene.pins.TargetResolver` resolves each note's target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from coptwin.config import STATUSES, Config
from coptwin.engine.snapshot import EngineSnapshot, SensorRow

XYZ = tuple[float, float, float]
_RANK = {s: i for i, s in enumerate(STATUSES)}


@dataclass(frozen=True)
class Note:
    """An open reviewers' note and where its pin stands (stage coordinates, or None)."""

    annotation_id: str
    target: str
    author: str
    created_at: datetime
    text: str
    replies: int
    position: XYZ | None


@dataclass(frozen=True)
class CopState:
    """One moment of the COP: the engine snapshot plus open notes."""

    snapshot: EngineSnapshot
    notes: tuple[Note, ...]
    scene_path: str
    overlay_root: str
    object_id_attribute: str

    @property
    def visible_layers(self) -> set[str]:
        return {layer.name for layer in self.snapshot.layers if layer.visible}

    def shown_sensors(self) -> list[SensorRow]:
        """Sensors of visible layers that have a position (what markers show)."""
        layers = self.visible_layers
        return [s for s in self.snapshot.sensors if s.layer in layers and s.position is not None]

    def worst_by_building(self) -> dict[str, str]:
        """Bound building prim path -> worst status of the sensors bound to it."""
        worst: dict[str, str] = {}
        for s in self.snapshot.sensors:
            if s.bound_prim:
                old = worst.get(s.bound_prim)
                if old is None or worst_of(old, s.status) != old:
                    worst[s.bound_prim] = s.status
        return worst

    def title(self) -> str:
        """``COP live at …`` or ``COP as of …`` (UTC)."""
        as_of = self.snapshot.status.as_of
        if as_of is None:
            return f"COP live at {fmt_time(self.snapshot.now)}"
        if isinstance(as_of, datetime):
            return f"COP as of {fmt_time(as_of)}"
        return f"COP as of readings version {as_of}"

    def versions_text(self) -> str:
        v = self.snapshot.status.versions
        return "Delta versions: " + (
            ", ".join(f"{k} v{v[k]}" for k in sorted(v)) if v else "none read"
        )


def worst_of(a: str, b: str) -> str:
    """The more severe of two statuses (``config.STATUSES`` order; unknown names last)."""
    return a if _RANK.get(a, len(_RANK)) <= _RANK.get(b, len(_RANK)) else b


def fmt_time(when: datetime | None) -> str:
    if when is None:
        return "(no time)"
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def open_engine(config: Config, as_of: int | datetime | None = None) -> Any:
    """An engine that has read what is there (and jumped to ``as_of`` when given)."""
    from coptwin.engine.engine import Engine

    engine = Engine(config)
    engine.open()
    engine.tick()
    if as_of is not None:
        engine.set_as_of(as_of)
    return engine


def read_state(engine: Any) -> CopState:
    """The COP the engine shows now (see module doc)."""
    from coptwin.scene.pins import TargetResolver

    snap = engine.snapshot()
    positions = {s.sensor_id: s.position for s in snap.sensors if s.position is not None}
    resolve = TargetResolver(engine.stage, positions)
    book = engine.book
    notes = []
    for note in book.roots(status="open"):
        notes.append(
            Note(
                annotation_id=note.annotation_id,
                target=note.target,
                author=note.author,
                created_at=note.created_at,
                text=note.text,
                replies=len(book.thread(note.annotation_id)) - 1,
                position=resolve(note.target),
            )
        )
    notes.sort(key=lambda n: (n.created_at, n.annotation_id))
    cfg = engine.config
    return CopState(
        snapshot=snap,
        notes=tuple(notes),
        scene_path=str(cfg.resolve_path(cfg.scene.path or "")),
        overlay_root=cfg.scene.overlay_root,
        object_id_attribute=cfg.scene.object_id_attribute,
    )
