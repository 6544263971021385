"""Train any registered row head on stored vectors, log it to MLflow and register models a caller can serve.

Every modality gets a servable model this way: one takes the modality's raw column (``audio``, ``series``,
``video``, ...) and runs the encoder the head was trained on, the other (``NAME-head``) takes vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedforge.modalities.base import CandidateLabels
from embedforge.tasks.features import Features, load_features
from embedforge.tasks.store import table_name
from embedforge.tasks.tracking import head_signature, log_features_input, log_head, use_tracking


class ServedHead:
    """Serving view of a fitted head: one prediction per request row, with class probabilities where it has them.

    ``output`` names a regression's answer column after its target (``heart_rate``); ``domain`` refuses request
    vectors far from every training vector (``tasks/domain.py``) instead of extrapolating an answer.
    """

    def __init__(self, model: Any, task: str, output: str = "prediction", domain: Any = None, trained_on: str = ""):
        self.model, self.task, self.output = model, task, output
        self.domain, self.trained_on = domain, trained_on

    @property
    def takes_labels(self) -> bool:
        """A zero-shot head scores candidate labels sent with the request instead of its training classes."""
        return isinstance(self.model, CandidateLabels)

    def predict_vectors(self, X: np.ndarray, params: dict[str, Any] | None = None):
        """Regression: the target's column. Classification: ``label``, ``prob`` and one ``prob_<class>`` per class."""
        labels = list((params or {}).get("labels") or [])
        model = self.model.with_labels(labels) if labels and self.takes_labels else self.model
        self.check_domain(X)
        return self._frame(model, np.asarray(X, dtype=np.float64))

    def check_domain(self, X: np.ndarray) -> None:
        """Refuse (400) the request when a row lies outside what the head was trained on."""
        from embedforge.tasks.pyfunc import BadRequest

        X = np.asarray(X, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(X.reshape(len(X), -1)).all(axis=1)) if X.size else np.array([], dtype=int)
        if len(bad):
            raise BadRequest(f"row {int(bad[0])}: the input vector holds NaN or infinite values")
        domain = getattr(self, "domain", None)  # models pickled before the guard have none
        if domain is None:
            return
        far = domain.outside(X)
        if far:
            row, dist = far[0]
            raise BadRequest(
                f"row {row}: input unlike anything this head was trained on (nearest training vector at distance "
                f"{dist:.3g}; training items lie within {domain.train_spread:.3g} of each other). Send what it was "
                f"trained on: {getattr(self, 'trained_on', '') or 'the same layout, channels, rate and duration'}"
            )

    def _frame(self, model: Any, X: np.ndarray):
        import pandas as pd

        if self.task == "regression":
            column = getattr(self, "output", "prediction")
            return pd.DataFrame({column: np.asarray(model.predict(X), dtype=np.float64).ravel()})
        out = pd.DataFrame({"label": np.asarray(model.predict(X)).astype(str)})
        if hasattr(model, "predict_proba"):
            proba = np.asarray(model.predict_proba(X), dtype=np.float64)
            out["prob"] = proba.max(axis=1)
            for j, cls in enumerate(model.classes_):
                out[f"prob_{cls}"] = proba[:, j]
        return out


def _training_subset(feats, path: str):
    """Training rows the manifest names, every other row (test, validation) kept: scores stay comparable."""
    import numpy as np

    from embedforge.registry.datasets import manifest_ids

    wanted = manifest_ids(path)
    keep = np.array([s != "train" or i in wanted for i, s in zip(feats.ids, feats.split, strict=True)], dtype=bool)
    if not any(s == "train" and i in wanted for i, s in zip(feats.ids, feats.split, strict=True)):
        raise ValueError(f"subset={path} names none of the stored training rows")
    return feats.where(keep)


def train_head(
    *,
    db_uri: str,
    encoder: str,
    head: str,
    label: str,
    tracking_uri: str,
    dataset: str | None = None,
    weights: str | None = None,
    encoder_options: dict[str, Any] | None = None,
    registered_name: str | None = None,
    alias: str | None = "champion",
    experiment: str = "heads",
    artifact_root: str | None = None,
    allow_small: bool = False,
    subset: str | None = None,
) -> dict[str, Any]:
    """Fit on the train split of stored vectors, score the test split, log metrics and a figure, register models.

    One dataset of the table unless ``dataset`` names several (``a,b``); the split checks of ``fit_head`` run
    before fitting, and a run kept only by ``allow_small`` registers its models without moving ``alias``.
    ``subset`` (a manifest from ``embedforge curate``) keeps only its training rows; the test split stays whole.
    """
    import mlflow

    from embedforge.tasks.leaderboard import fit_head
    from embedforge.tasks.scoring import cell_figure
    from embedforge.tasks.splits import one_dataset

    feats = load_features(db_uri, encoder, dataset, weights, encoder_options)
    one_dataset(feats.datasets, dataset)
    if subset:
        feats = _training_subset(feats, subset)
    fitted = fit_head(feats=feats, X=feats.X, head=head, label=label, allow_small=allow_small)
    split = fitted.split
    if split is not None and not split.passed:
        alias = None  # a run that needed --allow-small never becomes the champion
    name = registered_name or f"{encoder.replace('/', '-')}-{head.replace('/', '-')}-{label}"
    use_tracking(tracking_uri, experiment, artifact_root)
    names = ",".join(sorted(set(feats.datasets)))
    with mlflow.start_run(run_name=f"{head} · {names} · {encoder}") as run:  # head first: distinct in a list
        mlflow.set_tags({"encoder": encoder, "dataset": names, "head": head, "label": label, "task": fitted.task,
                         "modality": encoder.split("/", 1)[0], "registered_name": name})  # fmt: skip
        log_features_input(db_uri, table_name(encoder, weights, encoder_options), feats.datasets,
                           [f"{d}/{i}@{h}" for d, i, h in zip(feats.datasets, feats.ids, feats.hashes, strict=True)],
                           "training")  # fmt: skip
        mlflow.log_params(_params(feats, head, label, dataset, fitted.n_train, fitted.n_test))
        if split is not None:
            mlflow.log_params({k: v for k, v in split.as_params().items() if k not in ("n_train", "n_test")})
        mlflow.log_metrics({f"test_{k}": v for k, v in fitted.metrics.items() if np.isfinite(v)})
        figure = cell_figure(fitted.task, fitted.y_test, fitted.pred, f"{head} on {encoder} · {names}: {label}")
        mlflow.log_figure(figure, "confusion.png" if fitted.task == "classification" else "parity.png")
        served = served_head(fitted, feats, label)
        base = {"encoder": feats.identity, "encoder_weights": weights, "encoder_options": encoder_options or {}}
        base |= {"task": fitted.task, "head": head, "label": label}
        models = _register(served, base, name, alias, feats.X[:2], feats.uris)
    report = split.as_params() if split is not None else {}
    return {
        "run_id": run.info.run_id,
        "metrics": fitted.metrics,
        "task": fitted.task,
        "models": models,
        "split": report,
        "leaked": split.leaked[:20] if split is not None else [],
    }


def served_head(fitted: Any, feats: Features, label: str) -> ServedHead:
    """The fitted head with its answer column, its training domain and a line saying what it was trained on."""
    from embedforge.tasks.domain import fit_domain

    train = np.array([s == "train" for s in feats.split], dtype=bool)
    ident = feats.identity
    shape = ", ".join(f"{k} {v}" for k, v in ident.get("input", {}).items() if isinstance(v, int | float | str))
    trained_on = f"{ident['name']} input of dataset {', '.join(sorted(set(feats.datasets)))} ({shape})"
    output = label if fitted.task == "regression" else "prediction"
    return ServedHead(
        fitted.model, fitted.task, output=output, domain=fit_domain(feats.X[train]), trained_on=trained_on
    )


def _params(feats: Features, head: str, label: str, dataset: str | None, n_train: int, n_test: int) -> dict[str, Any]:
    ident = feats.identity
    return {
        "encoder": ident["name"],
        "encoder_fingerprint": ident["fingerprint"],
        "encoder_dim": ident["dim"],
        "head": head,
        "label": label,
        "dataset": dataset or "all",
        "n_train": n_train,
        "n_test": n_test,
    }


def _register(
    served: ServedHead,
    base: dict[str, Any],
    name: str,
    alias: str | None,
    X_example,
    uris: list[str | None] | None = None,
) -> dict[str, Any]:
    """The raw-input model (where the modality declares a raw column) and the vector-input ``NAME-head`` model,
    each with a request body from the training data as its MLflow input example."""
    from embedforge.registry.modalities import modality_of_encoder
    from embedforge.tasks.pyfunc import VECTOR
    from embedforge.tasks.tracking import raw_example, tensor_input, vector_example

    entry = modality_of_encoder(base["encoder"]["name"])
    raw = entry.raw_input
    modes = ([(raw.column, name)] if raw is not None else []) + [(VECTOR, f"{name}-head")]
    out = {}
    for mode, reg_name in modes:
        meta = {**base, "input": mode}
        signature = head_signature(served, meta, X_example)
        example = raw_example(entry.name, uris or []) if mode != VECTOR else None
        if mode == VECTOR:  # one input contract for every vector head: the (-1, dim) tensor HeightCeleb's takes
            signature = tensor_input(signature, int(base["encoder"]["dim"]))
            example = vector_example(X_example, tensor=True)
        out[mode] = log_head(served, meta, signature, reg_name, alias, name=f"model-{mode}", input_example=example)
    return out
