"""Georeferencing and placement: WGS84 sensors -> positions in a CityEngine USD scene.

Parts with one job each:

* :mod:`coptwin.geo.frame` -- :class:`SceneFrame`, lon/lat/height <-> stage coordinates
  (up axis, metersPerUnit, CRS + CityEngine offset or an ENU origin).
* :mod:`coptwin.geo.meshes` -- every visible mesh of a stage, read once per distinct
  mesh (instance prototypes once), with the matrix and proxy path of each use; the one
  USD mesh reader (the pictures use it too).
* :mod:`coptwin.geo.buildings` -- which meshes are buildings (object-id attribute, then
  connector names): one set of rules for the index and the pictures.
* :mod:`coptwin.geo.index` -- :class:`SceneIndex`, buildings and terrain of a stage with
  vectorised vertical ray casts and nearest-wall queries (pure numpy, so it runs in Kit too).
* :mod:`coptwin.geo.placement` -- :class:`Placer`, binds sensors to buildings and puts
  roof / ground / facade / xyz markers where they belong.

Internally everything works in a *local metric frame* ``(east, north, up)`` in metres,
which is the stage frame with its axes reordered to Z-up and scaled by metersPerUnit.
"""

from __future__ import annotations

from coptwin.geo.buildings import Building
from coptwin.geo.errors import SceneError
from coptwin.geo.frame import Georeference, SceneFrame
from coptwin.geo.index import SceneIndex
from coptwin.geo.placement import Placer

__all__ = ["Building", "Georeference", "Placer", "SceneError", "SceneFrame", "SceneIndex"]
