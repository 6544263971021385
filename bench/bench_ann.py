"""Vector search at scale: the ANN index (with refine) against exact search, and the per-shard store cost.

Prints, for each table size, p50 query latency of exact search and of the tuned index, their ratio, and
recall@10 of the index against exact search on fresh queries (goal >= 0.95; p50 <= 10 ms at 1M x 256), with
CPU ms beside wall ms and the load average (the machine is shared);
then the per-shard store cost (lookups by id and hash plus the merge of 64 rows) at 1k and 100k rows:
    .venv/bin/python bench/bench_ann.py --sizes 100000,300000 --dim 256
    .venv/bin/python bench/bench_ann.py --sizes 1000000 --skip shard --keep /tmp/bench-ann-keep
``--keep DIR`` reuses a table and index an earlier run left there and only tunes the search again (``--as-tuned``:
not even that, the recorded settings are measured as they are).
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


def p50_ms(fn, queries) -> tuple[float, float, list]:
    """Median wall and CPU milliseconds of ``fn`` over the queries, and its answers."""
    out, wall, cpu = [], [], []
    for q in queries:
        c0, t0 = time.process_time(), time.perf_counter()
        out.append(fn(q))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return 1000 * statistics.median(wall), 1000 * statistics.median(cpu), out


def indexed_table(n: int, dim: int, index_type: str, keep: str | None, retune: bool = True) -> tuple[object, dict]:
    """The n x dim table with its index; under ``keep`` a table and index left by an earlier run are reused and
    only the search is tuned again (building 1M rows takes minutes on 2 cores)."""
    from embedforge.tasks.index import IndexConfig, build_vector_index, ensure_scalar_indexes, index_info, retune_search
    from embedforge.tasks.store import VectorStore

    store = VectorStore(os.path.join(keep, f"{n}x{dim}") if keep else tempfile.mkdtemp(prefix="bench-ann-"))
    facts: dict = {}
    t0 = time.perf_counter()
    if not store.has("t") or store.db.open_table("t").count_rows() != n:
        fill(store, "t", clustered(n, dim, seed=0))
        ensure_scalar_indexes(store.db.open_table("t"))
    facts["load_s"] = time.perf_counter() - t0
    tbl = store.db.open_table("t")
    info = index_info(tbl)
    t0 = time.perf_counter()
    if info is not None and info["build"]["index_type"] == index_type and not retune:
        facts["info"], facts["built"] = info, "reused, search as recorded"
    elif info is not None and info["build"]["index_type"] == index_type:
        facts["info"], facts["built"] = retune_search(tbl, IndexConfig(index_type=index_type)), "reused, re-tuned"
    else:
        facts["info"], facts["built"] = build_vector_index(tbl, IndexConfig(index_type=index_type)), "built"
    facts["build_s"] = time.perf_counter() - t0
    return store, facts


def ann_row(n: int, dim: int, queries: int, index_type: str, keep: str | None = None, retune: bool = True) -> dict:
    from embedforge.tasks.ann_tune import exact_search

    store, facts = indexed_table(n, dim, index_type, keep, retune)
    tbl = store.db.open_table("t")
    qs = clustered(queries, dim, seed=1)  # fresh points from the same centres, none of them stored

    def exact(q):
        query = tbl.search(q).distance_type("cosine").bypass_vector_index()
        return {r["key"] for r in query.select(["key", "_distance"]).limit(10).to_list()}

    exact(qs[0])  # warm the file cache
    exact_ms, exact_cpu, lance_truth = p50_ms(exact, qs[:10])  # timed on 10: each scans the whole table
    truth = [set(row) for row in exact_search(tbl, qs, 10)[0].tolist()]  # one batched scan, same answers
    agree = float(np.mean([len(a & b) / 10 for a, b in zip(lance_truth, truth)]))
    store.search("t", qs[0], k=10)
    ann_ms, ann_cpu, found = p50_ms(lambda q: {f"{h['dataset']}::{h['id']}" for h in store.search("t", q, k=10)}, qs)
    recall = float(np.mean([len(f & t) / 10 for f, t in zip(found, truth)]))
    filt_ms, _, _ = p50_ms(lambda q: store.search("t", q, k=10, where="dataset = 'a'"), qs[:20])
    return dict(
        facts,
        rows=n,
        exact_ms=exact_ms,
        exact_cpu=exact_cpu,
        ann_ms=ann_ms,
        ann_cpu=ann_cpu,
        recall=recall,
        filtered_ms=filt_ms,
        exact_agree=agree,
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


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,300000", help="comma-separated table sizes")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--type", default="IVF_HNSW_SQ", help="index type (IVF_HNSW_SQ, IVF_PQ, ...)")
    ap.add_argument("--shard-sizes", default="1000,100000")
    ap.add_argument("--skip", choices=["ann", "shard"], default=None)
    ap.add_argument(
        "--keep", default=None, help="keep the ANN tables here and reuse them (index kept, search re-tuned)"
    )
    ap.add_argument("--as-tuned", action="store_true", help="with --keep: search as an earlier run tuned, no re-tuning")
    args = ap.parse_args()
    os.environ.setdefault("EMBEDFORGE_ANN_MIN_ROWS", str(10**9))  # the bench builds the index itself
    if args.skip != "ann":
        print(f"ANN ({args.type}, tuned) vs exact search, {args.queries} fresh queries, dim {args.dim}, load {_load()}")
        print(
            f"{'rows':>9} {'exact p50 ms':>13} {'ann p50 ms':>11} {'cpu ms':>7} {'speed-up':>9} {'recall@10':>10} "
            f"{'filtered ms':>12} {'index s':>8}  search settings (tuning: recall on probes, p50 ms)"
        )
        for n in (int(s) for s in args.sizes.split(",")):
            r = ann_row(n, args.dim, args.queries, args.type, args.keep, retune=not args.as_tuned)
            s = r["info"]["search"]
            print(
                f"{n:>9} {r['exact_ms']:>13.1f} {r['ann_ms']:>11.2f} {r['ann_cpu']:>7.2f} "
                f"{r['exact_ms'] / r['ann_ms']:>8.1f}x {r['recall']:>10.3f} {r['filtered_ms']:>12.2f} "
                f"{r['build_s']:>8.1f}  partitions={r['info']['build']['num_partitions']} nprobes={s['nprobes']} "
                f"refine={s.get('refine_factor')} ef={s.get('ef')} ({s['recall_at_10']:.3f}, {s.get('p50_ms')}); "
                f"index {r['built']}; exact answers by scan = Lance exact: {r['exact_agree']:.3f}; load {_load()}",
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
