"""Train the HeightCeleb head on stored vectors, score it, log and register it in MLflow."""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np

from embedforge.tasks.affine import Affine, binary_proba, fold_binary_classifier, fold_regressor
from embedforge.tasks.features import Features, load_features
from embedforge.tasks.store import table_name
from embedforge.tasks.tracking import (
    head_signature,
    log_features_input,
    log_head,
    tensor_input,
    use_tracking,
    vector_example,
)


class PerRowHeight:
    """Serving view of a HeightHead: every request row is one speaker's vector."""

    takes_labels = False  # no candidate labels in a request

    def __init__(self, head) -> None:
        self.head = head
        self.affine_ = fold_height_head(head)  # folded once here, at registration; pickled with the view

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Views pickled before folding existed fold when loaded."""
        self.__dict__.update(state)
        if "affine_" not in state:
            self.affine_ = fold_height_head(self.head)

    def predict_vectors(self, X: np.ndarray):
        """The head's own models row by row (a row is its own speaker mean): one matmul when they fold."""
        from embedforge.tasks.pyfunc import Records

        X = np.asarray(X, dtype=np.float64)
        proba, sex, height = self._folded(X, self.affine_) if self.affine_ is not None else self._sklearn(X)
        columns = {"height_cm": height, "sex": sex.astype(str), "sex_prob": proba.max(axis=1)}
        return Records(columns, copy=False)  # fresh arrays: nothing to copy

    def _folded(self, X: np.ndarray, affine: Affine) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Columns of the map: sex decision, then the height of each sex in the classifier's class order."""
        Z = affine(X)
        proba = binary_proba(Z[:, 0])
        pick = proba.argmax(axis=1)
        return proba, np.asarray(self.head.sex_model_.classes_)[pick], Z[np.arange(len(X)), 1 + pick]

    def _sklearn(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each sklearn model on its rows: for heads whose models have no affine map."""
        head = self.head
        proba = head.sex_model_.predict_proba(X)
        sex = np.asarray(head.sex_model_.classes_)[proba.argmax(axis=1)]
        height = np.empty(len(X))
        for s, model in head.height_models_.items():
            rows = sex == s
            if rows.any():
                height[rows] = np.ravel(model.predict(X[rows]))
        return proba, sex, height


def fold_height_head(head) -> Affine | None:
    """One (d, 1 + classes) map: the sex decision, then each sex's height; None if any model is not affine."""
    dim = int(head.dim_)
    sex = fold_binary_classifier(head.sex_model_, dim)
    classes = list(getattr(head.sex_model_, "classes_", ()))
    if sex is None or not all(c in head.height_models_ for c in classes):
        return None
    heights = [fold_regressor(head.height_models_[c], dim) for c in classes]
    maps = [sex, *(h for h in heights if h is not None)]
    if len(maps) != 1 + len(classes):
        return None
    return Affine(W=np.hstack([m.W for m in maps]), b=np.concatenate([m.b for m in maps]))


def _columns(feats: Features) -> tuple[list, np.ndarray, np.ndarray]:
    return feats.group, feats.label("height"), feats.label("sex")


def evaluate(head, feats: Features, prefix: str) -> tuple[dict[str, float], Any]:
    """Speaker-level metrics of the head on one labelled split, plus its per-speaker predictions."""
    from embedforge.modalities.speech.heightceleb import height_metrics

    pred = head.predict(feats.X, feats.group)
    return {f"{prefix}_{k}": float(v) for k, v in height_metrics(pred, *_columns(feats)).items()}, pred


def train_heightceleb(
    *,
    db_uri: str,
    encoder: str,
    tracking_uri: str,
    artifact_root: str | None = None,
    dataset: str | None = None,
    timit_dataset: str | None = None,
    weights: str | None = None,
    regressor: str = "pls",
    registered_name: str | None = None,
    alias: str | None = "champion",
    experiment: str = "heightceleb",
) -> dict[str, Any]:
    """Sex classifier then one regression per sex, trained on the train split of stored vectors only."""
    import mlflow

    from embedforge.modalities.speech.heightceleb import HeightHead, mean_baseline

    feats = load_features(db_uri, encoder, dataset, weights)
    train, test = feats.of_split("train"), feats.of_split("test")
    if not len(train.ids) or not len(test.ids):
        raise ValueError(f"need labelled train and test speakers; got {len(train.ids)} and {len(test.ids)} utterances")
    head = HeightHead(regressor=regressor).fit(train.X, train.label("height"), train.label("sex"), train.group)
    name = registered_name or f"heightceleb-{encoder.replace('/', '-')}"
    use_tracking(tracking_uri, experiment, artifact_root)
    with mlflow.start_run(run_name=f"{regressor} · {name}") as run:
        mlflow.set_tags({"encoder": encoder, "dataset": dataset or "all", "head": f"heightceleb/{regressor}",
                         "task": "regression", "modality": "speech"})  # fmt: skip
        keys = [f"{d}/{i}@{h}" for d, i, h in zip(feats.datasets, feats.ids, feats.hashes, strict=True)]
        log_features_input(db_uri, table_name(encoder, weights), feats.datasets, keys, "training")
        metrics, pred = evaluate(head, test, "test")
        metrics.update({f"test_{k}": v for k, v in mean_baseline(_columns(train), _columns(test)).items()})
        if timit_dataset:
            timit = load_features(db_uri, encoder, timit_dataset, weights).of_split("test")
            metrics.update(evaluate(head, timit, "timit")[0])
        mlflow.log_params(_params(feats, train, test, regressor, dataset, timit_dataset))
        mlflow.log_metrics(metrics)
        _log_plots(pred, test)
        if head.warnings_:
            mlflow.log_text("\n".join(head.warnings_) + "\n", "warnings.txt")
        models = _log_models(head, feats.identity, weights, name, alias, train.X[:2], train.uris)
    return {"run_id": run.info.run_id, "metrics": metrics, "models": models, "tracking_uri": tracking_uri}


def run_heightceleb(params, stores: dict[str, Any]) -> dict[str, Any]:
    """The ``speech/heightceleb`` recipe (``modalities/speech/recipes.py``): its parameters in, the trained and
    registered heads out, with the run's one-line message and summary artifact."""
    from embedforge.tasks.tracking import where_markdown

    result = train_heightceleb(**stores, **params.model_dump(exclude={"db", "tracking_uri"}))  # stores: resolved
    m = result["metrics"]
    rows = "\n".join(f"| {k} | {v:.3f} |" for k, v in sorted(m.items()))
    models = ", ".join(f"{x['registered_name']} v{x['version']}" for x in result["models"].values())
    result["markdown"] = f"| metric | value |\n|---|---|\n{rows}\n\nregistered: {models}\n\n{where_markdown(result)}"
    result["message"] = (
        f"test MAE {m['test_mae']:.2f} cm (training-mean {m['test_mae_mean']:.2f}), "
        f"sex accuracy {m['test_sex_accuracy']:.2f}; registered {models}"
    )
    return result


def _params(feats, train, test, regressor, dataset, timit) -> dict[str, Any]:
    ident = feats.identity
    return {
        "encoder": ident["name"],
        "encoder_fingerprint": ident["fingerprint"],
        "encoder_dim": ident["dim"],
        "encoder_weights": ident["weights"],
        "regressor": regressor,
        "dataset": dataset or "all",
        "timit_dataset": timit or "",
        "train_speakers": len(set(train.group)),
        "test_speakers": len(set(test.group)),
        "train_utterances": len(train.ids),
    }


def _log_plots(pred, test: Features) -> None:
    """Parity and residual plots as MLflow image artifacts."""
    import mlflow

    from embedforge.modalities.speech.heightceleb import plot_diagnostics

    with tempfile.TemporaryDirectory() as tmp:
        for path in plot_diagnostics(pred, *_columns(test), tmp):
            mlflow.log_artifact(str(path), artifact_path="plots")


def _log_models(
    head, identity, weights, name, alias, X_example, uris: list[str | None] | None = None
) -> dict[str, Any]:
    """Register the end-to-end audio model and a head-only (vector in) model, each with the alias and a request
    body from the training data as its input example."""
    from embedforge.tasks.tracking import raw_example

    out = {}
    for mode, reg_name in (("audio", name), ("vector", f"{name}-head")):
        meta = {"input": mode, "encoder": identity, "encoder_weights": weights, "task": "heightceleb"}
        served = PerRowHeight(head)
        signature = head_signature(served, meta, X_example)
        example = raw_example("speech", uris or []) if mode == "audio" else None
        if mode == "vector":
            signature = tensor_input(signature, int(identity["dim"]))
            example = vector_example(X_example, tensor=True)
        out[mode] = log_head(served, meta, signature, reg_name, alias, name=f"model-{mode}", input_example=example)
    return out
