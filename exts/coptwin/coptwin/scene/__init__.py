"""USD side of coptwin (Kit-free, only ``pxr``): nothing here writes the base scene.

* :mod:`.overlay` — the overlay layer (session sublayer): PointInstancer markers per
  sensor layer, per-sensor data prims, building attributes; ``write_cop_root``.
* :mod:`.citygen` / :mod:`.citylayout` — the demo city, structured like a CityEngine
  USD export.
* :mod:`.markers`, :mod:`.naming`, :mod:`.buildingattrs`, :mod:`.coproot` — helpers.
* :mod:`.pins` — annotation pins (annotations engineer).

Submodules are not imported here so ``import coptwin.scene`` stays cheap.
"""
