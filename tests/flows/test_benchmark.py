"""The leaderboard flow on real offline UCR data: embeds, scores, publishes, and reruns from cache."""

import csv

import pytest

from embedforge.flows.benchmark import dataset_ref, run_benchmark
from embedforge.flows.params import BenchmarkParams


def test_dataset_refs():
    assert dataset_ref("GunPoint", "timeseries") == "ucr:GunPoint"
    assert dataset_ref("/data/UCR/Wine", "timeseries") == "ucr:/data/UCR/Wine"
    assert dataset_ref("ucr:ArrowHead", "timeseries") == "ucr:ArrowHead"


@pytest.mark.slow
def test_leaderboard_cold_then_cached(prefect_harness, tmp_path):
    import mlflow

    params = BenchmarkParams(
        encoders=["timeseries/minirocket"],
        datasets=["ItalyPowerDemand"],
        augment=["stats"],
        heads=["classify/ridge", "classify/logreg"],
        db=str(tmp_path / "db"),
        tracking_uri=f"sqlite:///{tmp_path}/ml.db",
        output_csv=str(tmp_path / "board.csv"),
    )
    cold = run_benchmark(params)
    assert len(cold["rows"]) == 4 and not any(r["cached"] for r in cold["rows"])
    with open(tmp_path / "board.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"encoder", "dataset", "augmentation", "head", "accuracy"} <= set(rows[0])
    assert {r["augmentation"] for r in rows} == {"none", "stats"}
    ridge = next(r for r in cold["rows"] if r["head"] == "classify/ridge" and r["augmentation"] == "none")
    assert ridge["accuracy"] > 0.9  # MiniRocket on ItalyPowerDemand: 0.96 published
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(cold["run_id"])}
    assert {"leaderboard.csv", "leaderboard.png", "leaderboard.md"} <= names

    warm = run_benchmark(params)
    assert all(r["cached"] for r in warm["rows"])
    assert [r["accuracy"] for r in warm["rows"]] == [r["accuracy"] for r in cold["rows"]]
