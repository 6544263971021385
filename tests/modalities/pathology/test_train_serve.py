"""Slide-level training entry point: metrics, heatmaps in MLflow, and the registered slide classifier served."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from embedforge.tasks.features import load_features
from embedforge.tasks.train_slides import train_slide_head
from tests.modalities.pathology.conftest import ENCODER, cohort_name


def test_r2t_trained_logged_and_served(cohort, cohort_db, tmp_path):
    root = cohort[0]
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = train_slide_head(db_uri=cohort_db, encoder=ENCODER, dataset=cohort_name(cohort), head="mil/r2t",
                           tracking_uri=tracking, params={"max_epochs": 20}, slides=f"slides:{root}",
                           registered_name="slides-r2t", max_heatmaps=3)  # fmt: skip
    assert set(out["metrics"]) == {"test_accuracy", "test_balanced_accuracy", "test_auc", "test_macro_f1"}
    assert out["metrics"]["test_accuracy"] >= 0.8, out["metrics"]
    client = mlflow.MlflowClient(tracking)
    heatmaps = [a.path for a in client.list_artifacts(out["run_id"], "heatmaps")]
    assert len(heatmaps) == 3 and all(p.endswith(".png") for p in heatmaps)
    assert client.get_run(out["run_id"]).data.params["head"] == "mil/r2t"

    model = mlflow.pyfunc.load_model("models:/slides-r2t@champion")
    feats = load_features(cohort_db, ENCODER, cohort_name(cohort))
    groups = np.array(feats.group)
    bags = {s: feats.X[groups == s] for s in ("slide000", "slide001")}
    pred = model.predict(pd.DataFrame({"tiles": [b.tolist() for b in bags.values()]}))
    assert list(pred.columns) == ["label", "p_normal", "p_tumor", "attention"]
    assert [len(a) for a in pred["attention"]] == [16, 16]
    np.testing.assert_allclose(pred["p_normal"] + pred["p_tumor"], 1, atol=1e-5)
    with pytest.raises(Exception, match="1280 values"):
        model.predict(pd.DataFrame({"tiles": [[[0.0] * 5]]}))


@pytest.mark.slow
def test_train_slides_command_registers_a_slide_classifier(cohort, cohort_db, tmp_path):
    import subprocess
    import sys

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["--home", str(tmp_path / "home"), "train", "slides", "--db", cohort_db, "--dataset", cohort_name(cohort),
            "--head", "mil/mean", "--tracking-uri", tracking, "--name", "cli-slides"]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "embedforge.flows.cli", *args], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_accuracy" in done.stdout and "models:/cli-slides@champion" in done.stdout
    version = mlflow.MlflowClient(tracking).get_model_version_by_alias("cli-slides", "champion")
    assert str(version.version) == "1"
