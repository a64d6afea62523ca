"""Opening the engine on Kit's stage (issue 11.2 and 11.3), with real Delta tables and USD.

``commit_open`` must be idempotent: an open finished on one path must not make
a second one attach a second overlay.  And the worker's copy of the stage must
show what the user sees, unsaved edits included.
"""

from __future__ import annotations

from pxr import Sdf, Usd, UsdGeom

from coptwin.config import load_config
from coptwin.engine.engine import Engine
from coptwin.scene.worker_stage import unsaved_layers, worker_stage_opener


def test_commit_open_twice_attaches_one_overlay(cop_tables, city_stage):
    engine = Engine(load_config(cop_tables), city_stage)
    first, second = engine.prepare_open(), engine.prepare_open()
    engine.commit_open(first)
    engine.commit_open(second)  # e.g. a worker's open finishing after a main-thread one
    try:
        assert len(city_stage.GetSessionLayer().subLayerPaths) == 1
    finally:
        engine.close()
    assert len(city_stage.GetSessionLayer().subLayerPaths) == 0


def test_worker_copy_of_a_saved_stage_is_a_separate_root_layer(city_stage):
    assert unsaved_layers(city_stage) == []
    copy = worker_stage_opener(city_stage)()
    assert copy.GetRootLayer() != city_stage.GetRootLayer()  # Kit's edits never reach it
    assert copy.GetRootLayer().realPath == city_stage.GetRootLayer().realPath
    assert copy.GetPrimAtPath("/World/Buildings/B1/Mesh").IsValid()
    # an edit to Kit's root layer after the copy was made is not seen by the worker's stage
    UsdGeom.Xform.Define(city_stage, "/World/Buildings/Edited")
    assert not copy.GetPrimAtPath("/World/Buildings/Edited").IsValid()


def test_worker_copy_of_an_unsaved_stage_has_the_unsaved_geometry(city_stage):
    mesh = UsdGeom.Mesh.Define(city_stage, "/World/Buildings/New/Mesh")
    mesh.CreatePointsAttr([(0, 0, 0), (1, 0, 0), (1, 1, 0)])
    assert unsaved_layers(city_stage)  # the root layer is dirty now
    copy = worker_stage_opener(city_stage)()
    assert copy.GetPrimAtPath("/World/Buildings/New/Mesh").IsValid()
    assert copy.GetRootLayer() != city_stage.GetRootLayer()


def test_worker_copy_of_an_in_memory_stage():
    stage = Usd.Stage.CreateInMemory()
    UsdGeom.Mesh.Define(stage, "/World/M")
    copy = worker_stage_opener(stage)()
    assert copy.GetPrimAtPath("/World/M").IsValid()
    assert Sdf.Layer.Find(copy.GetRootLayer().identifier) is not stage.GetRootLayer()
