"""MLflow plumbing: where runs go, how heads are logged, registered and aliased."""

from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import joblib
import numpy as np

PIP_REQUIREMENTS = ["embedforge"]  # the local environment serves the model; nothing is inferred


def use_tracking(tracking_uri: str, experiment: str, artifact_root: str | None = None) -> str:
    """Point MLflow at a store and an experiment (created with its artifact root); return its id."""
    import mlflow

    if tracking_uri.startswith("sqlite:///"):
        store = Path(tracking_uri.removeprefix("sqlite:///"))
        store.parent.mkdir(parents=True, exist_ok=True)
        artifact_root = artifact_root or str(store.parent / "artifacts")  # never ./mlruns of the caller
    mlflow.set_tracking_uri(tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        exp_id = found.experiment_id
    else:
        location = f"{artifact_root.rstrip('/')}/{experiment}" if artifact_root else None
        exp_id = mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


@contextmanager
def _quiet_mlflow():
    """Silence MLflow's advice about type hints, input examples and pickled models while logging a head."""
    import logging
    import warnings

    logger = logging.getLogger("mlflow.pyfunc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        logger.setLevel(level)


def head_signature(head: Any, meta: dict[str, Any], X_example):
    """Input columns by mode ('vector', or the raw column of the encoder's modality); outputs from a real prediction.

    Heads that score candidate labels sent with the request (zero-shot) declare a ``labels`` parameter.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import Array, ParamSchema, ParamSpec

    from embedforge.tasks.pyfunc import VECTOR, raw_input_of

    outputs = head.predict_vectors(X_example)
    out_schema = Schema([ColSpec(_mlflow_type(outputs[c]), c) for c in outputs.columns])
    takes_labels = getattr(head, "takes_labels", False)
    params = ParamSchema([ParamSpec("labels", "string", [], (-1,))] if takes_labels else [])
    column = (
        ColSpec(Array("double"), VECTOR) if meta["input"] == VECTOR else ColSpec("string", raw_input_of(meta).column)
    )
    return ModelSignature(inputs=Schema([column]), outputs=out_schema, params=params)


def tensor_input(signature, dim: int):
    """A (-1, dim) float32 tensor named 'vector': MLflow stacks the request's lists in one array, no per-row checks.

    The request formats stay valid ('dataframe_records' with a 'vector' list per row, 'dataframe_split'),
    and 'inputs' takes the plain list of vectors a plain sklearn model takes.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    from embedforge.tasks.pyfunc import VECTOR

    inputs = Schema([TensorSpec(np.dtype(np.float32), (-1, dim), VECTOR)])
    return ModelSignature(inputs=inputs, outputs=signature.outputs, params=signature.params)


def vector_example(X_example, tensor: bool = False) -> Any:
    """One stored vector as the vector model's request body: a ``vector`` column, or the tensor the signature names."""
    row = np.asarray(X_example[:1], dtype=np.float32 if tensor else np.float64)
    if tensor:
        return {"vector": row}
    import pandas as pd

    return pd.DataFrame({"vector": [row[0].tolist()]})


def _mlflow_type(series) -> str:
    kind = series.dtype.kind
    return {"f": "double", "i": "long", "b": "boolean"}.get(kind, "string")


def log_head(
    head: Any,
    meta: dict[str, Any],
    signature,
    registered_name: str | None,
    alias: str | None,
    name: str = "model",
    python_model: Any = None,
    input_example: Any = None,
) -> dict[str, Any]:
    """Log a fitted head as an embedforge pyfunc (``HeadModel`` unless given) in the active run; register, alias.

    ``input_example`` (a request body MLflow stores and shows beside the signature) is validated by MLflow by
    loading the logged model and predicting it, so a model that cannot answer its own example warns at log time.
    """
    import mlflow

    from embedforge.tasks.pyfunc import HeadModel

    with tempfile.TemporaryDirectory() as tmp:
        head_path, meta_path = Path(tmp) / "head.joblib", Path(tmp) / "meta.json"
        joblib.dump(head, head_path)
        meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        with _quiet_mlflow():  # the signature is explicit; the adapter class is importable, not code-in-pickle
            info = mlflow.pyfunc.log_model(
                name=name,
                python_model=python_model or HeadModel(),
                artifacts={"head": str(head_path), "meta": str(meta_path)},
                signature=signature,
                pip_requirements=PIP_REQUIREMENTS,
                registered_model_name=registered_name,
                input_example=input_example,
            )
    version = getattr(info, "registered_model_version", None)
    if registered_name and alias and version is not None:
        mlflow.MlflowClient().set_registered_model_alias(registered_name, alias, str(version))
    return {"model_uri": info.model_uri, "registered_name": registered_name, "version": version, "alias": alias}
