"""Sensor model: canonical columns, sensors registry, latest state, status rules, palette.

Kit-free and USD-free: everything here is polars/numpy so it runs headless and
in tests.  Modules: ``columns`` (user columns -> canonical), ``registry``
(``SensorRegistry``), ``state`` (``LatestState``), ``rules`` (``evaluate``;
the rules themselves live in the config, e.g. ``config/demo.toml``), ``palette``
(``PALETTE``, ``legend``).
"""
