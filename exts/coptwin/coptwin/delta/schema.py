"""Delta schema JSON (``metaData.schemaString``) to a polars schema.

The watcher needs the new schema when a commit evolves it (``schema_mode=
"merge"``); parsing the one ``metaData`` action is cheap, whereas asking
deltalake would replay the log since the last checkpoint.
"""

from __future__ import annotations

from typing import Any

import msgspec
import polars as pl

_PRIMITIVES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "long": pl.Int64(),
    "integer": pl.Int32(),
    "short": pl.Int16(),
    "byte": pl.Int8(),
    "float": pl.Float32(),
    "double": pl.Float64(),
    "boolean": pl.Boolean(),
    "binary": pl.Binary(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us", "UTC"),
    "timestamp_ntz": pl.Datetime("us"),
}


class UnsupportedSchemaError(ValueError):
    """The schema uses a type this converter does not know; ask deltalake instead."""


def _dtype(spec: Any) -> pl.DataType:
    if isinstance(spec, str):
        if spec in _PRIMITIVES:
            return _PRIMITIVES[spec]
        if spec.startswith("decimal(") and spec.endswith(")"):
            precision, scale = (int(p) for p in spec[8:-1].split(","))
            return pl.Decimal(precision, scale)
        raise UnsupportedSchemaError(f"unsupported Delta type {spec!r}")
    if isinstance(spec, dict):
        kind = spec.get("type")
        if kind == "struct":
            return pl.Struct({f["name"]: _dtype(f["type"]) for f in spec.get("fields", [])})
        if kind == "array":
            return pl.List(_dtype(spec["elementType"]))
        if kind == "map":  # arrow/polars read maps as a list of key/value structs
            return pl.List(
                pl.Struct({"key": _dtype(spec["keyType"]), "value": _dtype(spec["valueType"])})
            )
    raise UnsupportedSchemaError(f"unsupported Delta type {spec!r}")


def schema_from_json(schema_string: str) -> pl.Schema:
    """Convert a Delta ``schemaString``; raises UnsupportedSchemaError or ValueError."""
    try:
        spec = msgspec.json.decode(schema_string)
    except msgspec.DecodeError as exc:
        raise ValueError(f"schemaString is not JSON: {exc}") from None
    if not isinstance(spec, dict) or spec.get("type") != "struct":
        raise ValueError("schemaString is not a struct type")
    try:
        return pl.Schema({f["name"]: _dtype(f["type"]) for f in spec.get("fields", [])})
    except (KeyError, TypeError) as exc:
        raise ValueError(f"schemaString field is incomplete: {exc}") from None
