"""Typed carb settings keys (pure Python; the getter stands for carb.settings.get)."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def settings_mod(kit):
    kit.import_kit()
    from coptwin.kit import settings

    return settings


def test_defaults_when_nothing_is_set(settings_mod):
    s = settings_mod.ExtensionSettings.read({}.get)
    assert s == settings_mod.ExtensionSettings()
    assert (s.config_path, s.auto_start, s.show_window) == ("", True, True)
    assert all(k.path.startswith("/exts/coptwin/") for k in settings_mod.ALL_KEYS)


def test_values_are_coerced(settings_mod):
    raw = {
        "/exts/coptwin/config_path": "  ${app}/demo.toml ",
        "/exts/coptwin/auto_start": "false",
        "/exts/coptwin/show_window": 0,
        "/exts/coptwin/refresh_interval_s": 2,
        "/exts/coptwin/stale_after_s": "30",
    }
    s = settings_mod.ExtensionSettings.read(raw.get)
    assert s.config_path == "${app}/demo.toml"
    assert (s.auto_start, s.show_window) == (False, False)
    assert (s.refresh_interval_s, s.stale_after_s) == (2.0, 30.0)


def test_wrong_types_fall_back_with_a_warning(settings_mod, caplog):
    raw = {
        "/exts/coptwin/auto_start": "maybe",
        "/exts/coptwin/stale_after_s": "soon",
        "/exts/coptwin/config_path": 42,
        "/exts/coptwin/refresh_interval_s": -1,
    }
    with caplog.at_level(logging.WARNING):
        s = settings_mod.ExtensionSettings.read(raw.get)
    assert (s.auto_start, s.stale_after_s, s.config_path) == (True, 120.0, "")
    assert s.refresh_interval_s == 0.5
    text = caplog.text
    assert "/exts/coptwin/auto_start='maybe' is not a bool" in text
    assert "/exts/coptwin/refresh_interval_s must be positive" in text


def test_note_author_from_the_setting_else_the_os_user(settings_mod):
    s = settings_mod.ExtensionSettings.read({"/exts/coptwin/author": "  Ann Reviewer "}.get)
    assert s.author == "Ann Reviewer"
    assert s.note_author(lambda: "os-user") == "Ann Reviewer"
    unset = settings_mod.ExtensionSettings.read({}.get)
    assert unset.author == "" and unset.note_author(lambda: "os-user") == "os-user"
    assert settings_mod.AUTHOR in settings_mod.ALL_KEYS


def test_os_user_name_never_raises(settings_mod, monkeypatch):
    def no_user() -> str:
        raise OSError("no username set in the environment")

    monkeypatch.setattr(settings_mod.getpass, "getuser", no_user)
    assert settings_mod.os_user_name() == ""


def test_text_settings_fall_back_to_their_persistent_twin(settings_mod):
    """Issue 11.5: /persistent/exts/coptwin/... survives a restart; /exts/coptwin wins."""
    raw = {
        "/exts/coptwin/config_path": "",  # extension.toml's default
        "/persistent/exts/coptwin/config_path": "C:/cop/city.toml",
        "/persistent/exts/coptwin/author": "Ann",
    }
    s = settings_mod.ExtensionSettings.read(raw.get)
    assert (s.config_path, s.author) == ("C:/cop/city.toml", "Ann")
    raw["/exts/coptwin/config_path"] = "D:/other.toml"  # command line / .kit / Script Editor
    assert settings_mod.ExtensionSettings.read(raw.get).config_path == "D:/other.toml"
