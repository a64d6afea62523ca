"""The Kit app and the kit-app-template build files (issue 11.9), checked as text/TOML.

Nothing of Kit runs here; these pin what kit-app-template's own files show a
usable app and extension need (templates/apps/kit_base_editor/kit_base_editor.kit,
templates/extensions/*/template/premake5.lua, repo.toml).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "config" / "coptwin.kit"
EXT = REPO / "exts" / "coptwin"


def app() -> dict:
    return tomllib.loads(APP.read_text(encoding="utf-8"))


def test_the_app_has_a_renderer_a_viewport_and_a_file_menu():
    deps = set(app()["dependencies"])
    assert "omni.hydra.rtx" in deps  # no renderer: an empty viewport
    assert "omni.kit.viewport.window" in deps
    assert "omni.kit.manipulator.selection" in deps  # clicking markers selects them
    assert "omni.kit.manipulator.camera" in deps
    assert "omni.kit.menu.file" in deps  # File > Open for the city
    assert "coptwin" in deps


def test_the_app_does_not_point_the_config_into_its_build_folder():
    settings = app().get("settings", {}).get("exts", {}).get("coptwin", {})
    assert "${app}" not in str(settings.get("config_path", ""))


def test_the_extension_has_its_project_ext_build_script():
    script = (EXT / "premake5.lua").read_text(encoding="utf-8")
    assert "get_current_extension_info()" in script
    assert re.search(r"project_ext\s*\(\s*ext\s*\)", script)
    linked = re.findall(r'\{\s*"([^"]+)",\s*ext\.target_dir', script)
    assert {"coptwin", "data", "docs"} <= set(linked)
    assert all((EXT / folder).is_dir() for folder in ("coptwin", "data", "docs"))


def test_premake_paths_use_premake_tokens():
    for script in (REPO / "premake5.lua", EXT / "premake5.lua"):
        text = script.read_text(encoding="utf-8")
        assert not re.search(r"(?<!%\{)\$\{?(platform|config)\b", text), script
    assert "%{root}/_build/%{platform}/%{config}" in (REPO / "premake5.lua").read_text()
    assert 'define_app("coptwin.kit")' in (REPO / "premake5.lua").read_text()


def test_the_install_guide_names_the_precache_step():
    guide = (REPO / "docs" / "install-omniverse.md").read_text(encoding="utf-8")
    assert "[repo_precache_exts]" in guide and "source/apps/coptwin.kit" in guide
    assert "allowOnlineIndex" in guide
    assert "PIP_NO_INDEX=1" not in guide  # pipapi runs pip --isolated: it would do nothing
