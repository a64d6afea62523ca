"""extension.toml: parses, names every Kit extension the code imports, agrees with the code.

The dependency check reads the imports of every module under coptwin/kit
(with ast, so nothing is imported) and maps each omni/carb module to the
extension that provides it: the longest declared dependency that is a dotted
prefix of the module.  Kernel modules (carb.*, omni.ext, omni.kit.app) need
no dependency.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
EXT = REPO / "exts" / "coptwin"
KIT_PKG = EXT / "coptwin" / "kit"
#: Provided by the Kit kernel itself, not by an extension.
KERNEL = ("carb", "omni.ext", "omni.kit.app")
#: Declared without an import, on purpose.
DECLARED_FOR_OTHER_REASONS = {
    "omni.kit.pipapi": "installs [python.pipapi] before the extension starts",
    "omni.kit.uiapp": "the app needs a UI main window for the panel",
    "omni.kit.pip_archive": "Kit's prebundled packages (aiohttp) on sys.path before pipapi",
}


@pytest.fixture(scope="module")
def toml() -> dict:
    return tomllib.loads((EXT / "config" / "extension.toml").read_text(encoding="utf-8"))


def kit_imports(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
    return {m for m in found if m.split(".")[0] in ("omni", "carb")}


def provider(module: str, deps: set[str]) -> str | None:
    if any(module == k or module.startswith(k + ".") for k in KERNEL):
        return "<kernel>"
    matches = [d for d in deps if module == d or module.startswith(d + ".")]
    return max(matches, key=len) if matches else None


def code_files() -> list[Path]:
    return [p for p in KIT_PKG.rglob("*.py") if "tests" not in p.relative_to(KIT_PKG).parts]


def test_package_metadata_and_files(toml):
    pkg = toml["package"]
    for key in ("title", "description", "version", "category", "keywords"):
        assert pkg.get(key), key
    for key in ("icon", "preview_image", "readme", "changelog"):
        assert (EXT / pkg[key]).is_file(), f"{key} = {pkg[key]} does not exist"
    for page in toml["documentation"]["pages"]:
        assert (EXT / page).is_file(), page
    from coptwin import __version__

    assert pkg["version"] == __version__


def test_every_imported_kit_module_has_its_extension(toml):
    deps = set(toml["dependencies"])
    imports = kit_imports(code_files())
    assert {"omni.ui", "omni.usd", "carb.settings"} <= imports  # the scan sees the code
    missing = sorted(m for m in imports if provider(m, deps) is None)
    assert missing == [], f"add these to [dependencies]: {missing}"
    used = {provider(m, deps) for m in imports}
    unused = deps - used - set(DECLARED_FOR_OTHER_REASONS)
    assert unused == set(), f"declared but never imported: {sorted(unused)}"


def test_kit_tests_have_their_test_dependencies(toml):
    deps = set(toml["dependencies"]) | set(toml["test"][0]["dependencies"])
    imports = kit_imports(list((KIT_PKG / "tests").rglob("*.py")))
    assert "omni.kit.test" in imports
    missing = sorted(m for m in imports if provider(m, deps) is None)
    assert missing == [], f"add these to [[test]].dependencies: {missing}"


def test_python_module_resolves_from_the_extension_folder(toml):
    (module,) = toml["python"]["module"]
    assert module["name"] == "coptwin.kit"
    folder = EXT / module.get("path", ".") / Path(*module["name"].split("."))
    assert (folder / "__init__.py").is_file()
    assert "class CoptwinExtension(omni.ext.IExt)" in (folder / "extension.py").read_text()


def pipapi_install_calls(pipapi: dict) -> list[tuple[list[str], str | None]]:
    """What omni.kit.pipapi does with the section: (pip arguments, import name) per entry.

    As in omni.kit.pipapi's ``_process_ext_pipapi_config``/``install``: nothing at all
    unless ``use_online_index``; ``modules[i]`` belongs to ``requirements[i]``; the
    requirement string is split on whitespace into pip arguments.
    """
    if not pipapi.get("use_online_index", False):
        return []
    modules = pipapi.get("modules", [])
    return [
        (line.split(), modules[i] if i < len(modules) else None)
        for i, line in enumerate(pipapi.get("requirements", []))
    ]


def test_pipapi_installs_each_requirement_as_one_pip_argument_with_its_module(toml):
    """Issue 11.1: a marker splits into several pip arguments; a missing module re-runs pip."""
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement

    calls = pipapi_install_calls(toml["python"]["pipapi"])
    assert len(calls) == len(toml["python"]["pipapi"]["requirements"]) > 0
    owners = packages_distributions()
    for args, module in calls:
        assert len(args) == 1, f"pipapi would pass {args} to pip: one token per requirement"
        requirement = Requirement(args[0])
        assert requirement.marker is None, f"{args[0]}: pipapi cannot pass environment markers"
        assert module, f"{args[0]} has no import name in modules: pip would run at every start"
        top = module.split(".")[0]
        dists = {d.lower().replace("_", "-") for d in owners.get(top, [])}
        assert requirement.name.lower() in dists, f"{module} is not imported from {args[0]}"


def test_pipapi_matches_the_core_and_never_brings_usd(toml):
    pipapi = toml["python"]["pipapi"]
    assert pipapi["use_online_index"] is True  # without it pipapi skips the requirements
    names = {re.split(r"[<>=;\[ ]", r, maxsplit=1)[0].lower() for r in pipapi["requirements"]}
    assert "usd-core" not in names and "pxr" not in names
    assert "numpy" not in names  # Kit ships numpy; a second one breaks Kit's extensions
    # Kit has its own aiohttp (the webhook receiver runs on it): pipapi imports the module
    # first and runs pip only when that fails, after Kit's prebundled packages are on sys.path.
    assert toml["dependencies"].get("omni.kit.pip_archive") == {}
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {re.split(r"[<>=;\[ ]", r, maxsplit=1)[0].lower() for r in project["dependencies"]}
    # coptwin snapshot/report render with VTK on the CLI only; Kit renders by itself.
    cli_only = {"vtk", "pillow"}
    assert not cli_only & names, "the headless renderer must stay out of Kit"
    assert core - {"usd-core", "numpy"} - cli_only == names


def test_settings_match_the_typed_keys(toml, kit):
    kit.import_kit()
    from coptwin.kit.settings import ALL_KEYS

    declared = toml["settings"]["exts"]["coptwin"]
    typed = {k.path.rsplit("/", 1)[1]: k.default for k in ALL_KEYS}
    assert typed == declared


def test_provider_mapping():
    deps = {"omni.kit.menu.utils", "omni.ui", "omni.kit.viewport.utility"}
    assert provider("omni.kit.menu.utils", deps) == "omni.kit.menu.utils"
    assert provider("omni.ui.scene", deps) == "omni.ui"
    assert provider("carb.eventdispatcher", deps) == "<kernel>"
    assert provider("omni.kit.window.property", deps) is None
    assert provider("omni.uix", deps) is None


def test_kit_runs_the_webhook_receiver_without_loading_the_page():
    """The engine, its event sources and the panel's view-models import no ``coptwin.web``
    (the page) and no ``coptwin.render`` (VTK): Kit gets the receiver only."""
    import subprocess
    import sys

    code = (
        "import sys, coptwin.engine.engine, coptwin.engine.loop, coptwin.events.webhook, "
        "coptwin.ui.session, coptwin.ui.panel; "
        "print(sorted(m for m in sys.modules if m.startswith(('coptwin.web', 'coptwin.render'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
