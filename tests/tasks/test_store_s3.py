"""The store on object storage (moto's S3 server, started by the test): no lock file there, so Lance's commit
conflict checks and the store's retries must keep one row per key under concurrent writers and kills."""

from __future__ import annotations

import os
import random
import time

import numpy as np
import pytest

from embedforge.tasks.store import VectorStore
from tests.s3_helpers import environ, moto_server
from tests.tasks import test_store_concurrency as local

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3():
    with moto_server() as env, environ(env):
        yield env


@pytest.fixture(scope="module")
def ctx():
    return local.ctx.__wrapped__()


def _in_env(env, target, *args):
    """Run ``target`` in a worker with the S3 variables (the fork server may predate them)."""
    os.environ.update(env)
    target(*args)


def _race(ctx, env, uri, sets, shard=15):
    barrier = ctx.Barrier(len(sets))
    procs = [
        ctx.Process(target=_in_env, args=(env, local._writer, uri, s, barrier, shard, False, str(n)))
        for n, s in enumerate(sets)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0] * len(procs)


def test_three_writers_on_s3_leave_one_row_per_key(s3, ctx):
    keys = list(range(90))
    for trial in range(2):
        uri = f"s3://embedforge/race{trial}"
        _race(ctx, s3, uri, [keys, keys[::-1], keys[30:] + keys[:30]])
        ids = local._ids(uri)
        assert len(ids) == 90 and len(set(ids)) == 90, f"trial {trial}: {len(ids)} rows for {len(set(ids))} keys"
    uri = "s3://embedforge/disjoint"
    _race(ctx, s3, uri, [keys[0::3], keys[1::3], keys[2::3]], shard=10)
    assert sorted(local._ids(uri)) == [f"i{i:03d}" for i in keys]


def test_rerun_embeds_nothing_and_search_and_the_index_work_on_s3(s3, tmp_path):
    from embedforge.tasks.embed import embed_shard, plan_embedding
    from embedforge.tasks.index import IndexConfig, build_vector_index, index_info

    folder, db = local._folder(tmp_path / "files", range(60)), "s3://embedforge/embed"
    kw = {"dataset": f"arrays:{folder}", "encoder": "test/slow", "db_uri": db, "shard_size": 20, "dataset_name": "a"}
    plan = plan_embedding(work_dir=str(tmp_path / "w1"), **kw)
    assert sum(embed_shard(shard_path=p, encoder="test/slow", db_uri=db).embedded for p in plan.shards) == 60
    again = plan_embedding(work_dir=str(tmp_path / "w2"), **kw)
    assert again.pending == 0 and again.shards == [] and again.skipped == 60
    store = VectorStore(db)
    tbl = store._require(plan.table)
    build_vector_index(tbl, IndexConfig(index_type="IVF_FLAT", num_partitions=2))
    assert index_info(tbl)["rows"] == 60
    query = store.rows(plan.table).to_pylist()[7]
    hits = store.search(plan.table, np.asarray(query["vector"]), k=3)
    assert hits[0]["id"] == query["id"] and hits[0]["_distance"] < 1e-5


def test_a_writer_killed_mid_commit_on_s3_then_the_next_run_completes(s3, ctx):
    rng, n = random.Random(3), 16
    for trial in range(4):
        uri = f"s3://embedforge/kill{trial}"
        ready = ctx.Event()
        proc = ctx.Process(target=_in_env, args=(s3, local._doomed, uri, ready, n, 8))
        proc.start()
        assert ready.wait(60)
        time.sleep(rng.uniform(0, 0.05) if trial % 2 == 0 else rng.uniform(0, 1.0))
        proc.kill()
        proc.join()
        store = local._next_run(uri, n)
        for table in local.TABLES:
            ids = store.rows(table)["id"].to_pylist()
            assert sorted(ids) == [f"i{i:03d}" for i in range(n)], f"trial {trial}, {table}: {len(ids)} rows"


def test_a_refused_commit_is_retried_on_the_latest_version_without_doubling(tmp_path, monkeypatch):
    """As Lance refuses a merge that a concurrent commit preempted: the first attempt fails after another writer
    committed the same keys; the retry merges on the latest version and every key keeps one row."""
    uri = str(tmp_path / "db")
    store, other = local._UnlockedStore(uri), VectorStore(uri)
    store.upsert("t", local.IDENT, [local._row(i) for i in range(5)])
    real, calls = VectorStore._merge, []

    def preempted(tbl, data):
        calls.append(data.num_rows)
        if len(calls) == 1:
            other.upsert("t", local.IDENT, [local._row(i, "other") for i in range(5, 10)])
            raise RuntimeError("Retryable commit conflict: preempted by a concurrent transaction")
        real(tbl, data)

    monkeypatch.setattr(VectorStore, "_merge", staticmethod(preempted))
    store.upsert("t", local.IDENT, [local._row(i, "mine") for i in range(3, 10)])
    ids = local._ids(uri)
    assert calls == [7, 7] and sorted(ids) == [f"i{i:03d}" for i in range(10)]
    hashes = dict(zip(ids, VectorStore(uri).rows("t")["content_hash"].to_pylist(), strict=True))
    assert hashes["i009"] == "h9mine"  # the retried merge's rows won
