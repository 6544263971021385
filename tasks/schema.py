"""The vector-table and failure-table schemas, declared once."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

IDENTITY_KEY = b"embedforge.encoder"


def vector_schema(identity: dict[str, Any]) -> pa.Schema:
    """Rows keyed by (dataset, id) with the content hash that produced the vector."""
    fields = [
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),  # dataset + "::" + id, the merge key
        pa.field("uri", pa.string()),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("split", pa.string()),
        pa.field("group", pa.string()),
        pa.field("labels", pa.string()),  # JSON: label sets differ between datasets
        pa.field("vector", pa.list_(pa.float32(), int(identity["dim"]))),
        pa.field("embedded_at", pa.timestamp("ms", tz="UTC")),
    ]
    return pa.schema(fields, metadata={IDENTITY_KEY: json.dumps(identity, sort_keys=True).encode()})


FAILURE_SCHEMA = pa.schema(
    [
        pa.field("table", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),  # table + "::" + dataset + "::" + id
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("uri", pa.string()),
        pa.field("content_hash", pa.string()),
        pa.field("error", pa.string(), nullable=False),
        pa.field("failed_at", pa.timestamp("ms", tz="UTC")),
    ]
)
FAILURES_TABLE = "failures"
