"""Object key -> table: which configured Delta table an object belongs to.

Any object below a table's prefix counts (``_delta_log/`` commits are the
interesting ones, but a data file also means a commit is on its way), and
events for other buckets are foreign.  The longest matching prefix wins, and a
prefix only matches at a ``/`` boundary, so ``readings`` never claims
``readings_archive/``.
"""

from __future__ import annotations

from coptwin.config import Config, ConfigError
from coptwin.storage import split_s3_uri


def table_prefixes(config: Config) -> dict[str, str]:
    """Object key prefix (inside the bucket, no leading slash) of every configured S3 table.

    This is what :class:`~coptwin.events.hub.EventHub` expects as ``table_prefixes``.
    Local (non-S3) tables get no prefix: they only ever have polling.
    """
    out: dict[str, str] = {}
    for table in ("readings", "sensors", "annotations", "alarms"):
        if getattr(config.tables, table) is None:
            continue
        uri = config.table_uri(table)
        if not (uri.startswith("s3://") or uri.startswith("s3a://")):
            continue
        _, key = split_s3_uri(uri)
        out[table] = key.strip("/")
    return out


def event_bucket(config: Config) -> str | None:
    """The bucket whose events count: ``events.bucket`` or the storage URI's bucket."""
    if config.events.bucket:
        return config.events.bucket
    if config.storage.is_s3:
        return split_s3_uri(config.storage.uri)[0]
    return None


class TableRouter:
    """Maps ``(bucket, key)`` to a table name, or says why not."""

    def __init__(self, table_prefixes: dict[str, str], bucket: str | None) -> None:
        cleaned: list[tuple[str, str]] = []
        for table, prefix in table_prefixes.items():
            p = prefix.strip("/")
            if not p:
                raise ConfigError(f"table {table!r}: empty key prefix would match every object")
            cleaned.append((p + "/", table))
        # Longest prefix first: nested table paths resolve to the innermost table.
        self._prefixes = sorted(cleaned, key=lambda item: len(item[0]), reverse=True)
        self.bucket = bucket
        self.tables = tuple(table_prefixes)

    def route(self, bucket: str | None, key: str) -> tuple[str | None, str]:
        """``(table, "")`` on a match, else ``(None, "foreign" | "ignored")``."""
        if self.bucket is not None and bucket is not None and bucket != self.bucket:
            return None, "foreign"
        k = key.lstrip("/")
        for prefix, table in self._prefixes:
            if k.startswith(prefix) or k + "/" == prefix:
                return table, ""
        return None, "ignored"
