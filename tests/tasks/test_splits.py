"""Split hygiene at `train head`: no test item seen in training, one dataset unless asked, no thin-split champion."""

from __future__ import annotations

import shutil

import mlflow
import numpy as np
import pytest

from embedforge.tasks.embed import embed_shard, plan_embedding
from embedforge.tasks.splits import SplitError, check_split, leak_mask
from embedforge.tasks.train_head import train_head


def _store(db: str, folder, name: str, work) -> None:
    plan = plan_embedding(
        dataset=f"arrays:{folder}", encoder="test/tiny", db_uri=db, work_dir=str(work), dataset_name=name
    )
    for shard in plan.shards:
        embed_shard(shard_path=shard, encoder="test/tiny", db_uri=db)


def _relabel(src, dst, split_of) -> None:
    """A copy of the arrays folder with the same files and another split column."""
    shutil.copytree(src, dst)
    lines = (src / "labels.csv").read_text().splitlines()
    out = [lines[0]]
    for i, line in enumerate(lines[1:]):
        ident, label, _, group = line.split(",")
        out.append(f"{ident},{label},{split_of(i)},{group}")
    (dst / "labels.csv").write_text("\n".join(out) + "\n")


def _train(db, tmp_path, **kw):
    return train_head(
        db_uri=db,
        encoder="test/tiny",
        head="classify/logreg",
        label="label",
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        **kw,
    )


@pytest.fixture
def two_names(arrays_dir, tmp_path):
    """The same twelve files stored as dataset ``a`` (8 train, 4 test) and as ``b`` (all test)."""
    db = str(tmp_path / "db")
    _store(db, arrays_dir, "a", tmp_path / "wa")
    _relabel(arrays_dir, tmp_path / "copy", lambda i: "test")
    _store(db, tmp_path / "copy", "b", tmp_path / "wb")
    return db


def test_training_over_every_dataset_must_be_asked_for(two_names, tmp_path):
    with pytest.raises(SplitError, match=r"2 datasets .*--dataset"):
        _train(two_names, tmp_path)


def test_test_items_with_training_content_are_dropped_and_reported(two_names, tmp_path):
    out = _train(two_names, tmp_path, dataset="a,b", registered_name="leak")
    # b's copies of a's 8 training files are dropped; a's 4 test files and b's copies of them stay
    assert out["split"]["n_test"] == 8 and out["split"]["n_leaked_dropped"] == 8
    assert sorted(out["leaked"]) == sorted(f"s{i:02d}.npy" for i in range(8))
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        params = mlflow.get_run(out["run_id"]).data.params
    finally:
        mlflow.set_tracking_uri(None)
    assert params["n_leaked_dropped"] == "8" and params["n_test"] == "8"


def test_a_class_without_training_items_is_an_error_and_allow_small_is_no_champion(arrays_dir, tmp_path):
    thin = tmp_path / "thin"
    _relabel(arrays_dir, thin, lambda i: "train" if i in (0, 2, 4, 1) else "test")  # one training item of class 1
    db = str(tmp_path / "db")
    _store(db, thin, "thin", tmp_path / "w")
    with pytest.raises(SplitError, match=r"class.*1 with < 2 training items"):
        _train(db, tmp_path, registered_name="thin")
    out = _train(db, tmp_path, registered_name="thin", allow_small=True)
    assert "1 with < 2" in out["split"]["split_checks"]
    assert all(m["alias"] is None and m["version"] is not None for m in out["models"].values())
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        aliases = mlflow.MlflowClient().get_registered_model("thin").aliases
    finally:
        mlflow.set_tracking_uri(None)
    assert "champion" not in aliases


def test_check_split_counts_and_minimums():
    y = np.array(["x", "x", "y", "y", "x", "y", "z", "x"])
    train = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    with pytest.raises(SplitError, match="z in test but absent from training"):
        check_split(y, train, ~train, "classification", [], allow_small=False)
    report = check_split(y, train, ~train, "classification", [], allow_small=True)
    assert report.train_counts == {"x": 2, "y": 2} and report.test_counts == {"x": 2, "y": 1, "z": 1}
    assert not report.passed
    few = np.array([1, 1, 1, 1, 1, 1, 0, 0], dtype=bool)
    with pytest.raises(SplitError, match="2 test item"):
        check_split(np.zeros(8), few, ~few, "regression", [], allow_small=False)


def test_leak_mask_matches_content_not_ids():
    hashes = ["h1", "h2", "h1", "h3"]
    train = np.array([True, True, False, False])
    assert list(leak_mask(hashes, train, ~train)) == [False, False, True, False]
