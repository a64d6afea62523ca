"""The overlay file (issue 12, items 5 and 7): a restart never publishes an all-"unknown"
overlay, and a writer killed mid-export leaves only files the next start recognises
and removes; the export stays atomic.

Decision (item 5): until the engine has read a state, and while reads fail, the
previous overlay file stays as it was, rather than a file marked "not yet live".
A USD consumer (a viewer, Omniverse with the overlay as a live layer) reads the
markers' colours and nothing else, so a marked file would still show every sensor
grey; the previous file shows the last state that was read, and the status line
(and ``coptwin run``'s output) says why it is not being updated.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pxr import Sdf, Usd, UsdGeom

from coptwin.cli import main

WORKER = Path(__file__).with_name("export_worker.py")


@pytest.fixture
def where() -> str:
    return "local"


def _statuses(path: Path) -> list[str]:
    stage = Usd.Stage.Open(str(path))
    return [
        p.GetAttribute("coptwin:status").Get()
        for p in stage.Traverse()
        if p.HasAttribute("coptwin:status")
    ]


def test_a_restart_that_cannot_read_keeps_the_last_good_overlay(cop_files, capsys, tmp_path):
    """Read once; then the readings table breaks and the engine restarts live: the file
    it wrote before stays byte for byte (before: overwritten with every sensor unknown)."""
    cop = cop_files
    cop.table.append(16)
    out = tmp_path / "out" / "overlay.usda"
    assert main(["run", "--once", "--config", str(cop.path), "--out", str(out)]) == 0
    good = out.read_bytes()
    assert any(s == "ok" for s in _statuses(out))
    capsys.readouterr()
    # The table breaks: a commit whose JSON is garbage (deltalake cannot open the table).
    cop.table.append(4)
    log = Path(cop.table.uri) / "_delta_log" / f"{1:020d}.json"
    log.write_bytes(b"{garbage")
    code = main(["run", "--config", str(cop.path), "--out", str(out), "--duration", "3"])
    printed = capsys.readouterr().out
    assert code == 0
    assert out.read_bytes() == good, "the last good overlay was overwritten"
    assert f"kept {out} as it was: no state was read" in printed, printed
    assert "cannot open table" in printed


def test_an_engine_that_read_writes_and_one_that_has_not_does_not(cop_files, tmp_path):
    """Engine.export before the first read writes nothing and says so; after it, writes."""
    from coptwin.engine.engine import Engine

    cop = cop_files
    cop.table.append(8)
    out = tmp_path / "overlay.usda"
    engine = Engine(cop.config)
    try:
        engine.open()  # the sensors table and the scene, but no readings yet
        assert engine.export(out) is False and not out.exists()
        engine.tick()
        assert engine.export(out) is True
        assert set(_statuses(out)) - {"unknown"}
    finally:
        engine.close()


def _markers(path: Path) -> int:
    stage = Usd.Stage.Open(str(path))
    return sum(
        len(UsdGeom.PointInstancer(p).GetPositionsAttr().Get() or [])
        for p in stage.Traverse()
        if p.IsA(UsdGeom.PointInstancer)
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX only: SIGKILL (TerminateProcess)")
def test_kill_9_during_export_leaves_only_recognisable_files_that_the_next_start_removes(
    cop_files, tmp_path
):
    """A real writer process killed with SIGKILL while it rewrites a 2,000-marker overlay:
    the overlay is always whole (or absent), leftovers are named ``overlay.coptwin-tmp*``
    (before: ``overlay.XXXXXX``), and the next start of the engine removes them."""
    out = tmp_path / "out" / "overlay.usda"
    rng = random.Random(12)
    leftovers: list[str] = []
    for _attempt in range(12):
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(out), "2000"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().startswith("ready")
            proc.stdout.close()
            time.sleep(rng.uniform(0.02, 0.3))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        assert Sdf.Layer.OpenAsAnonymous(str(out)) is not None, "a torn overlay file"
        assert _markers(out) == 2000
        leftovers = sorted(p.name for p in out.parent.iterdir() if p.name != out.name)
        if leftovers:
            break
    assert leftovers, "12 kills mid-export left no temporary file to clean"
    assert all(name.startswith("overlay.coptwin-tmp") for name in leftovers), leftovers
    # The next start: coptwin run writes the same file and removes what the kill left.
    cop = cop_files
    cop.table.append(8)
    assert main(["run", "--once", "--config", str(cop.path), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["cop.usda", "overlay.usda"]
