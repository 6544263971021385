"""A served embedder: an encoder alone as an MLflow model, raw input in, the vectors its tables hold out.

Callers that search a table at request time need the query's vector from the same weights and recipe the
table was built with; an embedder model is that encoder behind the same boundary as a head (size and decoder
limits, the weights fingerprint checked when the server starts, no stack traces). It answers one ``vector``
per row (float lists) and the encoder's identity travels in the model's metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Embedder:
    """The serving view of an encoder with no head: each row's vector as stored (float32, as a list)."""

    task = "embedding"
    takes_labels = False

    def predict_vectors(self, X: np.ndarray, params: dict[str, Any] | None = None):
        from embedforge.tasks.pyfunc import Records

        rows = np.asarray(X, dtype=np.float32)
        return Records({"vector": [row.tolist() for row in rows]})


def register_embedder(
    *,
    encoder: str,
    tracking_uri: str,
    weights: str | None = None,
    encoder_options: dict[str, Any] | None = None,
    registered_name: str | None = None,
    alias: str | None = "champion",
    experiment: str = "embedders",
    artifact_root: str | None = None,
) -> dict[str, Any]:
    """Log and register ``encoder`` (its raw input column in, vectors out) as NAME@alias; returns the model info."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import Array

    from embedforge.registry.encoders import build_encoder
    from embedforge.registry.modalities import modality_of_encoder
    from embedforge.tasks.tracking import log_head, use_tracking

    raw = modality_of_encoder(encoder).raw_input
    if raw is None:
        raise ValueError(f"{encoder}: its modality declares no raw input a served model could decode")
    options = dict(encoder_options or {})
    identity = build_encoder(encoder, weights=weights, **options).identity()
    meta = {"encoder": identity, "encoder_weights": weights, "encoder_options": options, "input": raw.column,
            "task": "embedding", "head": "embedder"}  # fmt: skip
    signature = ModelSignature(
        inputs=Schema([ColSpec("string", raw.column)]), outputs=Schema([ColSpec(Array("double"), "vector")])
    )
    name = registered_name or f"{encoder.replace('/', '-')}-embedder"
    use_tracking(tracking_uri, experiment, artifact_root)
    with mlflow.start_run(run_name=f"embedder {encoder}") as run:
        mlflow.set_tags({"encoder": encoder, "modality": encoder.split("/", 1)[0], "task": "embedding"})
        mlflow.log_params({"encoder": encoder, "encoder_fingerprint": identity["fingerprint"], "dim": identity["dim"],
                           "weights": identity.get("weights_source") or weights or "default"})  # fmt: skip
        model = log_head(Embedder(), meta, signature, name, alias, input_example=_example_request(encoder))
    return {"run_id": run.info.run_id, "models": {raw.column: model}, "dim": identity["dim"]}


def _example_request(encoder: str) -> Any:
    """The modality's own example query file as a request body (MLflow shows it, and answers it at log time), or
    None where the modality ships no examples."""
    import tempfile

    from embedforge.registry.modalities import modality_of_encoder
    from embedforge.tasks.tracking import raw_example

    entry = modality_of_encoder(encoder)
    write = entry.examples.query_file if entry.examples is not None else None
    if write is None:
        return None
    with tempfile.TemporaryDirectory(prefix="embedforge-example-") as tmp:
        return raw_example(entry.name, [write(tmp, 0)])
