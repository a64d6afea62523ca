"""A stage a worker thread may read while the owner thread keeps writing the live one.

OpenUSD's rule is "many readers or one writer": a ``UsdStage`` (and each
``SdfLayer``) may be read from several threads only while nobody writes it.
Kit writes its stage on the main thread at any moment (camera moves in the
session layer, user edits, coptwin's own overlay), so indexing the city's
geometry must not traverse Kit's stage from a worker.

Why a private stage rather than reading on the main thread in chunks: the
index needs every mesh of the city at once (a CityEngine export is 0.1–2M
triangles); chunked main-thread reads would still cost the main thread the
whole read, spread over many frames, and would tie the index to Kit's update
loop.  A private stage costs the main thread nothing for a saved scene.

* **Saved scene** (every used layer file-backed and clean): the worker opens
  its own stage on the root layer file.  The root layer is opened under its
  own identity (a file-format argument makes it a separate ``SdfLayer``, so
  edits to Kit's root layer, the usual edit target, never touch what the
  worker reads); relative sublayers and references still resolve.  Layers
  below the root are shared read-only through USD's layer registry; only a
  user editing one of those sub-files during the seconds of indexing would
  write what the worker reads.
* **Unsaved edits or an in-memory stage**: there is no file that says what
  the user sees, so the live stage is flattened into a private in-memory
  layer on the owner thread (one blocking step, proportional to the scene)
  and the worker reads that copy.  Saving the stage first avoids the step.

Kit's session layer (camera, viewport state, the overlay) is left out: it
holds no city geometry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: File-format argument that gives the worker's root layer an identity of its own.
COPY_ARGUMENT = {"coptwin_worker_copy": "1"}

StageOpener = Callable[[], Any]


def _session_layers(stage: Any) -> set[str]:
    with_session = {lyr.identifier for lyr in stage.GetLayerStack(includeSessionLayers=True)}
    without = {lyr.identifier for lyr in stage.GetLayerStack(includeSessionLayers=False)}
    return with_session - without


def unsaved_layers(stage: Any) -> list[str]:
    """Identifiers of the non-session layers whose content is not what their file says."""
    session = _session_layers(stage)
    return [
        lyr.identifier
        for lyr in stage.GetUsedLayers()
        if lyr.identifier not in session and (lyr.anonymous or lyr.dirty or not lyr.realPath)
    ]


def worker_stage_opener(stage: Any) -> StageOpener:
    """On the thread that owns ``stage``: a function a worker calls to get its own stage.

    Reads only layer bookkeeping of the live stage here; the returned function
    touches nothing of it.
    """
    from pxr import Sdf, Usd

    unsaved = unsaved_layers(stage)
    if not unsaved:
        path = stage.GetRootLayer().identifier

        def open_saved() -> Any:
            layer = Sdf.Layer.FindOrOpen(path, COPY_ARGUMENT)
            if layer is None:
                raise ValueError(f"{path}: cannot open the scene file to index it")
            return Usd.Stage.Open(layer, Usd.Stage.LoadAll)

        return open_saved
    t0 = time.perf_counter()
    flat = stage.Flatten(addSourceFileComment=False)
    log.warning(
        "the stage has unsaved content (%s): copied it on the main thread in %.0f ms to index "
        "it in the background; save the stage to skip this step",
        ", ".join(unsaved[:3]) + (" ..." if len(unsaved) > 3 else ""),
        (time.perf_counter() - t0) * 1000.0,
    )
    return lambda: Usd.Stage.Open(flat, Usd.Stage.LoadAll)
