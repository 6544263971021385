"""Search settings for an ANN index: the fastest measured ``nprobes`` / ``refine_factor`` / ``ef`` keeping recall.

Recall is measured against exact search on probe queries made to behave like fresh items from the table's own
distribution (stored rows moved about as far as rows lie apart, see ``probe_queries``); slightly noisy copies of
stored rows, or the stored rows themselves, made the estimate too easy. Among the settings that reach the target,
the one with the lowest measured latency wins, so a cheap refine is not chosen over fewer probes that cost less.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import numpy as np

from embedforge.tasks.progress import Tick, silent

EF_STEPS = (40, 64, 100, 160)  # HNSW candidates per partition; raised to k x refine where that is larger
PROBE_FRACTIONS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
PROBE_SHIFT = 0.7  # probes lie this many nearest-neighbour distances from a stored row (see probe_queries)
SCREEN, SCREEN_MARGIN = 64, 0.04  # a setting this far short on the first probes is dropped without the rest
TIMING_ROUNDS = 2  # the reached settings are timed interleaved, so a load spike hits them all alike
KNOBS = ("nprobes", "refine_factor", "ef")


def apply_search(query, settings: dict[str, Any] | None, k: int):
    """A LanceDB vector query limited to ``k`` with the recorded nprobes / refine_factor / ef.

    HNSW must yield the k x refine candidates it is asked for, so ``ef`` is raised to that for a larger ``k``.
    """
    query = query.limit(k)
    if not settings:
        return query
    refine = int(settings.get("refine_factor") or 0)
    if settings.get("nprobes"):
        query = query.nprobes(int(settings["nprobes"]))
    if refine:
        query = query.refine_factor(refine)
    if settings.get("ef"):
        query = query.ef(max(int(settings["ef"]), k * max(1, refine)))
    return query


def tune_search(tbl, build: dict[str, Any], config, k: int = 10, progress: Tick = silent) -> dict[str, Any]:
    """The fastest settings whose recall@k on probe queries reaches the target; the best recall if none does."""
    progress(0, None, f"exact answers for {config.probe_queries} probe queries")
    queries = probe_queries(tbl, config.probe_queries)
    exact = [set(row) for row in exact_search(tbl, queries, k)[0].tolist()]
    tried = 0
    reached: list[dict[str, Any]] = []
    best: dict[str, Any] = {"recall_at_10": -1.0}
    for shape in _shapes(build, config.refine_factor, k):
        # a setting no cheaper on any knob than one that reached is never the fastest: only fewer probes are tried
        steps = [n for n in _probe_steps(build["num_partitions"]) if not _dominated({"nprobes": n, **shape}, reached)]
        lo, hi, found = 0, len(steps) - 1, None
        while lo <= hi:  # the fewest probes reaching the target (recall grows with probes): most first, then halve
            mid = hi if found is None else (lo + hi) // 2
            settings = {"nprobes": steps[mid], **shape}
            recall = _recall(tbl, settings, queries, exact, k, config.target_recall)
            tried += 1
            shown = ", ".join(f"{n}={v}" for n, v in settings.items())
            progress(tried, None, f"tuning search: {shown}: recall@{k} {recall:.3f}")
            candidate = dict(settings, recall_at_10=recall, probes=len(queries))
            best = candidate if recall > best["recall_at_10"] else best
            if recall < config.target_recall and found is None:
                break  # not even with the most probes: this shape cannot reach the target
            found, hi, lo = (candidate, mid - 1, lo) if recall >= config.target_recall else (found, hi, mid + 1)
        if found is not None:
            reached.append(found)
    progress(tried, None, f"timing the settings that reach recall {config.target_recall}: {len(reached)}")
    return _fastest(tbl, reached, queries) if reached else best


def _recall(tbl, settings: dict[str, Any], queries: np.ndarray, exact: list[set[Any]], k: int, target: float) -> float:
    """Mean share of the exact k nearest that the index finds with these settings.

    A setting already SCREEN_MARGIN short of the target on the first SCREEN probes is not run on the rest.
    """
    hits: list[float] = []
    for i, (q, e) in enumerate(zip(queries, exact)):
        if i == SCREEN and np.mean(hits) < target - SCREEN_MARGIN:
            break
        found = set(_keys(apply_search(tbl.search(q).distance_type("cosine"), settings, k)))
        hits.append(len(found & e) / max(1, len(e)))
    return round(float(np.mean(hits)), 4)


def _shapes(build: dict[str, Any], refine: int, k: int) -> list[dict[str, Any]]:
    """(refine_factor, ef) pairs to try, cheapest first: no refine, 2, then the configured one and its multiples."""
    refines = [None, *sorted({2, refine, 2 * refine, 4 * refine})]
    if "HNSW" not in build["index_type"]:
        return [{"refine_factor": r} if r else {} for r in refines]
    shapes = []
    for r in refines:
        for ef in sorted({max(e, k * (r or 1)) for e in EF_STEPS}):
            shapes.append({"refine_factor": r, "ef": ef} if r else {"ef": ef})
    return shapes


def _probe_steps(partitions: int) -> list[int]:
    return sorted({max(1, math.ceil(partitions * f)) for f in PROBE_FRACTIONS})


def _dominated(settings: dict[str, Any], reached: list[dict[str, Any]]) -> bool:
    """True when a setting that reached the target is at most this one on every knob (so at most its cost)."""
    return any(all((r.get(n) or 0) <= (settings.get(n) or 0) for n in KNOBS) for r in reached)


def _fastest(tbl, reached: list[dict[str, Any]], queries: np.ndarray) -> dict[str, Any]:
    """The reached settings timed on the probe queries, interleaved; the lowest median latency wins (recorded).

    Timed fetching every column but the vector, as readers do: each column taken costs ~0.5 ms at 1M rows, and
    more refine candidates can make that dearer, so key-only timings mis-ranked the settings.
    """
    columns = [name for name in tbl.schema.names if name != "vector"] + ["_distance"]
    times: list[list[float]] = [[] for _ in reached]
    for _ in range(TIMING_ROUNDS):
        for i, settings in enumerate(reached):
            for q in queries:
                t0 = time.perf_counter()
                apply_search(tbl.search(q).distance_type("cosine"), settings, 10).select(columns).to_arrow()
                times[i].append(time.perf_counter() - t0)
    p50 = [statistics.median(t) for t in times]
    i = min(range(len(reached)), key=p50.__getitem__)
    return dict(reached[i], p50_ms=round(1000 * p50[i], 2), candidates=len(reached))


def probe_queries(tbl, n: int, seed: int = 0) -> np.ndarray:
    """``n`` fresh-like queries: random stored rows (seeded), each moved PROBE_SHIFT x its nearest-neighbour distance.

    Not the stored rows themselves: a graph index links every stored row to its own neighbours, so a stored row
    finds them far more easily than a new item does (recall 0.97 there was 0.93 on fresh queries at 1M rows).
    Moved about as far as rows lie apart, the probes' recall tracked fresh queries' within 0.01 (bench_ann.py).
    """
    rng = np.random.default_rng(seed)
    rows = tbl.count_rows()
    take = np.sort(rng.choice(rows, size=min(n, rows), replace=False))
    got = tbl.take_offsets(take.tolist()).select(["key", "vector"]).to_arrow()
    x = _unit(np.stack(got["vector"].to_numpy(zero_copy_only=False)).astype(np.float32))
    keys, sims = exact_search(tbl, x, 2)
    own = keys == np.asarray(got["key"].to_pylist(), dtype=object)[:, None]
    nearest = np.where(own[:, 0], sims[:, 1], sims[:, 0]) if sims.shape[1] > 1 else np.ones(len(x))
    gap = np.sqrt(np.clip(2 - 2 * nearest, 0, None))  # unit vectors: distance from cosine similarity
    step = _unit(rng.standard_normal(x.shape).astype(np.float32))
    return (x + PROBE_SHIFT * gap[:, None] * step).astype(np.float32)


def exact_search(tbl, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine k nearest (keys, similarities) of every query: one batched scan of the table for all of them.

    Hundreds of probes make a steady recall estimate (a few hard queries weigh a lot); one exact search each
    would scan the table once per probe.
    """
    q = _unit(queries)
    top_sim, top_key = np.full((len(q), 0), -np.inf), np.empty((len(q), 0), dtype=object)
    for batch in tbl.search().select(["key", "vector"]).limit(None).to_batches(65_536):
        sim = q @ _unit(np.stack(batch["vector"].to_numpy(zero_copy_only=False)).astype(np.float32)).T
        best = _top(sim, min(k, sim.shape[1]))  # this batch's k best, then merged with the k best so far
        sims = np.concatenate([top_sim, np.take_along_axis(sim, best, 1)], 1)
        both = np.concatenate([top_key, np.asarray(batch["key"].to_pylist(), dtype=object)[best]], 1)
        order = _top(sims, min(k, sims.shape[1]))
        top_sim, top_key = np.take_along_axis(sims, order, 1), np.take_along_axis(both, order, 1)
    return top_key, top_sim


def _top(sims: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest values of each row, largest first."""
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < sims.shape[1] else np.tile(np.arange(k), (len(sims), 1))
    return np.take_along_axis(part, np.argsort(-np.take_along_axis(sims, part, 1), axis=1, kind="stable"), 1)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _keys(query) -> list[Any]:
    return query.select(["key", "_distance"]).to_arrow()["key"].to_pylist()
