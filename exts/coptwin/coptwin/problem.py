"""The one kind of failure a person fixes: said in one line, never as a traceback.

A :class:`Problem` names what is wrong and, where it comes from configuration,
the file and key (``<file>: <key>: <what is wrong>``, see
:meth:`coptwin.config.Config.error`).  ``coptwin`` prints any Problem as that one
line with exit code 2 (the traceback only with ``--debug``); Kit shows it on the
status line.  Anything else escaping a command is a bug and keeps its traceback.
"""

from __future__ import annotations


class Problem(Exception):
    """An expected failure with a one-line explanation (a config key, a flag, a file)."""

    def __init__(self, message: str, *, key: str = "", what: str = "") -> None:
        super().__init__(message)
        #: The configuration key at fault (dotted, e.g. ``scene.crs``), "" when none.
        self.key = key
        #: What is wrong, without file or key (for a message that adds its own).
        self.what = what or message

    def __str__(self) -> str:
        # One line, whatever a library put into the message.
        return " ".join(super().__str__().split())
