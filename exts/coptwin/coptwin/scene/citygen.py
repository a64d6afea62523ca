"""The demo city: a generated USD scene with the structure of a CityEngine USD export.

Why a generator and not a checked-in file: the demo must run on a fresh clone with
no server and no download, and the benchmarks need the same structure at 5,000 and
50,000 buildings.  The tree copies what Esri's USD encoder writes (see
``/work/shared/scenes/ce_ottawa_a/README.md``)::

    <out_dir>/global_offset.json        sidecar: CRS + globalOffset (USD does not store them)
    <out_dir>/buildings.csv             one row per building (for the simulator and tests)
    <out_dir>/city.json                 version stamp, parameters, terrain, streets
    <out_dir>/<name>/<name>.usdc        root layer: /<name> (Xform, kind=group, defaultPrim)
    <out_dir>/<name>/layers/Buildings.usdc, Terrain.usdc
    <out_dir>/<name>/assets/generated.usdc, materials.usdc

Frames: projected CRS (E, N, h) -> CityEngine (x=E, y=h, z=-N) -> USD = CityEngine +
global offset, Y-up, metres.  Everything is written with the Sdf API (no UsdStage),
which keeps 50,000 buildings well under a minute.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pxr import Gf, Sdf, Vt

from coptwin.scene.citylayout import (
    TERRAIN_COLOR,
    Building,
    CityLayout,
    CityParams,
    Terrain,
    make_layout,
)

log = logging.getLogger(__name__)

#: Bump when the generated files change in any way; ensure_city() then rebuilds.
GENERATOR_VERSION = 1
DEFAULT_NAME = "coptwin_demo"
LAYER_NAMES = ("Buildings", "Terrain")
OBJECTID_ATTR = "CityEngine:Rule:User:OBJECTID"
RULE_FILE = "bin/extrusion_rule.cgb"
START_RULE = "Default$Footprint"
LEAF_RULE = "ReportNext"

_CHUNK = 500
_U = Sdf.VariabilityUniform
_T = Sdf.ValueTypeNames

BUILDING_CSV_COLUMNS = (
    "object_id",
    "shape_name",
    "prim_path",
    "leaf_path",
    "footprint_type",
    "center_e",
    "center_n",
    "center_lon",
    "center_lat",
    "inside_e",
    "inside_n",
    "inside_lon",
    "inside_lat",
    "base_elevation_m",
    "height_m",
    "roof_elevation_m",
    "use",
    "half_size_e",
    "half_size_n",
    "footprint_en",
)


@dataclass(frozen=True)
class CityInfo:
    """What was generated and where; loadable again from ``city.json``."""

    name: str
    out_dir: Path
    root_layer: Path
    crs: str
    #: USD = CityEngine + global_offset, CityEngine = (E, h, -N).
    global_offset: tuple[float, float, float]
    n_buildings: int
    buildings_csv: Path
    offset_json: Path
    bounds_en: tuple[float, float, float, float]
    terrain: dict[str, float]
    streets: list[tuple[float, float, float, float]]
    params: dict[str, Any]
    version: int = GENERATOR_VERSION
    up_axis: str = "Y"
    meters_per_unit: float = 1.0

    @classmethod
    def load(cls, out_dir: Path) -> CityInfo:
        """Read ``<out_dir>/city.json``; raises ValueError when it is unreadable."""
        out_dir = Path(out_dir)
        path = out_dir / "city.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                name=data["name"],
                out_dir=out_dir,
                root_layer=out_dir / data["root_layer"],
                crs=data["crs"],
                global_offset=tuple(data["global_offset"]),
                n_buildings=int(data["n_buildings"]),
                buildings_csv=out_dir / data["buildings_csv"],
                offset_json=out_dir / data["offset_json"],
                bounds_en=tuple(data["bounds_en"]),
                terrain=dict(data["terrain"]),
                streets=[tuple(s) for s in data["streets"]],
                params=dict(data["params"]),
                version=int(data["version"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a usable city description ({exc})") from None

    def layout(self) -> CityLayout:
        """The geometry this city was generated from (buildings, streets, terrain)."""
        import dataclasses

        names = {f.name for f in dataclasses.fields(CityParams)}
        params = {
            k: tuple(v) if isinstance(v, list) else v for k, v in self.params.items() if k in names
        }
        return make_layout(CityParams(**params))

    def terrain_model(self) -> Terrain:
        """The exact terrain surface (for expected ground heights in tests/simulator)."""
        t = self.terrain
        return Terrain.build(t["e0"], t["e1"], t["n0"], t["n1"], t["cell"], t["base"], t["rise"])

    def to_usd(self, e: Any, n: Any, h: Any) -> np.ndarray:
        """Projected (E, N, h) -> USD frame points (N, 3), float64."""
        ox, oy, oz = self.global_offset
        e, n, h = (np.asarray(v, dtype=np.float64) for v in (e, n, h))
        return np.stack([e + ox, h + oy, -n + oz], axis=-1)


# --------------------------------------------------------------------------- helpers


def _attr(owner: Sdf.PrimSpec, name: str, type_name: Any, value: Any, uniform: bool = True) -> None:
    spec = Sdf.AttributeSpec(
        owner, name, type_name, _U if uniform else Sdf.VariabilityVarying, True
    )
    spec.default = value


def _hex_to_rgb(color: str) -> Gf.Vec3f:
    c = color.lstrip("#")
    return Gf.Vec3f(*(int(c[i : i + 2], 16) / 255.0 for i in (0, 2, 4)))


def _new_layer(fmt: str) -> Sdf.Layer:
    layer = Sdf.Layer.CreateAnonymous(f".{fmt}")
    layer.pseudoRoot.SetInfo("metersPerUnit", 1.0)
    layer.pseudoRoot.SetInfo("upAxis", "Y")
    return layer


def _translate(x: float, y: float, z: float) -> Gf.Matrix4d:
    return Gf.Matrix4d(1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, x, y, z, 1)


def _leaf_name(k: int) -> str:
    return LEAF_RULE if k == 0 else f"{LEAF_RULE}_{k}"


def _material_names(colors: Iterable[str]) -> dict[str, str]:
    """One material per distinct colour, named like the encoder's."""
    names: dict[str, str] = {}
    for color in colors:
        if color not in names:
            i = len(names) + 1
            names[color] = "CityEngineMaterial_1" if i == 1 else f"CityEngineMaterial_{i}_1"
    return names


class _Topology:
    """Face lists of an extruded n-gon, shared (as Vt arrays) by all n-gons."""

    def __init__(self, n: int) -> None:
        bottom = [1, 0, *range(n - 1, 1, -1)]
        top = list(range(n, 2 * n))
        walls: list[int] = []
        for i in range(n):
            j = (i + 1) % n
            walls += [i, j, n + j, n + i]
        self.counts = Vt.IntArray([n, n] + [4] * n)
        self.indices = Vt.IntArray(bottom + top + walls)
        self.normal_indices = Vt.IntArray(
            [0] * n + [1] * n + [k for i in range(n) for k in [2 + i] * 4]
        )


def _building_meshes(buildings: list[Building]) -> list[tuple[Any, Any, Any, float]]:
    """Points (float32, relative to the footprint-centre pivot), extent, normals and
    area of every building, computed per ring size in bulk (numpy per building is slow)."""
    out: list[Any] = [None] * len(buildings)
    sizes = sorted({len(b.ring_en) for b in buildings})
    for n in sizes:
        ks = [k for k, b in enumerate(buildings) if len(b.ring_en) == n]
        rings = np.stack([buildings[k].ring_en for k in ks])  # (m, n, 2)
        heights = np.array([buildings[k].height for k in ks])
        center = (rings.min(axis=1) + rings.max(axis=1)) / 2.0  # (m, 2)
        rel = rings - center[:, None, :]
        m = len(ks)
        local = np.zeros((m, 2 * n, 3))
        local[:, :n, 0] = rel[:, :, 0]
        local[:, :n, 2] = -rel[:, :, 1]
        local[:, n:] = local[:, :n]
        local[:, n:, 1] = heights[:, None]
        pts = local.astype(np.float32)
        ext = np.stack([pts.min(axis=1), pts.max(axis=1)], axis=1)
        edges = np.roll(rel, -1, axis=1) - rel  # (dE, dN) along each wall
        length = np.hypot(edges[..., 0], edges[..., 1])
        length[length == 0] = 1.0
        # outward normal of a CCW ring is (dN, -dE) in (E, N); USD x = E, z = -N
        walls = np.stack([edges[..., 1] / length, np.zeros((m, n)), edges[..., 0] / length], axis=2)
        caps = np.broadcast_to(np.array([[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]]), (m, 2, 3))
        normals = np.concatenate([caps, walls], axis=1).astype(np.float32)
        x, y = rel[..., 0], rel[..., 1]
        areas = 0.5 * np.abs(
            np.sum(x * np.roll(y, -1, axis=1), axis=1) - np.sum(y * np.roll(x, -1, axis=1), axis=1)
        )
        for i, k in enumerate(ks):
            out[k] = (
                Vt.Vec3fArray.FromNumpy(pts[i]),
                Vt.Vec3fArray.FromNumpy(ext[i]),
                Vt.Vec3fArray.FromNumpy(normals[i]),
                float(areas[i]),
            )
    return out


def _mesh_spec(
    parent: Sdf.PrimSpec,
    points: Any,
    extent: Any,
    counts: Any,
    indices: Any,
    normals: Any,
    normal_indices: Any,
    material_ref: str,
) -> None:
    leaf = parent
    mesh = Sdf.PrimSpec(leaf, "mesh", Sdf.SpecifierDef, "Mesh")
    mesh.SetInfo("apiSchemas", Sdf.TokenListOp.Create(prependedItems=["MaterialBindingAPI"]))
    for name, typ, val in (
        ("extent", _T.Float3Array, extent),
        ("faceVertexCounts", _T.IntArray, counts),
        ("faceVertexIndices", _T.IntArray, indices),
        ("points", _T.Point3fArray, points),
    ):
        spec = Sdf.AttributeSpec(mesh, name, typ, Sdf.VariabilityVarying, False)
        spec.default = val
    rel = Sdf.RelationshipSpec(mesh, "material:binding", False)
    mat_path = leaf.path.AppendChild("material")
    rel.targetPathList.explicitItems = [mat_path]
    nrm = Sdf.AttributeSpec(
        mesh, "primvars:normals", _T.Normal3fArray, Sdf.VariabilityVarying, False
    )
    nrm.default = normals
    nrm.SetInfo("interpolation", "faceVarying")
    nidx = Sdf.AttributeSpec(
        mesh, "primvars:normals:indices", _T.IntArray, Sdf.VariabilityVarying, False
    )
    nidx.default = normal_indices
    sub = Sdf.AttributeSpec(mesh, "subdivisionScheme", _T.Token, _U, False)
    sub.default = "none"
    mat = Sdf.PrimSpec(leaf, "material", Sdf.SpecifierDef, "Material")
    mat.referenceList.Prepend(Sdf.Reference(f"materials.{material_ref[0]}", material_ref[1]))


def _shape_attrs(prim: Sdf.PrimSpec, seed: int, color: str, height: float) -> None:
    _attr(prim, "CityEngine:Rule:RandomSeed", _T.Int, seed)
    _attr(prim, "CityEngine:Rule:RuleFile", _T.String, RULE_FILE)
    _attr(prim, "CityEngine:Rule:StartRule", _T.String, START_RULE)
    _attr(prim, "CityEngine:Rule:User:buildingColor", _T.String, color)
    _attr(prim, "CityEngine:Rule:User:maxBuildingHeight", _T.Double, height)
    _attr(prim, "CityEngine:Rule:User:minBuildingHeight", _T.Double, height)


def _leaf_reports(leaf: Sdf.PrimSpec, oid: int, height: float, area: float, text: str) -> None:
    _attr(leaf, "CityEngine:Reports:Bool_value", _T.BoolArray, Vt.BoolArray([False]))
    _attr(
        leaf, f"CityEngine:Reports:Building_Height_{oid}", _T.DoubleArray, Vt.DoubleArray([height])
    )
    _attr(leaf, "CityEngine:Reports:Id", _T.DoubleArray, Vt.DoubleArray([float(oid)]))
    _attr(leaf, f"CityEngine:Reports:Max_Height_{oid}", _T.DoubleArray, Vt.DoubleArray([height]))
    _attr(leaf, f"CityEngine:Reports:Min_Height_{oid}", _T.DoubleArray, Vt.DoubleArray([height]))
    _attr(leaf, f"CityEngine:Reports:Parcel_Area_{oid}", _T.DoubleArray, Vt.DoubleArray([area]))
    _attr(leaf, "CityEngine:Reports:Text", _T.StringArray, Vt.StringArray([text]))
    _attr(leaf, "CityEngine:Reports:Value", _T.DoubleArray, Vt.DoubleArray([56.0]))


def _leaf_xform(leaf: Sdf.PrimSpec, matrix: Gf.Matrix4d) -> None:
    xf = Sdf.AttributeSpec(leaf, "xformOp:transform", _T.Matrix4d, Sdf.VariabilityVarying, False)
    xf.default = matrix
    order = Sdf.AttributeSpec(leaf, "xformOpOrder", _T.TokenArray, _U, False)
    order.default = Vt.TokenArray(["xformOp:transform"])


# --------------------------------------------------------------------------- writers


def _write_materials(path: Path, fmt: str, names: dict[str, str]) -> None:
    layer = _new_layer(fmt)
    root = Sdf.PrimSpec(layer, "Materials", Sdf.SpecifierDef)
    for color, name in names.items():
        mat = Sdf.PrimSpec(root, name, Sdf.SpecifierDef, "Material")
        shader = Sdf.PrimSpec(mat, "PBRShader", Sdf.SpecifierDef, "Shader")
        Sdf.AttributeSpec(shader, "info:id", _T.Token, _U, False).default = "UsdPreviewSurface"
        Sdf.AttributeSpec(shader, "inputs:diffuseColor", _T.Color3f).default = _hex_to_rgb(color)
        Sdf.AttributeSpec(shader, "inputs:opacity", _T.Float).default = 1.0
        Sdf.AttributeSpec(shader, "inputs:opacityThreshold", _T.Float).default = 0.0
        out = Sdf.AttributeSpec(shader, "outputs:surface", _T.Token)
        surf = Sdf.AttributeSpec(mat, "outputs:surface", _T.Token)
        surf.connectionPathList.explicitItems = [out.path]
    layer.Export(str(path))


def _write_building(
    b_root: Sdf.PrimSpec,
    gen_root: Sdf.PrimSpec,
    k: int,
    b: Building,
    mesh: tuple[Any, Any, Any, float],
    topo: _Topology,
    material: str,
    fmt: str,
    offset: tuple[float, float, float],
) -> None:
    """Shape prim + instanceable leaf in Buildings, leaf + mesh + material in generated."""
    ox, oy, oz = offset
    leaf_name = _leaf_name(k)
    ce, cn = b.center_en
    points, extent, normals, area = mesh
    shape = Sdf.PrimSpec(b_root, b.name, Sdf.SpecifierDef, "Xform")
    shape.kind = "assembly"
    _shape_attrs(shape, b.oid, b.color, b.height)
    _attr(shape, OBJECTID_ATTR, _T.Double, float(b.oid))
    _attr(shape, "CityEngine:Rule:User:seed", _T.Int, b.oid)
    _attr(shape, "CityEngine:Rule:User:shapeName", _T.String, b.name)
    _attr(shape, "CityEngine:Rule:User:text", _T.String, b.use)
    leaf = Sdf.PrimSpec(shape, leaf_name, Sdf.SpecifierDef, "Xform")
    leaf.instanceable = True
    gen_leaf_path = f"/generated/{b.name}/{leaf_name}"
    leaf.referenceList.Prepend(Sdf.Reference(f"../assets/generated.{fmt}", gen_leaf_path))
    _leaf_reports(leaf, b.oid, b.height, area, b.use)
    _leaf_xform(leaf, _translate(ce + ox, b.base + oy, -cn + oz))

    g_shape = Sdf.PrimSpec(gen_root, b.name, Sdf.SpecifierDef)
    g_leaf = Sdf.PrimSpec(g_shape, leaf_name, Sdf.SpecifierDef, "Xform")
    g_leaf.kind = "component"
    _mesh_spec(
        g_leaf,
        points,
        extent,
        topo.counts,
        topo.indices,
        normals,
        topo.normal_indices,
        (fmt, f"/Materials/{material}"),
    )


def _write_scene(
    layout: CityLayout, tree: Path, name: str, fmt: str, offset: tuple[float, float, float]
) -> None:
    ox, oy, oz = offset
    colors = [b.color for b in layout.buildings] + [TERRAIN_COLOR]
    materials = _material_names(colors)
    (tree / "layers").mkdir(parents=True, exist_ok=True)
    (tree / "assets").mkdir(parents=True, exist_ok=True)
    _write_materials(tree / "assets" / f"materials.{fmt}", fmt, materials)

    gen = _new_layer(fmt)
    gen_root = Sdf.PrimSpec(gen, "generated", Sdf.SpecifierDef)
    bl = _new_layer(fmt)
    b_root = Sdf.PrimSpec(bl, "Buildings", Sdf.SpecifierDef, "Xform")
    b_root.kind = "group"
    topo: dict[int, _Topology] = {}
    meshes = _building_meshes(layout.buildings)
    n = len(layout.buildings)
    # Change blocks per chunk: without them every spec sends a notice; one block for
    # everything grows a change list that makes 50k buildings superlinear.
    for start in range(0, n, _CHUNK):
        with Sdf.ChangeBlock():
            for k in range(start, min(n, start + _CHUNK)):
                b = layout.buildings[k]
                t = topo.setdefault(len(b.ring_en), _Topology(len(b.ring_en)))
                _write_building(
                    b_root, gen_root, k, b, meshes[k], t, materials[b.color], fmt, offset
                )
    bl.Export(str(tree / "layers" / f"Buildings.{fmt}"))

    # Terrain: one shape, one leaf, points directly in the USD frame (identity pivot).
    tl = _new_layer(fmt)
    k = len(layout.buildings)
    leaf_name = _leaf_name(k)
    t_root = Sdf.PrimSpec(tl, "Terrain", Sdf.SpecifierDef, "Xform")
    t_root.kind = "group"
    t_shape = Sdf.PrimSpec(t_root, "Terrain", Sdf.SpecifierDef, "Xform")
    t_shape.kind = "assembly"
    _shape_attrs(t_shape, 0, TERRAIN_COLOR, 0.0)
    _attr(t_shape, "CityEngine:Rule:User:seed", _T.Int, 0)
    _attr(t_shape, "CityEngine:Rule:User:shapeName", _T.String, "Terrain")
    _attr(t_shape, "CityEngine:Rule:User:text", _T.String, "terrain")
    t_leaf = Sdf.PrimSpec(t_shape, leaf_name, Sdf.SpecifierDef, "Xform")
    t_leaf.instanceable = True
    t_leaf.referenceList.Prepend(
        Sdf.Reference(f"../assets/generated.{fmt}", f"/generated/Terrain/{leaf_name}")
    )
    terr = layout.terrain
    area = (terr.e1 - terr.e0) * (terr.n1 - terr.n0)
    _leaf_reports(t_leaf, 0, 0.0, area, "terrain")
    _leaf_xform(t_leaf, Gf.Matrix4d(1.0))
    tl.Export(str(tree / "layers" / f"Terrain.{fmt}"))

    ge, gn = np.meshgrid(terr.grid_e, terr.grid_n)  # rows: N, columns: E
    gh = terr.height(ge, gn)
    pts = np.stack([ge + ox, gh + oy, -gn + oz], axis=-1).reshape(-1, 3)
    ne, nn = len(terr.grid_e), len(terr.grid_n)
    jj, ii = np.meshgrid(np.arange(nn - 1), np.arange(ne - 1), indexing="ij")
    a = (jj * ne + ii).ravel()
    quads = np.stack([a, a + 1, a + ne + 1, a + ne], axis=1)
    p = pts
    nrm = np.cross(p[quads[:, 2]] - p[quads[:, 0]], p[quads[:, 3]] - p[quads[:, 1]])
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    g_shape = Sdf.PrimSpec(gen_root, "Terrain", Sdf.SpecifierDef)
    g_leaf = Sdf.PrimSpec(g_shape, leaf_name, Sdf.SpecifierDef, "Xform")
    g_leaf.kind = "component"
    pts32 = pts.astype(np.float32)
    _mesh_spec(
        g_leaf,
        Vt.Vec3fArray.FromNumpy(pts32),
        Vt.Vec3fArray.FromNumpy(np.stack([pts32.min(axis=0), pts32.max(axis=0)])),
        Vt.IntArray.FromNumpy(np.full(len(quads), 4, dtype=np.int32)),
        Vt.IntArray.FromNumpy(quads.astype(np.int32).ravel()),
        Vt.Vec3fArray.FromNumpy(nrm.astype(np.float32)),
        Vt.IntArray.FromNumpy(np.repeat(np.arange(len(quads), dtype=np.int32), 4)),
        (fmt, f"/Materials/{materials[TERRAIN_COLOR]}"),
    )
    gen.Export(str(tree / "assets" / f"generated.{fmt}"))

    root = _new_layer(fmt)
    root.defaultPrim = name
    top = Sdf.PrimSpec(root, name, Sdf.SpecifierDef, "Xform")
    top.kind = "group"
    for layer_name in LAYER_NAMES:
        child = Sdf.PrimSpec(top, layer_name, Sdf.SpecifierDef, "Xform")
        child.referenceList.Prepend(Sdf.Reference(f"layers/{layer_name}.{fmt}", f"/{layer_name}"))
    root.Export(str(tree / f"{name}.{fmt}"))


def _write_buildings_csv(path: Path, layout: CityLayout, name: str, crs: str) -> None:
    from pyproj import Transformer

    blds = layout.buildings
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    centers = np.array([b.center_en for b in blds], dtype=np.float64).reshape(-1, 2)
    insides = np.array([b.inside_en for b in blds], dtype=np.float64).reshape(-1, 2)
    c_lon, c_lat = to_ll.transform(centers[:, 0], centers[:, 1])
    i_lon, i_lat = to_ll.transform(insides[:, 0], insides[:, 1])
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(BUILDING_CSV_COLUMNS)
        for k, b in enumerate(blds):
            hx, hy = b.half_size_en
            w.writerow(
                [
                    b.oid,
                    b.name,
                    f"/{name}/Buildings/{b.name}",
                    f"/{name}/Buildings/{b.name}/{_leaf_name(k)}",
                    b.shape,
                    f"{centers[k, 0]:.3f}",
                    f"{centers[k, 1]:.3f}",
                    f"{c_lon[k]:.10f}",
                    f"{c_lat[k]:.10f}",
                    f"{insides[k, 0]:.3f}",
                    f"{insides[k, 1]:.3f}",
                    f"{i_lon[k]:.10f}",
                    f"{i_lat[k]:.10f}",
                    f"{b.base:.2f}",
                    f"{b.height:.1f}",
                    f"{b.base + b.height:.2f}",
                    b.use,
                    f"{hx:.3f}",
                    f"{hy:.3f}",
                    ";".join(f"{e:.3f} {n:.3f}" for e, n in b.ring_en),
                ]
            )


def generate_city(
    out_dir: Path,
    *,
    blocks_x: int = 6,
    blocks_y: int = 5,
    seed: int = 7,
    crs: str = "EPSG:32618",
    origin_en: tuple[float, float] = (445500.0, 5029500.0),
    base_elevation: float = 60.0,
    name: str = DEFAULT_NAME,
    file_format: str = "usdc",
    terrain_rise_m: float = 15.0,
) -> CityInfo:
    """Write the demo city into ``out_dir`` (deterministic for equal arguments).

    ``blocks_x * blocks_y * 4`` buildings; :func:`coptwin.scene.citylayout.blocks_for`
    picks a grid for a wanted building count.
    """
    if file_format not in ("usda", "usdc"):
        raise ValueError(f"file_format must be 'usda' or 'usdc', not {file_format!r}")
    from pxr import Tf

    if not name or Tf.MakeValidIdentifier(name) != name:
        raise ValueError(f"name {name!r} is not a valid USD prim name")
    params = CityParams(
        blocks_x=blocks_x,
        blocks_y=blocks_y,
        seed=seed,
        crs=crs,
        origin_en=(float(origin_en[0]), float(origin_en[1])),
        base_elevation=float(base_elevation),
        terrain_rise_m=float(terrain_rise_m),
    )
    layout = make_layout(params)
    out_dir = Path(out_dir)
    tree = out_dir / name
    tree.mkdir(parents=True, exist_ok=True)
    offset = (-params.origin_en[0], -params.base_elevation, params.origin_en[1])
    _write_scene(layout, tree, name, file_format, offset)
    _write_buildings_csv(out_dir / "buildings.csv", layout, name, crs)

    root_rel = f"{name}/{name}.{file_format}"
    sidecar = {
        "usd_root": root_rel,
        "crs": crs,
        "global_offset": list(offset),
        "meaning": "USD = CityEngine + offset, where CityEngine (x, y, z) = (easting, elevation, "
        "-northing). Inverse: easting = x - offset[0], elevation = y - offset[1], "
        "northing = -(z - offset[2]).",
        "upAxis": "Y",
        "metersPerUnit": 1.0,
    }
    (out_dir / "global_offset.json").write_text(json.dumps(sidecar, indent=1), encoding="utf-8")
    t = layout.terrain
    params_doc = {**asdict(params), "name": name, "file_format": file_format}
    doc = {
        "generator": "coptwin.scene.citygen",
        "version": GENERATOR_VERSION,
        "name": name,
        "root_layer": root_rel,
        "crs": crs,
        "global_offset": list(offset),
        "n_buildings": len(layout.buildings),
        "buildings_csv": "buildings.csv",
        "offset_json": "global_offset.json",
        "bounds_en": list(layout.bounds_en),
        "terrain": {
            "e0": t.e0,
            "e1": t.e1,
            "n0": t.n0,
            "n1": t.n1,
            "cell": t.cell,
            "base": t.base,
            "rise": t.rise,
        },
        "streets": [list(s) for s in layout.streets],
        "params": json.loads(json.dumps(params_doc)),
    }
    # city.json last: its presence marks a complete city for ensure_city().
    (out_dir / "city.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    log.info("generated %d buildings into %s", len(layout.buildings), tree)
    return CityInfo.load(out_dir)


def ensure_city(data_dir: Path, **kwargs: Any) -> CityInfo:
    """Build the demo city once into ``<data_dir>/city`` and reuse it afterwards.

    Reused only when the stamp in ``city.json`` has this generator's version and the
    same parameters and the root layer exists; otherwise rebuilt in a temporary
    folder and swapped in, so an interrupted build never leaves a half city behind.
    """
    data_dir = Path(data_dir)
    target = data_dir / "city"
    wanted = _wanted_params(kwargs)
    try:
        info = CityInfo.load(target)
        if (
            info.version == GENERATOR_VERSION
            and info.params == wanted
            and info.root_layer.is_file()
        ):
            return info
        log.info("city in %s is outdated or has other parameters; rebuilding", target)
    except ValueError:
        log.info("no usable city in %s; generating", target)
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".city.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    generate_city(tmp, **kwargs)
    old = data_dir / f".city.old-{os.getpid()}"
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return CityInfo.load(target)


def _wanted_params(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The ``params`` stamp generate_city() would write for these arguments."""
    import inspect

    sig = inspect.signature(generate_city)
    bound = sig.bind(Path("."), **kwargs)
    bound.apply_defaults()
    a = bound.arguments
    params = CityParams(
        blocks_x=a["blocks_x"],
        blocks_y=a["blocks_y"],
        seed=a["seed"],
        crs=a["crs"],
        origin_en=(float(a["origin_en"][0]), float(a["origin_en"][1])),
        base_elevation=float(a["base_elevation"]),
        terrain_rise_m=float(a["terrain_rise_m"]),
    )
    doc = {**asdict(params), "name": a["name"], "file_format": a["file_format"]}
    return json.loads(json.dumps(doc))
