"""Indexes of a vector table: scalar ones for the lookup columns, an ANN one past a size, tuned against exact search.

The vector index's type, build parameters and the search settings tuned for it (``nprobes``, ``refine_factor``,
``ef``: the fastest measured ones whose recall@10 against exact search reaches the target, see ``ann_tune``) are
recorded in the ``vector`` field's metadata, so every reader searches the index the same way; readers cache them
per table version.
"""

from __future__ import annotations

import contextlib
import json
import logging
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from embedforge.tasks.ann_tune import apply_search, probe_queries, tune_search
from embedforge.tasks.progress import Tick, silent

__all__ = [
    "IndexConfig",
    "after_write",
    "apply_search",
    "build_vector_index",
    "index_info",
    "probe_queries",
    "retune_search",
    "search_settings",
    "tune_search",
]

log = logging.getLogger(__name__)

INDEX_KEY = b"embedforge.index"
VECTOR_INDEX = "vector_idx"
# BTREE for the near-unique keys, BITMAP for the few-valued dataset column.
SCALAR_COLUMNS = {"key": "BTREE", "content_hash": "BTREE", "dataset": "BITMAP"}
REFRESH_FRACTION = 0.1  # fold new rows into the indexes once they are this share of the table
REBUILD_GROWTH = 4  # rebuild the ANN index (more partitions, search re-tuned) once the table is this much larger
_SETTINGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # table -> (version, its search settings)


class IndexConfig(BaseModel):
    """How the ANN index is built and how much recall its search must keep."""

    model_config = ConfigDict(extra="forbid")

    index_type: Literal["IVF_HNSW_SQ", "IVF_PQ", "IVF_HNSW_PQ", "IVF_SQ", "IVF_FLAT"] = "IVF_HNSW_SQ"
    num_partitions: int | None = Field(None, ge=1, description="IVF lists; default about one per 16k rows")
    num_sub_vectors: int | None = Field(None, ge=1, description="PQ sub-vectors; default dim / 8")
    m: int = Field(20, ge=4, description="HNSW edges per node")
    ef_construction: int = Field(150, ge=16)
    refine_factor: int = Field(
        5, ge=1, description="re-rank k x this many on the full vectors; tuning also tries 2x, 4x"
    )
    target_recall: float = Field(
        0.97, gt=0, le=1, description="recall@10 vs exact search on the probe queries the tuning must reach"
    )
    probe_queries: int = Field(256, ge=4, le=1000, description="probe queries (stored rows moved) the tuning uses")


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


def build_vector_index(tbl, config: IndexConfig | None = None, progress: Tick = silent) -> dict[str, Any]:
    """Build (or rebuild) the ANN index, tune its search against exact search, record both (minutes at 1M rows:
    each step is reported to ``progress``)."""
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
    progress(0, None, f"building {config.index_type} over {rows:,} rows")
    tbl.create_index(replace=True, name=VECTOR_INDEX, **build)
    facts = {"rows": rows, "dim": dim, "built_at": datetime.now(UTC).isoformat()}
    return _tune_and_record(tbl, build, config, progress, **facts)


def retune_search(tbl, config: IndexConfig | None = None) -> dict[str, Any]:
    """Tune the search of the existing index again (another target, another machine) without rebuilding it."""
    info = index_info(tbl)
    if info is None or VECTOR_INDEX not in _indices(tbl):
        raise LookupError(f"table {tbl.name!r} has no recorded vector index to tune")
    config = config or IndexConfig()
    facts = {"rows": info["rows"], "dim": info["dim"], "built_at": info["built_at"]}
    return _tune_and_record(tbl, info["build"], config, silent, **facts)


def _tune_and_record(tbl, build: dict[str, Any], config: IndexConfig, progress: Tick, **facts: Any) -> dict[str, Any]:
    """Tune the search settings and record them with the build parameters in the vector field's metadata."""
    info = {"build": build, "search": tune_search(tbl, build, config, progress=progress), **facts}
    tbl.update_field_metadata({"path": "vector", "metadata": {INDEX_KEY.decode(): json.dumps(info)}})
    log.info("vector index on %s: %s", tbl.name, info)
    return info


def _sub_vectors(dim: int) -> int:
    """PQ sub-vectors: the largest divisor of ``dim`` up to dim / 8 (8 dims a byte), as PQ needs an exact split."""
    return max(d for d in range(1, max(1, dim // 8) + 1) if dim % d == 0)


def search_settings(tbl) -> dict[str, Any] | None:
    """The recorded search settings of the table's vector index, cached per table version (None: search exactly).

    One version read a query instead of listing the indexes and parsing the schema: any commit (a write, a
    rebuilt index, new metadata) moves the version, so a stale entry is never used.
    """
    version = tbl.version
    cached = _SETTINGS.get(tbl)
    if cached is not None and cached[0] == version:
        return cached[1]
    info = index_info(tbl)  # read after the version: at least as new as the version it is cached under
    settings = info["search"] if info is not None and VECTOR_INDEX in _indices(tbl) else None
    _SETTINGS[tbl] = (version, settings)
    return settings


def tuned_query(tbl, query, k: int = 10):
    """A table's vector query for ``k`` hits with the search settings recorded with its index (exact without one)."""
    return apply_search(query, search_settings(tbl), k)


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
    except Exception as exc:  # best effort: the rows are committed; the next write tries the upkeep again
        log.warning("index upkeep on %s deferred: %s", tbl.name, exc)
        return {"error": str(exc)}


def _upkeep(tbl, min_rows: int | None, config: IndexConfig | None, lock: Callable[[], Any]) -> dict[str, Any]:
    rows = tbl.count_rows()
    indices = _indices(tbl)  # listed once a commit: the scalar ones made now are fresh, not stale
    done: dict[str, Any] = {"scalar": ensure_scalar_indexes(tbl, indices) if rows else []}
    if min_rows is None:
        from embedforge.registry.settings import Settings

        min_rows = Settings().ann_min_rows  # ~0.7 ms a commit
    if rows >= min_rows and (VECTOR_INDEX not in indices or _outgrown(tbl, rows)):
        done["vector"] = build_vector_index(tbl, config)  # partitions sized (and search re-tuned) for today's rows
    elif _stale(tbl, indices, rows):
        with lock():
            tbl.optimize()  # folds new rows into every index (incremental) and compacts small fragments
        done["optimized"] = True
    return done


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
