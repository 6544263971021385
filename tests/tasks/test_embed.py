"""The embed stage without Prefect: plan, shard, resume, change, failures."""

import itertools
import json
from pathlib import Path

import numpy as np

from embedforge.tasks.embed import embed_shard, plan_embedding
from embedforge.tasks.features import load_features
from embedforge.tasks.store import VectorStore


def _run(arrays_dir, db, work, shard_size=5):
    plan = plan_embedding(
        dataset=f"arrays:{arrays_dir}",
        encoder="test/tiny",
        db_uri=db,
        work_dir=work,
        shard_size=shard_size,
        dataset_name="a",
    )
    results = [embed_shard(shard_path=p, encoder="test/tiny", db_uri=db, batch_size=3) for p in plan.shards]
    return plan, results


def test_first_run_embeds_all_then_rerun_embeds_nothing(arrays_dir, tmp_path):
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    plan, results = _run(arrays_dir, db, work)
    assert plan.total == 12 and len(plan.shards) == 3
    assert sum(r.embedded for r in results) == 12
    again, _ = _run(arrays_dir, db, work)
    assert again.skipped == 12 and again.shards == []
    assert VectorStore(db).count("test__tiny") == 12


def test_changed_file_reembedded_once_and_duplicate_content_reused(arrays_dir, tmp_path):
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    _run(arrays_dir, db, work)
    np.save(arrays_dir / "s03.npy", np.arange(50, dtype=np.float32))
    np.save(arrays_dir / "copy.npy", np.load(arrays_dir / "s05.npy"))
    plan, results = _run(arrays_dir, db, work)
    assert plan.pending == 2
    assert sum(r.embedded for r in results) == 1 and sum(r.reused for r in results) == 1
    feats = load_features(db, "test/tiny", "a")
    assert len(feats.ids) == 13 and len(set(feats.ids)) == 13
    i, j = feats.ids.index("copy.npy"), feats.ids.index("s05.npy")
    np.testing.assert_array_equal(feats.X[i], feats.X[j])


def test_bad_items_recorded_rest_stored(arrays_dir, tmp_path):
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    np.save(arrays_dir / "nan.npy", np.array([1.0, np.nan], dtype=np.float32))
    np.save(arrays_dir / "empty.npy", np.zeros(0, dtype=np.float32))
    (arrays_dir / "corrupt.npy").write_bytes(b"not an array")
    _, results = _run(arrays_dir, db, work)
    errors = {f["id"]: f["error"] for r in results for f in r.failures}
    assert set(errors) == {"nan.npy", "empty.npy", "corrupt.npy"}
    assert "NaN" in errors["nan.npy"] and "empty" in errors["empty.npy"] and "cannot read" in errors["corrupt.npy"]
    store = VectorStore(db)
    assert store.count("test__tiny") == 12
    assert {f["id"] for f in store.failures("test__tiny", "a")} == set(errors)
    np.save(arrays_dir / "nan.npy", np.array([1.0, 2.0], dtype=np.float32))
    _run(arrays_dir, db, work)
    assert {f["id"] for f in store.failures("test__tiny", "a")} == {"empty.npy", "corrupt.npy"}
    assert store.count("test__tiny") == 13


def test_killed_run_resumes_without_redoing(arrays_dir, tmp_path):
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    plan = plan_embedding(
        dataset=f"arrays:{arrays_dir}", encoder="test/tiny", db_uri=db, work_dir=work, shard_size=4, dataset_name="a"
    )
    embed_shard(shard_path=plan.shards[0], encoder="test/tiny", db_uri=db)  # the run dies after one shard
    resumed = plan_embedding(
        dataset=f"arrays:{arrays_dir}", encoder="test/tiny", db_uri=db, work_dir=work, shard_size=4, dataset_name="a"
    )
    assert resumed.pending == 8 and resumed.shards == plan.shards[1:]
    replay = embed_shard(
        shard_path=plan.shards[0], encoder="test/tiny", db_uri=db
    )  # a retried shard finds its work done
    assert replay.embedded == 0 and replay.skipped == 4
    assert json.loads(Path(plan.shards[0] + ".result").read_text())["skipped"] == 4


def test_batching_does_not_change_vectors(arrays_dir, tmp_path):
    for bs, name in ((1, "one"), (7, "seven")):
        db = str(tmp_path / name)
        plan = plan_embedding(
            dataset=f"arrays:{arrays_dir}",
            encoder="test/tiny",
            db_uri=db,
            work_dir=str(tmp_path / f"w{name}"),
            dataset_name="a",
        )
        [embed_shard(shard_path=p, encoder="test/tiny", db_uri=db, batch_size=bs) for p in plan.shards]
    np.testing.assert_allclose(
        load_features(str(tmp_path / "one"), "test/tiny").X,
        load_features(str(tmp_path / "seven"), "test/tiny").X,
        rtol=1e-5,
        atol=1e-5,
    )


def test_shard_plan_and_result_files_are_readable_by_their_owner_only(arrays_dir, tmp_path):
    """They hold item URIs and adapter options (which may name a private URL): mode 600, like a credentials file."""
    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    plan, _ = _run(arrays_dir, db, work)
    files = [p for p in Path(work).rglob("*") if p.is_file()]
    assert any(p.name.endswith(".result") for p in files) and any(str(p) in plan.shards for p in files)
    assert all(p.stat().st_mode & 0o077 == 0 for p in files), [(p.name, oct(p.stat().st_mode)) for p in files]


def test_an_encoder_or_adapter_that_breaks_the_contract_stops_the_run_naming_the_rule(
    arrays_dir, tmp_path, monkeypatch
):
    import pytest

    from embedforge.tasks.embed import ContractError
    from tests.fakes import ArrayFolder, TinyEncoder

    db, work = str(tmp_path / "db"), str(tmp_path / "work")
    plan = plan_embedding(dataset=f"arrays:{arrays_dir}", encoder="test/tiny", db_uri=db, work_dir=work)
    wide = lambda self, inputs: np.zeros((len(inputs), self.spec.dim + 1), np.float32)
    monkeypatch.setattr(TinyEncoder, "encode", wide)
    with pytest.raises(ContractError, match=r"test/tiny: encode\(\) of \d+ inputs returned shape \(\d+, 9\); the "
                                            r"contract is \(n, spec.dim\)"):  # fmt: skip
        embed_shard(shard_path=plan.shards[0], encoder="test/tiny", db_uri=db)
    monkeypatch.undo()
    monkeypatch.setattr(ArrayFolder, "load", lambda self, item: np.zeros(4))  # a bare array, not a Series
    with pytest.raises(ContractError, match=r"ArrayFolder.load\('s00.npy'\) returned a ndarray; the test modality's "
                                            r"adapters return Series"):  # fmt: skip
        embed_shard(shard_path=plan.shards[0], encoder="test/tiny", db_uri=db)
    assert VectorStore(db).count(plan.table) == 0  # nothing half-stored

    class NotADataset:  # duck-typed: items() and load(), but not the declared contract (shard_by, prefetch, ...)
        def items(self):
            return []

    import embedforge.tasks.embed as tasks_embed

    monkeypatch.setattr(tasks_embed, "open_dataset", lambda ref, **options: NotADataset())
    with pytest.raises(ContractError, match=r"returned a NotADataset, not an embedforge.modalities.base.Dataset"):
        plan_embedding(dataset=f"arrays:{arrays_dir}", encoder="test/tiny", db_uri=db, work_dir=work)


def test_shards_are_cut_by_file_size_so_each_holds_like_lengths(tmp_path):
    """Text in folders: shards of like-sized files (a length-sorting encoder pads little), every item once."""
    from embedforge.modalities.base import Item
    from embedforge.tasks.embed import by_file_size

    rng = np.random.default_rng(3)
    root = tmp_path / "docs"
    for i in range(40):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"d{i:02d}.txt").write_text("word " * int(rng.integers(1, 200)))
    plan = plan_embedding(dataset=f"textfolder:{root}", encoder="text/tfidf-svd", db_uri=str(tmp_path / "db"),
                          work_dir=str(tmp_path / "w"), shard_size=10, weights=f"textfolder:{root}")  # fmt: skip
    sizes = [[Path(it["uri"]).stat().st_size for it in json.loads(Path(s).read_text())["items"]] for s in plan.shards]
    assert sum(map(len, sizes)) == 40 and all(a == sorted(a) for a in sizes)
    assert all(max(a) <= min(b) for a, b in itertools.pairwise(sizes))  # shard k: longest <= next shortest
    rows = [
        Item("r1", "/data/x.csv#1", "h1"),
        Item("w", str(root / "a" / "d01.txt"), "h2"),
        Item("r0", "s3://b/k", "h3"),
    ]
    assert [it.id for it in by_file_size(rows)] == ["r1", "r0", "w"]  # not files of their own: kept first, in order


def test_a_length_sorting_encoder_gets_a_size_ordered_shard_a_few_batches_at_a_time(tmp_path):
    """Files smallest first: encoded STREAM_BATCHES batches a call while the next are tokenised; else whole."""
    from types import SimpleNamespace

    from embedforge.modalities.base import Item
    from embedforge.tasks.embed import STREAM_BATCHES, _feed

    files = []
    for i in range(300):
        path = tmp_path / f"d{i:03d}.txt"
        path.write_text("w " * (i + 1))
        files.append(Item(f"d{i}", str(path), f"h{i}"))
    sorting, plain = SimpleNamespace(sorts_by_length=True), SimpleNamespace(sorts_by_length=False)
    assert _feed(sorting, files, 8, 0) == (STREAM_BATCHES * 8, STREAM_BATCHES * 8)
    assert _feed(sorting, files[::-1], 8, 0) == (300, 0)  # not in size order: one sort of the whole shard
    rows = [Item(f"r{i}", f"/data/x.csv#{i}", f"h{i}") for i in range(300)]
    assert _feed(sorting, rows, 8, 2) == (300, 2)
    assert _feed(plain, files, 8, 2) == (8, 2)


def test_a_shard_file_being_rewritten_is_never_read_half_written(tmp_path):
    """Two runs planning the same shards write the same files: a reader sees a whole file, old or new."""
    import threading

    from embedforge.tasks.embed import write_private

    path = tmp_path / "shard.json"
    body = json.dumps({"items": ["x" * 64] * 2000})
    write_private(path, body)
    stop, bad = threading.Event(), []

    def read() -> None:
        while not stop.is_set():
            if path.read_text() != body:
                bad.append(1)

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(300):
        write_private(path, body)
    stop.set()
    reader.join()
    assert not bad and oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["shard.json"]  # no temporary left behind
