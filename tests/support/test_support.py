"""The test support itself: missing prerequisites fail under CI, waits are bounded."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import require
from tests.support.wait import until, wait_until


def test_missing_shared_scenes_skip_locally_and_fail_under_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(require, "SHARED", tmp_path / "no-shared")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="../shared"):
        require.shared_path("scenes", "ce_ottawa_a")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI"):
        require.shared_path("scenes", "ce_ottawa_a")
    (tmp_path / "no-shared" / "scenes").mkdir(parents=True)
    assert require.shared_path("scenes") == tmp_path / "no-shared" / "scenes"


def test_waits_end_when_the_condition_holds_or_fail_naming_it():
    calls = []
    wait_until(lambda: calls.append(1) or len(calls) == 3, 5, 0)
    assert len(calls) == 3
    with pytest.raises(AssertionError, match="the impossible not reached within 0.05 s"):
        wait_until(lambda: False, 0.05, 0.01, what="the impossible")
    with pytest.raises(AssertionError, match="never"):
        asyncio.run(until(lambda: False, 0.05, 0.01, what="never"))
