"""Fixtures for coptwin.geo: the real CityEngine export and variants built from it.

The export lives in ``<repo>/../shared/scenes/ce_ottawa_a`` and is never written: each
variant copies it into a temporary folder, or references it from a new root layer.
Without ``../shared`` these tests skip locally and fail under CI (tests.support.require).
``ce_ottawa_c`` (detailed, instanced CityEngine assets) is only read, in place.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from pxr import Gf, Sdf, Usd, UsdGeom

from coptwin.config import SceneConfig
from tests.support.require import shared_path

ROOT_NAME = "ce_ottawa_a"


@dataclass(frozen=True)
class Ottawa:
    """The shared export (a private copy), its sensors and ground truth."""

    dir: Path
    root_layer: Path
    sensors: pl.DataFrame
    truth: dict
    crs: str
    offset: tuple[float, float, float]

    def scene_cfg(self, **kw: object) -> SceneConfig:
        return SceneConfig(crs=self.crs, global_offset=list(self.offset), **kw)

    @property
    def prim_by_oid(self) -> dict[int, str]:
        return {int(b["OBJECTID"]): b["usd_prim_path"] for b in self.truth["buildings"]}

    def expected(self) -> np.ndarray:
        return self.sensors.select("expected_x", "expected_y", "expected_z").to_numpy()


@pytest.fixture(scope="session")
def ottawa(tmp_path_factory: pytest.TempPathFactory) -> Ottawa:
    shared_path("scenes", ROOT_NAME, ROOT_NAME, f"{ROOT_NAME}.usdc")
    dst = tmp_path_factory.mktemp("ottawa") / ROOT_NAME
    shutil.copytree(shared_path("scenes", ROOT_NAME), dst)
    return _load(dst)


def _load(folder: Path) -> Ottawa:
    meta = json.loads((folder / "global_offset.json").read_text(encoding="utf-8"))
    return Ottawa(
        dir=folder,
        root_layer=folder / meta["usd_root"],
        sensors=pl.read_csv(folder / "sensors.csv", schema_overrides={"object_id": pl.Utf8}),
        truth=json.loads((folder / "truth.json").read_text(encoding="utf-8")),
        crs=meta["crs"],
        offset=tuple(float(v) for v in meta["global_offset"]),
    )


@pytest.fixture(scope="session")
def ottawa_c() -> Ottawa:
    """The detailed export, read in place (nothing here writes a layer)."""
    shared_path("scenes", "ce_ottawa_c", "ce_ottawa_c", "ce_ottawa_c.usdc")
    return _load(shared_path("scenes", "ce_ottawa_c"))


def open_stage(path: Path) -> Usd.Stage:
    stage = Usd.Stage.Open(str(path))
    assert stage is not None, path
    return stage


def wrap_export(
    out: Path,
    export_root: Path,
    *,
    matrix: np.ndarray | None = None,
    up_axis: str = "Y",
    meters_per_unit: float = 1.0,
    deactivate: tuple[str, ...] = (),
) -> Path:
    """A new root layer: ``/World/city`` references the export under ``matrix``.

    ``matrix`` is a 4x4 row-vector transform (USD convention). Building paths become
    ``/World/city/...`` instead of ``/ce_ottawa_a/...``.
    """
    layer = Sdf.Layer.CreateNew(str(out))
    stage = Usd.Stage.Open(layer)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y if up_axis == "Y" else UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, meters_per_unit)
    world = UsdGeom.Xform.Define(stage, "/World")
    stage.SetDefaultPrim(world.GetPrim())
    city = UsdGeom.Xform.Define(stage, "/World/city")
    city.GetPrim().GetReferences().AddReference(str(export_root))
    if matrix is not None:
        city.AddTransformOp(UsdGeom.XformOp.PrecisionDouble).Set(
            Gf.Matrix4d(*np.asarray(matrix, dtype=float).ravel().tolist())
        )
    for rel in deactivate:
        stage.OverridePrim(f"/World/city/{rel}").SetActive(False)
    layer.Save()
    return out


def rehome(path: str) -> str:
    """Building path of the export as seen through :func:`wrap_export`."""
    return "/World/city" + path[len("/" + ROOT_NAME) :]


def apply_matrix(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:3, :3] + matrix[3, :3]


def placement_errors(
    placed: pl.DataFrame, sensors: pl.DataFrame, expected: np.ndarray
) -> np.ndarray:
    """3D distance per sensor between placed and expected positions (rows joined by id)."""
    order = {sid: k for k, sid in enumerate(placed.get_column("sensor_id").to_list())}
    idx = [order[s] for s in sensors.get_column("sensor_id").to_list()]
    got = placed.select("x", "y", "z").to_numpy()[idx]
    return np.linalg.norm(got - expected, axis=1)


def assert_accuracy(
    err: np.ndarray, *, tol: float = 0.25, share: float = 0.99, what: str = ""
) -> None:
    ok = float(np.mean(err <= tol))
    assert ok >= share, (
        f"{what}: {ok:.2%} of {err.size} markers within {tol} m (need {share:.0%}); "
        f"max error {np.nanmax(err):.4f} m"
    )
