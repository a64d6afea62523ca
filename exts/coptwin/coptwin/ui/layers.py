"""Sensor layers: one row per layer with a visibility toggle and status counts.

Operators switch whole layers (security, environment, …) on and off.  The
toggle goes straight to the engine, which hides the layer in the overlay; the
row shows the new state at once and the next snapshot confirms it.

Reviewers' note pins are a layer of their own ("Annotations"): one more row,
shown only when the engine draws notes, whose toggle hides the pins scope.
It is kept apart from the sensor layers so hiding notes never hides sensor
rows in the table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..config import STATUSES
from ..engine.snapshot import LayerRow
from ..model.palette import RGB

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LayerItem:
    """What one layer row shows."""

    name: str
    label: str
    visible: bool
    counts: dict[str, int]
    total: int
    #: e.g. "1 alarm · 2 warn · 5 ok" (statuses by severity, zeros left out).
    counts_text: str


@dataclass(frozen=True)
class NotesLayerItem:
    """The "Annotations" row: reviewers' pins, toggled as one layer."""

    label: str
    visible: bool
    #: e.g. "2 open · 1 resolved".
    counts_text: str


ANNOTATIONS_LABEL = "Annotations"


def notes_counts_text(counts: dict[str, int]) -> str:
    """Open and resolved thread counts for the Annotations row."""
    if not counts.get("all"):
        return "no notes"
    return f"{counts.get('open', 0)} open · {counts.get('resolved', 0)} resolved"


@dataclass(frozen=True)
class LegendItem:
    status: str
    label: str
    rgb: RGB


def counts_text(counts: dict[str, int]) -> str:
    """Non-zero counts by severity; statuses outside STATUSES follow, sorted."""
    order = [s for s in STATUSES if counts.get(s)]
    order += sorted(s for s in counts if s not in STATUSES and counts[s])
    return " · ".join(f"{counts[s]} {s}" for s in order) or "no sensors"


def legend(palette: dict[str, RGB]) -> list[LegendItem]:
    """Legend rows in severity order from the core's palette (status -> rgb)."""
    return [LegendItem(s, s.capitalize(), tuple(palette[s])) for s in STATUSES if s in palette]


def core_palette() -> dict[str, RGB]:
    """The core palette (coptwin.model.palette.PALETTE); empty when unavailable."""
    try:
        from ..model.palette import PALETTE
    except ImportError as exc:
        log.warning("colour legend unavailable: %s", exc)
        return {}
    return dict(PALETTE)


class LayersVM:
    """Layer rows plus the toggle that drives the overlay's visibility."""

    def __init__(
        self,
        set_visible: Callable[[str, bool], None] | None = None,
        set_notes_visible: Callable[[bool], None] | None = None,
    ) -> None:
        self._set_visible = set_visible
        self._set_notes_visible = set_notes_visible
        self._items: list[LayerItem] = []
        #: The Annotations row (None: this engine draws no notes).
        self.notes: NotesLayerItem | None = None
        self.error = ""

    def bind(
        self,
        set_visible: Callable[[str, bool], None] | None,
        set_notes_visible: Callable[[bool], None] | None = None,
    ) -> None:
        """Point the toggles at a (new) engine; its overlay starts with every pin shown."""
        self._set_visible = set_visible
        self._set_notes_visible = set_notes_visible
        self._items = []
        self.notes = None
        self.error = ""

    def update_notes(self, counts: dict[str, int] | None) -> bool:
        """Refresh the Annotations row (None: no notes layer); True when it changed."""
        if counts is None or self._set_notes_visible is None:
            row = None
        else:
            visible = self.notes.visible if self.notes is not None else True
            row = NotesLayerItem(ANNOTATIONS_LABEL, visible, notes_counts_text(counts))
        changed = row != self.notes
        self.notes = row
        return changed

    def toggle_notes(self, visible: bool) -> bool:
        """Show or hide every annotation pin; False (and ``error`` set) when it failed."""
        if self._set_notes_visible is None or self.notes is None:
            self.error = "no annotations layer: the COP is not running or has no notes table"
            return False
        try:
            self._set_notes_visible(visible)
        except Exception as exc:  # shown in the panel, never raised into Kit
            log.warning("could not set annotation pins visible=%s: %s", visible, exc)
            self.error = f"could not {'show' if visible else 'hide'} the annotations: {exc}"
            return False
        self.notes = NotesLayerItem(self.notes.label, visible, self.notes.counts_text)
        self.error = ""
        return True

    @property
    def items(self) -> list[LayerItem]:
        return list(self._items)

    def update(self, layers: Sequence[LayerRow]) -> bool:
        """Take the engine's layer rows; True when anything the panel shows changed."""
        items = [
            LayerItem(
                name=row.name,
                label=row.label or row.name,
                visible=row.visible,
                counts=dict(row.counts),
                total=row.total,
                counts_text=counts_text(row.counts),
            )
            for row in layers
        ]
        changed = items != self._items
        self._items = items
        return changed

    def hidden_layers(self) -> set[str]:
        """Names of layers switched off (sensors of unlisted layers stay shown)."""
        return {item.name for item in self._items if not item.visible}

    def toggle(self, name: str, visible: bool) -> bool:
        """Show or hide one layer; False (and ``error`` set) when it failed."""
        index = next((i for i, item in enumerate(self._items) if item.name == name), None)
        if index is None:
            self.error = f"no layer named {name!r}"
            return False
        if self._set_visible is None:
            self.error = "the COP is not running"
            return False
        try:
            self._set_visible(name, visible)
        except Exception as exc:  # shown in the panel, never raised into Kit
            log.warning("could not set layer %r visible=%s: %s", name, visible, exc)
            self.error = f"could not {'show' if visible else 'hide'} layer {name!r}: {exc}"
            return False
        old = self._items[index]
        self._items[index] = LayerItem(
            old.name, old.label, visible, old.counts, old.total, old.counts_text
        )
        self.error = ""
        return True
