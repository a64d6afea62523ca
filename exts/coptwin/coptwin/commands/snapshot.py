"""``coptwin snapshot``: a PNG of the COP (``--config``) or of a bare scene (``--scene``).

Renders off-screen with VTK (no display, no Omniverse): buildings shaded, bound buildings
tinted by their worst status, markers in status colours, open-note pins, the palette's
legend, a title with the time and Delta versions, a north arrow and a scale bar.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from coptwin.cli import CommandError
from coptwin.commands._common import add_as_of_arg

HELP = "render the COP (or a bare scene) to a PNG, headless"


def register(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", "-c", type=Path, help="coptwin TOML config: render the COP")
    src.add_argument("--scene", type=Path, help="a USD scene: render it bare, no config")
    add_as_of_arg(p, "a Delta version or an ISO-8601 time (with --config)")
    add_picture_args(p)
    p.add_argument("--out", type=Path, required=True, help="PNG file to write")
    p.set_defaults(func=run)


def add_picture_args(p: argparse.ArgumentParser) -> None:
    """``--view`` and ``--size`` (shared with ``coptwin report``)."""
    from coptwin.render.camera import View, parse_size

    def view(text: str) -> View:
        try:
            return View.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    def size(text: str) -> tuple[int, int]:
        try:
            return parse_size(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    p.add_argument(
        "--view",
        type=view,
        default=View(),
        help="oblique (default), top, sensor:ID or building:ID (object id or prim path)",
    )
    p.add_argument("--size", type=size, default=(1280, 720), help="WIDTHxHEIGHT (1280x720)")


def picture(args: argparse.Namespace):  # noqa: ANN201 - a coptwin.render.snapshot.Picture
    """The picture ``args`` ask for (``--scene`` or ``--config`` [+ ``--as-of``], ``--view``,
    ``--size``); every expected failure is one line (a :class:`~coptwin.problem.Problem`)."""
    from coptwin.config import load_config
    from coptwin.problem import Problem
    from coptwin.render.cop import open_engine
    from coptwin.render.snapshot import cop_picture, scene_picture

    try:
        if getattr(args, "scene", None) is not None:
            if args.as_of is not None:
                raise CommandError("--as-of needs --config (a bare scene has no tables)")
            return scene_picture(args.scene, view=args.view, size=args.size)
        engine = open_engine(load_config(args.config), args.as_of)
        try:
            return cop_picture(engine, view=args.view, size=args.size)
        finally:
            engine.close()
    except Problem:  # the config's file and key, or a bare scene's file
        raise
    except ValueError as exc:  # a --view naming nothing this COP shows
        raise CommandError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    made = picture(args)
    made.save(args.out)
    w, h = made.image.size
    print(f"wrote {args.out} ({w}x{h}, {time.perf_counter() - t0:.1f} s)")
    sys.stdout.flush()
    return 0
