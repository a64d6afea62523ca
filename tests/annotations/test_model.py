"""Target encoding and input checks of coptwin.annotations.model."""

from __future__ import annotations

import pytest

from coptwin.annotations.model import (
    AnnotationError,
    Target,
    check_author,
    check_text,
)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("/World/Buildings/B_12", "prim", "/World/Buildings/B_12"),
        ("sensor:env-001", "sensor", "env-001"),
        ("sensor:site:a:7", "sensor", "site:a:7"),
        ("point:1.5,-2.25,1000000.125", "point", "1.5,-2.25,1000000.125"),
    ],
)
def test_target_round_trips(text, kind, value):
    t = Target.parse(text)
    assert (t.kind, t.value) == (kind, value)
    assert str(Target.parse(str(t))) == str(t)


def test_point_keeps_full_precision():
    x, y, z = 583960.123456789, 12.000000001, -4507523.987654321
    t = Target.parse(str(Target.at_point(x, y, z)))
    assert t.point == (x, y, z)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "World/B1",
        "/",
        "/World/B1.attr",
        "/World/B 1",
        "sensor:",
        "sensor:   ",
        "point:1,2",
        "point:1,2,x",
        "point:1,nan,3",
        "point:inf,2,3",
        "house 12",
    ],
)
def test_bad_targets_are_refused(bad):
    with pytest.raises(AnnotationError):
        Target.parse(bad)


def test_text_is_kept_verbatim_but_bounded():
    markup = "<b>reads high</b> & [link](javascript:x) ${HOME}\n\tsecond line"
    assert check_text(markup, 100) == markup
    assert check_text("x" * 10, 10) == "x" * 10
    with pytest.raises(AnnotationError, match="too long: 11"):
        check_text("x" * 11, 10)
    for empty in ("", "   \n\t", None):
        with pytest.raises(AnnotationError, match="empty"):
            check_text(empty, 10)
    with pytest.raises(AnnotationError, match="control"):
        check_text("bell\x07", 10)


def test_author_is_required_and_one_line():
    assert check_author("  Ann Reviewer ") == "Ann Reviewer"
    for bad in ("", "  ", None, "a\nb", "x" * 201):
        with pytest.raises(AnnotationError):
            check_author(bad)


@pytest.mark.parametrize("char", [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))])
def test_bidi_override_and_isolate_characters_are_refused(char):
    """Issue 12, item 9: U+202E and friends can make a note read differently than it is."""
    with pytest.raises(AnnotationError, match="bidirectional"):
        check_text(f"valve ok {char}desrever", 100)
    with pytest.raises(AnnotationError, match="bidirectional"):
        check_author(f"bob{char}")


def test_right_to_left_text_without_overrides_is_fine():
    assert check_text("שלום עולם — مرحبا", 100) == "שלום עולם — مرحبا"
    assert check_author("أحمد") == "أحمد"
