"""Helpers the command modules share: locating config files, parsing times, summaries."""

from __future__ import annotations

import argparse
import os
import re
from datetime import datetime
from pathlib import Path

from coptwin.config import Config, load_config

#: Environment variable naming who writes notes and acts on alarms (``--author`` default).
AUTHOR_ENV = "COPTWIN_AUTHOR"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

#: The repository root when running from a checkout (exts/coptwin/coptwin/commands -> repo).
REPO_ROOT = Path(__file__).resolve().parents[4]


def default_config(name: str) -> Path:
    """``config/<name>`` in the current folder, else in the checkout this code runs from."""
    here = Path.cwd() / "config" / name
    return here if here.is_file() else REPO_ROOT / "config" / name


def add_config_arg(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--config", "-c", type=Path, required=required, help="coptwin TOML config file"
    )


def load(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def parse_as_of(text: str | None) -> int | datetime | None:
    """``--as-of``: a Delta version or an ISO-8601 time (UTC if no zone), as the panel
    and the web page read it (:func:`coptwin.engine.time_travel.parse_as_of`)."""
    from coptwin.engine.time_travel import parse_as_of as parse

    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_author_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--author",
        default=os.environ.get(AUTHOR_ENV, ""),
        help=f"who you are (default ${AUTHOR_ENV})",
    )


def terminal_safe(text: str) -> str:
    """Text for a terminal: control characters shown as escapes, never executed."""
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)
