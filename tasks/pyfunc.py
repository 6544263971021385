"""The MLflow pyfunc adapter: a head plus the encoder identity it needs, served from raw input or vectors."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import numpy as np
import pandas as pd

try:
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover - mlflow is a hard dependency; keeps the module importable alone
    PythonModel = object

MAX_AUDIO_BYTES = int(os.environ.get("EMBEDFORGE_MAX_AUDIO_BYTES", 20 * 1024 * 1024))


class BadRequest(ValueError):
    """A request the model cannot answer; served as HTTP 400 with this message."""


def _bad(message: str):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


class HeadModel(PythonModel):
    """Loads the head and, for raw input, resolves the encoder from the registry (never pickled)."""

    def load_context(self, context) -> None:
        import joblib

        self.head = joblib.load(context.artifacts["head"])
        with open(context.artifacts["meta"]) as f:
            self.meta = json.load(f)
        self.encoder = load_checked_encoder(self.meta) if self.meta["input"] == "audio" else None
        from embedforge.modalities.runtime import cap_torch_threads

        cap_torch_threads()  # torch heads (MLP) too: a served model must not take every core

    def predict(self, context, model_input, params=None):
        try:
            return self.predict_frame(self.head, self.meta, model_input, self.encoder)
        except BadRequest as exc:
            raise _bad(str(exc)) from None

    @staticmethod
    def predict_frame(head, meta: dict[str, Any], frame, encoder=None) -> pd.DataFrame:
        """Rows in, one prediction per row out; used at logging time for the signature too."""
        frame = pd.DataFrame(frame)
        if meta["input"] == "audio":
            X = embed_audio_column(frame, encoder, meta)
        else:
            X = vectors_from_frame(frame, int(meta["encoder"]["dim"]))
        return head.predict_vectors(X)


def load_checked_encoder(meta: dict[str, Any]):
    """Build the encoder the head was trained with; refuse a different one."""
    from embedforge.registry.encoders import build_encoder

    ident = meta["encoder"]
    encoder = build_encoder(ident["name"], weights=meta.get("encoder_weights"))
    if encoder.fingerprint != ident["fingerprint"] or encoder.spec.dim != ident["dim"]:
        raise RuntimeError(
            f"model was trained on {ident['name']} weights {ident['fingerprint']} (dim {ident['dim']}), "
            f"but the registry resolves weights {encoder.fingerprint} (dim {encoder.spec.dim}); refusing to serve"
        )
    return encoder


def vectors_from_frame(frame: pd.DataFrame, dim: int) -> np.ndarray:
    """A 'vector' column of equal-length finite lists -> (n, dim) float32."""
    if "vector" not in frame.columns:
        raise BadRequest(f"expected a 'vector' column, got {list(frame.columns)}")
    try:
        X = np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for v in frame["vector"]])
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"'vector' must hold equal-length lists of numbers: {exc}") from None
    if X.shape[1] != dim:
        raise BadRequest(f"each vector must have {dim} values, got {X.shape[1]}")
    if not np.all(np.isfinite(X)):
        raise BadRequest("vectors contain NaN or inf")
    return X


def embed_audio_column(frame: pd.DataFrame, encoder, meta: dict[str, Any]) -> np.ndarray:
    """Decode base64 audio (or file:// paths), resample, encode: the whole prediction from raw input."""
    import tempfile

    from embedforge.modalities.speech.audio import read_audio

    if "audio" not in frame.columns:
        raise BadRequest(f"expected an 'audio' column (base64 WAV/FLAC or file:// path), got {list(frame.columns)}")
    inputs = []
    for i, value in enumerate(frame["audio"]):
        data = _audio_bytes(value, i)
        try:
            with tempfile.NamedTemporaryFile(suffix=".audio") as tmp:
                tmp.write(data)
                tmp.flush()
                sample = read_audio(tmp.name, f"row {i}")
            inputs.append(encoder.preprocess(sample, f"row {i}"))
        except Exception as exc:
            raise BadRequest(f"row {i}: not decodable audio ({exc})") from None
    return np.asarray(encoder.encode(inputs), dtype=np.float32)


def _audio_bytes(value: Any, row: int) -> bytes:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"row {row}: 'audio' must be a non-empty string")
    if value.startswith("file://"):
        with open(value.removeprefix("file://"), "rb") as f:
            data = f.read(MAX_AUDIO_BYTES + 1)
    else:
        if len(value) > MAX_AUDIO_BYTES * 4 // 3 + 4:
            raise BadRequest(f"row {row}: audio larger than the {MAX_AUDIO_BYTES} byte limit")
        try:
            data = base64.b64decode(value, validate=True)
        except ValueError:
            raise BadRequest(f"row {row}: 'audio' is neither base64 nor a file:// path") from None
    if len(data) > MAX_AUDIO_BYTES:
        raise BadRequest(f"row {row}: audio larger than the {MAX_AUDIO_BYTES} byte limit")
    return data
