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


EXPERIMENT_KIND = "custom_model_development"  # MLflow 3's UI then opens the experiment on its runs, not on traces
DESCRIPTIONS = {  # what each experiment holds, shown on its page (the mlflow.note.content tag)
    "heads": "Heads trained on stored embedding vectors (embedforge train head): one run per head, encoder and "
    "dataset, with test metrics, the confusion matrix or parity plot, and the registered models.",
    "leaderboard": "embedforge benchmark: every encoder x dataset x head cell scored on the test split, and the "
    "leaderboard CSV and heatmap.",
    "heightceleb": "HeightCeleb height estimation from speaker embeddings: sex classifier, one height regression "
    "per sex, evaluated on TIMIT.",
    "analysis": "embedforge analyze: near-duplicates and leaks, clusters, outliers, label issues and the quality of "
    "each encoder's space (effective rank, isotropy, hubness, intrinsic dimension), with the map as an image.",
    "embedders": "Encoders registered alone (embedforge register-embedder): raw input in, the table's vectors out.",
}


def use_tracking(tracking_uri: str, experiment: str, artifact_root: str | None = None) -> str:
    """Point MLflow at a store and an experiment (created with its artifact root, kind and description)."""
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
    if found is None or found.tags.get("mlflow.experimentKind") != EXPERIMENT_KIND:
        client = mlflow.MlflowClient()
        client.set_experiment_tag(exp_id, "mlflow.experimentKind", EXPERIMENT_KIND)
        description = DESCRIPTIONS.get(experiment, f"embedforge runs ({experiment}).")
        client.set_experiment_tag(exp_id, "mlflow.note.content", description)
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def model_description(meta: dict[str, Any]) -> str:
    """What a registered model predicts, from which encoder, and the request body it takes (its page in MLflow)."""
    ident = meta.get("encoder", {})
    if meta.get("head") == "embedder":
        what = "the encoder's vectors"
    else:
        what = f"{meta.get('task', 'predictions')} of '{meta.get('label', '?')}' by {meta.get('head', 'a head')}"
    source = f"{ident.get('name', '?')} (weights fingerprint {ident.get('fingerprint', '?')}, {ident.get('dim')}-d)"
    if meta.get("input") == "vector":
        body = '{"inputs": [[%s floats], ...]}' % ident.get("dim")  # noqa: UP031 - braces of JSON
        takes = "vectors made by that encoder"
    else:
        body = '{"dataframe_records": [{"%s": "<base64 of the file>"}]}' % meta.get("input")  # noqa: UP031
        takes = f"raw input in the '{meta.get('input')}' column, embedded by that encoder when the model serves"
    return f"{what}, trained on {source}. Takes {takes}. Request: POST /invocations {body}"


def log_features_input(db_uri: str, table: str, datasets: list[str], keys: list[str], context: str) -> None:
    """The stored vectors a run read, as an MLflow dataset input: name, where (the LanceDB table, credentials
    hidden) and a digest of the content keys, so the run list's Dataset column says what it was trained on."""
    import hashlib

    import mlflow
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    from embedforge.registry.redact import redact

    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]
    source = CodeDatasetSource(tags={"lancedb": redact(db_uri), "table": table})
    dataset = MetaDataset(source, name=",".join(sorted(set(datasets))), digest=digest)  # type: ignore[abstract]
    mlflow.log_input(dataset, context=context)


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

    from embedforge.tasks.pyfunc import VECTOR, accepts_labels, raw_input_of

    outputs = head.predict_vectors(X_example)
    out_schema = Schema([ColSpec(_mlflow_type(outputs[c]), c) for c in outputs.columns])
    params = ParamSchema([ParamSpec("labels", "string", [], (-1,))] if accepts_labels(head) else [])
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


RAW_EXAMPLE_BYTES = 1_000_000  # a stored item larger than this is not copied into the model as its example
RAW_EXAMPLE_CANDIDATES = 50


def raw_example(modality_name: str, uris: list[str | None]) -> Any:
    """A raw-input model's request body: the smallest of the first stored items whose file is itself one request
    (its bytes decode with the modality's ``RawInput`` decoder), base64 in the modality's column. None where no
    item is (rows of one CSV, series of one archive): the description's example request is all there is then.

    Taken from the training data, so the example meets the head's own input contract (channels, rate, duration);
    MLflow predicts it when the model is logged, so a raw model that cannot answer a real item shows at
    registration, not at the first request.
    """
    import base64

    import pandas as pd

    from embedforge.modalities.base import ItemError
    from embedforge.registry.modalities import modality

    raw = modality(modality_name).raw_input
    files = {Path(u) for u in uris[: RAW_EXAMPLE_CANDIDATES * 4] if u and Path(u).is_file()}
    sized = sorted((p.stat().st_size, str(p)) for p in files)
    for size, path in sized[:RAW_EXAMPLE_CANDIDATES]:
        if raw is None or size > RAW_EXAMPLE_BYTES:
            break
        data = Path(path).read_bytes()
        try:
            raw.decode(data, Path(path).name)
        except (ItemError, ValueError, OSError):
            continue
        return pd.DataFrame({raw.column: [base64.b64encode(data).decode("ascii")]})
    return None


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
    if registered_name and version is not None:
        mlflow.MlflowClient().update_registered_model(registered_name, description=model_description(meta))
    if registered_name and alias and version is not None:
        mlflow.MlflowClient().set_registered_model_alias(registered_name, alias, str(version))
    return {"model_uri": info.model_uri, "registered_name": registered_name, "version": version, "alias": alias}


def where_the_run_is(run_id: str | None, model_uri: str | None, tracking_uri: str | None = None) -> list[str]:
    """The run's address in the MLflow UI and a line a user can paste to load the model (credentials hidden)."""
    import shlex

    from embedforge.registry.redact import redact
    from embedforge.registry.settings import Settings

    uri = redact(tracking_uri or Settings().mlflow_uri)
    lines = []
    if run_id:
        web = uri.startswith(("http://", "https://"))
        where = f"{uri.rstrip('/')}/#/runs/{run_id}" if web else f"mlflow ui --backend-store-uri {shlex.quote(uri)}"
        lines.append(f"run {run_id}: {where}")
    if model_uri:
        code = f"import mlflow; m = mlflow.pyfunc.load_model({model_uri!r}); print(m.metadata.get_input_schema())"
        lines.append(f"load it: MLFLOW_TRACKING_URI={shlex.quote(uri)} python -c {shlex.quote(code)}")
    return lines


def where_markdown(result: dict[str, Any], tracking_uri: str | None = None) -> str:
    """A training result's summary-artifact lines: the MLflow run (its UI address, or how to open the store) and
    how to load the registered model."""
    models = list((result.get("models") or {}).values()) or ([result["model"]] if result.get("model") else [])
    uri = None
    if models:
        m = models[-1]
        uri = f"models:/{m['registered_name']}" + (f"@{m['alias']}" if m.get("alias") else f"/{m['version']}")
    lines = where_the_run_is(result.get("run_id"), uri, tracking_uri or result.get("tracking_uri"))
    return "\n\n".join(f"`{line}`" for line in lines)
