"""UI helpers of the Kit tests: find a widget, scroll it into view, click it.

``omni.kit.ui_test`` clicks a widget's screen centre and never scrolls, so a
button below the fold of a ``ScrollingFrame`` is clicked *beside* (or not at
all).  And a ``WidgetRef`` found before a frame was rebuilt points at a
detached widget: query again after anything that may rebuild (a click, a
refresh).  These helpers do both, using only documented omni.ui attributes
(``screen_position_y``, ``computed_height``, ``ScrollingFrame.scroll_y``).
"""

from __future__ import annotations

import omni.kit.app
import omni.kit.ui_test as ui_test


async def frames(n: int = 3) -> None:
    app = omni.kit.app.get_app()
    for _ in range(n):
        await app.next_update_async()


def find(window: str, kind: str, *, identifier: str | None = None, text: str | None = None):
    """The first ``kind`` widget of ``window`` with that identifier/text (queried now)."""
    for ref in ui_test.find_all(f"{window}//Frame/**/{kind}[*]") or []:
        widget = ref.widget
        if identifier is not None and getattr(widget, "identifier", "") != identifier:
            continue
        if text is not None and getattr(widget, "text", None) != text:
            continue
        return ref
    return None


def find_all_texts(window: str, kind: str, text: str) -> list:
    """Every ``kind`` widget of ``window`` showing ``text`` (queried now)."""
    found = ui_test.find_all(f"{window}//Frame/**/{kind}[*]") or []
    return [ref for ref in found if getattr(ref.widget, "text", None) == text]


def find_nth(window: str, kind: str, index: int):
    """The ``index``-th ``kind`` widget of ``window`` (queried now)."""
    found = ui_test.find_all(f"{window}//Frame/**/{kind}[*]") or []
    return found[index] if index < len(found) else None


async def scroll_into_view(window: str, kind: str, ref) -> None:
    """Scroll every ScrollingFrame that holds ``ref``'s widget until its centre shows."""
    target = ref.widget
    for _ in range(4):  # outer frames first move inner ones; settle in a few passes
        moved = False
        for frame_ref in ui_test.find_all(f"{window}//Frame/**/ScrollingFrame[*]") or []:
            frame = frame_ref.widget
            if not any(r.widget is target for r in frame_ref.find_all(f"**/{kind}[*]")):
                continue
            top = frame.screen_position_y
            bottom = top + frame.computed_height
            centre = target.screen_position_y + target.computed_height / 2
            if top <= centre <= bottom:
                continue
            frame.scroll_y = max(0.0, frame.scroll_y + centre - (top + bottom) / 2)
            moved = True
        if not moved:
            return
        await frames(2)


async def click(window: str, kind: str, *, identifier: str | None = None, text: str | None = None):
    """Query the widget afresh, scroll it into view, query again, click its centre."""
    ref = find(window, kind, identifier=identifier, text=text)
    assert ref is not None, f"no {kind} {identifier or text!r} in {window}"
    await scroll_into_view(window, kind, ref)
    ref = find(window, kind, identifier=identifier, text=text)  # positions may have changed
    await ref.click()
    await frames(2)
    return ref


async def click_nth(window: str, kind: str, index: int):
    """:func:`click` on the ``index``-th ``kind`` widget (re-queried around the scroll)."""
    ref = find_nth(window, kind, index)
    assert ref is not None, f"no {kind} #{index} in {window}"
    await scroll_into_view(window, kind, ref)
    ref = find_nth(window, kind, index)
    await ref.click()
    await frames(2)
    return ref
