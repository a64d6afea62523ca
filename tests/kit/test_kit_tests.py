"""The omni.kit.test tests of exts/coptwin/coptwin/kit/tests, run against the STAND-IN.

This is not a Kit run (the README lists them as not run here): it shows the
tests as written survive what the stand-in models and Kit's test runner would
hit — positional clicks that do not scroll, frames rebuilt under a WidgetRef,
modules unloaded by disable/enable, settings and stages left behind.
"""

from __future__ import annotations

import importlib
import io
import unittest

import pytest


@pytest.mark.parametrize(
    ("module", "case"),
    [
        ("test_extension", "TestExtensionLifecycle"),
        ("test_window", "TestWindow"),
        ("test_notes", "TestNotes"),
    ],
)
def test_kit_test_case_passes_against_the_standin(kit, module, case):
    kit.settings(config_path="")
    tests = importlib.import_module(f"coptwin.kit.tests.{module}")
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(getattr(tests, case))
    out = io.StringIO()
    result = unittest.TextTestRunner(stream=out, verbosity=2).run(suite)
    assert result.wasSuccessful(), out.getvalue()
    assert result.testsRun >= 1
    # tearDown closed the stage and restored the setting: nothing points at a deleted folder
    assert kit.world.settings.get("/exts/coptwin/config_path") == ""
    assert kit.context.get_stage() is None
