"""Helpers the command modules share: locating config files, parsing times, summaries."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from coptwin.config import Config, load_config

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
    """``--as-of``: a Delta version (integer) or an ISO-8601 time (UTC if no zone)."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--as-of: {text!r} is neither a version number nor an ISO-8601 time"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
