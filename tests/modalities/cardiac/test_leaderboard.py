"""Cardiac's regression cell: heart rate from simulated ECG through the leaderboard, against the mean predictor."""

import numpy as np
import pytest

from embedforge.flows.benchmark import run_benchmark
from embedforge.flows.params import BenchmarkParams
from embedforge.registry.datasets import open_dataset

DATASET = "ecgsim:30"  # 30 records of 10 s, heart rates drawn in 50..120 bpm, 9 held out


@pytest.mark.slow
def test_heart_rate_regression_cell_beats_the_mean_predictor(prefect_harness, tmp_path):
    import mlflow

    params = BenchmarkParams(
        modality="cardiac",
        encoders=["cardiac/spectrum"],
        datasets=[DATASET],
        heads=["regress/ridge", "regress/pls"],
        target="heart_rate",
        db=str(tmp_path / "db"),
        tracking_uri=f"sqlite:///{tmp_path}/ml.db",
    )
    rows = run_benchmark(params)["rows"]
    items = open_dataset(DATASET).items()
    rate = {s: np.array([it.labels["heart_rate"] for it in items if it.split == s]) for s in ("train", "test")}
    baseline = np.abs(rate["train"].mean() - rate["test"]).mean()
    assert {r["head"] for r in rows} == {"regress/ridge", "regress/pls"}
    for row in rows:
        assert row["task"] == "regression" and row["label"] == "heart_rate"
        assert (row["n_train"], row["n_test"]) == (len(rate["train"]), len(rate["test"]))
        print(f"{row['head']}: MAE {row['mae']:.2f} bpm, R² {row['r2']:.2f}; mean predictor MAE {baseline:.2f} bpm")
        assert baseline > 5 and row["mae"] < 0.25 * baseline and row["rmse"] >= row["mae"] and row["r2"] > 0.5
        assert np.isnan(row["accuracy"])
        assert "parity.png" in {a.path for a in mlflow.MlflowClient().list_artifacts(row["run_id"])}
