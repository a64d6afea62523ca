"""Off-screen VTK drawing of a scene with markers and pins.

Three render layers share one camera: the city (lit, flat-shaded triangles, one colour
per triangle), then marker outlines and pin stems, then marker colours and pin heads.
Markers are *unlit* screen-sized discs, so a marker's pixels carry its status colour
exactly (what the pixel test checks) and no marker hides behind a building: a COP shows
every sensor. :class:`Frame` keeps VTK's world -> display matrix of the camera used, so
callers (decorations, tests) project points exactly as VTK did.

On Linux without a display VTK renders through EGL (Mesa's software rasteriser will do);
on Windows and macOS it uses the platform's off-screen context.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import numpy as np

from coptwin.render.camera import Camera

BACKGROUND = (27, 31, 39)
OUTLINE = (20, 22, 28)


def _prefer_egl() -> None:
    """Without X or Wayland, ask VTK for its EGL window straight away (else it tries X
    first and logs a warning)."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


@dataclass
class Layer:
    """Points drawn on top of the city: markers or pins, one sRGB colour each."""

    points: np.ndarray  # (N, 3) render frame
    colors: np.ndarray  # (N, 3) uint8 sRGB

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float64).reshape(-1, 3)
        self.colors = np.asarray(self.colors, dtype=np.uint8).reshape(-1, 3)
        if self.points.shape[0] != self.colors.shape[0]:
            raise ValueError("one colour per point")


@dataclass
class Frame:
    """A rendered image and the transform that made it."""

    image: np.ndarray  # (H, W, 3) uint8
    camera: Camera
    #: 4x4, render frame (homogeneous column vectors) -> normalised device coordinates.
    world_to_ndc: np.ndarray
    marker_px: int = 0
    extras: dict = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) render frame -> (N, 2) pixel coordinates (x right, y down, in pixels)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        h = np.c_[pts, np.ones(pts.shape[0])] @ self.world_to_ndc.T
        ndc = h[:, :2] / h[:, 3:4]
        w, hgt = self.size
        return np.column_stack([(ndc[:, 0] + 1.0) * 0.5 * w, (1.0 - ndc[:, 1]) * 0.5 * hgt])


def draw(
    points: np.ndarray,
    tris: np.ndarray,
    tri_colors: np.ndarray,
    camera: Camera,
    size: tuple[int, int],
    *,
    markers: Layer | None = None,
    pins: Layer | None = None,
    sun: np.ndarray | None = None,
) -> Frame:
    """Render triangles (one sRGB colour each) with marker and pin layers; see module doc."""
    _prefer_egl()
    import vtkmodules.vtkRenderingOpenGL2  # noqa: F401 - registers the OpenGL back end
    from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow

    w, h = size
    marker_px = max(6, round(min(w, h) / 55))
    window = vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetSize(w, h)
    # No multisampling: software GL pays for every sample, and marker pixels stay exact.
    window.SetMultiSamples(0)
    window.SetNumberOfLayers(3)
    try:
        scene = vtkRenderer()
        scene.SetBackground(*(c / 255 for c in BACKGROUND))
        scene.AutomaticLightCreationOff()
        window.AddRenderer(scene)
        if tris.shape[0]:
            scene.AddActor(_mesh_actor(points, tris, tri_colors))
        _lights(scene, sun)
        cam = scene.GetActiveCamera()
        cam.ParallelProjectionOn()
        cam.SetPosition(*camera.position)
        cam.SetFocalPoint(*camera.focal)
        cam.SetViewUp(*camera.up)
        cam.SetParallelScale(camera.parallel_scale)
        overlay = []
        for layer in (1, 2):
            ren = vtkRenderer()
            ren.SetLayer(layer)
            ren.InteractiveOff()
            ren.SetActiveCamera(cam)
            window.AddRenderer(ren)
            overlay.append(ren)
        pin_len = 2.2 * marker_px * camera.metres_per_pixel(h)
        if pins is not None and pins.points.shape[0]:
            # Straight up on screen in every view (in a top view "up" would hide the target).
            heads = pins.points + np.asarray(camera.up, dtype=np.float64) * pin_len
            overlay[0].AddActor(_stems(pins.points, heads, max(2, marker_px // 4)))
            outline = np.tile(OUTLINE, (len(heads), 1))
            overlay[0].AddActor(_points(heads, outline, marker_px + 4, False))
            overlay[1].AddActor(_points(heads, pins.colors, marker_px, False))
        if markers is not None and markers.points.shape[0]:
            outline = np.tile(OUTLINE, (markers.points.shape[0], 1))
            overlay[0].AddActor(_points(markers.points, outline, marker_px + 4, True))
            overlay[1].AddActor(_points(markers.points, markers.colors, marker_px, True))
        for ren in (scene, *overlay):
            ren.ResetCameraClippingRange()
        window.Render()
        image = _grab(window, w, h)
        m = cam.GetCompositeProjectionTransformMatrix(w / h, -1.0, 1.0)
        world_to_ndc = np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])
    finally:
        window.Finalize()
    return Frame(image, camera, world_to_ndc, marker_px)


def _grab(window, w: int, h: int) -> np.ndarray:  # noqa: ANN001
    """The window's pixels as (H, W, 3) uint8, top row first."""
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkRenderingCore import vtkWindowToImageFilter

    grab = vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.Update()
    flat = vtk_to_numpy(grab.GetOutput().GetPointData().GetScalars())
    return np.ascontiguousarray(flat.reshape(h, w, 3)[::-1])


def _polydata(points: np.ndarray):  # noqa: ANN202
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkPolyData

    pts = vtkPoints()
    pts.SetData(numpy_to_vtk(np.ascontiguousarray(points, dtype=np.float32), deep=True))
    poly = vtkPolyData()
    poly.SetPoints(pts)
    return poly


def _cells(n: int, per: int, connectivity: np.ndarray):  # noqa: ANN202
    from vtkmodules.util.numpy_support import numpy_to_vtkIdTypeArray
    from vtkmodules.vtkCommonDataModel import vtkCellArray

    offsets = np.arange(0, (n + 1) * per, per, dtype=np.int64)
    cells = vtkCellArray()
    cells.SetData(
        numpy_to_vtkIdTypeArray(offsets, deep=True),
        numpy_to_vtkIdTypeArray(
            np.ascontiguousarray(connectivity, dtype=np.int64).ravel(), deep=True
        ),
    )
    return cells


def _colors(rgb: np.ndarray):  # noqa: ANN202
    from vtkmodules.util.numpy_support import numpy_to_vtk

    arr = numpy_to_vtk(np.ascontiguousarray(rgb, dtype=np.uint8), deep=True)
    arr.SetName("rgb")
    return arr


def _mesh_actor(points: np.ndarray, tris: np.ndarray, colors: np.ndarray):  # noqa: ANN202
    """Lit, flat-shaded triangles (VTK derives face normals), one colour per triangle."""
    from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

    poly = _polydata(points)
    poly.SetPolys(_cells(tris.shape[0], 3, tris))
    poly.GetCellData().SetScalars(_colors(colors))
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(poly)
    mapper.SetScalarModeToUseCellData()
    mapper.SetColorModeToDirectScalars()
    actor = vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetAmbient(0.35)
    prop.SetDiffuse(0.75)
    prop.SetSpecular(0.0)
    return actor


def _lights(ren, sun: np.ndarray | None) -> None:  # noqa: ANN001
    """A sun (default from the south-west, high) and a weak fill from the opposite side."""
    from vtkmodules.vtkRenderingCore import vtkLight

    d = np.asarray(sun if sun is not None else (-0.5, -0.8, 1.2), dtype=np.float64)
    d = d / np.linalg.norm(d)
    fill = np.array([-d[0], -d[1], d[2] * 0.5])
    for direction, intensity in ((d, 0.85), (fill, 0.3)):
        light = vtkLight()
        light.SetLightTypeToSceneLight()
        light.SetPositional(False)
        light.SetPosition(*(direction * 1000.0))
        light.SetFocalPoint(0.0, 0.0, 0.0)
        light.SetIntensity(intensity)
        ren.AddLight(light)


def _points(points: np.ndarray, colors: np.ndarray, size_px: int, round_: bool):  # noqa: ANN202
    """Unlit points of a fixed pixel size, coloured exactly (no lighting, no shading)."""
    n = points.shape[0]
    poly = _polydata(points)
    poly.SetVerts(_cells(n, 1, np.arange(n)))
    poly.GetPointData().SetScalars(_colors(colors))
    actor = _unlit_actor(poly, scalars=True)
    prop = actor.GetProperty()
    prop.SetRepresentationToPoints()
    prop.SetPointSize(size_px)
    prop.SetRenderPointsAsSpheres(round_)
    return actor


def _stems(lo: np.ndarray, hi: np.ndarray, width_px: int):  # noqa: ANN202
    n = lo.shape[0]
    pts = np.empty((2 * n, 3))
    pts[0::2], pts[1::2] = lo, hi
    poly = _polydata(pts)
    poly.SetLines(_cells(n, 2, np.arange(2 * n)))
    actor = _unlit_actor(poly, scalars=False)
    actor.GetProperty().SetColor(*(c / 255 for c in OUTLINE))
    actor.GetProperty().SetLineWidth(width_px)
    return actor


def _unlit_actor(poly, *, scalars: bool):  # noqa: ANN001, ANN202
    """An actor without lighting; colours from the point scalars, or one colour."""
    from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

    mapper = vtkPolyDataMapper()
    mapper.SetInputData(poly)
    if scalars:
        mapper.SetScalarModeToUsePointData()
        mapper.SetColorModeToDirectScalars()
    else:
        mapper.ScalarVisibilityOff()
    actor = vtkActor()
    actor.SetMapper(mapper)
    actor.GetProperty().LightingOff()
    return actor
