"""Shared fixtures for coptwin.scene tests: a small generated city and the real export."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from coptwin.scene.citygen import CityInfo, generate_city
from tests.support.require import shared_path


def tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file below ``folder`` (to prove nothing was written)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> CityInfo:
    """3 x 2 blocks = 24 buildings, text USD; shared read-only by the tests."""
    out = tmp_path_factory.mktemp("city")
    return generate_city(out, blocks_x=3, blocks_y=2, seed=11, file_format="usda")


@pytest.fixture()
def city_copy(small_city: CityInfo, tmp_path: Path) -> CityInfo:
    """A private copy of the small city a test may attach overlays to."""
    dst = tmp_path / "city"
    shutil.copytree(small_city.out_dir, dst)
    return CityInfo.load(dst)


@pytest.fixture()
def ce_ottawa(tmp_path: Path) -> Path:
    """A copy of the real CityEngine export; returns the root layer path (without
    ../shared: a skip locally, a failure under CI)."""
    dst = tmp_path / "ce_ottawa_a"
    shutil.copytree(shared_path("scenes", "ce_ottawa_a"), dst)
    for p in dst.rglob("*"):  # the shared copy is read-only; the copy need not be
        p.chmod(p.stat().st_mode | 0o200)
    return dst / "ce_ottawa_a" / "ce_ottawa_a.usdc"


@pytest.fixture()
def digest():
    """The tree_digest helper (conftest modules are not importable under importlib mode)."""
    return tree_digest
