"""Typed carb settings keys of the coptwin extension.

Every key lives under ``/exts/coptwin`` (``[settings] exts."coptwin"`` in
extension.toml, overridable with ``--/exts/coptwin/<key>=...`` on the Kit
command line or in a .kit file).  Reading goes through :class:`SettingKey`
so a wrong type in a user's .kit file becomes a logged default, not a crash.

The extension reads them at every engine start (each stage opened).  A value
set from the Script Editor under ``/exts/coptwin`` lasts until Kit exits; the
text settings (config path, author) may also be set under
``/persistent/exts/coptwin``, which Kit saves in the user's config and loads
at the next start.  An explicit ``/exts/coptwin`` value (command line, .kit
file, Script Editor) wins over the persistent one.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T", str, bool, float)

SETTINGS_ROOT = "/exts/coptwin"
#: Kit saves settings under /persistent in the user config and restores them at start.
PERSISTENT_ROOT = "/persistent" + SETTINGS_ROOT


@dataclass(frozen=True)
class SettingKey(Generic[T]):
    """One setting: its path, type and default."""

    path: str
    default: T

    def read(self, get: Callable[[str], Any]) -> T:
        """The setting's value from ``get`` (e.g. ``carb.settings.get_settings().get``).

        An unset or empty text setting falls back to its ``/persistent`` twin.
        """
        raw = get(self.path)
        if isinstance(self.default, str) and (raw is None or raw == ""):
            persistent = get("/persistent" + self.path)
            raw = persistent if persistent not in (None, "") else raw
        if raw is None:
            return self.default
        kind = type(self.default)
        if kind is bool:
            if isinstance(raw, bool):
                return raw  # type: ignore[return-value]
            if isinstance(raw, int) and raw in (0, 1):
                return bool(raw)  # type: ignore[return-value]
            if isinstance(raw, str) and raw.strip().lower() in ("true", "false", "1", "0"):
                return raw.strip().lower() in ("true", "1")  # type: ignore[return-value]
        elif kind is float:
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                return float(raw)  # type: ignore[return-value]
            try:
                return float(str(raw))  # type: ignore[return-value]
            except ValueError:
                pass
        elif isinstance(raw, str):
            return raw  # type: ignore[return-value]
        log.warning(
            "setting %s=%r is not a %s; using the default %r",
            self.path,
            raw,
            kind.__name__,
            self.default,
        )
        return self.default


#: coptwin TOML config file; tokens such as ${app} are resolved, relative paths
#: are relative to the extension folder.
CONFIG_PATH: SettingKey[str] = SettingKey(f"{SETTINGS_ROOT}/config_path", "")
#: Start the engine when a stage is open (and whenever one opens).
AUTO_START: SettingKey[bool] = SettingKey(f"{SETTINGS_ROOT}/auto_start", True)
#: Open the panel when the extension starts.
SHOW_WINDOW: SettingKey[bool] = SettingKey(f"{SETTINGS_ROOT}/show_window", True)
#: Seconds between panel refreshes (the engine runs at its own pace).
REFRESH_INTERVAL_S: SettingKey[float] = SettingKey(f"{SETTINGS_ROOT}/refresh_interval_s", 0.5)
#: Connected but no new data for this long -> the status line says "Stale".
STALE_AFTER_S: SettingKey[float] = SettingKey(f"{SETTINGS_ROOT}/stale_after_s", 120.0)

#: Who the notes written in this session are signed by; empty: the OS user name.
AUTHOR: SettingKey[str] = SettingKey(f"{SETTINGS_ROOT}/author", "")

ALL_KEYS: tuple[SettingKey, ...] = (
    CONFIG_PATH,
    AUTO_START,
    SHOW_WINDOW,
    REFRESH_INTERVAL_S,
    STALE_AFTER_S,
    AUTHOR,
)


def os_user_name() -> str:
    """The logged-in user's name, "" when the OS cannot say (e.g. a container without one)."""
    try:
        return getpass.getuser().strip()
    except Exception as exc:  # getpass raises OSError/KeyError when no name is known
        log.info("no OS user name for note authors: %s", exc)
        return ""


@dataclass(frozen=True)
class ExtensionSettings:
    """All settings read once at startup."""

    config_path: str = CONFIG_PATH.default
    auto_start: bool = AUTO_START.default
    show_window: bool = SHOW_WINDOW.default
    refresh_interval_s: float = REFRESH_INTERVAL_S.default
    stale_after_s: float = STALE_AFTER_S.default
    #: As set; see :meth:`note_author` for the name notes are signed with.
    author: str = AUTHOR.default

    def note_author(self, fallback: Callable[[], str] = os_user_name) -> str:
        """The configured author, else the OS user name ("" makes the panel ask for one)."""
        return self.author or fallback()

    @classmethod
    def read(cls, get: Callable[[str], Any]) -> ExtensionSettings:
        interval = REFRESH_INTERVAL_S.read(get)
        if interval <= 0:
            log.warning("%s must be positive; using 0.5", REFRESH_INTERVAL_S.path)
            interval = 0.5
        return cls(
            config_path=CONFIG_PATH.read(get).strip(),
            auto_start=AUTO_START.read(get),
            show_window=SHOW_WINDOW.read(get),
            refresh_interval_s=interval,
            stale_after_s=STALE_AFTER_S.read(get),
            author=AUTHOR.read(get).strip(),
        )


def read_carb_settings() -> ExtensionSettings:
    """The extension's settings from Kit's carb.settings."""
    import carb.settings

    return ExtensionSettings.read(carb.settings.get_settings().get)
