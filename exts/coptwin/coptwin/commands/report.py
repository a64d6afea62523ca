"""``coptwin report --config F [--as-of T] --out report.html``: a briefing in one file.

One self-contained HTML page (the snapshot embedded): status counts per layer, the
sensors in alarm, warning or offline with their last values and times, open reviewers'
notes and the Delta versions shown. The same as-of gives the same page.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from coptwin.cli import CommandError
from coptwin.commands._common import parse_as_of
from coptwin.commands.snapshot import add_picture_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a self-contained HTML briefing of the COP (snapshot, counts, notes)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", "-c", type=Path, required=True, help="coptwin TOML config")
    p.add_argument("--as-of", type=parse_as_of, default=None, help="Delta version or ISO time")
    add_picture_args(p)
    p.add_argument("--out", type=Path, required=True, help="HTML file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coptwin.config import load_config
    from coptwin.delta.errors import DeltaWatchError
    from coptwin.geo.errors import SceneError
    from coptwin.render.cop import open_engine
    from coptwin.render.report import report_html
    from coptwin.render.snapshot import cop_picture

    try:
        engine = open_engine(load_config(args.config), args.as_of)
        try:
            picture = cop_picture(engine, view=args.view, size=args.size)
        finally:
            engine.close()
    except (SceneError, ValueError, DeltaWatchError) as exc:  # one line, no traceback
        raise CommandError(str(exc)) from None
    assert picture.state is not None
    html = report_html(picture.state, picture.png())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(html, encoding="utf-8")
    print(f"wrote {args.out} ({len(html) // 1024} KiB)")
    return 0
