"""Compact vectors: bytes per vector, search recall@10 against the untransformed table, and head accuracy.

1. Search: a table of clustered synthetic vectors; each transform makes a derived table; recall@10 of
   search on it (quantizers rescore k x --rescore candidates) against exact cosine search on the source.
2. Accuracy: the leaderboard's time-series sets (MiniRocket vectors, embedded with the plain plan/shard
   functions, no Prefect server), a logistic-regression head on the train split, accuracy on the test
   split, per transform (fitted on the train split only).
    .venv/bin/python bench/bench_transforms.py
    .venv/bin/python bench/bench_transforms.py --rows 50000 --skip accuracy
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("EMBEDFORGE_ANN_MIN_ROWS", str(10**9))  # exact search on every table: recall is the transform's

SEARCH = ["none", "whiten:128", "whiten", "truncate:128", "pca:64", "pca:128", "int8", "binary"]
ACCURACY = ["none", "whiten:32", "pca:32", "truncate:512", "int8", "binary"]


def parse(spec: str) -> tuple[str, int | None]:
    name, _, k = spec.partition(":")
    return name, int(k) if k else None


def clustered(n: int, dim: int, seed: int, clusters: int = 200) -> np.ndarray:
    centres = np.random.default_rng(99).standard_normal((clusters, dim)).astype(np.float32) + 1.0
    rng = np.random.default_rng(seed)
    return centres[rng.integers(0, clusters, n)] + 0.8 * rng.standard_normal((n, dim)).astype(np.float32)


def cosine_top(X: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    s = X @ q / (np.linalg.norm(X, axis=1) * np.linalg.norm(q) + 1e-12)
    return list(np.argsort(-s)[:k])


def search_rows(rows: int, dim: int, queries: int, rescore: int) -> None:
    from embedforge.tasks.store import VectorStore
    from embedforge.tasks.transforms import derive, search_derived

    store = VectorStore(tempfile.mkdtemp(prefix="bench-tf-"))
    X = clustered(rows, dim, seed=0)
    ident = {"name": "bench/synthetic", "dim": dim, "fingerprint": "synthetic", "weights": "none", "input": {}}
    store.upsert(
        "src",
        ident,
        [
            dict(id=f"v{i}", uri="", content_hash=f"h{i}", split="train", group=None, labels={}, dataset="d", vector=v)
            for i, v in enumerate(X)
        ],
    )
    Q = clustered(queries, dim, seed=1)
    truth = [{f"v{i}" for i in cosine_top(X, q, 10)} for q in Q]
    print(f"search on {rows} x {dim} clustered vectors, {queries} queries, recall@10 vs exact search on the source")
    print(f"{'transform':>14} {'bytes/vector':>13} {'vs float32':>11} {'recall@10':>10} {'p50 ms':>8} {'fit s':>6}")
    for spec in SEARCH:
        name, k = parse(spec)
        if name == "none":
            got = [{h["id"] for h in store.search("src", q, 10)} for q in Q[:20]]
            print(f"{spec:>14} {4 * dim:>13} {1.0:>10.2f}x {_recall(got, truth):>10.3f}")
            continue
        t0 = time.perf_counter()
        info = derive(store=store, source="src", name=name, k=k)
        fit_s = time.perf_counter() - t0
        got, times = [], []
        for q in Q:
            t0 = time.perf_counter()
            got.append(
                {h["id"] for h in search_derived(store=store, table=info["table"], vector=q, k=10, rescore=rescore)}
            )
            times.append(time.perf_counter() - t0)
        b = info["bytes_per_vector"]
        print(
            f"{spec:>14} {b:>13} {4 * dim / b:>10.1f}x {_recall(got, truth):>10.3f} "
            f"{1000 * np.median(times):>8.2f} {fit_s:>6.1f}",
            flush=True,
        )


def _recall(got: list[set], truth: list[set]) -> float:
    return float(np.mean([len(g & t) / 10 for g, t in zip(got, truth)]))


def embed_plain(dataset: str, db: str, work: str) -> str:
    """MiniRocket vectors of a UCR set through plan_embedding/embed_shard (plain functions, no Prefect run)."""
    from embedforge.tasks.embed import embed_shard, plan_embedding

    weights = f"ucr:{dataset}"
    plan = plan_embedding(
        dataset=f"ucr:{dataset}",
        encoder="timeseries/minirocket",
        db_uri=db,
        work_dir=work,
        weights=weights,
        shard_size=10_000,
        dataset_name=dataset,
    )
    for shard in plan.shards:
        embed_shard(shard_path=shard, encoder="timeseries/minirocket", db_uri=db, weights=weights, batch_size=256)
    return plan.table


def accuracy_rows(datasets: list[str]) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from embedforge.tasks.store import VectorStore
    from embedforge.tasks.transforms import derive

    db, work = tempfile.mkdtemp(prefix="bench-tf-db-"), tempfile.mkdtemp(prefix="bench-tf-work-")
    store = VectorStore(db)
    print("\nhead accuracy (logistic regression on the train split, accuracy on test), MiniRocket vectors")
    print(f"{'dataset':>18} {'transform':>14} {'bytes/vector':>13} {'accuracy':>9}")
    for ds in datasets:
        source = embed_plain(ds, db, work)
        for spec in ACCURACY:
            name, k = parse(spec)
            table, b = source, 4 * store.identity(source)["dim"]
            if name != "none":
                info = derive(store=store, source=source, name=name, k=k, dataset=ds)
                table, b = info["table"], info["bytes_per_vector"]
            rows = store.rows(table, ds)
            X = np.stack(rows["vector"].to_numpy(zero_copy_only=False))
            y = np.array([r for r in rows["labels"].to_pylist()])
            split = np.array(rows["split"].to_pylist())
            scaler = StandardScaler().fit(X[split == "train"])
            head = LogisticRegression(max_iter=2000).fit(scaler.transform(X[split == "train"]), y[split == "train"])
            acc = head.score(scaler.transform(X[split == "test"]), y[split == "test"])
            print(f"{ds:>18} {spec:>14} {b:>13} {acc:>9.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--rescore", type=int, default=4, help="quantized search re-ranks k x this many candidates")
    ap.add_argument("--datasets", default="GunPoint,ItalyPowerDemand")
    ap.add_argument("--skip", choices=["search", "accuracy"], default=None)
    args = ap.parse_args()
    if args.skip != "search":
        search_rows(args.rows, args.dim, args.queries, args.rescore)
    if args.skip != "accuracy":
        accuracy_rows([d for d in args.datasets.split(",") if d])


if __name__ == "__main__":
    main()
