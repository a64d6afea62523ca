"""``coptwin report --config F [--as-of T] --out report.html``: a briefing in one file.

One self-contained HTML page (the snapshot embedded): status counts per layer, the
sensors in alarm, warning or offline with their last values and times, open reviewers'
notes and the Delta versions shown. The same as-of gives the same page.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from coptwin.commands._common import add_as_of_arg, add_config_arg
from coptwin.commands.snapshot import add_picture_args, picture

HELP = "write a self-contained HTML briefing of the COP (snapshot, counts, notes)"


def register(p: argparse.ArgumentParser) -> None:
    add_config_arg(p)
    add_as_of_arg(p)
    add_picture_args(p)
    p.add_argument("--out", type=Path, required=True, help="HTML file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coptwin.render.report import report_html

    made = picture(args)
    assert made.state is not None  # --config: a COP, never a bare scene
    html = report_html(made.state, made.png())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(html, encoding="utf-8")
    print(f"wrote {args.out} ({len(html) // 1024} KiB)")
    return 0
