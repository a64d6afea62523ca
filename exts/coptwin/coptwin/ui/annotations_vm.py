"""View-model of the panel's notes section (Kit-free, tested with pytest).

It shows the notes for the current selection or all notes, filtered by
open/resolved, and turns the reviewer's actions (add to the selected sensor,
building or clicked point; reply; resolve; reopen; edit) into store writes.
Every failure — empty text, no target, an unknown note, storage down — becomes
``error`` text for the panel; nothing raises into Kit.  Note texts are handed
to the view as plain strings (omni.ui labels do not interpret markup).

Writes are synchronous Delta commits (tens of ms locally, ~100 ms on S3); the
Kit glue should call the action methods off the main thread.  The target
check reads the USD stage, which must not happen in a worker while Kit's main
thread authors the overlay, so the panel runs :meth:`AnnotationsVM.checked_target`
on the main thread first and hands the checked target to :meth:`AnnotationsVM.add`.
A successful write is handed to ``echo``: by default it is applied to the book
at once (the author sees the note before the table watcher delivers it; the
fold dedupes the later copy); the panel instead asks the engine to read the
table now, so the engine's fold also redraws the note's pin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from coptwin.annotations import (
    STATUS_OPEN,
    STATUS_RESOLVED,
    Annotation,
    AnnotationBook,
    AnnotationError,
    AnnotationEvent,
    Target,
)
from coptwin.storage import redact
from coptwin.ui.format import format_time

log = logging.getLogger(__name__)

Scope = Literal["selection", "all"]
StatusFilter = Literal["open", "resolved", "all"]
XYZ = tuple[float, float, float]


class NoteWriter(Protocol):
    """What the view-model needs of :class:`coptwin.annotations.store.AnnotationStore`."""

    def add(self, target: str, text: str, author: str, *, check=None) -> AnnotationEvent: ...
    def reply(self, parent_id: str, text: str, author: str) -> AnnotationEvent: ...
    def edit(self, annotation_id: str, text: str, author: str) -> AnnotationEvent: ...
    def resolve(self, annotation_id: str, author: str) -> AnnotationEvent: ...
    def reopen(self, annotation_id: str, author: str) -> AnnotationEvent: ...


@dataclass(frozen=True)
class NoteRow:
    """One line of the notes list: a thread root (depth 0) or a reply."""

    annotation_id: str
    thread_id: str
    depth: int
    status: str
    author: str
    when: str
    text: str
    target: str
    target_label: str
    replies: int
    edited: bool

    @property
    def can_resolve(self) -> bool:
        return self.depth == 0 and self.status == STATUS_OPEN

    @property
    def can_reopen(self) -> bool:
        return self.depth == 0 and self.status == STATUS_RESOLVED


def target_label(target: str, sensor_name: Callable[[str], str | None] | None = None) -> str:
    """A short human label: 'sensor T-12', 'building B1', 'point (1.0, 2.0, 3.0)'."""
    try:
        t = Target.parse(target)
    except AnnotationError:
        return target
    if t.kind == "sensor":
        name = sensor_name(t.value) if sensor_name is not None else None
        return f"sensor {name or t.value}"
    if t.kind == "point" and t.point is not None:
        return "point ({:.1f}, {:.1f}, {:.1f})".format(*t.point)
    return t.value.rsplit("/", 1)[-1]


def _matches(note_target: str, selected: Sequence[str]) -> bool:
    for sel in selected:
        if note_target == sel:
            return True
        if sel.startswith("/") and note_target.startswith(sel.rstrip("/") + "/"):
            return True  # a note on a part of the selected building
    return False


class AnnotationsVM:
    """State and actions of the notes section.

    ``book``: the engine's :class:`AnnotationBook` (or a callable returning it,
    so a reopened stage's new engine is picked up); ``writer``: the store;
    ``check``: target check used before adding (sensor registry, stage);
    ``sensor_for_path``: marker prim path -> sensor id; ``pins_scope``: the
    overlay path of the pins (``<root>/Annotations``) so picking a pin focuses
    its thread; ``echo``: how a written event reaches the book (default: apply
    it directly; pass a function that hands it to the engine's thread).
    """

    def __init__(
        self,
        book: AnnotationBook | Callable[[], AnnotationBook],
        writer: NoteWriter | None,
        *,
        author: str = "",
        check: Callable[[str], Target] | None = None,
        sensor_for_path: Callable[[str], str | None] | None = None,
        sensor_name: Callable[[str], str | None] | None = None,
        pins_scope: str | None = None,
        echo: Callable[[AnnotationEvent], None] | None = None,
    ) -> None:
        self._book = book
        self._writer = writer
        self._check = check
        self._sensor_for_path = sensor_for_path
        self._sensor_name = sensor_name
        self._pins_scope = pins_scope.rstrip("/") if pins_scope else None
        self._echo = echo
        self.author = author.strip()
        self.scope: Scope = "selection"
        self.status_filter: StatusFilter = "open"
        #: Encoded targets of the current stage selection.
        self.selection: list[str] = []
        #: Thread focused by picking its pin (None: none).
        self.focused: str | None = None
        self.clicked_point: XYZ | None = None
        self.error = ""
        #: Bumped on every change the view should redraw for.
        self.revision = 0

    # ---- inputs ------------------------------------------------------------
    @property
    def book(self) -> AnnotationBook:
        return self._book() if callable(self._book) else self._book

    def _changed(self) -> None:
        self.revision += 1

    def set_author(self, name: str) -> None:
        self.author = name.strip()
        self._changed()

    def set_scope(self, scope: Scope) -> None:
        if scope not in ("selection", "all"):
            self.error = f"unknown scope {scope!r}"
        else:
            self.scope = scope
        self._changed()

    def set_status_filter(self, status: StatusFilter) -> None:
        if status not in ("open", "resolved", "all"):
            self.error = f"unknown filter {status!r}"
        else:
            self.status_filter = status
        self._changed()

    def target_for_path(self, path: str) -> str | None:
        """The encoded target a picked prim stands for (None for pins)."""
        if self._pins_scope and path.startswith(self._pins_scope + "/"):
            return None
        if self._sensor_for_path is not None:
            try:
                sensor = self._sensor_for_path(path)
            except Exception as exc:  # a lookup failure must not break the panel
                log.warning("sensor lookup for %s failed: %s", path, exc)
                sensor = None
            if sensor:
                return str(Target.sensor(sensor))
        try:
            return str(Target.prim(path))
        except AnnotationError:
            return None

    def _pin_note(self, path: str) -> str | None:
        if not self._pins_scope or not path.startswith(self._pins_scope + "/"):
            return None
        from coptwin.scene.pins import pin_name

        name = path[len(self._pins_scope) + 1 :].split("/", 1)[0]
        for note in self.book.roots():
            if pin_name(note.annotation_id) == name:
                return note.annotation_id
        return None

    def on_stage_selection(self, paths: Sequence[str]) -> None:
        """The viewport selection changed (prim paths, last picked last)."""
        self.selection, self.focused = [], None
        for path in paths:
            note = self._pin_note(path)
            if note is not None:
                self.focused = note
                continue
            target = self.target_for_path(path)
            if target is not None and target not in self.selection:
                self.selection.append(target)
        if self.focused is not None:
            focused = self.book.get(self.focused)
            if focused is not None and focused.target not in self.selection:
                self.selection.append(focused.target)
        self._changed()

    def select_targets(self, targets: Sequence[str]) -> None:
        """Select encoded targets directly (a sensors-table row selects ``sensor:<id>``).

        Used where the prim a row pushes to the stage would not say which
        target was meant (a sensor without a marker selects its building).
        """
        self.selection = list(dict.fromkeys(t for t in targets if t))
        self.focused = None
        self._changed()

    def set_clicked_point(self, point: XYZ | None) -> None:
        """A point picked in the viewport (stage coordinates) to attach the next note to."""
        self.clicked_point = tuple(float(v) for v in point) if point is not None else None  # type: ignore[assignment]
        self._changed()

    # ---- what the view shows -------------------------------------------------
    def _visible_roots(self) -> list[Annotation]:
        status = None if self.status_filter == "all" else self.status_filter
        roots = self.book.roots(status)
        if self.scope == "all":
            return roots
        if self.focused is not None:
            return [n for n in roots if n.annotation_id == self.focused]
        return [n for n in roots if _matches(n.target, self.selection)]

    def rows(self) -> list[NoteRow]:
        """Threads to show, newest thread first, each followed by its replies."""
        book, out = self.book, []
        for root in sorted(self._visible_roots(), key=lambda n: n.created_at, reverse=True):
            thread = book.thread(root.annotation_id)
            depths = {root.annotation_id: 0}
            for note in thread:
                depth = 0 if note is root else depths.get(note.parent_id or "", 0) + 1
                depths[note.annotation_id] = depth
                out.append(
                    NoteRow(
                        annotation_id=note.annotation_id,
                        thread_id=root.annotation_id,
                        depth=depth,
                        status=note.status if depth == 0 else root.status,
                        author=note.author,
                        when=format_time(note.created_at),
                        text=note.text,
                        target=note.target,
                        target_label=target_label(note.target, self._sensor_name),
                        replies=len(thread) - 1 if depth == 0 else 0,
                        edited=note.edited,
                    )
                )
        return out

    def counts(self) -> dict[str, int]:
        """Threads per status (for the filter buttons)."""
        roots = self.book.roots()
        return {
            "open": sum(n.status == STATUS_OPEN for n in roots),
            "resolved": sum(n.status == STATUS_RESOLVED for n in roots),
            "all": len(roots),
        }

    def add_target(self) -> str | None:
        """Where "Add note" would attach: the clicked point, else the one selected target."""
        if self.clicked_point is not None:
            return str(Target.at_point(*self.clicked_point))
        return self.selection[-1] if self.selection else None

    def add_label(self) -> str:
        target = self.add_target()
        if target is None:
            return "Select a sensor or building, or click a point, to add a note"
        return f"Add a note to {target_label(target, self._sensor_name)}"

    def checked_target(self) -> str | None:
        """:meth:`add_target` verified by ``check`` (None, and ``error`` set, when not).

        Reads the registry and the stage, so Kit calls it on the main thread
        and then runs :meth:`add` with the result in a worker.
        """
        target = self.add_target()
        if target is None:
            self.error = "no target: select a sensor or building, or click a point"
            self._changed()
            return None
        try:
            return str(self._check(target)) if self._check is not None else target
        except AnnotationError as exc:
            self.error = str(exc)
            self._changed()
            return None

    # ---- actions -------------------------------------------------------------
    def _run(self, action: Callable[[], AnnotationEvent]) -> bool:
        if self._writer is None:
            self.error = "notes are read-only: no annotations table is configured"
            self._changed()
            return False
        try:
            event = action()
        except AnnotationError as exc:
            self.error = str(exc)
            self._changed()
            return False
        except Exception as exc:  # storage trouble must reach the user, not crash Kit
            message = redact(f"{type(exc).__name__}: {exc}")
            log.warning("writing a note failed: %s", message)
            self.error = f"could not save the note: {message}"
            self._changed()
            return False
        if self._echo is not None:
            self._echo(event)
        else:
            self.book.apply_events([event])
        self.error = ""
        self._changed()
        return True

    def add(self, text: str, target: str | None = None) -> bool:
        """Add a note to :meth:`add_target`, or to ``target`` from :meth:`checked_target`.

        A given ``target`` was checked already, so only its syntax is checked
        again here (this may run in a worker thread, away from the stage).
        """
        point = self.clicked_point
        checked = target is not None
        if target is None:
            target = self.add_target()
        if target is None:
            self.error = "no target: select a sensor or building, or click a point"
            self._changed()
            return False
        check = None if checked else self._check
        ok = self._run(
            lambda: self._writer.add(target, text, self.author, check=check)  # type: ignore[union-attr]
        )
        if ok and point is not None and self.clicked_point == point:
            self.clicked_point = None  # the point is used; a newer click stays
        return ok

    def reply(self, annotation_id: str, text: str) -> bool:
        return self._run(
            lambda: self._writer.reply(annotation_id, text, self.author)  # type: ignore[union-attr]
        )

    def edit(self, annotation_id: str, text: str) -> bool:
        return self._run(
            lambda: self._writer.edit(annotation_id, text, self.author)  # type: ignore[union-attr]
        )

    def resolve(self, annotation_id: str) -> bool:
        return self._run(
            lambda: self._writer.resolve(annotation_id, self.author)  # type: ignore[union-attr]
        )

    def reopen(self, annotation_id: str) -> bool:
        return self._run(
            lambda: self._writer.reopen(annotation_id, self.author)  # type: ignore[union-attr]
        )
