"""A process that rewrites a big overlay file as fast as it can, to be killed with SIGKILL.

Run as ``python export_worker.py OUT.usda N``: draws N markers into an overlay (the
product's :class:`~coptwin.scene.overlay.Overlay`), prints ``ready`` and the number
of markers once the first export is done, then exports again and again until killed.
"""

from __future__ import annotations

import sys

import numpy as np
from pxr import Usd

from coptwin.scene.overlay import MarkerBatch, Overlay


def main(out: str, n: int) -> None:
    overlay = Overlay.attach(Usd.Stage.CreateInMemory(), marker_size_m=2.0)
    ids = [f"S-{i:06d}" for i in range(n)]
    overlay.stage_batch(
        MarkerBatch(
            sensor_ids=ids,
            layers=["environment"] * n,
            kinds=["temperature"] * n,
            colors=np.full((n, 3), 0.5, dtype=np.float32),
            statuses=["ok"] * n,
            values=[20.0 + i % 7 for i in range(n)],
            units=["degC"] * n,
            positions={sid: (float(i), 0.0, float(i % 100)) for i, sid in enumerate(ids)},
        )
    )
    overlay.flush()
    overlay.export(out)
    print("ready", n, flush=True)
    while True:
        overlay.export(out)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
