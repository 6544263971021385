"""Vector search at scale: the ANN index (with refine) against exact search, and the per-shard store cost.

Prints, for each table size, p50 query latency of exact search and of the tuned index, their ratio, and
recall@10 of the index against exact search on fresh queries (goal >= 0.95; p50 <= 10 ms at 1M x 256);
then the per-shard store cost (lookups by id and hash plus the merge of 64 rows) at 1k and 100k rows:
    .venv/bin/python bench/bench_ann.py --sizes 100000,300000 --dim 256
    .venv/bin/python bench/bench_ann.py --sizes 1000000 --skip shard
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import pyarrow as pa

IDENTITY = {"name": "bench/synthetic", "fingerprint": "synthetic", "weights": "none", "input": {}}


def clustered(n: int, dim: int, seed: int, clusters: int = 1000) -> np.ndarray:
    """Unit-variance points around fixed centres: the shape of real embeddings, not uniform noise."""
    centres = np.random.default_rng(99).standard_normal((clusters, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        out[start : start + m] = centres[rng.integers(0, clusters, m)] + 0.7 * rng.standard_normal((m, dim))
    return out


def fill(store, table: str, x: np.ndarray, start: int = 0) -> None:
    """Bulk rows in the store's schema, appended in large batches (a bench shortcut, not the embed path)."""
    tbl = store.ensure_table(table, dict(IDENTITY, dim=x.shape[1]))
    for s in range(0, len(x), 100_000):
        chunk = x[s : s + 100_000]
        ids = [f"v{i}" for i in range(start + s, start + s + len(chunk))]
        cols = {
            "dataset": ["a" if i % 2 else "b" for i in range(start + s, start + s + len(chunk))],
            "id": ids,
            "key": [f"{'a' if (start + s + j) % 2 else 'b'}::{i}" for j, i in enumerate(ids)],
            "uri": ids,
            "content_hash": [f"h{i}" for i in ids],
            "split": [None] * len(chunk),
            "group": [None] * len(chunk),
            "labels": ["{}"] * len(chunk),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(chunk.ravel()), x.shape[1]),
            "embedded_at": pa.array([None] * len(chunk), type=pa.timestamp("ms", tz="UTC")),
        }
        arrays = [c if isinstance(c, pa.Array) else pa.array(c, type=tbl.schema.field(n).type) for n, c in cols.items()]
        tbl.add(pa.Table.from_arrays(arrays, schema=tbl.schema))


def p50_ms(fn, queries) -> tuple[float, list]:
    out, times = [], []
    for q in queries:
        t0 = time.perf_counter()
        out.append(fn(q))
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times), out


def ann_row(n: int, dim: int, queries: int, index_type: str) -> dict:
    from embedforge.tasks.index import IndexConfig, build_vector_index, ensure_scalar_indexes
    from embedforge.tasks.store import VectorStore

    store = VectorStore(tempfile.mkdtemp(prefix="bench-ann-"))
    t0 = time.perf_counter()
    fill(store, "t", clustered(n, dim, seed=0))
    tbl = store.db.open_table("t")
    ensure_scalar_indexes(tbl)
    load_s = time.perf_counter() - t0
    qs = clustered(queries, dim, seed=1)

    def exact(q):
        query = tbl.search(q).distance_type("cosine").bypass_vector_index()
        return {r["key"] for r in query.select(["key", "_distance"]).limit(10).to_list()}

    exact(qs[0])  # warm the file cache
    exact_ms, truth = p50_ms(exact, qs)
    t0 = time.perf_counter()
    info = build_vector_index(tbl, IndexConfig(index_type=index_type))
    build_s = time.perf_counter() - t0
    store.search("t", qs[0], k=10)
    ann_ms, found = p50_ms(lambda q: {f"{h['dataset']}::{h['id']}" for h in store.search("t", q, k=10)}, qs)
    recall = float(np.mean([len(f & t) / 10 for f, t in zip(found, truth)]))
    filt_ms, _ = p50_ms(lambda q: store.search("t", q, k=10, where="dataset = 'a'"), qs[:20])
    return dict(
        rows=n,
        load_s=load_s,
        build_s=build_s,
        exact_ms=exact_ms,
        ann_ms=ann_ms,
        recall=recall,
        filtered_ms=filt_ms,
        info=info,
    )


def shard_cost(rows: int, dim: int, shards: int = 15) -> float:
    """Median seconds of what one embed shard does to the store: lookup by id, by hash, merge 64 rows."""
    from embedforge.tasks.index import ensure_scalar_indexes
    from embedforge.tasks.store import VectorStore

    store = VectorStore(tempfile.mkdtemp(prefix="bench-shard-"))
    fill(store, "t", clustered(rows, dim, seed=0))
    ensure_scalar_indexes(store.db.open_table("t"))
    ident = dict(IDENTITY, dim=dim)
    times = []
    for s in range(shards):
        start = rows + 64 * s
        new = clustered(64, dim, seed=10 + s)
        batch = [
            dict(
                dataset="a", id=f"v{i}", uri=f"v{i}", content_hash=f"h{i}", split=None, group=None, labels={}, vector=v
            )
            for i, v in zip(range(start, start + 64), new)
        ]
        t0 = time.perf_counter()
        store.known("t", "a", [r["id"] for r in batch])
        store.vectors_by_hash("t", [r["content_hash"] for r in batch])
        store.upsert("t", ident, batch)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,300000", help="comma-separated table sizes")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--type", default="IVF_HNSW_SQ", help="index type (IVF_HNSW_SQ, IVF_PQ, ...)")
    ap.add_argument("--shard-sizes", default="1000,100000")
    ap.add_argument("--skip", choices=["ann", "shard"], default=None)
    args = ap.parse_args()
    os.environ.setdefault("EMBEDFORGE_ANN_MIN_ROWS", str(10**9))  # the bench builds the index itself
    if args.skip != "ann":
        print(f"ANN ({args.type}, refine, tuned) vs exact search, {args.queries} fresh queries, dim {args.dim}")
        print(
            f"{'rows':>9} {'exact p50 ms':>13} {'ann p50 ms':>11} {'speed-up':>9} {'recall@10':>10} "
            f"{'filtered ms':>12} {'build s':>8}  search settings"
        )
        for n in (int(s) for s in args.sizes.split(",")):
            r = ann_row(n, args.dim, args.queries, args.type)
            s = r["info"]["search"]
            print(
                f"{n:>9} {r['exact_ms']:>13.1f} {r['ann_ms']:>11.2f} {r['exact_ms'] / r['ann_ms']:>8.1f}x "
                f"{r['recall']:>10.3f} {r['filtered_ms']:>12.2f} {r['build_s']:>8.1f}  "
                f"partitions={r['info']['build']['num_partitions']} nprobes={s['nprobes']} "
                f"refine={s['refine_factor']} ef={s.get('ef')}",
                flush=True,
            )
    if args.skip != "shard":
        sizes = [int(s) for s in args.shard_sizes.split(",")]
        costs = {n: shard_cost(n, args.dim) for n in sizes}
        print(
            "per-shard store cost (64 rows: lookup by id, by hash, merge), scalar indexes on key/content_hash/dataset"
        )
        for n, c in costs.items():
            print(f"  {n:>9} rows: {1000 * c:7.1f} ms  ({c / costs[sizes[0]]:.2f}x of {sizes[0]} rows)")


if __name__ == "__main__":
    main()
