"""Slide-level training: bags from the store, a MIL head fitted on train slides, scored on test slides,
attention heatmaps over slide thumbnails, the head logged and registered as a served slide classifier.

The pathology pieces (bags, MIL heads, the served bag format, heatmaps) live in ``embedforge.modalities.pathology``;
what reads the store, tracks the run and serves the model is here, in the tasks layer.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from embedforge.modalities.base import BadRequest
from embedforge.modalities.pathology.serving import predict_bags, slide_signature
from embedforge.tasks.pyfunc import _mlflow_error

try:
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover - mlflow is a hard dependency
    PythonModel = object  # type: ignore[misc,assignment]


class SlideModel(PythonModel):
    """Loads a fitted MIL head; each request row is one slide's bag of tile vectors."""

    def load_context(self, context) -> None:
        import joblib

        self.head = joblib.load(context.artifacts["head"])
        self.meta = json.loads(Path(context.artifacts["meta"]).read_text())

    def predict(self, context, model_input, params=None):
        try:
            return predict_bags(self.head, self.meta, model_input)
        except BadRequest as exc:
            raise _mlflow_error(str(exc), "INVALID_PARAMETER_VALUE") from None


def log_slide_head(head, meta: dict[str, Any], example: np.ndarray, registered_name: str | None, alias: str | None):
    """Log the head as a SlideModel pyfunc in the active run; register and alias it when a name is given."""
    from embedforge.tasks.tracking import log_head

    signature = slide_signature(head, meta, example)
    return log_head(head, meta, signature, registered_name, alias, python_model=SlideModel())


def train_slide_head(
    *,
    db_uri: str,
    encoder: str,
    tracking_uri: str,
    artifact_root: str | None = None,
    dataset: str | None = None,
    head: str = "mil/abmil",
    label: str = "label",
    weights: str | None = None,
    params: dict[str, Any] | None = None,
    slides: str | None = None,
    registered_name: str | None = None,
    alias: str | None = "champion",
    experiment: str = "pathology",
    max_heatmaps: int = 8,
) -> dict[str, Any]:
    """Fit on stored tile vectors only; ``slides`` (a ``slides:DIR`` ref) adds heatmaps of the test slides."""
    import mlflow

    from embedforge.modalities.pathology.bags import fit_bags
    from embedforge.modalities.pathology.mil import bag_metrics
    from embedforge.registry.heads import build_head
    from embedforge.tasks.features import load_features
    from embedforge.tasks.tracking import use_tracking

    feats = load_features(db_uri, encoder, dataset, weights)
    model, bags, train, test = fit_bags(build_head(head, **(params or {})), feats, feats.X, label)
    proba = model.predict_proba([bags.bag(feats.X, k) for k in test])
    metrics = {
        f"test_{k}": v for k, v in bag_metrics(np.array([bags.y[k] for k in test]), proba, model.classes_).items()
    }
    use_tracking(tracking_uri, experiment, artifact_root)
    with mlflow.start_run(run_name=f"{encoder}|{head}") as run:
        mlflow.set_tag("embedforge.kind", "slide-head")
        mlflow.log_params({"encoder": encoder, "encoder_fingerprint": feats.identity["fingerprint"], "head": head,
                           "label": label, "train_slides": len(train), "test_slides": len(test),
                           **{f"head_{k}": v for k, v in model.get_params().items()}})  # fmt: skip
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        fitted = {
            "val_auc": "val_auc_",
            "val_loss": "val_loss_",
            "best_epoch": "best_epoch_",
            "epochs_run": "n_epochs_",
        }
        found = {k: float(getattr(model, a)) for k, a in fitted.items() if getattr(model, a, None) is not None}
        mlflow.log_metrics({k: v for k, v in found.items() if np.isfinite(v)})  # the preset is in the head_* params
        if slides:
            log_heatmaps(model, feats, bags, test[:max_heatmaps], proba, slides)
        meta = {"input": "tiles", "encoder": feats.identity, "encoder_weights": weights, "head": head, "task": "slide"}
        logged = log_slide_head(model, meta, bags.bag(feats.X, train[0]), registered_name, alias)
    return {"run_id": run.info.run_id, "metrics": metrics, "model": logged}


def log_heatmaps(model, feats, bags, test: list[int], proba: np.ndarray, slides_ref: str) -> None:
    """Attention of each test slide drawn over its thumbnail, one MLflow image per slide."""
    import mlflow

    from embedforge.modalities.pathology.heatmap import heatmap_figure
    from embedforge.registry.datasets import open_dataset

    ds: Any = open_dataset(slides_ref)
    files = {str(p.relative_to(ds.root).with_suffix("")): p for p in ds.slide_files()}
    with tempfile.TemporaryDirectory() as tmp:
        for j, k in enumerate(test):
            path = files.get(bags.slides[k]) or files.get(Path(bags.slides[k]).name)
            if path is None:
                continue
            rows = bags.rows[k]
            coords = [feats.labels[i] for i in rows]
            guess = model.classes_[proba[j].argmax()]
            title = f"{bags.slides[k]} — true: {bags.y[k]} · predicted: {guess} (p = {proba[j].max():.2f})"
            fig = heatmap_figure(str(path), coords, model.attention(feats.X[rows]), title)
            out = Path(tmp) / f"{Path(bags.slides[k]).name}.png"
            fig.savefig(out, bbox_inches="tight", pad_inches=0.05)
            mlflow.log_artifact(str(out), artifact_path="heatmaps")
