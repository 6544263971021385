"""The leaderboard's transform column: accuracy read against bytes per vector, cached like any other cell."""

import csv

import pytest

from embedforge.flows.params import BenchmarkParams
from embedforge.tasks.embed import embed_shard, plan_embedding
from embedforge.tasks.leaderboard import score_pair
from embedforge.tasks.report import pivot, write_csv


def test_each_transform_is_a_cell_with_its_bytes_per_vector(arrays_dir, tmp_path):
    db, ref = str(tmp_path / "db"), f"arrays:{arrays_dir}"
    plan = plan_embedding(
        dataset=ref, encoder="test/tiny", db_uri=db, work_dir=str(tmp_path / "work"), dataset_name="a"
    )
    for path in plan.shards:
        embed_shard(shard_path=path, encoder="test/tiny", db_uri=db)
    args = dict(
        db=db, encoder="test/tiny", weights=None, dataset_ref=ref, dataset_name="a", augment=[],
        heads=["classify/logreg"], label="label", tracking_uri=f"sqlite:///{tmp_path}/ml.db", experiment="tf",
        transforms=["none", "pca:4", "binary"],
    )  # fmt: skip
    cold = score_pair(**args)
    got = {r["transform"]: r for r in cold}
    assert set(got) == {"none", "pca:4", "binary"} and not any(r["cached"] for r in cold)
    assert (got["none"]["bytes_per_vector"], got["pca:4"]["bytes_per_vector"], got["binary"]["bytes_per_vector"]) == (
        32,
        16,
        1,
    )
    assert len({r["run_id"] for r in cold}) == 3  # one MLflow run per cell
    warm = score_pair(**args)
    assert all(r["cached"] for r in warm) and {r["transform"]: r["bytes_per_vector"] for r in warm} == {
        "none": 32,
        "pca:4": 16,
        "binary": 1,
    }
    labels, _, _ = pivot(cold, "accuracy")
    assert {label.split(" | ")[1] for label in labels} == {"none", "none + pca:4", "none + binary"}
    with open(write_csv(cold, str(tmp_path / "board.csv"))) as f:
        assert float({r["transform"]: r["bytes_per_vector"] for r in csv.DictReader(f)}["pca:4"]) == 16


def test_unknown_transforms_are_refused_in_the_parameters():
    assert BenchmarkParams(transforms=["none", "whiten:16", "int8"]).transforms == ["none", "whiten:16", "int8"]
    for bad in (["pcaa:4"], ["pca:x"], ["pca:0"]):
        with pytest.raises(ValueError, match="unknown transform"):
            BenchmarkParams(transforms=bad)


def test_benchmark_defaults_come_from_the_modality_and_augmentations_from_the_registry():
    from pydantic import ValidationError

    from embedforge.flows.params import BenchmarkParams

    assert BenchmarkParams().encoders == ["timeseries/minirocket"]
    assert BenchmarkParams().datasets == ["GunPoint", "ItalyPowerDemand"]
    cardiac = BenchmarkParams(modality="cardiac")
    assert cardiac.encoders == ["cardiac/spectrum"] and cardiac.datasets == ["ecgsim:60"]
    text = BenchmarkParams(modality="text", datasets=["textfolder:/x"], options={"chunks": "rows"})
    assert text.encoders == ["text/tfidf-svd", "text/all-minilm-l6-v2"] and text.options == {"chunks": "rows"}
    with pytest.raises(ValidationError, match=r"benchmark text: name the datasets \(e.g. textfolder:DIR\)"):
        BenchmarkParams(modality="text")
    with pytest.raises(ValidationError, match="unknown augmentation 'jitter'; registered: diff, stats"):
        BenchmarkParams(augment=["jitter"])


def test_adapter_options_reach_the_pending_count(tmp_path):
    from embedforge.tasks.embed import pending_count

    root = tmp_path / "docs" / "a"
    root.mkdir(parents=True)
    (root / "long.txt").write_text(" ".join(["word"] * 400))
    ref = f"textfolder:{tmp_path / 'docs'}"
    db = str(tmp_path / "db")
    assert pending_count(dataset=ref, encoder="text/tfidf-svd", db_uri=db) == 1
    assert pending_count(dataset=ref, encoder="text/tfidf-svd", db_uri=db, options={"chunks": "rows"}) == 3
