"""Palette and legend: every status has a distinct, valid, documented colour."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from coptwin.config import STATUSES
from coptwin.model import palette


def test_every_status_has_a_distinct_colour():
    assert set(palette.PALETTE) == set(STATUSES) == set(palette.HEX)
    linear = list(palette.PALETTE.values())
    hexes = list(palette.HEX.values())
    assert len(set(linear)) == len(STATUSES) and len(set(hexes)) == len(STATUSES)
    # clearly apart, not just unequal: >= 0.15 Euclidean in sRGB
    for a, b in itertools.combinations(palette.PALETTE_SRGB.values(), 2):
        assert np.linalg.norm(np.subtract(a, b)) >= 0.15


def test_linear_values_are_the_srgb_hex_linearised():
    for status, code in palette.HEX.items():
        srgb = palette.hex_to_srgb(code)
        assert all(0.0 <= c <= 1.0 for c in palette.PALETTE[status])
        back = tuple(palette.linear_to_srgb(c) for c in palette.PALETTE[status])
        assert back == pytest.approx(srgb, abs=1e-9)
    # linear is darker than sRGB for mid tones (the transfer function was removed)
    assert palette.PALETTE["unknown"][0] < palette.PALETTE_SRGB["unknown"][0]
    assert palette.srgb_to_linear(0.5) == pytest.approx(0.21404, abs=1e-4)


def test_okabe_ito_colours_are_used():
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}
    assert {h for s, h in palette.HEX.items() if s != "unknown"} <= okabe_ito


def test_legend_in_severity_order_and_markdown():
    entries = palette.legend()
    assert [e.status for e in entries] == list(STATUSES)
    for e in entries:
        assert e.color == palette.PALETTE[e.status] and e.hex == palette.HEX[e.status]
        assert e.label and e.description
        assert e.srgb == palette.hex_to_srgb(e.hex)
    md = palette.legend_markdown()
    assert md.count("\n") == len(STATUSES) + 2
    for e in entries:
        assert e.hex in md and e.label in md


def test_color_array_for_many_statuses():
    arr = palette.color_array(["ok", "alarm", "no-such-status"])
    assert arr.shape == (3, 3) and arr.dtype == np.float32
    np.testing.assert_allclose(arr[0], palette.PALETTE["ok"], rtol=1e-6)
    np.testing.assert_allclose(arr[2], palette.PALETTE["unknown"], rtol=1e-6)
    assert palette.color("nonsense") == palette.PALETTE["unknown"]


def test_bad_hex_is_a_clear_error():
    with pytest.raises(ValueError, match="RRGGBB"):
        palette.hex_to_srgb("#12345")
