"""``analyze``'s answers stored beside the vector table: ``<table>__analysis``, one row per vector row, same key.

The table's schema metadata records, per analysis, a fingerprint of the rows' content keys and the parameters it
ran with; a rerun with the same fingerprint recomputes nothing. Every write is a new Lance version of the table,
committed under the vector table's commit lock, so the answers are versioned like the vectors.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pyarrow as pa

from embedforge.tasks.schema import ANALYSIS_COLUMNS, ANALYSIS_KEY, ANALYSIS_SUFFIX, analysis_schema, row_key
from embedforge.tasks.store import VectorStore

COLUMNS_OF = {  # which stored columns each analysis writes
    "dups": ["dup_group", "dup_representative", "dup_score"],
    "clusters": ["cluster", "cluster_distance"],
    "outliers": ["knn_distance", "outlier"],
    "labels": ["label_quality", "label_issue", "suggested_label"],
    "map": ["map_x", "map_y"],
    "quality": [],
}


def analysis_table(table: str) -> str:
    return f"{table}{ANALYSIS_SUFFIX}"


def content_digest(keys: list[str], hashes: list[str]) -> str:
    """What the rows are: their keys and content hashes, order-free."""
    lines = sorted(f"{k}\t{h}" for k, h in zip(keys, hashes, strict=True))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def fingerprint(digest: str, what: str, params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([digest, what, params], sort_keys=True, default=str).encode()).hexdigest()[:16]


def read(store: VectorStore, table: str) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """The stored metadata and columns (by row key), or None where the table was never analysed."""
    tbl = store.opened(analysis_table(table))
    if tbl is None:
        return None
    meta = json.loads((tbl.schema.metadata or {}).get(ANALYSIS_KEY, b"{}")) | {"version": int(tbl.version)}
    data = tbl.to_arrow()
    return meta, {name: data[name].to_numpy(zero_copy_only=False) for name in data.column_names}


def carried(stored: dict[str, np.ndarray], keys: list[str], hashes: list[str]) -> dict[str, np.ndarray]:
    """Each analysis column's stored answers for these rows, where the row is stored with the same content
    (a row changed since, or never analysed, gets none): what a run of other analyses or another scope keeps."""
    if not stored:
        return {}
    where = {k: i for i, k in enumerate(stored["key"].tolist())}
    stored_hash = stored["content_hash"].tolist()
    at = [where.get(k, -1) for k in keys]
    at = [i if i >= 0 and stored_hash[i] == h else -1 for i, h in zip(at, hashes, strict=True)]
    out = {}
    for f in ANALYSIS_COLUMNS:
        values = stored[f.name]
        blank = np.nan if pa.types.is_floating(f.type) else None
        out[f.name] = np.array([values[i] if i >= 0 else blank for i in at], dtype=values.dtype if blank is np.nan
                               else object)  # fmt: skip
    return out


def write(
    store: VectorStore,
    table: str,
    rows: dict[str, list[Any]],
    columns: dict[str, np.ndarray],
    meta: dict[str, Any],
    kept: dict[str, np.ndarray] | None = None,
) -> int:
    """Write these rows and columns (absent columns null) as the analysis table's next version; ``kept``: the
    stored rows outside this run's scope (another dataset's), carried over unchanged so nothing is lost."""
    keys = [row_key(d, i) for d, i in zip(rows["dataset"], rows["id"], strict=True)]
    schema = analysis_schema(meta)
    arrays: dict[str, Any] = {"key": keys, **rows}
    for f in ANALYSIS_COLUMNS:
        col = columns.get(f.name)
        arrays[f.name] = pa.nulls(len(keys), f.type) if col is None else _array(col, f.type)
    data = pa.table([pa.array(arrays[f.name], f.type) for f in schema], schema=schema)
    if kept:
        outside = ~np.isin(kept["key"], np.array(keys, dtype=object))
        if outside.any():
            rest = {name: values[outside] for name, values in kept.items()}
            extra = [_array(rest[f.name], f.type) if f.name in rest else pa.nulls(int(outside.sum()), f.type)
                     for f in schema]  # fmt: skip
            data = pa.concat_tables([data, pa.table(extra, schema=schema)])
    return store.replace(analysis_table(table), data)


def _array(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    """NaN floats and None objects become nulls, so ``--where "outlier > 0.9"`` never matches a row not scored."""
    if pa.types.is_floating(kind):
        v = np.asarray(values, dtype=np.float32)
        return pa.array(v, kind, mask=np.isnan(v))
    if pa.types.is_string(kind):
        return pa.array([None if v is None else str(v) for v in values], kind)
    if pa.types.is_integer(kind):  # stored with nulls, an integer column reads back as floats with NaN
        return pa.array([None if v is None or v != v else int(v) for v in values.tolist()], kind)
    return pa.array([None if v is None or v != v else v for v in values.tolist()], kind)
