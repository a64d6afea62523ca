"""Errors raised by :mod:`coptwin.geo`."""

from __future__ import annotations

from coptwin.problem import Problem


class SceneError(Problem, ValueError):
    """A scene cannot be georeferenced or indexed (no mesh, no georeference, bad metadata).

    A ValueError so callers that treat bad input generically still catch it; the
    message says what is missing and how to supply it.  ``key`` is the ``[scene]``
    setting at fault (``scene.crs``, ``scene.global_offset``; the scene itself is
    ``scene.path``), and the message starts with it when given.
    """

    def __init__(self, what: str, *, key: str = "") -> None:
        super().__init__(f"{key}: {what}" if key else what, key=key, what=what)
