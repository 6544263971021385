"""Two writers into one LanceDB table vs one writer: the store's lock must serialise commits, not encoding.

    .venv/bin/python bench/bench_concurrency.py
    .venv/bin/python bench/bench_concurrency.py --items 240 --cost-ms 5 --cost cpu

Each writer encodes shards of fake items with a fixed per-item cost (``sleep``: a model waiting on an
accelerator or I/O; ``cpu``: a fixed count of one-thread numpy matmuls, calibrated on this machine) and
upserts each shard through ``VectorStore.upsert`` into one table. Goal: two-writer over one-writer
throughput near 2 with the sleep cost (only the ~10-30 ms commit is serialised). For contrast the same two
writers run with a lock held around encode+commit, the design the store avoids (ratio ~1). Every run checks
rows == items and unique keys. With ``--cost cpu`` the ratio is bounded by the free cores.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per writer: --cost cpu measures the store, not BLAS
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

IDENT = {"name": "bench/fake", "dim": 64, "fingerprint": "bench", "weights": "none", "input": {}}


def _encode(n: int, cost_ms: float, kind: str, iters_per_ms: float) -> np.ndarray:
    """A fixed cost per item (a wait, or a fixed amount of CPU work), then vectors."""
    if kind == "sleep":
        time.sleep(n * cost_ms / 1000)
    else:
        a = np.random.default_rng(0).standard_normal((96, 96))
        for _ in range(max(1, round(n * cost_ms * iters_per_ms))):
            a = np.tanh(a @ a.T / 96)
    return np.random.default_rng(n).standard_normal((n, IDENT["dim"])).astype(np.float32)


def calibrate() -> float:
    """Matmul iterations per millisecond on this machine, so --cost cpu is a fixed amount of work."""
    a, t0, k = np.random.default_rng(0).standard_normal((96, 96)), time.perf_counter(), 0
    while time.perf_counter() - t0 < 0.5:
        a, k = np.tanh(a @ a.T / 96), k + 1
    return k / ((time.perf_counter() - t0) * 1000)


def _writer(uri, numbers, shard, cost, whole_shard_locked, barrier, out):
    import numpy as np  # noqa: F401  (spawned child)

    from embedforge.tasks.store import VectorStore
    from embedforge.tasks.table_lock import table_lock

    store = VectorStore(uri)
    barrier.wait(timeout=300)
    t0 = time.perf_counter()
    for start in range(0, len(numbers), shard):
        chunk = numbers[start : start + shard]
        if whole_shard_locked:
            with table_lock(uri, "t.shard"):  # the serialised design, for contrast
                _shard(store, chunk, cost)
        else:
            _shard(store, chunk, cost)
    out.put(time.perf_counter() - t0)


def _shard(store, chunk, cost):
    vectors = _encode(len(chunk), *cost)
    rows = [
        dict(dataset="d", id=f"i{i:06d}", uri="", content_hash=f"h{i}", split=None, group=None, labels={}, vector=v)
        for i, v in zip(chunk, vectors)
    ]
    store.upsert("t", IDENT, rows)


def run(ctx, root: Path, writers: list[list[int]], args, whole_shard_locked=False) -> float:
    """Items per second of these writers together (from a common start to the last finish)."""
    from embedforge.tasks.store import VectorStore

    uri = str(root / f"db{time.perf_counter_ns()}")
    VectorStore(uri).upsert("t", IDENT, [])  # nothing: table made by the first writer, as in a real run
    barrier, out = ctx.Barrier(len(writers) + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(uri, w, args.shard, args.cost_spec, whole_shard_locked, barrier, out))
        for w in writers
    ]
    for p in procs:
        p.start()
    barrier.wait(timeout=300)
    t0 = time.perf_counter()
    [out.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    ids = VectorStore(uri).rows("t")["id"].to_pylist()
    expected = sorted({f"i{i:06d}" for w in writers for i in w})
    assert sorted(ids) == expected, f"{len(ids)} rows for {len(expected)} items"
    return len(expected) / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=192, help="items per writer")
    ap.add_argument("--shard", type=int, default=16, help="items per upsert")
    ap.add_argument("--cost-ms", type=float, default=5.0, help="encoding cost per item")
    ap.add_argument("--cost", choices=["sleep", "cpu"], default="sleep")
    ap.add_argument("--trials", type=int, default=2, help="best of this many runs each")
    args = ap.parse_args()
    args.cost_spec = (args.cost_ms, args.cost, calibrate() if args.cost == "cpu" else 0.0)
    ctx = mp.get_context("spawn")
    n = args.items
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        one, two, serial = [], [], []
        for _ in range(args.trials):  # interleaved, best of each
            one.append(run(ctx, root, [list(range(n))], args))
            two.append(run(ctx, root, [list(range(0, 2 * n, 2)), list(range(1, 2 * n, 2))], args))
            serial.append(run(ctx, root, [list(range(0, 2 * n, 2)), list(range(1, 2 * n, 2))], args, True))
    print(f"encoding cost {args.cost_ms} ms/item ({args.cost}), {args.shard} items per upsert, {n} items per writer")
    print(f"one writer:                        {max(one):8.1f} items/s")
    print(f"two writers (store lock, commits): {max(two):8.1f} items/s")
    print(f"two writers (lock around encoding):{max(serial):8.1f} items/s")
    print(f"ratio two/one writers:             {max(two) / max(one):8.2f}  (goal: near 2; 1.0 = serialised)")
    print(f"ratio with encoding serialised:    {max(serial) / max(one):8.2f}")


if __name__ == "__main__":
    main()
