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
