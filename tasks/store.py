"""LanceDB vector store: one table per encoder identity, rows keyed by item and content hash."""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from embedforge.tasks.filters import sql_eq, sql_in
from embedforge.tasks.lance_import import lancedb_module
from embedforge.tasks.schema import (
    ANALYSIS_SUFFIX,
    FAILURE_SCHEMA,
    FAILURES_TABLE,
    IDENTITY_KEY,
    failure_key,
    row_key,
    vector_schema,
)
from embedforge.tasks.table_lock import table_lock

log = logging.getLogger(__name__)
COMMIT_ATTEMPTS = 6  # merges tried on object storage before a commit conflict is the caller's (Prefect retries it)


class IdentityMismatch(ValueError):
    """A write would mix vectors of two different encoders in one table."""


def table_name(encoder: str, weights: str | None = None, options: dict[str, Any] | None = None) -> str:
    """``speech/ge2e`` -> ``speech__ge2e``; non-default weights or recipe options add a hash suffix."""
    import hashlib

    base = re.sub(r"[^A-Za-z0-9_.-]", "_", encoder.replace("/", "__"))
    if not weights and not options:
        return base
    key = json.dumps([weights, {k: str(v) for k, v in sorted((options or {}).items())}]) if options else str(weights)
    return f"{base}__{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _weights_hint(source: Any) -> str:
    """What to pass as --weights for a table's recorded source: a fitted encoder records ``fit:REF#split``."""
    text = str(source)
    if text.startswith("fit:"):
        return text[4:].rsplit("#", 1)[0]
    return text


def _now() -> datetime:
    return datetime.now(UTC)


def _stored_keys(tbl, keys: list[str]) -> Counter:
    """How many rows each of these keys has in the table (absent keys left out): an indexed read of one column."""
    found: Counter = Counter()
    for start in range(0, len(keys), 500):
        where = sql_in("key", keys[start : start + 500])
        found.update(tbl.search().where(where).select(["key"]).limit(None).to_arrow()["key"].to_pylist())
    return found


class TableUnavailable(RuntimeError):
    """A table is listed but cannot be opened or created right now (retryable, unlike a configuration error)."""


class VectorStore:
    """LanceDB wrapper safe for concurrent writers: one row per key (see README, 'Concurrency and crash safety').

    Every commit (create, append, merge, delete) runs under a per-table lock file on a local database; encoding
    and reading never wait for it. Under that lock an upsert appends the keys the table lacks and merges only the
    stored ones. The key column is declared Lance's primary key, so where no lock exists (object storage) every
    upsert is a merge, and concurrent merges of the same new keys conflict and retry. A half-made table
    (creation killed before its first commit) reads as absent and is rebuilt by the next writer; duplicates left
    by older versions are healed (newest row per key kept) when a read or a write sees them.
    """

    def __init__(self, uri: str) -> None:
        lancedb = lancedb_module()
        self.uri = uri
        self.db = lancedb.connect(uri, read_consistency_interval=timedelta(0))
        self._handles: dict[str, Any] = {}  # opened tables; each still reads the latest version on every call
        self._looked_up: dict[str, tuple[int, set[str], set[str]]] = {}  # table -> (version, keys asked, keys found)

    # -- tables -------------------------------------------------------------------------
    def tables(self) -> list[str]:
        """The vector tables (the failure log and ``analyze``'s sibling tables left out)."""
        names = self.db.list_tables().tables
        return sorted(n for n in names if n != FAILURES_TABLE and not n.endswith(ANALYSIS_SUFFIX) and self.has(n))

    def has(self, table: str) -> bool:
        """True for a committed table; a folder left by a killed creation does not count."""
        return self._open(table) is not None

    def _open(self, table: str):
        """The table, or None where it does not exist or was never committed (opened once per store object)."""
        if table in self._handles:
            return self._handles[table]
        try:
            tbl = self.db.open_table(table)
        except ValueError:  # how lancedb reports a missing or never-committed table; a committed but broken one
            return None  # is not lost: create_table then refuses the existing folder (TableUnavailable)
        self._handles[table] = tbl
        return tbl

    def opened(self, table: str):
        """Any committed table of this database (LanceDB's handle), or None."""
        return self._open(table)

    def replace(self, table: str, data: pa.Table) -> int:
        """Write ``data`` as the table's next version (derived tables, e.g. ``analyze``'s); returns that version."""
        with self.commit_lock(table):
            tbl = self._handles[table] = self.db.create_table(table, data=data, schema=data.schema, mode="overwrite")
        return int(tbl.version)

    def commit_lock(self, table: str):
        """The lock every commit to ``table`` holds (a no-op on object storage)."""
        return table_lock(self.uri, table)

    def open_or_create(self, table: str, schema: pa.Schema):
        """Any table of this database: opened, or created under its lock (a half-made one is rebuilt)."""
        return self._open(table) or self._create(table, schema)

    def identity(self, table: str) -> dict[str, Any]:
        """The encoder identity recorded in the table's schema metadata."""
        meta = self._require(table).schema.metadata or {}
        return json.loads(meta[IDENTITY_KEY])

    def _require(self, table: str):
        tbl = self._open(table)
        if tbl is None:
            raise LookupError(f"no table {table!r} in {self.uri}")
        return tbl

    def ensure_table(self, table: str, identity: dict[str, Any]):
        """Open the table, creating it for this identity, and refuse a different encoder."""
        tbl = self._open(table) or self._create(table, vector_schema(identity))
        self.check_identity(table, json.loads((tbl.schema.metadata or {})[IDENTITY_KEY]), identity)
        return tbl

    def _create(self, table: str, schema: pa.Schema):
        """Create under the lock; a folder without a committed version is overwritten by Lance's create."""
        with self.commit_lock(table):
            tbl = self._open(table)
            if tbl is not None:  # another writer created it while we waited
                return tbl
            try:
                tbl = self._handles[table] = self.db.create_table(table, schema=schema)
                return tbl
            except (ValueError, OSError, RuntimeError) as exc:  # created concurrently (object storage)
                tbl = self._open(table)
                if tbl is None:
                    raise TableUnavailable(f"table {table!r} in {self.uri} could not be created: {exc}") from exc
                return tbl

    @staticmethod
    def check_identity(table: str, stored: dict[str, Any], incoming: dict[str, Any]) -> None:
        old, new = stored.get("recipe"), incoming.get("recipe")
        if stored.get("name") == incoming.get("name") and old != new:
            raise IdentityMismatch(
                f"table {table!r} was written by {stored.get('name')} recipe {old or 'v1 (unversioned)'}, "
                f"now {new or 'unversioned'}: its vectors are not this model's; refusing to mix them. Write a new "
                f"table (move or delete {table!r} in the store, or embed under other --weights/options)"
            )
        for field in ("name", "dim", "fingerprint"):
            if stored.get(field) != incoming.get(field):
                raise IdentityMismatch(
                    f"table {table!r} holds vectors of {stored.get('name')} (dim {stored.get('dim')}, "
                    f"weights {stored.get('fingerprint')}); refusing a write from {incoming.get('name')} "
                    f"(dim {incoming.get('dim')}, weights {incoming.get('fingerprint')})"
                )

    # -- reads --------------------------------------------------------------------------
    def _scan(self, table: str, columns: list[str], where: str | None = None) -> pa.Table:
        tbl = self._open(table)
        if tbl is None:
            return pa.table({c: pa.array([], type=pa.string()) for c in columns})
        query = tbl.search().select(columns).limit(None)  # every match
        if where:
            query = query.where(where)
        return query.to_arrow()

    def known(self, table: str, dataset: str, ids: list[str] | None = None) -> dict[str, str]:
        """id -> content hash of what is already stored for a dataset (optionally only these ids).

        Seeing two rows of one id (left by an older version's race) heals them first: the newest row is kept.
        """
        tbl = self._open(table)
        if tbl is None:
            return {}
        version = tbl.version  # read before the scan: a commit in between leaves it stale, never wrongly fresh
        where = sql_eq("dataset", dataset) if ids is None else sql_in("key", [row_key(dataset, i) for i in ids])
        t = self._scan(table, ["id", "content_hash"], where)
        found = t["id"].to_pylist()
        if len(set(found)) < len(found):
            doubled = [i for i, n in Counter(found).items() if n > 1]
            self.heal(table, [row_key(dataset, i) for i in doubled])
            t = self._scan(table, ["id", "content_hash"], where)
        elif ids is not None:  # the next upsert of these keys may reuse this lookup (see _still_known)
            asked = {row_key(dataset, i) for i in ids}
            self._looked_up[table] = (version, asked, {row_key(dataset, i) for i in found})
        return dict(zip(t["id"].to_pylist(), t["content_hash"].to_pylist()))

    def vectors_by_hash(self, table: str, hashes: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors for content already embedded under another id (dedup, no recompute)."""
        if not hashes or not self.has(table):
            return {}
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), 500):
            # hashes first: a projection with the vector column reads vectors even where nothing matches (2x the time)
            hits = self._scan(table, ["content_hash"], sql_in("content_hash", hashes[start : start + 500]))
            if hits.num_rows == 0:
                continue
            t = self._scan(
                table, ["content_hash", "vector"], sql_in("content_hash", sorted(set(hits["content_hash"].to_pylist())))
            )
            for h, v in zip(t["content_hash"].to_pylist(), t["vector"].to_numpy(zero_copy_only=False)):
                found[h] = np.asarray(v, dtype=np.float32)
        return found

    def rows(self, table: str, dataset: str | None = None) -> pa.Table:
        """Every stored row (optionally of one dataset, or of several named ``a,b``) as Arrow, vectors included."""
        cols = ["dataset", "id", "uri", "content_hash", "split", "group", "labels", "vector"]
        names = [d.strip() for d in (dataset or "").split(",") if d.strip()]
        where = (sql_eq("dataset", names[0]) if len(names) == 1 else sql_in("dataset", names)) if names else None
        return self._scan(table, cols, where).sort_by([("dataset", "ascending"), ("id", "ascending")])

    def datasets(self, table: str) -> list[str]:
        """The dataset names a table holds (one column read)."""
        import pyarrow.compute as pc

        return sorted(str(d) for d in pc.unique(self._scan(table, ["dataset"])["dataset"]).to_pylist())

    def missing(self, encoder: str, weights: str | None = None, options: dict[str, Any] | None = None) -> str:
        """Why an encoder has no table here, in one line: the tables it does have, and the weights that made each."""
        table = table_name(encoder, weights, options)
        base = table_name(encoder)
        others = [t for t in self.tables() if t != table and (t == base or t.startswith(base + "__"))]
        chosen = "with these --weights/--encoder-option " if weights or options else "with its default weights "
        head = f"no vectors of {encoder} {chosen}in {self.uri} (table {table!r})"
        if not others:
            return f"{head}: embed a dataset with it first (embedforge embed --dataset ... --encoder {encoder})"
        made = "; ".join(f"{t} (weights {_weights_hint(self.identity(t).get('weights'))})" for t in others[:5])
        return f"{head}; its tables here: {made}: pass the --weights (and --encoder-option) they were embedded with"

    def count(self, table: str) -> int:
        tbl = self._open(table)
        return tbl.count_rows() if tbl is not None else 0

    # -- writes -------------------------------------------------------------------------
    def upsert(self, table: str, identity: dict[str, Any], rows: list[dict[str, Any]]) -> int:
        """Insert new items and replace changed ones; idempotent on retry, one row per key (a key's last row wins)."""
        rows = list({row_key(r["dataset"], r["id"]): r for r in rows}.values())
        if not rows:
            return 0
        tbl = self.ensure_table(table, identity)
        data = self._arrow_rows(rows, tbl.schema)  # built before taking the lock: only the commit is serialised
        with self.commit_lock(table) as locked:
            if locked:
                self._write_locked(tbl, data)
            else:  # object storage: no lock; the merge's primary-key conflict check keeps one row per key
                self._merge_retrying(tbl, data)
                self._heal_locked(tbl, data["key"].to_pylist())
        self._after_commit(tbl)
        return len(rows)

    def _write_locked(self, tbl, data: pa.Table) -> None:
        """Append the keys the table lacks; merge only the stored ones (merge_insert joins the whole table).

        Only valid under the commit lock: no other writer can add one of these keys between lookup and append.
        """
        import pyarrow.compute as pc

        keys = data["key"].to_pylist()
        stored = self._still_known(tbl, keys)
        if stored is None:
            stored = _stored_keys(tbl, keys)
        present = pc.is_in(data["key"], value_set=pa.array(list(stored), type=pa.string()))
        if stored:
            self._merge(tbl, data.filter(present))
            doubled = [k for k, n in stored.items() if n > 1]
            if doubled:  # left by an older version's race: heal them now, the newest (just merged) row is kept
                self._heal_locked(tbl, doubled)
        if len(stored) < data.num_rows:
            tbl.add(data.filter(pc.invert(present)))

    @staticmethod
    def _merge(tbl, data: pa.Table) -> None:
        tbl.merge_insert("key").when_matched_update_all().when_not_matched_insert_all().execute(data)

    def _merge_retrying(self, tbl, data: pa.Table) -> None:
        """Merge on object storage, where no lock serialises commits: a commit Lance refuses because a concurrent
        one won (a merge of the same new keys, a compaction, a creation's Overwrite) is tried again on the latest
        version after a jittered backoff. The merge is idempotent per key, so a retry never doubles a row."""
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                self._merge(tbl, data)
                return
            except (RuntimeError, OSError) as exc:  # how lance reports a commit conflict (and other I/O failures)
                if attempt == COMMIT_ATTEMPTS - 1:
                    raise
                log.info("merge into %s refused (%s); retry %d", tbl.name, type(exc).__name__, attempt + 1)
                time.sleep(random.uniform(0.05, 0.15) * 2**attempt)

    def _still_known(self, tbl, keys: list[str]) -> Counter | None:
        """What ``known`` found for these keys, if it asked for all of them and no commit came since; else None."""
        seen = self._looked_up.pop(tbl.name, None)
        if seen is None or seen[0] != tbl.version or not seen[1].issuperset(keys):
            return None
        return Counter(k for k in keys if k in seen[2])

    def _after_commit(self, tbl) -> None:
        """Hook run after each vector-table commit, outside the lock (index upkeep)."""
        from embedforge.tasks.index import after_write

        after_write(tbl, lock=lambda: self.commit_lock(tbl.name))

    def heal(self, table: str, keys: list[str]) -> int:
        """Delete all but the newest row of each of these keys; returns how many rows went."""
        tbl = self._open(table)
        if tbl is None or not keys:
            return 0
        with self.commit_lock(table):
            return self._heal_locked(tbl, keys)

    @staticmethod
    def _heal_locked(tbl, keys: list[str]) -> int:
        """Cheap when clean (one count over the keys); otherwise one delete of the older duplicates by row id."""
        dropped = 0
        for start in range(0, len(keys), 500):
            chunk = sorted(set(keys[start : start + 500]))
            where = sql_in("key", chunk)
            n = tbl.count_rows(where)
            if n <= len(chunk):
                continue
            t = tbl.search().where(where).select(["key", "embedded_at"]).with_row_id(True).limit(n).to_arrow()
            newest: dict[str, tuple] = {}
            for key, at, rid in zip(t["key"].to_pylist(), t["embedded_at"].to_pylist(), t["_rowid"].to_pylist()):
                rank = (at.timestamp() if at else 0.0, rid)
                newest[key] = max(newest.get(key, rank), rank)
            keep = {rid for _, rid in newest.values()}
            drop = [rid for rid in t["_rowid"].to_pylist() if rid not in keep]
            if drop:
                tbl.delete(f"_rowid IN ({', '.join(str(int(r)) for r in drop)})")
                dropped += len(drop)
        return dropped

    @staticmethod
    def _arrow_rows(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
        """Columns built directly; vectors go from one numpy block into a fixed-size list (no Python floats)."""
        col = lambda name: [r.get(name) for r in rows]
        vectors = np.stack([np.asarray(r["vector"], dtype=np.float32).reshape(-1) for r in rows])
        columns = {
            "dataset": col("dataset"),
            "id": col("id"),
            "key": [row_key(r["dataset"], r["id"]) for r in rows],
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
        tbl = self.open_or_create(FAILURES_TABLE, FAILURE_SCHEMA)
        now = _now()
        data = pa.Table.from_pylist(
            [
                {
                    "table": table,
                    "key": failure_key(table, dataset, f["id"]),
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
        with self.commit_lock(FAILURES_TABLE):
            self._merge(tbl, data)

    def clear_failures(self, table: str, dataset: str, ids: list[str]) -> None:
        """Forget failures of items that have now been stored."""
        tbl = self._open(FAILURES_TABLE) if ids else None
        if tbl is None:
            return
        with self.commit_lock(FAILURES_TABLE):
            for start in range(0, len(ids), 500):
                tbl.delete(sql_in("key", [failure_key(table, dataset, i) for i in ids[start : start + 500]]))

    def failures(self, table: str | None = None, dataset: str | None = None) -> list[dict[str, Any]]:
        if not self.has(FAILURES_TABLE):
            return []
        clauses = [sql_eq(c, v) for c, v in (("table", table), ("dataset", dataset)) if v]
        cols = ["table", "dataset", "id", "uri", "content_hash", "error"]
        return self._scan(FAILURES_TABLE, cols, " AND ".join(clauses) or None).to_pylist()

    # -- search -------------------------------------------------------------------------
    def search(self, table: str, vector: np.ndarray, k: int = 10, where: str | None = None) -> list[dict[str, Any]]:
        """Nearest stored items by cosine distance, with their labels decoded."""
        from embedforge.tasks.index import tuned_query

        tbl = self._require(table)
        query = tuned_query(tbl, tbl.search(np.asarray(vector, dtype=np.float32)).distance_type("cosine"), k)
        if where:
            query = query.where(where, prefilter=True)
        hits = (
            query.select(["dataset", "id", "uri", "content_hash", "split", "group", "labels", "_distance"])
            .limit(k)
            .to_list()
        )
        for hit in hits:
            hit["labels"] = json.loads(hit["labels"] or "{}")
        return hits
