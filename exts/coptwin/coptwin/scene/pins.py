"""Annotation pins in the coptwin overlay layer.

Each open or resolved thread root gets one ``Sphere`` pin under
``<overlay root>/Annotations`` (its own scope, so operators toggle all notes
with one ``visibility`` attribute), lifted above its target so it does not
hide inside a sensor marker, stacked when several notes share a target, and
coloured by status.  Text, author and time travel with the pin as
``coptwin:*`` attributes so any USD tool (and the Kit property panel) shows
them; the text is stored as a plain USD string and never interpreted.

Everything is authored with the Sdf API inside one ``Sdf.ChangeBlock``, and
only the pins of notes that changed (plus their stack neighbours) are touched.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from coptwin.annotations.fold import AnnotationBook
from coptwin.annotations.model import STATUS_RESOLVED, Annotation, AnnotationError, Target

log = logging.getLogger(__name__)

XYZ = tuple[float, float, float]
#: target string -> stage position (None when it cannot be placed now)
ResolveTarget = Callable[[str], "XYZ | None"]

SCOPE_NAME = "Annotations"
#: Okabe-Ito vermillion for open notes (stands out from sensor statuses), grey when resolved.
PIN_COLOURS: dict[str, XYZ] = {
    "open": (0.835, 0.369, 0.0),
    "resolved": (0.6, 0.6, 0.6),
}
ATTR_ID = "coptwin:annotationId"
ATTR_TEXT = "coptwin:text"
ATTR_AUTHOR = "coptwin:author"
ATTR_CREATED = "coptwin:createdAt"
ATTR_UPDATED = "coptwin:updatedAt"
ATTR_STATUS = "coptwin:status"
ATTR_TARGET = "coptwin:target"
ATTR_REPLIES = "coptwin:replies"


class PinHost(Protocol):
    """What pins need of the overlay (``coptwin.scene.overlay.Overlay`` fits)."""

    layer: Any  # Sdf.Layer
    root_path: Any  # str or Sdf.Path
    meters_per_unit: float
    up_axis: str


@dataclass(frozen=True)
class PinStyle:
    radius_m: float = 0.8
    #: Height of the lowest pin above its target point.
    lift_m: float = 4.0
    #: Vertical distance between pins stacked on one target.
    stack_m: float = 2.2
    show_resolved: bool = True


@dataclass
class PinStats:
    written: int = 0
    removed: int = 0
    #: Notes without a pin, per reason (e.g. "unresolved_target").
    skipped: dict[str, int] = field(default_factory=dict)


_UUIDISH = re.compile(r"[0-9A-Za-z-]+")


def pin_name(annotation_id: str) -> str:
    """A valid, stable, injective prim name for a note id."""
    if _UUIDISH.fullmatch(annotation_id):
        return "N_" + annotation_id.replace("-", "_")
    return "N_x" + hashlib.sha1(annotation_id.encode("utf-8")).hexdigest()[:20]


def scope_path(host: PinHost):
    from pxr import Sdf

    return Sdf.Path(str(host.root_path)).AppendChild(SCOPE_NAME)


def pin_path(host: PinHost, annotation_id: str):
    return scope_path(host).AppendChild(pin_name(annotation_id))


def _up_index(up_axis: str) -> int:
    return 2 if str(up_axis).upper() == "Z" else 1


class TargetResolver:
    """Stage position of a target: point as given, sensor from the engine's
    marker positions, prim at the top-centre of its world bounding box.

    ``sensor_positions`` is a mapping or callable ``sensor_id -> (x, y, z)``;
    prim boxes are cached (buildings do not move; call :meth:`clear`).
    """

    def __init__(
        self,
        stage: Any | None = None,
        sensor_positions: Mapping[str, XYZ] | Callable[[str], XYZ | None] | None = None,
    ) -> None:
        self._stage = stage
        self._sensors = sensor_positions
        self._boxes: dict[str, XYZ | None] = {}
        self._bbox_cache = None

    def clear(self) -> None:
        self._boxes.clear()
        self._bbox_cache = None

    def __call__(self, target: str) -> XYZ | None:
        try:
            parsed = Target.parse(target)
        except AnnotationError:
            return None
        if parsed.kind == "point":
            return parsed.point
        if parsed.kind == "sensor":
            if self._sensors is None:
                return None
            pos = (
                self._sensors(parsed.value)
                if callable(self._sensors)
                else self._sensors.get(parsed.value)
            )
            return tuple(float(v) for v in pos) if pos is not None else None  # type: ignore[return-value]
        if parsed.value not in self._boxes:
            self._boxes[parsed.value] = self._prim_top(parsed.value)
        return self._boxes[parsed.value]

    def _prim_top(self, path: str) -> XYZ | None:
        if self._stage is None:
            return None
        from pxr import Usd, UsdGeom

        prim = self._stage.GetPrimAtPath(path)
        if not prim or not prim.IsValid():
            return None
        if self._bbox_cache is None:
            self._bbox_cache = UsdGeom.BBoxCache(
                Usd.TimeCode.Default(), [UsdGeom.Tokens.default_, UsdGeom.Tokens.render], True
            )
        box = self._bbox_cache.ComputeWorldBound(prim).ComputeAlignedRange()
        if box.IsEmpty():
            return None
        lo, hi = box.GetMin(), box.GetMax()
        up = _up_index(UsdGeom.GetStageUpAxis(self._stage))
        top = [(lo[i] + hi[i]) / 2.0 for i in range(3)]
        top[up] = hi[up]
        return (float(top[0]), float(top[1]), float(top[2]))


def _set_attr(spec, name: str, type_name, value, *, custom: bool = True, uniform=False) -> None:
    from pxr import Sdf

    attr = spec.attributes.get(name)
    if attr is None:
        variability = Sdf.VariabilityUniform if uniform else Sdf.VariabilityVarying
        attr = Sdf.AttributeSpec(spec, name, type_name, variability, declaresCustom=custom)
    if attr.default != value:
        attr.default = value


def _ensure_scope(host: PinHost):
    from pxr import Sdf

    root = Sdf.Path(str(host.root_path))
    root_spec = host.layer.GetPrimAtPath(root)
    if root_spec is None:
        root_spec = Sdf.CreatePrimInLayer(host.layer, root)
        root_spec.specifier = Sdf.SpecifierDef
        root_spec.typeName = "Xform"
    path = root.AppendChild(SCOPE_NAME)
    spec = host.layer.GetPrimAtPath(path)
    if spec is None:
        spec = Sdf.PrimSpec(root_spec, SCOPE_NAME, Sdf.SpecifierDef, "Scope")
        _set_attr(spec, "visibility", Sdf.ValueTypeNames.Token, "inherited", custom=False)
    return spec


def set_visible(host: PinHost, visible: bool) -> None:
    """Show or hide all annotation pins (the layer toggle)."""
    from pxr import Sdf

    with Sdf.ChangeBlock():
        spec = _ensure_scope(host)
        value = "inherited" if visible else "invisible"
        _set_attr(spec, "visibility", Sdf.ValueTypeNames.Token, value, custom=False)


def is_visible(host: PinHost) -> bool:
    spec = host.layer.GetPrimAtPath(scope_path(host))
    attr = spec.attributes.get("visibility") if spec is not None else None
    return attr is None or attr.default != "invisible"


def _iso(when) -> str:
    return when.isoformat().replace("+00:00", "Z") if when is not None else ""


def _write_pin(scope, note: Annotation, pos: XYZ, replies: int, host: PinHost, style: PinStyle):
    from pxr import Gf, Sdf, Vt

    name = pin_name(note.annotation_id)
    spec = scope.nameChildren.get(name)
    if spec is None:
        spec = Sdf.PrimSpec(scope, name, Sdf.SpecifierDef, "Sphere")
    mpu = host.meters_per_unit or 1.0
    types = Sdf.ValueTypeNames
    _set_attr(spec, "xformOp:translate", types.Double3, Gf.Vec3d(*pos), custom=False)
    _set_attr(
        spec,
        "xformOpOrder",
        types.TokenArray,
        Vt.TokenArray(["xformOp:translate"]),
        custom=False,
        uniform=True,
    )
    _set_attr(spec, "radius", types.Double, style.radius_m / mpu, custom=False)
    colour = PIN_COLOURS.get(note.status, PIN_COLOURS["open"])
    _set_attr(
        spec, "primvars:displayColor", types.Color3fArray, Vt.Vec3fArray([colour]), custom=False
    )
    spec.attributes["primvars:displayColor"].SetInfo("interpolation", "constant")
    hidden = note.status == STATUS_RESOLVED and not style.show_resolved
    _set_attr(spec, "visibility", types.Token, "invisible" if hidden else "inherited", custom=False)
    _set_attr(spec, ATTR_ID, types.String, note.annotation_id)
    _set_attr(spec, ATTR_TEXT, types.String, note.text)
    _set_attr(spec, ATTR_AUTHOR, types.String, note.author)
    _set_attr(spec, ATTR_CREATED, types.String, _iso(note.created_at))
    _set_attr(spec, ATTR_UPDATED, types.String, _iso(note.updated_at))
    _set_attr(spec, ATTR_STATUS, types.String, note.status)
    _set_attr(spec, ATTR_TARGET, types.String, note.target)
    _set_attr(spec, ATTR_REPLIES, types.Int, int(replies))


def _count_replies(book: AnnotationBook, annotation_id: str) -> int:
    return len(book.thread(annotation_id)) - 1


def apply(
    host: PinHost,
    book: AnnotationBook,
    resolve_target: ResolveTarget,
    changed: Iterable[str] | None = None,
    style: PinStyle = PinStyle(),
) -> PinStats:
    """Bring the pins in line with ``book``.

    ``changed``: note ids from :meth:`AnnotationBook.apply` (replies are mapped
    to their thread root); None rewrites every pin and removes stale ones.
    """
    from pxr import Sdf

    stats = PinStats()
    skipped: Counter[str] = Counter()
    roots = book.roots()
    by_target: dict[str, list[Annotation]] = defaultdict(list)
    for note in roots:
        by_target[note.target].append(note)
    if changed is None:
        wanted_ids = {n.annotation_id for n in roots}
        stale = None
    else:
        touched = {book.root_of(aid) for aid in changed}
        stale = {aid for aid in touched if book.get(aid) is None or book.get(aid).is_reply}
        targets = {book.get(aid).target for aid in touched if aid not in stale}
        wanted_ids = {n.annotation_id for t in targets for n in by_target[t]}
    up = _up_index(host.up_axis)
    mpu = host.meters_per_unit or 1.0
    with Sdf.ChangeBlock():
        scope = _ensure_scope(host)
        if stale is None:
            keep = {pin_name(aid) for aid in wanted_ids}
            names = list(scope.nameChildren.keys())  # noqa: SIM118 - Sdf proxy
            stale_names = [name for name in names if name not in keep]
        else:
            stale_names = [pin_name(aid) for aid in stale]
        for name in stale_names:
            if scope.nameChildren.get(name) is not None:
                del scope.nameChildren[name]
                stats.removed += 1
        for target, notes in by_target.items():
            if not any(n.annotation_id in wanted_ids for n in notes):
                continue
            base = resolve_target(target)
            for i, note in enumerate(notes):
                if note.annotation_id not in wanted_ids:
                    continue
                if base is None:
                    skipped["unresolved_target"] += 1
                    name = pin_name(note.annotation_id)
                    if scope.nameChildren.get(name) is not None:
                        del scope.nameChildren[name]
                        stats.removed += 1
                    continue
                pos = list(base)
                pos[up] += (style.lift_m + i * style.stack_m) / mpu
                _write_pin(
                    scope,
                    note,
                    (pos[0], pos[1], pos[2]),
                    _count_replies(book, note.annotation_id),
                    host,
                    style,
                )
                stats.written += 1
    if skipped:
        log.warning(
            "annotation pins: %d notes not placed (%s)",
            sum(skipped.values()),
            ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())),
        )
    stats.skipped = dict(skipped)
    return stats
