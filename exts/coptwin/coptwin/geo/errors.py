"""Errors raised by :mod:`coptwin.geo`."""

from __future__ import annotations


class SceneError(ValueError):
    """A scene cannot be georeferenced or indexed (no mesh, no georeference, bad metadata).

    A ValueError so callers that treat bad input generically still catch it; the
    message says what is missing and how to supply it.
    """
