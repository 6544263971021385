"""The MLflow pyfunc adapter: a head plus the encoder identity it needs, served from raw input or vectors.

Raw input is generic over the modality contract: the head's encoder names its modality, whose ``RawInput``
gives the request column and the decoder. The request boundary lives here: base64 payloads, ``file://``
paths only under configured roots, per-row and per-request size limits, a duration limit on decoded media,
and error answers that carry a message, never a stack trace.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from embedforge.modalities.base import BadRequest  # the served 400 (modalities raise it too)

try:
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover - mlflow is a hard dependency; keeps the module importable alone
    PythonModel = object  # type: ignore[misc,assignment]

log = logging.getLogger(__name__)
VECTOR = "vector"


class Records(pd.DataFrame):
    """A DataFrame whose records (what MLflow's server answers) come from whole columns, not pandas' row boxing.

    MLflow writes a DataFrame answer with ``to_dict(orient="records")``: 0.2 ms for one row, against 0.012 ms
    here (values boxed as Python scalars alike, so the JSON is the same). Frames derived from it are plain.
    """

    @property
    def _constructor(self):
        return pd.DataFrame

    def to_dict(self, orient: str = "dict", *args, **kwargs):
        if orient != "records" or args or kwargs:
            return super().to_dict(orient, *args, **kwargs)
        names = list(self.columns)
        return [dict(zip(names, row, strict=True)) for row in self.to_numpy(dtype=object).tolist()]


def _mlflow_error(message: str, code: str):
    from mlflow.exceptions import MlflowException
    from mlflow.protos import databricks_pb2

    return MlflowException(message, error_code=getattr(databricks_pb2, code))


@dataclass(frozen=True)
class Limits:
    """What one request may cost the server, from Settings (EMBEDFORGE_* variables of the serving process)."""

    row_bytes: int
    request_bytes: int
    media_seconds: float
    roots: tuple[Path, ...]
    memory_bytes: int = 1 << 30

    @classmethod
    def from_settings(cls) -> Limits:
        from embedforge.registry.settings import Settings

        s = Settings()
        roots = tuple(Path(r).expanduser().resolve() for r in s.serve_roots)
        return cls(s.max_raw_bytes, s.max_request_bytes, s.max_media_seconds, roots, s.max_request_memory)


class HeadModel(PythonModel):
    """Loads the head and, for raw input, resolves the encoder and its modality from the registry (never pickled)."""

    # Requests are checked against the explicit signature and by the modality's decoder, not by type hints:
    # without this MLflow warns at every import of this module, in every command's output and server log.
    _skip_type_hint_validation = True

    def load_context(self, context) -> None:
        import joblib

        self.head = joblib.load(context.artifacts["head"])
        with open(context.artifacts["meta"]) as f:
            self.meta = json.load(f)
        self.limits = Limits.from_settings()
        self.encoder = None if self.meta["input"] == VECTOR else load_checked_encoder(self.meta)
        from embedforge.modalities.runtime import cap_torch_threads

        cap_torch_threads()  # torch heads (MLP) too: a served model must not take every core

    def predict(self, context, model_input, params=None):
        try:
            return self.predict_frame(self.head, self.meta, model_input, self.encoder, self.limits, params)
        except BadRequest as exc:
            raise _mlflow_error(str(exc), "INVALID_PARAMETER_VALUE") from None
        except Exception:  # the caller gets a message; the traceback stays in the server's log
            log.exception("unexpected error while scoring a request")
            raise _mlflow_error(
                "internal error while scoring the request (see the server log)", "INTERNAL_ERROR"
            ) from None

    @staticmethod
    def predict_frame(
        head, meta: dict[str, Any], frame, encoder=None, limits: Limits | None = None, params: dict | None = None
    ) -> pd.DataFrame:
        """Rows in, one prediction per row out; request params (candidate labels) only for heads that take them."""
        if meta["input"] == VECTOR:
            X = vectors_from_frame(frame, int(meta["encoder"]["dim"]))
        else:
            X = embed_raw_column(pd.DataFrame(frame), encoder, meta, limits or Limits.from_settings())
        if params and params.get("labels"):
            if not accepts_labels(head):
                raise BadRequest("this model does not take candidate labels; send only the input column")
            return head.predict_vectors(X, params)
        return head.predict_vectors(X)


@runtime_checkable
class TakesLabels(Protocol):
    """A served view that may score candidate labels sent with the request (zero-shot heads); a view without the
    field (a plugin's) takes none."""

    takes_labels: bool


def accepts_labels(head: Any) -> bool:
    return isinstance(head, TakesLabels) and bool(head.takes_labels)


def raw_input_of(meta: dict[str, Any]):
    """The RawInput of the modality the head's encoder belongs to; a clear error where it declares none."""
    from embedforge.registry.modalities import modality_of_encoder

    name = meta["encoder"]["name"]
    raw = modality_of_encoder(name).raw_input
    if raw is None:
        raise RuntimeError(f"modality of {name} declares no raw input: serve the head-only (vector) model")
    return raw


def load_checked_encoder(meta: dict[str, Any]):
    """Build the encoder the head was trained with; refuse a different one."""
    from embedforge.registry.encoders import build_encoder

    ident = meta["encoder"]
    raw_input_of(meta)  # fail at start, not on the first request
    encoder = build_encoder(ident["name"], weights=meta.get("encoder_weights"), **meta.get("encoder_options", {}))
    built = encoder.identity()
    if built["fingerprint"] != ident["fingerprint"] or built["dim"] != ident["dim"]:
        raise RuntimeError(
            f"model was trained on {ident['name']} weights {ident['fingerprint']} (dim {ident['dim']}), "
            f"but the registry resolves weights {built['fingerprint']} (dim {built['dim']}); refusing to serve"
        )
    if "input" in ident and json.dumps(built["input"], sort_keys=True, default=str) != json.dumps(
        ident["input"], sort_keys=True, default=str
    ):
        raise RuntimeError(
            f"model was trained on {ident['name']} with input recipe {ident['input']}, but the rebuilt encoder "
            f"takes {built['input']}; refusing to serve"
        )
    return encoder


def vectors_from_frame(frame, dim: int) -> np.ndarray:
    """A 'vector' column of equal-length finite lists, or a tensor signature's {'vector': (n, dim)} -> float32."""
    if isinstance(frame, dict) and isinstance(frame.get(VECTOR), np.ndarray):
        X = np.asarray(frame[VECTOR], dtype=np.float32)  # MLflow already checked it against a (-1, dim) tensor spec
        X = X.reshape(len(X), -1)
    else:
        X = _stacked_column(pd.DataFrame(frame))
    if X.shape[1] != dim:
        raise BadRequest(f"each vector must have {dim} values, got {X.shape[1]}")
    if not np.all(np.isfinite(X)):
        raise BadRequest("vectors contain NaN or inf")
    return X


def _stacked_column(frame: pd.DataFrame) -> np.ndarray:
    if VECTOR not in frame.columns:
        raise BadRequest(f"expected a 'vector' column, got {list(frame.columns)}")
    try:
        return np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for v in frame[VECTOR]])
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"'vector' must hold equal-length lists of numbers: {exc}") from None


def embed_raw_column(frame: pd.DataFrame, encoder, meta: dict[str, Any], limits: Limits) -> np.ndarray:
    """Check the whole request's size, then decode, preprocess and encode one row at a time."""
    raw = raw_input_of(meta)
    col = raw.column
    if col not in frame.columns:
        raise BadRequest(f"expected a {col!r} column (base64 or file:// path), got {list(frame.columns)}")
    sources = [_source(value, i, col, limits) for i, value in enumerate(frame[col])]
    total = sum(size for _, size in sources)
    if total > limits.request_bytes:
        raise BadRequest(f"request carries {total} bytes of {col}, over the {limits.request_bytes} byte request limit")
    inputs, held = [], 0
    for i, (source, _) in enumerate(sources):
        sample = _decoded(raw, _bytes(source, i, col, limits), i)  # decoders refuse oversize headers unread
        _check_duration(sample, i, limits.media_seconds)
        inputs.append(_preprocessed(encoder, sample, i))
        held += nbytes(inputs[-1])
        if held + nbytes(sample) > limits.memory_bytes:
            raise BadRequest(
                f"row {i}: the request's decoded input passes the {limits.memory_bytes:,}-byte memory budget "
                "(EMBEDFORGE_MAX_REQUEST_MEMORY); send fewer or smaller rows"
            )
        del sample
    return np.asarray(encoder.encode(inputs), dtype=np.float32)


def nbytes(value: Any) -> int:
    """Bytes held by the arrays in a decoded sample or preprocessed input (arrays, tensors, dataclasses, lists)."""
    if hasattr(value, "nbytes") and not isinstance(value, bytes | str):
        return int(value.nbytes)
    if isinstance(value, bytes | str):
        return len(value)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(nbytes(v) for v in value)
    fields = getattr(value, "__dataclass_fields__", None)
    return sum(nbytes(getattr(value, f)) for f in fields) if fields else 0


def _decoded(raw, data: bytes, row: int):
    from embedforge.modalities.base import ItemError

    try:
        return raw.decode(data, f"row {row}")
    except (ItemError, ValueError, OSError, RuntimeError) as exc:
        why = str(exc).removeprefix(f"row {row}: ")  # the decoder names the row too
        raise BadRequest(f"row {row}: {raw.column} refused: {why}") from None


def _preprocessed(encoder, sample, row: int):
    from embedforge.modalities.base import ItemError

    try:
        return encoder.preprocess(sample, f"row {row}")
    except (ItemError, ValueError) as exc:
        raise BadRequest(f"row {row}: {exc}") from None


def _source(value: Any, row: int, col: str, limits: Limits) -> tuple[Path | str, int]:
    """(allowed local path or base64 text, the bytes it will decode to), checked against the row limit."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"row {row}: {col!r} must be a non-empty string")
    if value.startswith("file:"):
        path = allowed_path(value, row, limits.roots)
        size = path.stat().st_size
    else:
        path, size = None, len(value) * 3 // 4
    if size > limits.row_bytes:
        raise BadRequest(f"row {row}: {col} larger than the {limits.row_bytes} byte limit")
    return (path if path is not None else value), size


def allowed_path(uri: str, row: int, roots: tuple[Path, ...]) -> Path:
    """A ``file://`` URI resolved (``..`` and links) inside a configured root; refused the same way otherwise."""
    if not roots:
        raise BadRequest(f"row {row}: local file paths are not accepted by this server; send the data base64-encoded")
    parsed = urlparse(uri)
    if "\x00" in uri or "%00" in uri:
        raise BadRequest(f"row {row}: a file path may not hold a NUL byte")
    if parsed.netloc not in ("", "localhost") or not parsed.path:
        raise BadRequest(f"row {row}: only file:///absolute/path URIs are accepted")
    path = Path(unquote(parsed.path)).resolve()
    if not any(path.is_relative_to(root) for root in roots):
        raise BadRequest(f"row {row}: path is outside the directories this server may read")
    if not path.is_file():
        raise BadRequest(f"row {row}: no such file under the allowed directories")
    return path


_URLSAFE = str.maketrans("-_", "+/")


def _b64(text: str) -> bytes:
    """Base64 as tools write it: line breaks (``base64 FILE`` wraps at 76), the URL-safe alphabet, padding left
    out; anything else outside the alphabet is refused."""
    compact = "".join(text.split()).translate(_URLSAFE)
    return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)


def _bytes(source: Path | str, row: int, col: str, limits: Limits) -> bytes:
    if isinstance(source, Path):
        try:
            with open(source, "rb") as f:
                data = f.read(limits.row_bytes + 1)
        except OSError:
            raise BadRequest(f"row {row}: the file cannot be read") from None
    else:
        try:
            data = _b64(source)
        except ValueError:
            why = "is neither base64 (standard or URL-safe) nor a file:// path"
            raise BadRequest(f"row {row}: {col!r} {why}") from None
    if len(data) > limits.row_bytes:
        raise BadRequest(f"row {row}: {col} larger than the {limits.row_bytes} byte limit")
    return data


def media_seconds(sample: Any) -> float | None:
    """Duration of a decoded sample that knows its rate (audio, series, video frames); None if unknown."""
    rate = getattr(sample, "sample_rate", None) or getattr(sample, "fps", None)
    for attr in ("waveform", "values", "frames"):
        data = getattr(sample, attr, None)
        if data is not None and rate:
            return np.shape(data)[-1 if attr != "frames" else 0] / float(rate)
    seconds = getattr(sample, "seconds", None)
    return float(seconds) if seconds is not None else None


def _check_duration(sample: Any, row: int, limit: float) -> None:
    seconds = media_seconds(sample)
    if seconds is not None and seconds > limit:
        raise BadRequest(f"row {row}: {seconds:.1f} s of media, over the {limit:g} s limit")
