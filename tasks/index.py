"""Indexes of a vector table: scalar ones for the lookup columns, an ANN one past a size, tuned against exact search.

The vector index's type, build parameters and the search settings tuned for it (``nprobes``, ``refine_factor``,
``ef``, and the recall@10 they reached against exact search) are recorded in the ``vector`` field's metadata,
so every reader searches the index the same way.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

INDEX_KEY = b"embedforge.index"
VECTOR_INDEX = "vector_idx"
# BTREE for the near-unique keys, BITMAP for the few-valued dataset column.
SCALAR_COLUMNS = {"key": "BTREE", "content_hash": "BTREE", "dataset": "BITMAP"}
REFRESH_FRACTION = 0.1  # fold new rows into the indexes once they are this share of the table
REBUILD_GROWTH = 4  # rebuild the ANN index (more partitions, search re-tuned) once the table is this much larger


class IndexConfig(BaseModel):
    """How the ANN index is built and how much recall its search must keep."""

    model_config = ConfigDict(extra="forbid")

    index_type: Literal["IVF_HNSW_SQ", "IVF_PQ", "IVF_HNSW_PQ", "IVF_SQ", "IVF_FLAT"] = "IVF_HNSW_SQ"
    num_partitions: int | None = Field(None, ge=1, description="IVF lists; default about one per 16k rows")
    num_sub_vectors: int | None = Field(None, ge=1, description="PQ sub-vectors; default dim / 8")
    m: int = Field(20, ge=4, description="HNSW edges per node")
    ef_construction: int = Field(150, ge=16)
    refine_factor: int = Field(5, ge=1, description="re-rank k x this many candidates on the full vectors")
    target_recall: float = Field(0.97, gt=0, le=1, description="recall@10 vs exact the tuning must reach")
    probe_queries: int = Field(32, ge=4, le=1000)


def _indices(tbl) -> dict[str, Any]:
    """Index name -> config as LanceDB lists them."""
    return {i.name: i for i in tbl.list_indices()}


def ensure_scalar_indexes(tbl, indices: dict[str, Any] | None = None) -> list[str]:
    """Create the lookup-column indexes once a table has rows; returns the ones created now.

    ``indices`` (from ``_indices``) spares listing them again when the caller already did.
    """
    have = {next(iter(i.columns)) for i in (indices if indices is not None else _indices(tbl)).values()}
    made = []
    for column, kind in SCALAR_COLUMNS.items():
        if column not in have and column in tbl.schema.names:
            tbl.create_scalar_index(column, index_type=kind, replace=True)
            made.append(column)
    return made


def index_info(tbl) -> dict[str, Any] | None:
    """The recorded vector index (type, build parameters, tuned search settings), if any."""
    meta = tbl.schema.field("vector").metadata or {}
    return json.loads(meta[INDEX_KEY]) if INDEX_KEY in meta else None


def build_vector_index(tbl, config: IndexConfig | None = None) -> dict[str, Any]:
    """Build (or rebuild) the ANN index, tune its search against exact search, record both."""
    config = config or IndexConfig()
    rows = tbl.count_rows()
    dim = tbl.schema.field("vector").type.list_size
    build = {
        "index_type": config.index_type,
        "metric": "cosine",
        "num_partitions": config.num_partitions or max(1, min(1024, round(rows / 16_384))),
    }
    if "PQ" in config.index_type:
        build["num_sub_vectors"] = config.num_sub_vectors or _sub_vectors(dim)
    if "HNSW" in config.index_type:
        build.update(m=config.m, ef_construction=config.ef_construction)
    tbl.create_index(replace=True, name=VECTOR_INDEX, **build)
    search = tune_search(tbl, build, config)
    info = {"build": build, "search": search, "rows": rows, "dim": dim, "built_at": datetime.now(UTC).isoformat()}
    tbl.update_field_metadata({"path": "vector", "metadata": {INDEX_KEY.decode(): json.dumps(info)}})
    log.info("vector index on %s: %s", tbl.name, info)
    return info


def _sub_vectors(dim: int) -> int:
    """PQ sub-vectors: the largest divisor of ``dim`` up to dim / 8 (8 dims a byte), as PQ needs an exact split."""
    return max(d for d in range(1, max(1, dim // 8) + 1) if dim % d == 0)


def tune_search(tbl, build: dict[str, Any], config: IndexConfig, k: int = 10) -> dict[str, Any]:
    """The cheapest refine_factor, then nprobes (and HNSW ef), whose recall@k on probe queries reaches the target."""
    queries = probe_queries(tbl, config.probe_queries)
    exact = [set(_ids(tbl.search(q).distance_type("cosine").bypass_vector_index(), k)) for q in queries]
    parts = build["num_partitions"]
    steps = sorted({max(1, math.ceil(parts * f)) for f in (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)})
    best: dict[str, Any] = {"recall_at_10": -1.0}
    for refine in (config.refine_factor, 2 * config.refine_factor, 4 * config.refine_factor):  # PQ needs more
        for nprobes in steps:
            settings = {"nprobes": nprobes, "refine_factor": refine}
            if "HNSW" in build["index_type"]:
                settings["ef"] = max(64, 2 * k * refine)  # HNSW must yield the k x refine candidates
            found = [set(_ids(apply_search(tbl.search(q).distance_type("cosine"), settings), k)) for q in queries]
            recall = round(float(np.mean([len(f & e) / max(1, len(e)) for f, e in zip(found, exact)])), 4)
            if recall > best["recall_at_10"]:
                best = dict(settings, recall_at_10=recall, probes=len(queries))
            if recall >= config.target_recall:
                return best
    return best  # the target was not reached: the best settings found, with the recall they gave


def probe_queries(tbl, n: int, seed: int = 0) -> np.ndarray:
    """Half stored vectors with noise, half midpoints of two random rows (between clusters: the hard case)."""
    rows = tbl.count_rows()
    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(rows, size=min(2 * n, rows), replace=False))
    vectors = tbl.take_offsets(take.tolist()).select(["vector"]).to_arrow()["vector"]
    x = rng.permutation(np.stack(vectors.to_numpy(zero_copy_only=False)).astype(np.float32))
    half = max(1, min(n, len(x)) // 2)
    scale = np.linalg.norm(x[:half], axis=1, keepdims=True) / math.sqrt(x.shape[1])
    near = x[:half] + 0.1 * scale * rng.standard_normal(x[:half].shape).astype(np.float32)
    pairs = x[half : half + 2 * (n - half)]
    between = (pairs[0::2][: len(pairs) // 2] + pairs[1::2][: len(pairs) // 2]) / 2
    return np.concatenate([near, between]) if len(between) else near


def _ids(query, k: int) -> list[Any]:
    return query.select(["key", "_distance"]).limit(k).to_arrow()["key"].to_pylist()


def apply_search(query, settings: dict[str, Any] | None):
    """Set the recorded nprobes / refine_factor / ef on a LanceDB vector query."""
    if not settings:
        return query
    if settings.get("nprobes"):
        query = query.nprobes(int(settings["nprobes"]))
    if settings.get("refine_factor"):
        query = query.refine_factor(int(settings["refine_factor"]))
    if settings.get("ef"):
        query = query.ef(int(settings["ef"]))
    return query


def tuned_query(tbl, query):
    """A table's vector query with the search settings recorded with its index (exact when there is none)."""
    info = index_info(tbl)
    if info is None or VECTOR_INDEX not in _indices(tbl):
        return query
    return apply_search(query, info["search"])


def after_write(
    tbl, min_rows: int | None = None, config: IndexConfig | None = None, lock: Callable[[], Any] | None = None
) -> dict[str, Any]:
    """After a commit: scalar indexes once there are rows, an ANN index past ``min_rows``, refresh when stale.

    Best effort: the rows are already committed, so a failure here (a concurrent writer) is logged and the
    next write tries again. ``lock`` (the store's commit lock) is held around compaction, which rewrites
    fragments a concurrent merge may touch; index builds only add files and run without it.
    """
    try:
        return _upkeep(tbl, min_rows, config, lock or contextlib.nullcontext)
    except Exception as exc:
        log.warning("index upkeep on %s deferred: %s", tbl.name, exc)
        return {"error": str(exc)}


def _upkeep(tbl, min_rows: int | None, config: IndexConfig | None, lock: Callable[[], Any]) -> dict[str, Any]:
    rows = tbl.count_rows()
    indices = _indices(tbl)  # listed once a commit: the scalar ones made now are fresh, not stale
    done: dict[str, Any] = {"scalar": ensure_scalar_indexes(tbl, indices) if rows else []}
    if min_rows is None:
        min_rows = _ann_min_rows(os.environ.get("EMBEDFORGE_ANN_MIN_ROWS"))
    if rows >= min_rows and (VECTOR_INDEX not in indices or _outgrown(tbl, rows)):
        done["vector"] = build_vector_index(tbl, config)  # partitions sized (and search re-tuned) for today's rows
    elif _stale(tbl, indices, rows):
        with lock():
            tbl.optimize()  # folds new rows into every index (incremental) and compacts small fragments
        done["optimized"] = True
    return done


@functools.lru_cache(maxsize=8)
def _ann_min_rows(env_value: str | None) -> int:
    """The ANN threshold from Settings, validated once per value of its variable (not once per commit)."""
    from embedforge.registry.settings import Settings

    return Settings().ann_min_rows


def _outgrown(tbl, rows: int) -> bool:
    """The table has grown REBUILD_GROWTH-fold since the index was built: its partitions are too few."""
    info = index_info(tbl)
    return info is None or rows >= REBUILD_GROWTH * info["rows"]


def _stale(tbl, indices: dict[str, Any], rows: int) -> bool:
    """True when an index misses more than REFRESH_FRACTION of the rows."""
    name = VECTOR_INDEX if VECTOR_INDEX in indices else "key_idx" if "key_idx" in indices else None
    if name is None:
        return False
    unindexed = getattr(indices[name], "num_unindexed_rows", None)  # listed with the index (LanceDB >= 0.25)
    if unindexed is None:
        unindexed = tbl.index_stats(name).num_unindexed_rows
    return unindexed > max(1000, REFRESH_FRACTION * rows)
