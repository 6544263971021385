"""Slide-level training: bags from the store, a MIL head fitted on train slides, scored on test slides,
attention heatmaps over slide thumbnails, the head logged and registered as a served slide classifier.

The pathology pieces (bags, MIL heads, the served bag format, heatmaps) live in ``embedforge.modalities.pathology``;
what reads the store, tracks the run and serves the model is here, in the tasks layer.
"""

from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from embedforge.modalities.base import BadRequest, ItemError
from embedforge.modalities.pathology.serving import SLIDE, TILES, predict_bags, slide_signature
from embedforge.tasks.pyfunc import _mlflow_error

try:
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover - mlflow is a hard dependency
    PythonModel = object  # type: ignore[misc,assignment]


EXAMPLE_TILES = 4  # the input example: a training slide's first tiles (a bag of any size is a valid request)


class SlideModel(PythonModel):
    """Loads a fitted MIL head. A request row is one slide: its bag of tile vectors (``tiles``), or the slide
    itself (``slide``: a ``file://`` path under the allowed roots, or the file base64-encoded), tiled with the
    recipe the head was trained on and embedded by the same encoder (checked by fingerprint, loaded on first use).
    """

    _skip_type_hint_validation = True  # the explicit signature checks requests (HeadModel says why)

    def load_context(self, context) -> None:
        import joblib

        self.head = joblib.load(context.artifacts["head"])
        self.meta = json.loads(Path(context.artifacts["meta"]).read_text())
        self.recipe = self.meta.get("tiling")
        self._encoder = None

    def slide_encoder(self):
        from embedforge.tasks.pyfunc import load_checked_encoder

        if self._encoder is None:
            self._encoder = load_checked_encoder(self.meta)
        return self._encoder

    def predict(self, context, model_input, params=None):
        import pandas as pd

        try:
            frame = pd.DataFrame(model_input)
            if SLIDE in frame.columns and not (TILES in frame.columns and frame[TILES].notna().all()):
                return self.predict_slides(frame[SLIDE])
            return predict_bags(self.head, self.meta, frame)
        except BadRequest as exc:
            raise _mlflow_error(str(exc), "INVALID_PARAMETER_VALUE") from None

    def predict_slides(self, values):
        """One row per slide: label, class probabilities, tile count and the most-attended tiles (JSON)."""
        import pandas as pd

        from embedforge.tasks.slide_predict import diagnose, slide_bag

        if not self.recipe:
            raise BadRequest("this model was registered without its tiling recipe: send 'tiles' vectors")
        rows = []
        for i, value in enumerate(values):
            with slide_file(value, i) as path:
                try:
                    bag, coords = slide_bag(str(path), self.slide_encoder(), self.recipe, name=f"row {i}")
                except ItemError as exc:
                    raise BadRequest(str(exc)) from None
            answer = diagnose(self.head, bag, coords)
            rows.append({"label": answer["label"], **{f"p_{c}": p for c, p in answer["probabilities"].items()},
                         "tiles": answer["tiles"], "top_tiles": json.dumps(answer["top_tiles"])})  # fmt: skip
        return pd.DataFrame(rows)


@contextmanager
def slide_file(value: Any, row: int):
    """A request's slide as a local path: an allowed ``file://`` path as is, uploaded bytes in a private temporary
    file (removed after), both within the size limits."""
    from embedforge.tasks.pyfunc import Limits, _bytes, _source

    limits = Limits.from_settings()
    source, _ = _source(value, row, SLIDE, limits)
    if isinstance(source, Path):
        yield source
        return
    data = _bytes(source, row, SLIDE, limits)
    suffix = ".tiff" if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+") else ".svs"
    with tempfile.TemporaryDirectory(prefix="embedforge-slide-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        yield path


def log_slide_head(head, meta: dict[str, Any], example: np.ndarray, registered_name: str | None, alias: str | None):
    """Log the head as a SlideModel pyfunc in the active run; register and alias it when a name is given."""
    import pandas as pd

    from embedforge.tasks.tracking import log_head

    signature = slide_signature(head, meta, example)
    body = pd.DataFrame({TILES: [np.asarray(example[:EXAMPLE_TILES], dtype=np.float64).tolist()]})
    return log_head(head, meta, signature, registered_name, alias, python_model=SlideModel(), input_example=body)


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
    from embedforge.tasks.slide_predict import training_recipe
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
        meta = {"input": "tiles", "encoder": feats.identity, "encoder_weights": weights, "head": head, "task": "slide",
                "tiling": training_recipe(slides, feats)}  # fmt: skip
        logged = log_slide_head(model, meta, bags.bag(feats.X, train[0]), registered_name, alias)
    return {"run_id": run.info.run_id, "metrics": metrics, "model": logged}


def run_slide_head(params, stores: dict[str, Any]) -> dict[str, Any]:
    """The ``pathology/slide-head`` recipe (``modalities/pathology/recipes.py``): its parameters in, the trained and
    registered slide classifier out, with the run's one-line message and summary artifact."""
    from embedforge.registry.encoders import coerce_options
    from embedforge.tasks.tracking import where_markdown

    fields = params.model_dump(exclude={"db", "tracking_uri", "head_params"})  # stores: resolved
    result = train_slide_head(**stores, **fields, params=coerce_options(dict(params.head_params)))
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in sorted(result["metrics"].items()))
    where = where_markdown(result, stores["tracking_uri"])
    result["markdown"] = f"{params.head} on {params.encoder}: {metrics}\n\n{where}"
    result["message"] = metrics
    return result


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
