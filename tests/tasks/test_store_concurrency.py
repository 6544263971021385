"""One row per key under concurrent writers and SIGKILLed writers (real LanceDB, real processes)."""

from __future__ import annotations

import multiprocessing as mp
import random
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import lancedb  # noqa: F401  (imported once in the fork server, not in every worker)
import numpy as np
import pytest

from embedforge.modalities.base import EncoderSpec
from embedforge.registry.encoders import ENCODERS, register_encoder
from embedforge.tasks.store import VectorStore
from tests.fakes import TinyEncoder

# The fork server imported LanceDB but never ran it, so nothing is mid-operation when it forks.
warnings.filterwarnings("ignore", message="lancedb fork support is experimental")

IDENT = {"name": "test/tiny", "dim": 4, "fingerprint": "f1", "weights": "w", "input": {}}
SLOW = EncoderSpec(name="test/slow", dim=8, input={"channels": 1}, weights="none", description="test: 4 ms an item")


class SlowEncoder(TinyEncoder):
    """A fixed cost per item, as a real model has: two runs then overlap on the same shard, as in the issue."""

    spec = SLOW

    def encode(self, inputs):
        time.sleep(0.004 * len(inputs))
        return super().encode(inputs)


if SLOW.name not in ENCODERS:
    register_encoder(SLOW, probe=lambda: None)(lambda weights=None, device="cpu": SlowEncoder(int(weights or 0)))

PRELOAD = ["tests.tasks.test_store_concurrency", "embedforge.tasks.embed", "embedforge.tasks.index"]


@pytest.fixture(scope="module")
def ctx():
    """Forked from a server that imported the store once: a worker starts in milliseconds, not seconds."""
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _row(i: int, tag: str = "") -> dict:
    return dict(
        dataset="d", id=f"i{i:03d}", uri=f"/x/{i}", content_hash=f"h{i}{tag}", split="train", group="g",
        labels={"y": i}, vector=np.full(4, i, dtype=np.float32),
    )  # fmt: skip


class _UnlockedStore(VectorStore):
    """The store as it runs on object storage (no lock file): only Lance's commit-conflict check protects it."""

    def commit_lock(self, table):
        return nullcontext()


def _writer(uri, numbers, barrier, shard, unlocked, tag):
    store = (_UnlockedStore if unlocked else VectorStore)(uri)
    barrier.wait(timeout=120)
    for start in range(0, len(numbers), shard):
        store.upsert("t", IDENT, [_row(i, tag) for i in numbers[start : start + shard]])


def _race(ctx, uri, sets, shard=15, unlocked=False):
    barrier = ctx.Barrier(len(sets))
    procs = [ctx.Process(target=_writer, args=(uri, s, barrier, shard, unlocked, str(n))) for n, s in enumerate(sets)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * len(procs)


def _ids(uri, table="t"):
    return VectorStore(uri).rows(table)["id"].to_pylist()


@pytest.mark.parametrize("unlocked", [False, True], ids=["lock-file", "lance-conflict-only"])
def test_two_writers_same_90_keys_leave_90_rows(ctx, tmp_path, unlocked):
    for trial in range(4):
        uri = str(tmp_path / f"db{trial}")
        _race(ctx, uri, [list(range(90)), list(range(90))[::-1]], unlocked=unlocked)
        ids = _ids(uri)
        assert len(ids) == 90 and len(set(ids)) == 90, f"trial {trial}: {len(ids)} rows for {len(set(ids))} keys"


def test_two_writers_disjoint_keys_keep_every_row_once(ctx, tmp_path):
    for trial in range(3):
        uri = str(tmp_path / f"db{trial}")
        _race(ctx, uri, [list(range(0, 90, 2)), list(range(1, 90, 2))], shard=9)
        assert sorted(_ids(uri)) == [f"i{i:03d}" for i in range(90)]


# -- SIGKILL at random moments -----------------------------------------------------------
TABLES = [f"t{k}" for k in range(4)]  # each one created then filled: a kill lands in a creation more often


def _doomed(uri, ready, n, shard):
    store = VectorStore(uri)
    ready.set()
    for table in TABLES:
        for start in range(0, n, shard):
            store.upsert(table, IDENT, [_row(i) for i in range(start, min(n, start + shard))])
            store.record_failures(table, "d", [{"id": f"bad{start}", "error": "bad"}])


def _next_run(uri, n):
    """What a rerun does: ask the store what it holds, write the rest."""
    store = VectorStore(uri)
    for table in TABLES:
        known = store.known(table, "d")
        store.upsert(table, IDENT, [_row(i) for i in range(n) if f"i{i:03d}" not in known])
        store.record_failures(table, "d", [{"id": "bad-final", "error": "bad"}])
    return store


def test_sigkill_during_creation_and_upserts_then_next_run_succeeds(ctx, tmp_path):
    rng = random.Random(8)
    n, states = 16, {"no table": 0, "half-made": 0, "partial": 0, "complete": 0}
    for trial in range(20):
        uri = str(tmp_path / f"db{trial}")
        ready = ctx.Event()
        proc = ctx.Process(target=_doomed, args=(uri, ready, n, 8))
        proc.start()
        assert ready.wait(60)
        time.sleep(rng.uniform(0, 0.02) if trial % 2 == 0 else rng.uniform(0, 0.8))  # even: the first creation
        proc.kill()
        proc.join()
        for table in TABLES:
            states[_state(uri, table, n)] += 1
        store = _next_run(uri, n)
        for table in TABLES:
            ids = store.rows(table)["id"].to_pylist()
            assert sorted(ids) == [f"i{i:03d}" for i in range(n)], f"trial {trial}, {table}: {len(ids)} rows"
            assert "bad-final" in {f["id"] for f in store.failures(table, "d")}
    print("table states seen at the kill:", states)


def _state(uri, table, n):
    if not (Path(uri) / f"{table}.lance").exists():
        return "no table"
    store = VectorStore(uri)
    if not store.has(table):
        return "half-made"
    return "complete" if store.count(table) == n else "partial"


# -- two embed runs at once ---------------------------------------------------------------
def _embed_run(folder, db, work, barrier):
    """One embed run as the CLI's flow does it: plan against the store, then every shard."""
    from embedforge.tasks.embed import embed_shard, plan_embedding

    barrier.wait(timeout=120)
    plan = plan_embedding(
        dataset=f"arrays:{folder}", encoder="test/slow", db_uri=db, work_dir=work, shard_size=15, dataset_name="a"
    )
    for path in plan.shards:
        embed_shard(shard_path=path, encoder="test/slow", db_uri=db, batch_size=8)


def _folder(root: Path, numbers) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in numbers:
        np.save(root / f"s{i:03d}.npy", np.random.default_rng(i).standard_normal(64).astype(np.float32))
    return root


def _two_embeds(ctx, folders, db, work):
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_embed_run, args=(str(f), db, work, barrier)) for f in folders]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0, 0]
    return _ids(db, "test__slow")


def test_two_embed_runs_over_the_same_90_files_store_90_rows(ctx, tmp_path):
    same = _folder(tmp_path / "files", range(90))
    for trial in range(3):
        ids = _two_embeds(ctx, [same, same], str(tmp_path / f"db{trial}"), str(tmp_path / f"work{trial}"))
        assert len(ids) == 90 and len(set(ids)) == 90, f"trial {trial}: {len(ids)} rows for {len(set(ids))} keys"


def test_two_embed_runs_over_disjoint_files_store_every_row_once(ctx, tmp_path):
    for trial in range(2):
        a = _folder(tmp_path / f"a{trial}", range(0, 45))
        b = _folder(tmp_path / f"b{trial}", range(45, 90))
        ids = _two_embeds(ctx, [a, b], str(tmp_path / f"db{trial}"), str(tmp_path / f"work{trial}"))
        assert sorted(ids) == [f"s{i:03d}.npy" for i in range(90)]


@pytest.mark.slow
def test_two_embed_cli_processes_over_the_same_90_files_store_90_rows(prefect_harness, tmp_path):
    """The issue's reproduction: two ``embedforge embed`` processes at once into one --db."""
    import os
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    folder, db = _folder(tmp_path / "files", range(90)), str(tmp_path / "db")
    plugins = "tests.fakes,tests.tasks.test_store_concurrency"  # the slow encoder, so the runs overlap
    env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value() or "", EMBEDFORGE_PLUGINS=plugins)
    args = ["embed", "--dataset", f"arrays:{folder}", "--encoder", "test/slow", "--db", db, "--name", "a"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "embedforge.flows.cli", *args, "--shard-size", "15"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    ids = _ids(db, "test__slow")
    assert len(ids) == 90 and len(set(ids)) == 90
