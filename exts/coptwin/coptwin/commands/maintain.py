"""``coptwin maintain``: compaction, checkpoints, VACUUM and log cleanup of the configured tables.

Safe to run (e.g. nightly from cron) while sensors append: only finished date
partitions are compacted, commit races are retried, a lease keeps two runs from
compacting one table at once, and VACUUM keeps removed files for at least 7 days
so readers and ``coptwin run --as-of`` keep working.  ``--dry-run`` prints the
plan and changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys

from coptwin.commands._common import add_config_arg, load
from coptwin.maintenance.config import TABLES
from coptwin.maintenance.retention import MIN_RETENTION_HOURS

HELP = "compact finished partitions, checkpoint, vacuum and clean the Delta log"


def register(p: argparse.ArgumentParser) -> None:
    add_config_arg(p)
    p.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    p.add_argument(
        "--retention-hours",
        type=int,
        default=None,
        help=f"VACUUM retention (default and minimum: {MIN_RETENTION_HOURS} h, or the "
        "table's delta.deletedFileRetentionDuration if longer)",
    )
    p.add_argument(
        "--older-than-days",
        type=int,
        default=1,
        help="compact date partitions at least this many days old (default 1 = before today, UTC)",
    )
    p.add_argument(
        "--table",
        action="append",
        choices=TABLES,
        help="maintain only this table (repeatable; default: every configured table)",
    )
    p.add_argument("--no-compact", action="store_true", help="skip compaction")
    p.add_argument("--no-vacuum", action="store_true", help="skip VACUUM")
    p.add_argument(
        "--no-lease",
        action="store_true",
        help="do not take the table's maintenance lease (never run two passes at once then)",
    )
    p.add_argument("--json", action="store_true", help="print the reports as JSON")
    p.set_defaults(func=run)


def _describe(rep: dict) -> list[str]:
    verb = "would" if rep["dry_run"] else "did"
    lines = [f"{rep['table']}: {rep['uri']}"]
    if rep["skipped"] and not rep["errors"]:
        return [*lines, f"  skipped: {rep['skipped']}"]
    lines.append(f"  version {rep['version_before']} -> {rep['version_after']}")
    if rep["compaction_disabled"]:
        lines.append(f"  compaction: off: {rep['compaction_disabled']}")
    elif rep["compaction_cutoff"]:
        parts = rep["to_compact"]
        small = sum(p["small_files"] for p in parts)
        lines.append(
            f"  compaction ({rep['partition_column']} <= {rep['compaction_cutoff']}): {verb} "
            f"compact {len(parts)} partitions, {small} files"
        )
        for p in parts[:10]:
            lines.append(f"    {rep['partition_column']}={p['value']}: {p['small_files']} files")
        if len(parts) > 10:
            lines.append(f"    ... and {len(parts) - 10} more")
        for res in rep["compacted"]:
            if res["error"]:
                lines.append(f"    {res['value']}: FAILED: {res['error']}")
        if rep["compaction_skipped"]:
            left = ", ".join(f"{n} {why}" for why, n in sorted(rep["compaction_skipped"].items()))
            lines.append(f"    left alone: {left}")
    if rep["checkpoint_version"] is not None:
        lines.append(f"  checkpoint: {verb} write one at version {rep['checkpoint_version']}")
    if rep["retention_hours"] is not None:
        lines.append(
            f"  vacuum (retention {rep['retention_hours']} h): {verb} delete "
            f"{rep['vacuum_files']} files"
        )
        for path in rep["vacuum_sample"][:10]:
            lines.append(f"    {path}")
    lines.append(
        f"  log cleanup (retention {rep['log_retention_hours']:g} h): {verb} delete "
        f"{rep['log_files_removed']} commit files"
        if rep["log_retention_hours"] is not None
        else "  log cleanup: -"
    )
    lines += [f"  note: {n}" for n in rep["notes"]]
    lines += [f"  ERROR: {e}" for e in rep["errors"]]
    return lines


def run(args: argparse.Namespace) -> int:
    from coptwin.cli import CommandError
    from coptwin.maintenance import MaintenanceOptions, maintain_config

    cfg = load(args)
    if args.older_than_days < 1:
        raise CommandError("--older-than-days must be at least 1 (today's partition is live)")
    if args.retention_hours is not None and args.retention_hours < MIN_RETENTION_HOURS:
        raise CommandError(
            f"--retention-hours {args.retention_hours} is below {MIN_RETENTION_HOURS} h (7 days): "
            "readers and time travel (--as-of) need removed files that long"
        )
    options = MaintenanceOptions(
        dry_run=args.dry_run,
        retention_hours=args.retention_hours,
        older_than_days=args.older_than_days,
        compact=not args.no_compact,
        vacuum=not args.no_vacuum,
        use_lease=not args.no_lease,
    )
    reports = [r.to_dict() for r in maintain_config(cfg, options, args.table)]
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "tables": reports}, default=str))
    else:
        for rep in reports:
            print("\n".join(_describe(rep)))
    failed = [r for r in reports if r["errors"]]
    for rep in failed:
        print(f"coptwin maintain: {rep['table']}: {rep['errors'][0]}", file=sys.stderr)
    return 1 if failed else 0
