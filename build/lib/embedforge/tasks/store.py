"""LanceDB vector store: one table per encoder identity, rows keyed by item and content hash."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from embedforge.tasks.schema import FAILURE_SCHEMA, FAILURES_TABLE, IDENTITY_KEY, vector_schema


class IdentityMismatch(ValueError):
    """A write would mix vectors of two different encoders in one table."""


def table_name(encoder: str, weights: str | None = None, options: dict[str, Any] | None = None) -> str:
    """``speech/ge2e`` -> ``speech__ge2e``; non-default weights or recipe options add a hash suffix."""
    import hashlib

    base = re.sub(r"[^A-Za-z0-9_.-]", "_", encoder.replace("/", "__"))
    if not weights and not options:
        return base
    key = json.dumps([weights, {k: str(v) for k, v in sorted((options or {}).items())}]) if options else weights
    return f"{base}__{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _now() -> datetime:
    return datetime.now(UTC)


class VectorStore:
    """Thin, process-safe wrapper over a LanceDB connection (local directory or object storage)."""

    def __init__(self, uri: str) -> None:
        import lancedb

        self.uri = uri
        self.db = lancedb.connect(uri, read_consistency_interval=timedelta(0))

    # -- tables -------------------------------------------------------------------------
    def tables(self) -> list[str]:
        return sorted(n for n in self.db.list_tables().tables if n != FAILURES_TABLE)

    def has(self, table: str) -> bool:
        return table in self.db.list_tables().tables

    def identity(self, table: str) -> dict[str, Any]:
        """The encoder identity recorded in the table's schema metadata."""
        meta = self.db.open_table(table).schema.metadata or {}
        return json.loads(meta[IDENTITY_KEY])

    def ensure_table(self, table: str, identity: dict[str, Any]):
        """Open the table, creating it for this identity, and refuse a different encoder."""
        if self.has(table):
            stored = self.identity(table)
            self.check_identity(table, stored, identity)
            return self.db.open_table(table)
        try:
            return self.db.create_table(table, schema=vector_schema(identity))
        except (ValueError, OSError):  # created concurrently by another shard: verify and use it
            return self.ensure_table(table, identity)

    @staticmethod
    def check_identity(table: str, stored: dict[str, Any], incoming: dict[str, Any]) -> None:
        for field in ("name", "dim", "fingerprint"):
            if stored.get(field) != incoming.get(field):
                raise IdentityMismatch(
                    f"table {table!r} holds vectors of {stored.get('name')} (dim {stored.get('dim')}, "
                    f"weights {stored.get('fingerprint')}); refusing a write from {incoming.get('name')} "
                    f"(dim {incoming.get('dim')}, weights {incoming.get('fingerprint')})"
                )

    # -- reads --------------------------------------------------------------------------
    def _scan(self, table: str, columns: list[str], where: str | None = None) -> pa.Table:
        tbl = self.db.open_table(table)
        n = tbl.count_rows()
        if n == 0:
            return pa.table({c: pa.array([], type=tbl.schema.field(c).type) for c in columns})
        query = tbl.search().select(columns).limit(n)
        if where:
            query = query.where(where)
        return query.to_arrow()

    def known(self, table: str, dataset: str, ids: list[str] | None = None) -> dict[str, str]:
        """id -> content hash of what is already stored for a dataset (optionally only these ids)."""
        if not self.has(table):
            return {}
        where = f"dataset = {_quote(dataset)}"
        if ids is not None:
            keys = ", ".join(_quote(f"{dataset}::{i}") for i in ids) or "''"
            where = f"key IN ({keys})"
        t = self._scan(table, ["id", "content_hash"], where)
        return dict(zip(t["id"].to_pylist(), t["content_hash"].to_pylist()))

    def vectors_by_hash(self, table: str, hashes: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors for content already embedded under another id (dedup, no recompute)."""
        if not hashes or not self.has(table):
            return {}
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), 500):
            chunk = ", ".join(_quote(h) for h in hashes[start : start + 500])
            t = self._scan(table, ["content_hash", "vector"], f"content_hash IN ({chunk})")
            for h, v in zip(t["content_hash"].to_pylist(), t["vector"].to_numpy(zero_copy_only=False)):
                found[h] = np.asarray(v, dtype=np.float32)
        return found

    def rows(self, table: str, dataset: str | None = None) -> pa.Table:
        """Every stored row (optionally of one dataset) as Arrow, vectors included."""
        cols = ["dataset", "id", "uri", "content_hash", "split", "group", "labels", "vector"]
        where = f"dataset = {_quote(dataset)}" if dataset else None
        return self._scan(table, cols, where).sort_by([("dataset", "ascending"), ("id", "ascending")])

    def count(self, table: str) -> int:
        return self.db.open_table(table).count_rows() if self.has(table) else 0

    # -- writes -------------------------------------------------------------------------
    def upsert(self, table: str, identity: dict[str, Any], rows: list[dict[str, Any]]) -> int:
        """Insert new items and replace changed ones in one merge; idempotent on retry."""
        if not rows:
            return 0
        tbl = self.ensure_table(table, identity)
        tbl.merge_insert("key").when_matched_update_all().when_not_matched_insert_all().execute(
            self._arrow_rows(rows, tbl.schema)
        )
        return len(rows)

    @staticmethod
    def _arrow_rows(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
        """Columns built directly; vectors go from one numpy block into a fixed-size list (no Python floats)."""
        col = lambda name: [r.get(name) for r in rows]
        vectors = np.stack([np.asarray(r["vector"], dtype=np.float32).reshape(-1) for r in rows])
        columns = {
            "dataset": col("dataset"),
            "id": col("id"),
            "key": [f"{r['dataset']}::{r['id']}" for r in rows],
            "uri": col("uri"),
            "content_hash": col("content_hash"),
            "split": col("split"),
            "group": col("group"),
            "labels": [json.dumps(r.get("labels") or {}, sort_keys=True, default=str) for r in rows],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1]),
            "embedded_at": [_now()] * len(rows),
        }
        arrays = [c if isinstance(c, pa.Array) else pa.array(c, type=schema.field(n).type) for n, c in columns.items()]
        return pa.Table.from_arrays(arrays, schema=schema)

    def record_failures(self, table: str, dataset: str, failures: list[dict[str, Any]]) -> None:
        """Remember why items failed (one row per item, replaced on a later failure)."""
        if not failures:
            return
        tbl = self._failures_table()
        now = _now()
        data = pa.Table.from_pylist(
            [
                {
                    "table": table,
                    "key": f"{table}::{dataset}::{f['id']}",
                    "dataset": dataset,
                    "id": f["id"],
                    "uri": f.get("uri"),
                    "content_hash": f.get("content_hash"),
                    "error": f["error"],
                    "failed_at": now,
                }
                for f in failures
            ],
            schema=FAILURE_SCHEMA,
        )
        tbl.merge_insert("key").when_matched_update_all().when_not_matched_insert_all().execute(data)

    def clear_failures(self, table: str, dataset: str, ids: list[str]) -> None:
        """Forget failures of items that have now been stored."""
        if not ids or not self.has(FAILURES_TABLE):
            return
        tbl = self.db.open_table(FAILURES_TABLE)
        for start in range(0, len(ids), 500):
            keys = ", ".join(_quote(f"{table}::{dataset}::{i}") for i in ids[start : start + 500])
            tbl.delete(f"key IN ({keys})")

    def failures(self, table: str | None = None, dataset: str | None = None) -> list[dict[str, Any]]:
        if not self.has(FAILURES_TABLE):
            return []
        clauses = [f"{c} = {_quote(v)}" for c, v in (("table", table), ("dataset", dataset)) if v]
        cols = ["table", "dataset", "id", "uri", "content_hash", "error"]
        return self._scan(FAILURES_TABLE, cols, " AND ".join(clauses) or None).to_pylist()

    def _failures_table(self):
        if self.has(FAILURES_TABLE):
            return self.db.open_table(FAILURES_TABLE)
        try:
            return self.db.create_table(FAILURES_TABLE, schema=FAILURE_SCHEMA)
        except (ValueError, OSError):
            return self.db.open_table(FAILURES_TABLE)

    # -- search -------------------------------------------------------------------------
    def search(self, table: str, vector: np.ndarray, k: int = 10, where: str | None = None) -> list[dict[str, Any]]:
        """Nearest stored items by cosine distance, with their labels decoded."""
        query = self.db.open_table(table).search(np.asarray(vector, dtype=np.float32)).distance_type("cosine")
        if where:
            query = query.where(where, prefilter=True)
        hits = query.select(["dataset", "id", "uri", "split", "group", "labels", "_distance"]).limit(k).to_list()
        for hit in hits:
            hit["labels"] = json.loads(hit["labels"] or "{}")
        return hits
