"""Pictures and checks of a city and its COP without Omniverse (``coptwin inspect``,
``snapshot``, ``report``).

A top-floor face beside :mod:`coptwin.kit` and :mod:`coptwin.commands`: it reads the
engine through its public surface (snapshot, notes, versions) and the scene through
:mod:`coptwin.geo`, and renders with VTK off-screen (Pillow draws the frame around it).
Nothing below it imports it, and Kit never loads it (Kit renders by itself, so VTK stays
out of ``[python.pipapi]``).

One module per job: :mod:`.inspect` (check a USD city), :mod:`.scene_mesh` (the scene's
triangles in a render frame), :mod:`.camera` (views), :mod:`.cop` (what the engine shows),
:mod:`.draw` (VTK off-screen), :mod:`.decor` (title, legend, scale bar, north arrow),
:mod:`.snapshot` (a PNG) and :mod:`.report` (a self-contained HTML briefing).
"""
