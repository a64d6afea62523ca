"""The browser COP: ``coptwin serve`` (one aiohttp server) for stakeholders without Omniverse.

- :mod:`.geometry` scene frame -> WGS84, building footprints and heights, terrain cells;
- :mod:`.live` the push channel: what changed since the last tick, fanned out as SSE;
- :mod:`.asof` per-viewer time travel that never disturbs the live engine;
- :mod:`.ogc` OGC API - Features under ``/ogc`` (QGIS, ArcGIS Pro, OWSLib);
- :mod:`.notes` reviewers' notes, read-only unless a bearer token is configured;
- :mod:`.app` routes and the server that runs on any asyncio loop (CLI or Kit's);
- ``static/`` the page (plain JS modules) and vendored MapLibre GL JS / PMTiles.

Nothing in the core imports this package; it sits beside ``kit`` and ``commands``.
"""
