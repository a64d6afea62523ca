"""The ``coptwin`` command line: one sub-command per module in :mod:`coptwin.commands`.

Each command module exposes ``HELP`` (its line in ``coptwin --help``; its docstring
is its own ``--help``) and ``register(parser)``, which adds its arguments and sets
``func`` to a callable ``(args) -> int``.  Expected failures are a
:class:`~coptwin.problem.Problem` (a configuration error names the file and the
key: ``<file>: <key>: <what is wrong>``); :func:`main` prints one line and exits
with code 2, and only ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence

from coptwin import __version__
from coptwin.problem import Problem

#: Command modules below coptwin.commands, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "demo",
    "run",
    "simulate",
    "place",
    "doctor",
    "annotate",
    "alarms",
    "maintain",
    "bench",
    "serve",
    "inspect",
    "snapshot",
    "report",
)


class CommandError(Problem, RuntimeError):
    """An expected failure a command reports as one line (exit code 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coptwin",
        description="Live Common Operating Picture: Delta Lake sensor tables -> USD overlay.",
    )
    parser.add_argument("--version", action="version", version=f"coptwin {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (and debug logs)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"coptwin.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"coptwin.commands.{name}":
                continue  # command not built yet in this checkout
            raise
        command = sub.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.register(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except argparse.ArgumentError as exc:  # a sub-command's type= check
        print(f"coptwin: error: {exc}", file=sys.stderr)
        return 2
    level = logging.DEBUG if args.debug else logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except Problem as exc:
        if args.debug:
            traceback.print_exc()
        print(f"coptwin {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"coptwin {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
