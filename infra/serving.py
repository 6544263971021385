"""The app ``embedforge serve`` runs: MLflow's own scoring server for one model, behind an HTTP boundary.

The boundary refuses a request body over the configured size before anything parses it (413), a column the
model's signature does not declare (400; MLflow would drop it and answer), and strips
the ``stack_trace`` MLflow attaches to some error answers (CSV and Parquet parse errors), so callers get a
message, never the server's code paths. What the model itself refuses is handled in ``tasks/pyfunc.py``.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

MODEL_ENV = "EMBEDFORGE_SERVE_MODEL"  # the models:/ URI (or local path) to serve
JSON_OVERHEAD = 1 << 20  # room for JSON syntax and column names around the raw payloads


def build_app():
    """uvicorn factory: download the model (as ``mlflow models serve`` does), load it, wrap MLflow's app."""
    from mlflow.pyfunc import scoring_server
    from mlflow.tracking.artifact_utils import _download_artifact_from_uri

    from embedforge.registry.redact import install_log_redaction
    from embedforge.registry.settings import Settings

    install_log_redaction()
    local = _download_artifact_from_uri(os.environ[MODEL_ENV])
    model = refuse_unknown_columns(scoring_server.load_model_with_mlflow_config(local))
    return Boundary(scoring_server.init(model), max_body=max_body_bytes(Settings().max_request_bytes))


def refuse_unknown_columns(model: Any) -> Any:
    """A request naming a column the model's signature does not declare is refused (400), naming it.

    MLflow drops such columns with a warning in the server's log and answers 200: a misspelt or misplaced input
    (``labels`` as a column instead of a request parameter, ``sample_rate`` beside the audio) would be answered
    as if it had not been sent, a silent wrong answer.
    """
    schema = model.metadata.get_input_schema()
    declared = schema.input_names() if schema is not None and schema.has_input_names() else None
    if not declared:
        return model
    predict = model.predict

    def checked(data: Any, params: dict[str, Any] | None = None) -> Any:
        unknown = [str(c) for c in getattr(data, "columns", ()) if c not in declared]
        if unknown:
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            raise MlflowException(
                f"unknown input column(s) {', '.join(unknown)}: this model takes {', '.join(map(str, declared))}"
                " (candidate labels go in the request's params)",
                error_code=INVALID_PARAMETER_VALUE,
            )
        return predict(data, params=params)

    model.predict = checked
    return model


def max_body_bytes(max_request_bytes: int) -> int:
    """The largest body that can carry ``max_request_bytes`` of base64-encoded raw input."""
    return max_request_bytes * 4 // 3 + JSON_OVERHEAD


class Boundary:
    """ASGI middleware: body size limit before parsing; error answers without stack traces."""

    def __init__(self, app: Any, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _drain(receive)  # read and drop, so the client sees the answer instead of a reset
            await _answer(send, 413, f"request body of {int(length)} bytes is over the {self.max_body} byte limit")
            return
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            body = await self._buffered(receive)  # chunked or not: count what arrives before the app sees it
            if body is None:
                await _answer(send, 413, f"request body is over the {self.max_body} byte limit")
                return
            if json_depth(body) > MAX_JSON_DEPTH:  # the parser would recurse until it fails with a 500
                await _answer(send, 400, f"request JSON is nested deeper than {MAX_JSON_DEPTH} levels")
                return
            receive = _replay([{"type": "http.request", "body": body, "more_body": False}])
        await self.app(scope, receive, _Scrubbing(send))

    async def _buffered(self, receive: Any) -> bytes | None:
        """Read the body up to the limit (the app would read it whole anyway); None when it is too large."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return None
            more = message.get("more_body", False)
        return b"".join(chunks)


MAX_JSON_DEPTH = 64  # deepest a request body may nest: a served model's input is a few levels deep
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # unrolled: 6x faster than an alternation


def json_depth(body: bytes) -> int:
    """How deep the body's brackets nest, strings skipped; at most MAX_JSON_DEPTH when too few brackets to exceed it.

    C-speed regex and numpy: a 30 MB body of base64 payloads costs a bracket count (milliseconds)."""
    import numpy as np

    if not body or body.lstrip()[:1] not in (b"{", b"["):
        return 0
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:  # base64 payloads: no brackets to count
        return MAX_JSON_DEPTH
    lut = np.zeros(256, dtype=np.int8)
    lut[[ord("["), ord("{")]], lut[[ord("]"), ord("}")]] = 1, -1
    step = lut[np.frombuffer(_JSON_STRING.sub(b'""', body), dtype=np.uint8)]
    step = step[np.flatnonzero(step)]
    return int(np.cumsum(step, dtype=np.int64).max(initial=0))


async def _drain(receive: Any) -> None:
    more = True
    while more:
        message = await receive()
        more = message["type"] == "http.request" and message.get("more_body", False)


def _replay(messages: list[dict]):
    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return receive


class _Scrubbing:
    """A ``send`` that holds error answers until complete and drops their ``stack_trace``."""

    def __init__(self, send: Any) -> None:
        self.send, self.body = send, b""
        self.start: dict | None = None

    async def __call__(self, message: dict) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            self.start = message
            return
        if self.start is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        self.body += message.get("body", b"")
        if not message.get("more_body", False):
            body = scrub(self.body)
            headers = [(k, v) for k, v in self.start.get("headers", []) if k.lower() != b"content-length"]
            await self.send({**self.start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await self.send({"type": "http.response.body", "body": body})


MAX_MESSAGE = 1000  # characters of an error message a caller gets back


# MLflow puts the request, printed as a table, before the reason: the caller's own data back, and at 1,000
# characters the reason cut off. Greedy up to the wrapper's own "Error:", which follows the echo.
_ECHOES = (
    re.compile(r"\AFailed to predict data '.*'\. \nError: (?P<reason>.*)\Z", re.S),
    re.compile(r"\AFailed to enforce schema of data '.*' with schema '.*'\. Error: (?P<reason>.*)\Z", re.S),
)


def reason(message: str) -> str:
    """MLflow's error message without the request it echoes (and without the schema it prints beside it)."""
    for pattern in _ECHOES:
        found = pattern.match(message)
        if found and found["reason"].strip():
            message = found["reason"].strip()
    return message


def scrub(body: bytes) -> bytes:
    """A JSON error answer without its ``stack_trace`` and without the request MLflow echoes (a 30 MB body would
    come back whole, and the reason would be cut off after it); its message kept to MAX_MESSAGE characters.
    Anything else unchanged."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict):
        return body
    traced = data.pop("stack_trace", None) is not None
    message = data.get("message")
    if isinstance(message, str):
        short = reason(message.split("\nInput: \n", 1)[0])  # MLflow's JSON parse error appends the whole request
        short = short if len(short) <= MAX_MESSAGE else short[: MAX_MESSAGE - 3] + "..."
        if short != message:
            data["message"], traced = short, True
    return json.dumps(data).encode() if traced else body


async def _answer(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error_code": "BAD_REQUEST", "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
