"""Indexes on a real LanceDB table: lookup indexes after the first write, an ANN index tuned against exact search."""

import numpy as np
import pytest

from embedforge.tasks.index import INDEX_KEY, IndexConfig, after_write, build_vector_index, index_info
from embedforge.tasks.store import VectorStore

DIM = 64
IDENTITY = {"name": "test/synthetic", "dim": DIM, "fingerprint": "synthetic", "weights": "none", "input": {}}


def clustered(n: int, seed: int = 0, clusters: int = 64) -> np.ndarray:
    """Vectors around fixed random centres, the shape real embeddings have (not uniform noise)."""
    centres = np.random.default_rng(1234).standard_normal((clusters, DIM)).astype(np.float32)
    rng = np.random.default_rng(seed)
    return centres[rng.integers(0, clusters, n)] + 0.35 * rng.standard_normal((n, DIM)).astype(np.float32)


def rows(x: np.ndarray, start: int = 0) -> list[dict]:
    return [
        {
            "dataset": "a" if i % 2 else "b",
            "id": f"v{i}",
            "uri": f"mem://{i}",
            "content_hash": f"h{i}",
            "split": None,
            "group": None,
            "labels": {},
            "vector": v,
        }
        for i, v in enumerate(x, start)
    ]


def exact_ids(tbl, q, k=10, where=None) -> set[str]:
    query = tbl.search(q).distance_type("cosine").bypass_vector_index()
    if where:
        query = query.where(where, prefilter=True)
    return {f"{r['dataset']}::{r['id']}" for r in query.select(["dataset", "id", "_distance"]).limit(k).to_list()}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """20k x 64 clustered vectors written through the store, then an IVF_HNSW_SQ index over 8 partitions."""
    store = VectorStore(str(tmp_path_factory.mktemp("ann") / "db"))
    store.upsert("synthetic", IDENTITY, rows(clustered(20_000)))
    tbl = store.db.open_table("synthetic")
    info = build_vector_index(tbl, IndexConfig(num_partitions=8))
    return store, tbl, info


def test_lookup_columns_get_scalar_indexes_after_the_first_write(indexed):
    _, tbl, _ = indexed
    indexed_columns = {next(iter(i.columns)): i.index_type for i in tbl.list_indices()}
    assert indexed_columns["key"] == "BTree" and indexed_columns["content_hash"] == "BTree"
    assert indexed_columns["dataset"] == "Bitmap" and indexed_columns["vector"] == "IvfHnswSq"


def test_index_type_parameters_and_tuning_are_recorded(indexed):
    _, tbl, info = indexed
    recorded = index_info(tbl)
    assert recorded == info and INDEX_KEY in tbl.schema.field("vector").metadata
    assert recorded["build"] == {
        "index_type": "IVF_HNSW_SQ",
        "metric": "cosine",
        "num_partitions": 8,
        "m": 20,
        "ef_construction": 150,
    }
    assert recorded["search"]["refine_factor"] == 5 and 1 <= recorded["search"]["nprobes"] <= 8
    assert recorded["search"]["recall_at_10"] >= 0.97 and recorded["rows"] == 20_000


def test_index_search_keeps_recall_at_10_against_exact_search(indexed):
    store, tbl, _ = indexed
    queries = clustered(60, seed=7)  # fresh points from the same centres, not stored vectors
    recalls = []
    for q in queries:
        found = {f"{h['dataset']}::{h['id']}" for h in store.search("synthetic", q, k=10)}
        recalls.append(len(found & exact_ids(tbl, q)) / 10)
    assert np.mean(recalls) >= 0.95, np.mean(recalls)


def test_filtered_search_keeps_working_on_the_index(indexed):
    store, tbl, _ = indexed
    recalls = []
    for q in clustered(30, seed=8):
        hits = store.search("synthetic", q, k=10, where="dataset = 'a'")
        assert len(hits) == 10 and {h["dataset"] for h in hits} == {"a"}
        found = {f"{h['dataset']}::{h['id']}" for h in hits}
        recalls.append(len(found & exact_ids(tbl, q, where="dataset = 'a'")) / 10)
    assert np.mean(recalls) >= 0.95, np.mean(recalls)


def test_ann_index_is_built_once_a_table_passes_the_threshold(tmp_path):
    store = VectorStore(str(tmp_path / "db"))
    store.upsert("small", IDENTITY, rows(clustered(1500, seed=3)))
    tbl = store.db.open_table("small")
    assert index_info(tbl) is None and after_write(tbl, min_rows=3000) == {"scalar": []}
    store.upsert("small", IDENTITY, rows(clustered(1600, seed=4), start=1500))
    done = after_write(store.db.open_table("small"), min_rows=3000)
    assert done["vector"]["rows"] == 3100 and index_info(store.db.open_table("small"))["build"]["num_partitions"] == 1
    assert after_write(store.db.open_table("small"), min_rows=3000) == {"scalar": []}  # once, not per write


def test_an_outgrown_index_is_rebuilt_for_the_larger_table(tmp_path):
    store = VectorStore(str(tmp_path / "db"))
    store.upsert("grows", IDENTITY, rows(clustered(1000, seed=5)))
    first = after_write(store.db.open_table("grows"), min_rows=1000)["vector"]
    store.upsert("grows", IDENTITY, rows(clustered(1500, seed=6), start=1000))  # 2.5x: refreshed, not rebuilt
    assert "vector" not in after_write(store.db.open_table("grows"), min_rows=1000)
    store.upsert("grows", IDENTITY, rows(clustered(2000, seed=7), start=2500))  # 4.5x the rows it was built on
    again = after_write(store.db.open_table("grows"), min_rows=1000)["vector"]
    assert (first["rows"], again["rows"]) == (1000, 4500) and index_info(store.db.open_table("grows")) == again


def test_ivf_pq_with_refine_keeps_recall(tmp_path):
    store = VectorStore(str(tmp_path / "db"))
    store.upsert("pq", IDENTITY, rows(clustered(4000, seed=9)))
    tbl = store.db.open_table("pq")
    info = build_vector_index(tbl, IndexConfig(index_type="IVF_PQ", num_partitions=4))
    assert info["build"]["num_sub_vectors"] == 8 and info["search"]["refine_factor"] in (5, 10, 20)
    recalls = [
        len({f"{h['dataset']}::{h['id']}" for h in store.search("pq", q, k=10)} & exact_ids(tbl, q)) / 10
        for q in clustered(30, seed=10)
    ]
    assert np.mean(recalls) >= 0.95, np.mean(recalls)
