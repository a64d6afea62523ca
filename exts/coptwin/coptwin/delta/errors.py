"""Errors raised by :mod:`coptwin.delta`.

All of them carry the table URI (never credentials) so a log line or a UI
status line says which table is in trouble without a traceback.
"""

from __future__ import annotations

from coptwin.problem import Problem


class DeltaWatchError(Problem, RuntimeError):
    """Base class: something about a watched Delta table could not be read."""

    def __init__(self, uri: str, message: str) -> None:
        super().__init__(f"{uri}: {message}")
        self.uri = uri


class TableNotFoundError(DeltaWatchError):
    """The location holds no Delta table (no ``_delta_log`` commits)."""

    def __init__(self, uri: str, message: str = "no Delta table here (no _delta_log commits)"):
        super().__init__(uri, message)


class DeltaLogError(DeltaWatchError):
    """A commit file is unreadable or malformed; the watcher keeps its applied version."""

    def __init__(self, uri: str, version: int, message: str) -> None:
        super().__init__(uri, f"commit {version}: {message}")
        self.version = version


class DeltaStorageError(DeltaWatchError):
    """Storage could not be reached or refused a request (message is redacted)."""
