"""``embedforge benchmark video``: UCF101-layout clips through the real EfficientNet-Lite0 onto the leaderboard."""

import csv

import pytest

from embedforge.flows.benchmark import run_benchmark
from embedforge.flows.params import BenchmarkParams
from embedforge.modalities.video import synth


@pytest.mark.slow
def test_video_leaderboard_on_ucf101_layout(prefect_harness, tmp_path):
    root = synth.ucf_layout(tmp_path / "ucf", per_class=4, test_groups=2, n=8, size=48)  # 6 test clips
    params = BenchmarkParams(
        modality="video",
        encoders=["video/efficientnet-lite0"],
        datasets=[f"ucf101:{root}"],
        heads=["classify/logreg"],
        db=str(tmp_path / "db"),
        tracking_uri=f"sqlite:///{tmp_path}/ml.db",
        output_csv=str(tmp_path / "board.csv"),
    )
    result = run_benchmark(params)
    (row,) = result["rows"]
    assert (row["encoder"], row["head"], row["n_train"], row["n_test"]) == (
        "video/efficientnet-lite0",
        "classify/logreg",
        6,
        6,
    )
    assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["macro_f1"] <= 1.0
    with open(tmp_path / "board.csv") as f:
        assert list(next(csv.DictReader(f)))[:5] == ["encoder", "dataset", "augmentation", "head", "accuracy"]
