"""Helpers the command modules share: parsers and common arguments, config files, times,
verb dispatch and output files."""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from collections.abc import Callable
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


def add_config_arg(
    parser: argparse.ArgumentParser,
    *,
    required: bool = True,
    help_: str = "coptwin TOML config file",
) -> None:
    parser.add_argument("--config", "-c", type=Path, required=required, help=help_)


def add_as_of_arg(
    parser: argparse.ArgumentParser, help_: str = "a Delta version or an ISO-8601 time"
) -> None:
    parser.add_argument("--as-of", type=parse_as_of, default=None, metavar="T", help=help_)


Verb = Callable[[Config, argparse.Namespace], int]


def add_verbs(
    parser: argparse.ArgumentParser, verbs: dict[str, Verb]
) -> Callable[[str, str], argparse.ArgumentParser]:
    """``coptwin <command> ACTION`` of an event table (notes, alarms), each action run by
    ``verbs[ACTION]`` (:func:`run_verb`): returns ``verb(name, help)``, which adds an
    action that takes ``--config``."""
    parser.set_defaults(func=functools.partial(run_verb, verbs=verbs))
    verbs = parser.add_subparsers(dest="verb", metavar="ACTION", required=True)

    def verb(name: str, help_: str) -> argparse.ArgumentParser:
        v = verbs.add_parser(name, help=help_)
        add_config_arg(v)
        return v

    return verb


def run_verb(args: argparse.Namespace, verbs: dict[str, Verb]) -> int:
    """Run ``args.verb`` on the loaded config; refused input and an event table that
    cannot be read or written become a one-line command error."""
    from coptwin.cli import CommandError
    from coptwin.eventlog import EventError, EventLogError

    cfg = load(args)
    try:
        return verbs[args.verb](cfg, args)
    except (EventError, EventLogError) as exc:
        raise CommandError(str(exc)) from None


def add_export_args(parser: argparse.ArgumentParser, formats: tuple[str, ...]) -> None:
    """``--format``, ``--output`` and ``--raw-csv`` of an ``export`` action (written by
    :func:`write_export`)."""
    parser.add_argument("--format", choices=formats, required=True)
    parser.add_argument("--output", "-o", type=Path, default=None, help="file (default stdout)")
    parser.add_argument(
        "--raw-csv", action="store_true", help="do not prefix formula-like CSV cells with '"
    )


def write_export(output: Path | None, text: str, what: str) -> None:
    """``text`` to stdout, or to ``output`` (folders made) with ``wrote <what> to ...``."""
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {what} to {output}", file=sys.stderr)


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
