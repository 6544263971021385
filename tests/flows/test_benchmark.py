"""The leaderboard flow on real offline UCR data: embeds, scores, publishes, and reruns from cache."""

import csv
import math

import pytest

from embedforge.flows.benchmark import run_benchmark
from embedforge.flows.cli.benchmark import pairs_done
from embedforge.flows.params import BenchmarkParams
from embedforge.tasks.progress import append_event, read_events
from embedforge.tasks.resolve import dataset_ref


def test_dataset_refs():
    assert dataset_ref(name="GunPoint", modality_name="timeseries") == "ucr:GunPoint"
    assert dataset_ref(name="/data/UCR/Wine", modality_name="timeseries") == "ucr:/data/UCR/Wine"
    assert dataset_ref(name="ucr:ArrowHead", modality_name="timeseries") == "ucr:ArrowHead"


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
        progress=str(tmp_path / "progress.jsonl"),
    )
    cold = run_benchmark(params)
    assert len(cold["rows"]) == 4 and not any(r["cached"] for r in cold["rows"])
    events = read_events(tmp_path / "progress.jsonl")  # what the CLI's bar is drawn from
    assert [e["event"] for e in events] == ["embedding", "cell", "cell", "cell", "cell", "pair"]
    assert events[0] == {"event": "embedding", "encoder": "timeseries/minirocket", "dataset": "ucr-ItalyPowerDemand",
                         "items": 1096}  # fmt: skip
    assert pairs_done(str(tmp_path / "progress.jsonl"), 1) == (1, 1, None)
    with open(tmp_path / "board.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:5] == ["encoder", "dataset", "augmentation", "head", "accuracy"]
    assert {"macro_f1", "auc", "mae", "rmse", "r2"} <= set(rows[0])
    assert all(r["mae"] == r["rmse"] == r["r2"] == "" for r in rows)  # no regression head ran
    assert {r["augmentation"] for r in rows} == {"none", "stats"}
    ridge = next(r for r in cold["rows"] if r["head"] == "classify/ridge" and r["augmentation"] == "none")
    assert ridge["accuracy"] > 0.9  # MiniRocket on ItalyPowerDemand: 0.96 published
    assert ridge["macro_f1"] > 0.9 and ridge["auc"] > 0.95  # two balanced classes: AUC from decision scores
    assert math.isnan(ridge["mae"]) and ridge["task"] == "classification"
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(cold["run_id"])}
    assert {"leaderboard.csv", "leaderboard.png", "leaderboard.md"} <= names
    cell_files = {a.path for a in mlflow.MlflowClient().list_artifacts(ridge["run_id"])}
    assert "confusion.png" in cell_files
    cell = mlflow.MlflowClient().get_run(ridge["run_id"])
    assert cell.info.run_name == "classify/ridge · minirocket · ucr-ItalyPowerDemand"  # head first: distinct in a list
    assert {"encoder": "timeseries/minirocket", "head": "classify/ridge", "task": "classification",
            "modality": "timeseries", "dataset": "ucr-ItalyPowerDemand"}.items() <= cell.data.tags.items()  # fmt: skip
    (used,) = cell.inputs.dataset_inputs
    assert used.dataset.name == "ucr-ItalyPowerDemand" and len(used.dataset.digest) == 16

    warm = run_benchmark(params)
    assert all(r["cached"] for r in warm["rows"])
    for key in ("accuracy", "macro_f1", "auc"):
        assert [r[key] for r in warm["rows"]] == [r[key] for r in cold["rows"]]


def _cell(head, task, label, **metrics):
    nan = float("nan")
    row = dict(encoder="e", dataset="d", augmentation="none", head=head, task=task, label=label, n_train=5, n_test=3)
    return {**row, **{m: nan for m in ("accuracy", "macro_f1", "auc", "mae", "rmse", "r2")}, **metrics}


def test_the_bar_names_the_phase_and_counts_scored_pairs(tmp_path):
    path = str(tmp_path / "p.jsonl")
    assert pairs_done(path, 4) == (4, 0, None)  # no file yet: nothing done
    append_event(path, event="embedding", encoder="speech/ge2e", dataset="voices", items=24)
    assert pairs_done(path, 4) == (4, 0, "embedding voices with speech/ge2e (24 items)")
    append_event(path, event="cell", encoder="speech/ge2e", dataset="voices", head="classify/logreg", combo=[])
    assert pairs_done(path, 4)[2] == "scoring speech/ge2e x voices: classify/logreg"
    append_event(path, event="pair", encoder="speech/ge2e", dataset="voices")
    with open(path, "a") as f:
        f.write('{"event": "pa')  # a line being written is read next time, not half
    assert pairs_done(path, 4) == (4, 1, None)


def test_printed_leaderboard_has_one_table_per_task(capsys):
    from embedforge.flows.cli.benchmark import print_leaderboard

    print_leaderboard(
        [
            _cell("classify/rf", "classification", "rhythm", accuracy=0.7, macro_f1=0.6, auc=0.8),
            _cell("classify/logreg", "classification", "rhythm", accuracy=0.9, macro_f1=0.85, auc=float("nan")),
            _cell("regress/pls", "regression", "heart_rate", mae=2.0, rmse=3.0, r2=0.7),
        ]
    )
    out = capsys.readouterr().out
    assert "classification of rhythm" in out and "regression of heart_rate" in out
    assert "0.700 / 0.600 / 0.800" in out and "0.900 / 0.850 / -" in out and "2.000 / 3.000 / 0.700" in out
    assert out.index("classification of") < out.index("regression of")
