"""Maintenance of the tables a coptwin config names, with the config's storage settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from coptwin.config import Config, ConfigError
from coptwin.maintenance.runner import MaintenanceOptions, TableReport, maintain_table
from coptwin.storage import apply_ca_bundle, config_store, delta_storage_options

TABLES: tuple[str, ...] = ("readings", "sensors", "annotations")


def configured_tables(config: Config) -> list[str]:
    return [name for name in TABLES if getattr(config.tables, name) is not None]


def _lease_store(config: Config, table: str) -> Any | None:
    """A store at the table root that can create objects conditionally (S3: conditional put).

    None lets the maintainer use a plain store (local tables, tables at absolute URIs).
    """
    tc = getattr(config.tables, table)
    if config.storage.is_s3 and "://" not in tc.path:
        return config_store(config, tc.path)
    return None


def maintain_config(
    config: Config,
    options: MaintenanceOptions,
    tables: Sequence[str] | None = None,
    *,
    now: Callable[[], dt.datetime] | None = None,
) -> list[TableReport]:
    """One pass over each named (default: every configured) table, in order."""
    names = list(tables) if tables else configured_tables(config)
    for name in names:
        if name not in TABLES or getattr(config.tables, name) is None:
            raise ConfigError(f"no table {name!r} is configured (tables.{name})")
    apply_ca_bundle(config.storage)
    opts = delta_storage_options(config.storage)
    reports = []
    for name in names:
        tc = getattr(config.tables, name)
        uri = config.table_uri(name)
        reports.append(
            maintain_table(
                uri,
                tc.column("date"),
                options,
                name=name,
                storage_options=opts,
                lease_store=None if options.dry_run else _lease_store(config, name),
                now=now,
            )
        )
    return reports
