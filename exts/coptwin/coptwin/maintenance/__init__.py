"""Delta table maintenance that keeps per-update cost flat while sensors keep writing.

:func:`maintain_table` runs one pass (compaction of finished partitions,
checkpoint, VACUUM with a safe retention, log cleanup) over one table;
:func:`maintain_config` runs it over the tables of a coptwin config.
"""

from __future__ import annotations

from coptwin.maintenance.config import maintain_config
from coptwin.maintenance.lease import LeaseBusy, MaintenanceLease
from coptwin.maintenance.plan import CompactionPlan, PartitionPlan, plan_compaction
from coptwin.maintenance.retention import MIN_RETENTION_HOURS
from coptwin.maintenance.retry import is_conflict, with_retry
from coptwin.maintenance.runner import (
    MaintenanceOptions,
    PartitionResult,
    TableReport,
    maintain_table,
)

__all__ = [
    "MIN_RETENTION_HOURS",
    "CompactionPlan",
    "LeaseBusy",
    "MaintenanceLease",
    "MaintenanceOptions",
    "PartitionPlan",
    "PartitionResult",
    "TableReport",
    "is_conflict",
    "maintain_config",
    "maintain_table",
    "plan_compaction",
    "with_retry",
]
