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


def test_a_slide_in_a_diagnosis_out_locally_and_served(cohort, cohort_db, tmp_path, monkeypatch):
    """The registered classifier tiles and embeds an unseen-format request (the slide file itself) the way it was
    trained: the same answer as the stored tile vectors of that slide give, locally and through the served model."""
    import base64
    import json

    from embedforge.tasks.slide_predict import predict_slide

    root = cohort[0]
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    train_slide_head(db_uri=cohort_db, encoder=ENCODER, dataset=cohort_name(cohort), head="mil/abmil",
                     tracking_uri=tracking, params={"max_epochs": 5}, slides=f"slides:{root}",
                     registered_name="slides-e2e", max_heatmaps=0)  # fmt: skip
    mlflow.set_tracking_uri(tracking)
    model = mlflow.pyfunc.load_model("models:/slides-e2e@champion")
    feats = load_features(cohort_db, ENCODER, cohort_name(cohort))
    stored = feats.X[np.array(feats.group) == "slide001"]
    from_vectors = model.predict(pd.DataFrame({"tiles": [stored.tolist()]}))
    example = model.metadata.load_input_example(mlflow.artifacts.download_artifacts("models:/slides-e2e@champion"))
    assert np.asarray(example["tiles"][0]).shape == (4, stored.shape[1])  # a training slide's first tiles
    assert model.predict(example)["label"][0] in ("normal", "tumor")

    ticks = []
    answer = predict_slide("models:/slides-e2e@champion", str(root / "slide001.tiff"), tracking,
                           heatmap=str(tmp_path / "heat.png"), progress=lambda *t: ticks.append(t))  # fmt: skip
    assert answer["tiles"] == len(stored) and answer["label"] == from_vectors["label"][0]
    assert ticks[0] == (0, None, "slide001: finding tissue")  # the CLI's bar: tissue search, then tiles embedded
    assert ticks[-1] == (len(stored), len(stored), "slide001: embedding tissue tiles")
    for c, p in answer["probabilities"].items():
        assert p == pytest.approx(from_vectors[f"p_{c}"][0], abs=1e-4)
    assert len(answer["top_tiles"]) == min(10, len(stored)) and (tmp_path / "heat.png").stat().st_size > 10_000

    upload = base64.b64encode((root / "slide001.tiff").read_bytes()).decode()
    served = model.predict(pd.DataFrame({"slide": [upload]}))
    assert served["label"][0] == answer["label"] and served["tiles"][0] == len(stored)
    assert served["p_tumor"][0] == pytest.approx(answer["probabilities"]["tumor"], abs=1e-5)
    top = json.loads(served["top_tiles"][0])
    assert {"x", "y", "extent", "attention"} <= set(top[0])
    with pytest.raises(Exception, match="local file paths are not accepted"):
        model.predict(pd.DataFrame({"slide": [f"file://{root / 'slide001.tiff'}"]}))
    monkeypatch.setenv("EMBEDFORGE_SERVE_ALLOWED_ROOTS", str(root))
    by_path = model.predict(pd.DataFrame({"slide": [f"file://{root / 'slide001.tiff'}"]}))
    assert by_path["label"][0] == answer["label"]
    with pytest.raises(Exception, match="row 0: not a readable slide"):
        model.predict(pd.DataFrame({"slide": [base64.b64encode(b"not a slide at all" * 10).decode()]}))


def test_predict_command_answers_for_the_real_cmu_slide(cohort, cohort_db, tmp_path):
    """`embedforge predict` on a real Aperio SVS the head never saw: tiled at the training recipe, an answer
    with probabilities, the most-attended tiles inside the slide, and a heatmap."""
    from typer.testing import CliRunner

    from embedforge.flows.cli import build_app
    from tests.modalities.pathology.test_slides import _cmu

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    train_slide_head(db_uri=cohort_db, encoder=ENCODER, dataset=cohort_name(cohort), head="mil/abmil",
                     tracking_uri=tracking, params={"max_epochs": 3}, slides=f"slides:{cohort[0]}",
                     registered_name="slides-cmu", max_heatmaps=0)  # fmt: skip
    args = ["predict", str(_cmu()), "--model", "slides-cmu@champion", "--tracking-uri", tracking,
            "--heatmap", str(tmp_path / "cmu.png")]  # fmt: skip
    out = CliRunner().invoke(build_app(), args, env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "cmu_small_region.svs" in out.output and "tissue tiles" in out.output and "p(tumor)" in out.output
    assert "most-attended tiles" in out.output and (tmp_path / "cmu.png").stat().st_size > 10_000
    missing = CliRunner().invoke(build_app(), [*args[:3], "nope@champion", "--tracking-uri", tracking])
    assert missing.exit_code == 1 and "Traceback" not in missing.output, missing.output
