"""Check a CityEngine USD export (or any USD city) before it goes near a COP.

Reports the frame (upAxis, metersPerUnit, extent in scene units and metres), where the
georeference comes from, the buildings and how they are identified, instancing, triangles,
terrain, problems, and OpenUSD's own validators, summarised. Errors (no geometry, NaN
points, duplicate building ids, validator errors) make :attr:`Inspection.ok` false;
the rest are warnings. Reads with the same code the pictures and placement use.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from coptwin.config import SceneConfig
from coptwin.geo.frame import axis_matrix

Severity = Literal["error", "warning"]
EXAMPLES = 5


@dataclass
class Problem:
    severity: Severity
    what: str
    count: int
    examples: list[str] = field(default_factory=list)


@dataclass
class Compliance:
    """OpenUSD's validators, summarised."""

    checker: str  # "UsdValidation", "UsdUtils.ComplianceChecker" or "unavailable"
    validators: int = 0
    errors: int = 0
    warnings: int = 0
    #: validator or rule name -> number of findings
    by_rule: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)


@dataclass
class Inspection:
    path: str
    layers: int
    up_axis: str
    up_axis_authored: bool
    meters_per_unit: float
    meters_per_unit_authored: bool
    #: Axis-aligned extent of everything drawn, in scene units: [[x0, y0, z0], [x1, y1, z1]].
    extent: list[list[float]]
    #: Size of that extent in metres: east-west, north-south, vertical.
    size_m: list[float]
    georeference: str
    georeference_source: str
    buildings: int
    buildings_by_attribute: int
    buildings_by_name: int
    object_id_attribute: str
    id_examples: list[str]
    prototypes: int
    instances: int
    point_instancers: int
    point_instances: int
    meshes: int
    distinct_meshes: int
    triangles: int
    terrain_triangles: int
    problems: list[Problem]
    compliance: Compliance
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    @property
    def terrain(self) -> bool:
        return self.terrain_triangles > 0

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["ok"] = self.ok
        doc["terrain"] = self.terrain
        return doc

    def table(self) -> str:
        """The short human-readable table ``coptwin inspect`` prints."""

        def axis(value: object, authored: bool) -> str:
            return f"{value}" + ("" if authored else " (not authored: USD's fallback)")

        lo, hi = self.extent
        ext = " x ".join(f"{a:.6g}..{b:.6g}" for a, b in zip(lo, hi, strict=True))
        size = " x ".join(f"{v:,.1f}" for v in self.size_m)
        ids = ", ".join(self.id_examples)
        rows = [
            ("scene", self.path),
            ("layers", str(self.layers)),
            ("up axis", axis(self.up_axis, self.up_axis_authored)),
            ("metersPerUnit", axis(f"{self.meters_per_unit:g}", self.meters_per_unit_authored)),
            ("extent (units)", ext),
            ("size (m)", f"{size} (east-west x north-south x height)"),
            ("georeference", self.georeference),
            (
                "buildings",
                f"{self.buildings} ({self.buildings_by_attribute} by attribute "
                f"{self.object_id_attribute}, {self.buildings_by_name} by connector names)"
                + (f"; ids e.g. {ids}" if ids else ""),
            ),
            (
                "instancing",
                f"{self.prototypes} prototypes, {self.instances} instances"
                + (
                    f", {self.point_instancers} PointInstancers skipped "
                    f"({self.point_instances} instances)"
                    if self.point_instancers
                    else ""
                ),
            ),
            ("meshes", f"{self.meshes:,} drawn ({self.distinct_meshes:,} distinct)"),
            ("triangles", f"{self.triangles:,}"),
            (
                "terrain",
                f"yes ({self.terrain_triangles:,} triangles)" if self.terrain else "no",
            ),
        ]
        c = self.compliance
        if c.checker in ("unavailable", "skipped"):
            rows.append(("usd checks", c.checker))
        else:
            rows.append(
                (
                    "usd checks",
                    f"{c.checker}: {c.validators} validators, {c.errors} errors, "
                    f"{c.warnings} warnings",
                )
            )
        width = max(len(k) for k, _ in rows)
        lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
        if self.problems:
            lines.append("problems:")
            for p in self.problems:
                eg = f" (e.g. {', '.join(p.examples)})" if p.examples else ""
                lines.append(f"  {p.severity}: {p.what}: {p.count}{eg}")
        else:
            lines.append("problems: none")
        lines.append(f"result: {'OK' if self.ok else 'ERRORS'} ({self.seconds:.1f} s)")
        return "\n".join(lines)


def inspect_scene(
    path: Path, *, object_id_attribute: str | None = None, compliance: bool = True
) -> Inspection:
    """Inspect the USD file at ``path``; unreadable files raise ``SceneError``."""
    from pxr import UsdGeom

    from coptwin.render.georef import discover
    from coptwin.render.scene_mesh import load_scene, open_stage

    t0 = time.perf_counter()
    oid_attr = object_id_attribute or SceneConfig().object_id_attribute
    stage = open_stage(path)
    scene = load_scene(stage, object_id_attribute=oid_attr, check_extents=True)
    problems: list[Problem] = []
    try:
        found = discover(stage, Path(path), None)
        georef, source = found.describe(), found.source
    except Exception as exc:  # a broken georeference is a finding, not a crash
        georef, source = f"unusable ({exc})", "broken"
        problems.append(Problem("error", "georeference unusable", 1, [str(exc)[:200]]))
    st = scene.stats
    by_source = Counter(b.source for b in scene.buildings)
    problems += _geometry_problems(scene)
    problems += _id_problems(scene)
    if source == "none":
        problems.append(Problem("warning", "no georeference (sensors cannot be placed)", 1))
    up_authored = stage.HasAuthoredMetadata("upAxis")
    mpu_authored = stage.HasAuthoredMetadata("metersPerUnit")
    for authored, key in ((up_authored, "upAxis"), (mpu_authored, "metersPerUnit")):
        if not authored:
            problems.append(Problem("warning", f"{key} not authored", 1))
    extent, size = _extent(scene)
    checks = run_usd_checks(stage) if compliance else Compliance("skipped")
    if checks.errors:
        problems.append(
            Problem("error", "OpenUSD validator errors", checks.errors, checks.examples[:EXAMPLES])
        )
    if checks.warnings:
        problems.append(Problem("warning", "OpenUSD validator warnings", checks.warnings))
    ids = sorted({b.object_id for b in scene.buildings if b.object_id is not None}, key=_id_key)
    id_examples = ids[:3] + (["…", ids[-1]] if len(ids) > 4 else ids[3:])
    used = [layer for layer in stage.GetUsedLayers() if not layer.anonymous and layer.realPath]
    return Inspection(
        path=str(path),
        layers=len(used),
        up_axis=str(UsdGeom.GetStageUpAxis(stage)),
        up_axis_authored=up_authored,
        meters_per_unit=float(UsdGeom.GetStageMetersPerUnit(stage)),
        meters_per_unit_authored=mpu_authored,
        extent=extent,
        size_m=size,
        georeference=georef,
        georeference_source=source,
        buildings=len(scene.buildings),
        buildings_by_attribute=by_source.get("attribute", 0),
        buildings_by_name=by_source.get("name", 0),
        object_id_attribute=oid_attr,
        id_examples=id_examples,
        prototypes=st.prototypes,
        instances=st.instances,
        point_instancers=st.point_instancers,
        point_instances=st.point_instances,
        meshes=st.meshes,
        distinct_meshes=st.distinct_meshes,
        triangles=st.triangles,
        terrain_triangles=int((scene.owner < 0).sum()),
        problems=problems,
        compliance=checks,
        seconds=time.perf_counter() - t0,
    )


def _id_key(oid: str) -> tuple[int, float, str]:
    try:
        return (0, float(oid), oid)
    except ValueError:
        return (1, 0.0, oid)


def _extent(scene: Any) -> tuple[list[list[float]], list[float]]:
    """Extent in scene units (from the render frame's box) and its size in metres."""
    if scene.points.shape[0] == 0:
        return [[0.0] * 3, [0.0] * 3], [0.0] * 3
    lo = scene.lo.astype(np.float64) + scene.origin
    hi = scene.hi.astype(np.float64) + scene.origin
    inv = np.linalg.inv(axis_matrix(scene.up_axis, scene.meters_per_unit)[:3, :3])
    corners = np.array(
        [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    )
    stage = corners @ inv
    return [stage.min(axis=0).tolist(), stage.max(axis=0).tolist()], (hi - lo).tolist()


def _geometry_problems(scene: Any) -> list[Problem]:
    st = scene.stats
    out: list[Problem] = []
    if st.triangles == 0:
        out.append(Problem("error", "no mesh geometry", 1))
    if st.nonfinite_meshes:
        out.append(
            Problem(
                "error",
                "meshes with NaN/inf points",
                len(st.nonfinite_meshes),
                st.nonfinite_meshes[:EXAMPLES],
            )
        )
    if st.empty_meshes:
        out.append(
            Problem("warning", "empty meshes", len(st.empty_meshes), st.empty_meshes[:EXAMPLES])
        )
    if st.point_instancers:
        out.append(
            Problem(
                "warning",
                "PointInstancers skipped (not drawn, not placed on: coptwin reads meshes "
                "and instanceable prims)",
                st.point_instancers,
            )
        )
    if st.stale_extents:
        out.append(
            Problem(
                "warning",
                "meshes outside their authored extent",
                len(st.stale_extents),
                st.stale_extents[:EXAMPLES],
            )
        )
    if not scene.buildings and st.triangles:
        out.append(
            Problem("warning", "no buildings found (no object-id attribute, no connector names)", 1)
        )
    terrain = scene.owner < 0
    if terrain.any() and scene.buildings:
        t_pts = scene.points[scene.tris[terrain].ravel()]
        t_lo, t_hi = t_pts.min(axis=0), t_pts.max(axis=0)
        centre = (scene.building_lo + scene.building_hi) / 2.0
        has = np.isfinite(centre).all(axis=1)
        outside = has & (
            (centre[:, 0] < t_lo[0])
            | (centre[:, 0] > t_hi[0])
            | (centre[:, 1] < t_lo[1])
            | (centre[:, 1] > t_hi[1])
        )
        if outside.any():
            paths = [scene.buildings[i].path for i in np.flatnonzero(outside)]
            out.append(
                Problem(
                    "warning",
                    "buildings outside the terrain's extent",
                    len(paths),
                    paths[:EXAMPLES],
                )
            )
    return out


def _id_problems(scene: Any) -> list[Problem]:
    out: list[Problem] = []
    no_id = [b.path for b in scene.buildings if b.object_id is None]
    if no_id:
        out.append(Problem("warning", "buildings without an id", len(no_id), no_id[:EXAMPLES]))
    counts = Counter(b.object_id for b in scene.buildings if b.object_id is not None)
    dup = sorted((oid for oid, n in counts.items() if n > 1), key=_id_key)
    if dup:
        examples = [
            f"{oid}: {', '.join(b.path for b in scene.buildings if b.object_id == oid)}"
            for oid in dup[:EXAMPLES]
        ]
        out.append(Problem("error", "duplicate building ids", len(dup), examples))
    return out


def run_usd_checks(stage: Any) -> Compliance:
    """OpenUSD's validators (``UsdValidation``; ``UsdUtils.ComplianceChecker`` on older USD)."""
    try:
        from pxr import UsdValidation
    except ImportError:
        return _compliance_checker(stage)
    registry = UsdValidation.ValidationRegistry()
    validators = registry.GetOrLoadAllValidators()
    errors = UsdValidation.ValidationContext(validators).Validate(stage)
    out = Compliance("UsdValidation", validators=len(validators))
    rules: Counter[str] = Counter()
    for err in errors:
        validator = err.GetValidator()
        name = validator.GetMetadata().name if validator else err.GetName()
        rules[name] += 1
        if err.GetType() == UsdValidation.ValidationErrorType.Error:
            out.errors += 1
        else:
            out.warnings += 1
        if len(out.examples) < EXAMPLES:
            out.examples.append(f"{name}: {err.GetMessage()[:200]}")
    out.by_rule = dict(sorted(rules.items()))
    return out


def _compliance_checker(stage: Any) -> Compliance:
    """The pre-UsdValidation checker of older OpenUSD releases (not exercised here: the
    usd-core this project locks has UsdValidation)."""
    try:
        from pxr import UsdUtils

        checker = UsdUtils.ComplianceChecker(skipARKitRootLayerCheck=True)
    except (ImportError, AttributeError):
        return Compliance("unavailable")
    checker.CheckCompliance(stage.GetRootLayer().realPath)
    errors, failed, warnings = checker.GetErrors(), checker.GetFailedChecks(), checker.GetWarnings()
    return Compliance(
        "UsdUtils.ComplianceChecker",
        validators=len(getattr(checker, "_rules", [])),
        errors=len(errors) + len(failed),
        warnings=len(warnings),
        examples=[str(e)[:200] for e in [*errors, *failed][:EXAMPLES]],
    )
