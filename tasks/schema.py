"""The vector-table and failure-table schemas, declared once."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

IDENTITY_KEY = b"embedforge.encoder"
# Declares ``key`` the primary key to Lance: its merge_insert then detects two concurrent inserts of the same new key
# at commit time and retries one of them (without it both commit, doubling rows). Works on object storage too.
PRIMARY_KEY = {b"lance-schema:unenforced-primary-key": b"true"}


def row_key(dataset: str, item_id: str) -> str:
    """The merge key of a vector row: JSON of the pair, so no (dataset, id) pair can spell another's key."""
    return json.dumps([dataset, item_id], ensure_ascii=False, separators=(",", ":"))


def failure_key(table: str, dataset: str, item_id: str) -> str:
    """The merge key of a failure row, unambiguous for the same reason as ``row_key``."""
    return json.dumps([table, dataset, item_id], ensure_ascii=False, separators=(",", ":"))


def vector_schema(identity: dict[str, Any]) -> pa.Schema:
    """Rows keyed by (dataset, id) with the content hash that produced the vector."""
    fields = [
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False, metadata=PRIMARY_KEY),  # row_key(dataset, id)
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
        pa.field("key", pa.string(), nullable=False, metadata=PRIMARY_KEY),  # failure_key(table, dataset, id)
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("uri", pa.string()),
        pa.field("content_hash", pa.string()),
        pa.field("error", pa.string(), nullable=False),
        pa.field("failed_at", pa.timestamp("ms", tz="UTC")),
    ]
)
FAILURES_TABLE = "failures"

ANALYSIS_KEY = b"embedforge.analysis"
ANALYSIS_SUFFIX = "__analysis"  # ``<table>__analysis``: the columns ``embedforge analyze`` writes, keyed like the table
ANALYSIS_COLUMNS = [
    pa.field("dup_group", pa.int64()),  # -1: no copy; else the group's number, largest group first
    pa.field("dup_representative", pa.bool_()),  # the member kept (a training row where there is one)
    pa.field("dup_score", pa.float32()),  # best cosine similarity to another row
    pa.field("cluster", pa.int64()),  # -1: HDBSCAN's noise
    pa.field("cluster_distance", pa.float32()),  # cosine distance to the cluster's centre
    pa.field("knn_distance", pa.float32()),  # mean cosine distance to the k nearest rows
    pa.field("outlier", pa.float32()),  # percentile of knn_distance: 1 is the most isolated row
    pa.field("label_quality", pa.float32()),  # cleanlab's label quality score: low is suspicious
    pa.field("label_issue", pa.bool_()),  # cleanlab's find_label_issues verdict
    pa.field("suggested_label", pa.string()),  # the out-of-fold head's prediction
    pa.field("map_x", pa.float32()),  # the 2-D map (rows outside the map's sample: null)
    pa.field("map_y", pa.float32()),
]


def analysis_schema(meta: dict[str, Any]) -> pa.Schema:
    """The analysis table: the vector table's keys and row facts, then one column per analysis (null: not run)."""
    fields = [
        pa.field("key", pa.string(), nullable=False, metadata=PRIMARY_KEY),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("split", pa.string()),
        pa.field("label", pa.string()),  # the label analysed (``--label``), as text
        *ANALYSIS_COLUMNS,
    ]
    return pa.schema(fields, metadata={ANALYSIS_KEY: json.dumps(meta, sort_keys=True, default=str).encode()})
