"""``coptwin doctor --config FILE``: a PASS/FAIL checklist with a remedy for each failure.

Exit code 0 when every check passes, 1 when any fails (2 for an unreadable config).
"""

from __future__ import annotations

import argparse
import json
import sys

from coptwin.commands._common import add_config_arg, load
from coptwin.commands.serve import add_server_args

HELP = "check storage, credentials, tables, column mapping and event sources"


def register(p: argparse.ArgumentParser) -> None:
    add_config_arg(p)
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument(
        "--serve",
        action="store_true",
        help="check for coptwin serve (its --host/--port, which also carry the webhook)",
    )
    add_server_args(p)
    p.set_defaults(func=run)


def _colour(status: str) -> str:
    codes = {"PASS": "32", "FAIL": "31", "SKIP": "33"}
    return f"\033[{codes.get(status, '0')}m{status}\033[0m"


def run(args: argparse.Namespace) -> int:
    from coptwin.doctor import format_checks, run_checks

    cfg = load(args)
    checks = run_checks(cfg, (args.host, args.port) if args.serve else None)
    if args.json:
        rows = [c.__dict__ for c in checks]
        print(json.dumps({"ok": not any(c.failed for c in checks), "checks": rows}, indent=2))
    else:
        print(f"coptwin doctor: {args.config}")
        print(format_checks(checks, _colour if sys.stdout.isatty() else None))
    return 1 if any(c.failed for c in checks) else 0
