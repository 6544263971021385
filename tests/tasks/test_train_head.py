"""Any modality's head: trained on stored vectors, logged, registered, and served from raw input or vectors."""

from __future__ import annotations

import base64
import io

import mlflow
import numpy as np
import pandas as pd
import pytest

from embedforge.modalities.base import Series
from embedforge.registry.encoders import build_encoder
from embedforge.tasks.embed import embed_shard, plan_embedding
from embedforge.tasks.pyfunc import load_checked_encoder
from embedforge.tasks.train_head import train_head


@pytest.fixture
def stored(arrays_dir, tmp_path):
    db = str(tmp_path / "db")
    plan = plan_embedding(
        dataset=f"arrays:{arrays_dir}", encoder="test/tiny", db_uri=db, work_dir=str(tmp_path / "w"), dataset_name="a"
    )
    for shard in plan.shards:
        embed_shard(shard_path=shard, encoder="test/tiny", db_uri=db)
    return db


def _b64_npy(path) -> str:
    buf = io.BytesIO()
    np.save(buf, np.load(path))
    return base64.b64encode(buf.getvalue()).decode()


def test_classifier_is_registered_and_served_from_raw_series_and_vectors(stored, arrays_dir, tmp_path):
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = train_head(
        db_uri=stored,
        encoder="test/tiny",
        head="classify/logreg",
        label="label",
        tracking_uri=tracking,
        registered_name="toy-clf",
    )
    assert out["task"] == "classification" and out["metrics"]["accuracy"] >= 0.75
    assert set(out["models"]) == {"series", "vector"}
    mlflow.set_tracking_uri(tracking)
    try:
        run = mlflow.get_run(out["run_id"])
        assert "confusion.png" in [a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)]
        assert run.info.run_name == "classify/logreg · a · test/tiny"  # head first: distinct in a run list
        tags = run.data.tags
        assert {k: tags[k] for k in ("encoder", "dataset", "head", "task")} == {
            "encoder": "test/tiny", "dataset": "a", "head": "classify/logreg", "task": "classification"}  # fmt: skip
        (used,) = run.inputs.dataset_inputs
        assert used.dataset.name == "a" and len(used.dataset.digest) == 16 and used.tags[0].value == "training"
        experiment = mlflow.get_experiment(run.info.experiment_id)
        assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
        assert "Heads trained on stored embedding vectors" in experiment.tags["mlflow.note.content"]
        described = mlflow.MlflowClient().get_registered_model("toy-clf-head").description
        assert described.startswith("classification of 'label' by classify/logreg, trained on test/tiny")
        assert '{"inputs": [[8 floats], ...]}' in described
        raw = mlflow.pyfunc.load_model("models:/toy-clf@champion")
        head = mlflow.pyfunc.load_model("models:/toy-clf-head@champion")
        files = sorted(arrays_dir.glob("s*.npy"))[8:]  # the test split
        by_raw = raw.predict(pd.DataFrame({"series": [_b64_npy(f) for f in files]}))
        enc = build_encoder("test/tiny")
        vectors = enc.encode([enc.preprocess(Series(np.load(f)), f.name) for f in files])
        by_vec = head.predict(pd.DataFrame({"vector": [v.tolist() for v in vectors]}))
        # the raw model's input example: a stored item's own bytes (the smallest file), what a caller sends
        example = raw.metadata.load_input_example(
            mlflow.artifacts.download_artifacts(out["models"]["series"]["model_uri"])
        )
        smallest = min(sorted(arrays_dir.glob("s*.npy")), key=lambda f: (f.stat().st_size, str(f)))
        assert list(example.columns) == ["series"] and base64.b64decode(example["series"][0]) == smallest.read_bytes()
        assert raw.predict(example)["label"][0] in ("0", "1")  # the served model answers its own example
    finally:
        mlflow.set_tracking_uri(None)
    assert list(by_raw["label"]) == list(by_vec["label"])
    assert {"prob", "prob_0", "prob_1"} <= set(by_raw.columns)
    np.testing.assert_allclose(by_raw["prob_0"] + by_raw["prob_1"], 1.0, atol=1e-6)


def test_regressor_predicts_numbers(stored, tmp_path):
    out = train_head(
        db_uri=stored,
        encoder="test/tiny",
        head="regress/ridge",
        label="label",
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        registered_name="toy-reg",
    )
    assert out["task"] == "regression" and {"mae", "rmse", "r2"} <= set(out["metrics"])


def test_a_different_encoder_recipe_is_refused_at_load(stored):
    from embedforge.tasks.features import load_features

    identity = load_features(stored, "test/tiny").identity
    meta = {"input": "series", "encoder": {**identity, "input": {**identity["input"], "frames": 4}}}
    with pytest.raises(RuntimeError, match="input recipe"):
        load_checked_encoder(meta)
    load_checked_encoder({"input": "series", "encoder": identity})  # the recorded recipe loads


def test_every_vector_head_takes_the_tensor_body_and_logs_an_input_example(stored, tmp_path):
    """`{"inputs": [[...]]}` (the README's body) and `dataframe_records` both answer, through MLflow's scoring code."""
    import json

    from mlflow.pyfunc.scoring_server import invocations

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = train_head(db_uri=stored, encoder="test/tiny", head="classify/logreg", label="label",
                     tracking_uri=tracking, registered_name="toy-body")  # fmt: skip
    mlflow.set_tracking_uri(tracking)
    try:
        model = mlflow.pyfunc.load_model("models:/toy-body-head@champion")
        example = model.metadata.load_input_example(
            mlflow.artifacts.download_artifacts(out["models"]["vector"]["model_uri"])
        )
    finally:
        mlflow.set_tracking_uri(None)
    assert example is not None
    dim = model.metadata.get_input_schema().inputs[0].shape[1]
    vec = [0.1] * dim
    schema = model.metadata.get_input_schema()
    answers = [
        invocations(json.dumps(body), "application/json", model, schema)
        for body in ({"inputs": [vec, vec]}, {"dataframe_records": [{"vector": vec}, {"vector": vec}]})
    ]
    assert [a.status for a in answers] == [200, 200], [a.response for a in answers]
    assert answers[0].response == answers[1].response
