"""The HTTP boundary in front of MLflow's scoring app, driven as ASGI in process."""

from __future__ import annotations

import asyncio
import json

from embedforge.infra.serving import Boundary, max_body_bytes, scrub


async def _echo_app(scope, receive, send):
    """Reads the whole body; answers 400 with a stack trace when it says 'fail', else 200 with its size."""
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if body == b"fail":
        out = json.dumps({"error_code": "BAD_REQUEST", "message": "bad csv", "stack_trace": "Traceback ..."}).encode()
        status = 400
    else:
        out, status = json.dumps({"size": len(body)}).encode(), 200
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"%d" % len(out))]})
    await send({"type": "http.response.body", "body": out})


def call(app, body_chunks: list[bytes], length: bool = True) -> tuple[int, dict]:
    headers = [(b"content-length", str(sum(map(len, body_chunks))).encode())] if length else []
    scope = {"type": "http", "method": "POST", "path": "/invocations", "headers": headers}
    incoming = [
        {"type": "http.request", "body": c, "more_body": i < len(body_chunks) - 1} for i, c in enumerate(body_chunks)
    ]
    sent = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = sent[0]["status"]
    return status, json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def test_body_limit_with_and_without_content_length():
    app = Boundary(_echo_app, max_body=100)
    assert call(app, [b"x" * 60, b"x" * 40]) == (200, {"size": 100})
    status, answer = call(app, [b"x" * 60, b"x" * 41])
    assert status == 413 and "over the 100 byte limit" in answer["message"]
    assert call(app, [b"x" * 60, b"x" * 40], length=False) == (200, {"size": 100})
    assert call(app, [b"x" * 60, b"x" * 41], length=False)[0] == 413


def test_error_answers_lose_their_stack_trace():
    status, answer = call(Boundary(_echo_app, max_body=100), [b"fail"])
    assert status == 400 and answer == {"error_code": "BAD_REQUEST", "message": "bad csv"}
    assert scrub(b"not json") == b"not json"


def test_error_answers_do_not_echo_the_request_and_stay_short():
    echoed = {
        "error_code": "BAD_REQUEST",
        "message": "Ensure that input is valid JSON. Error: 'x'\nInput: \n" + "A" * 9000,
    }
    assert json.loads(scrub(json.dumps(echoed).encode())) == {
        "error_code": "BAD_REQUEST",
        "message": "Ensure that input is valid JSON. Error: 'x'",
    }
    table = "   text\n0  " + "VGhlIHN0cmlr" * 200  # MLflow's echo of a 100-row request, twice
    inner = f"Failed to enforce schema of data '{table}' with schema '['text': string (required)]'. Error: Model is "
    wrapped = {"error_code": "BAD_REQUEST", "message": f"Failed to predict data '{table}'. \nError: {inner}missing"}
    assert json.loads(scrub(json.dumps(wrapped).encode()))["message"] == "Model is missing"  # the reason, no echo
    plain = {"message": f"Failed to predict data '{table}'. \nError: row 57: 'text' is neither base64 nor ..."}
    assert json.loads(scrub(json.dumps(plain).encode()))["message"] == "row 57: 'text' is neither base64 nor ..."
    long = json.loads(scrub(json.dumps({"message": "m" * 5000}).encode()))["message"]
    assert len(long) == 1000 and long.endswith("...")
    assert scrub(b'{"message": "fine"}') == b'{"message": "fine"}' and scrub(b"[1]") == b"[1]"


def test_the_body_limit_fits_the_base64_request_limit():
    assert max_body_bytes(3_000_000) >= 4_000_000


class _Echo:  # a pyfunc model that answers the columns it was given
    def predict(self, context, model_input, params=None):
        import pandas as pd

        return pd.DataFrame({"seen": [",".join(model_input.columns)] * len(model_input)})


def test_a_column_the_signature_does_not_declare_is_refused_not_dropped(tmp_path):
    """MLflow drops an undeclared column with a log line and answers; served, it is the caller's error, named."""
    import mlflow
    import pandas as pd
    import pytest
    from mlflow.exceptions import MlflowException
    from mlflow.models.signature import ModelSignature
    from mlflow.pyfunc import PythonModel
    from mlflow.types import ColSpec, Schema

    from embedforge.infra.serving import refuse_unknown_columns

    model_cls = type("Echo", (_Echo, PythonModel), {})
    signature = ModelSignature(inputs=Schema([ColSpec("string", "audio")]))
    mlflow.pyfunc.save_model(str(tmp_path / "m"), python_model=model_cls(), signature=signature)
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    extra = pd.DataFrame({"audio": ["x"], "sample_rate": ["8000"]})
    assert loaded.predict(extra)["seen"].tolist() == ["audio"]  # MLflow alone: dropped, answered
    served = refuse_unknown_columns(loaded)
    with pytest.raises(MlflowException, match=r"unknown input column.*sample_rate.*takes audio") as refused:
        served.predict(extra)
    assert refused.value.get_http_status_code() == 400
    assert served.predict(pd.DataFrame({"audio": ["x"]}), params=None)["seen"].tolist() == ["audio"]
