"""Live sensor attributes on the buildings sensors are bound to (``over`` in the overlay).

Why here and not on the sensor prims only: stakeholders click a building, not a marker,
and want to see "this building: 23.4 degC, alarm".  With several sensors on one building
the worst status wins, so an alarm is never hidden by a later "ok".  Opinions authored
below an instanceable prim are ignored by USD, so a path inside an instance is redirected
to the instance prim itself.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
from pxr import Sdf, Usd

from coptwin.config import STATUSES
from coptwin.scene.naming import attr_name, iso_utc

log = logging.getLogger(__name__)

_T = Sdf.ValueTypeNames
#: Status severity (worst first): coptwin.config.STATUSES.
SEVERITY = {status: i for i, status in enumerate(STATUSES)}


def worst_status(statuses: Mapping[str, str]) -> str:
    if not statuses:
        return "unknown"
    return min(statuses.values(), key=lambda s: SEVERITY.get(s, len(SEVERITY)))


class BuildingAttrs:
    """Writes ``coptwin:*`` overs on bound building prims, remembering what it wrote."""

    def __init__(self, stage: Usd.Stage, layer: Sdf.Layer) -> None:
        self._stage = stage
        self._layer = layer
        self._target: dict[str, str | None] = {}
        self._status: dict[str, dict[str, str]] = {}
        #: (building path, attribute) -> [spec, last value written]
        self._specs: dict[tuple[str, str], list[Any]] = {}
        self._warned: set[str] = set()

    def resolve(self, requested: str) -> str | None:
        """The prim path that takes the attributes, or None if it is not in the scene."""
        if requested in self._target:
            return self._target[requested]
        target: str | None = None
        if Sdf.Path.IsValidPathString(requested) and Sdf.Path(requested).IsPrimPath():
            prim = self._stage.GetPrimAtPath(requested)
            if prim and prim.IsInstanceProxy():
                while prim and prim.IsInstanceProxy():
                    prim = prim.GetParent()
                log.info("bound prim %s is inside an instance; using %s", requested, prim.GetPath())
            if prim and prim.IsDefined():
                target = str(prim.GetPath())
        if target is None:
            log.warning(
                "bound prim %r is not a prim of the scene; its attributes are skipped", requested
            )
        self._target[requested] = target
        return target

    def unbind(self, sensor_id: str, requested: str, stats: Counter[str]) -> int:
        """Forget a sensor's status on its former building."""
        path = self._target.get(requested)
        statuses = self._status.get(path) if path else None
        if not statuses or sensor_id not in statuses:
            return 0
        del statuses[sensor_id]
        return self.put(path, "coptwin:status", worst_status(statuses), stats)

    def update(
        self,
        sensor_id: str,
        requested: str,
        status: str,
        quantity: str,
        value: float | None,
        ts_text: str,
        extra: Mapping[str, Any],
        stats: Counter[str],
    ) -> int:
        """Author a sensor's live state on its building; returns attributes written."""
        path = self.resolve(requested)
        if path is None:
            stats["unknown_bound_prim"] += 1
            return 0
        writes = 0
        statuses = self._status.setdefault(path, {})
        if statuses.get(sensor_id) != status:
            statuses[sensor_id] = status
            writes += self.put(path, "coptwin:status", worst_status(statuses), stats)
        if quantity and value is not None:
            try:
                writes += self.put(path, attr_name(quantity), value, stats)
            except ValueError:
                stats["bad_building_attr"] += 1
        if ts_text:
            writes += self.put(path, "coptwin:ts", ts_text, stats)
        for key, val in extra.items():
            try:
                name = attr_name(str(key))
            except ValueError:
                stats["bad_building_attr"] += 1
                continue
            writes += self.put(path, name, val, stats)
        return writes

    def put(self, path: str, name: str, value: Any, stats: Counter[str]) -> int:
        """Write one attribute if its value changed (double, bool or string)."""
        if value is None:
            return 0
        if isinstance(value, datetime):
            value = iso_utc(value)
        if isinstance(value, bool | np.bool_):
            value, typ = bool(value), _T.Bool
        elif isinstance(value, int | float | np.integer | np.floating):
            value = float(value)
            if not math.isfinite(value):
                stats["bad_building_value"] += 1
                return 0
            typ = _T.Double
        else:
            value, typ = str(value), _T.String
        entry = self._specs.get((path, name))
        if entry is None:
            prim = self._layer.GetPrimAtPath(path) or Sdf.CreatePrimInLayer(self._layer, path)
            spec = prim.attributes.get(name) or Sdf.AttributeSpec(
                prim, name, typ, Sdf.VariabilityVarying, True
            )
            entry = self._specs[(path, name)] = [spec, None]
        if entry[1] == value:
            return 0
        spec = entry[0]
        if spec.typeName != typ:
            stats["building_attr_type_changed"] += 1
            if f"{path}.{name}" not in self._warned:
                self._warned.add(f"{path}.{name}")
                log.warning(
                    "%s.%s keeps its type %s; value %r skipped", path, name, spec.typeName, value
                )
            return 0
        spec.default = value
        entry[1] = value
        return 1
