"""The served model's request boundary in process: paths, sizes, durations and error messages."""

import base64
import io

import numpy as np
import pandas as pd
import pytest

from embedforge.tasks.pyfunc import BadRequest, HeadModel, Limits, allowed_path, embed_raw_column
from tests.fakes import TinyEncoder

META = {"input": "raw", "encoder": {"name": "test/tiny", "dim": 8}}


def npy(values) -> str:
    buf = io.BytesIO()
    np.save(buf, np.asarray(values, dtype=np.float32))
    return base64.b64encode(buf.getvalue()).decode()


def limits(**kw) -> Limits:
    return Limits(**{"row_bytes": 10_000, "request_bytes": 20_000, "media_seconds": 60.0, "roots": (), **kw})


def test_rows_are_decoded_through_the_modality_and_encoded():
    X = embed_raw_column(
        pd.DataFrame({"series": [npy(np.arange(20)), npy(np.ones(30))]}), TinyEncoder(), META, limits()
    )
    assert X.shape == (2, 8) and np.all(np.isfinite(X))


def test_the_request_limit_is_a_sum_over_rows():
    row = npy(np.zeros(1500))  # ~6 kB each: under the row limit, three of them over the request limit
    frame = pd.DataFrame({"series": [row] * 4})
    with pytest.raises(BadRequest, match="request limit"):
        embed_raw_column(frame, TinyEncoder(), META, limits())
    assert embed_raw_column(frame[:2], TinyEncoder(), META, limits()).shape == (2, 8)


def test_the_decoded_input_a_request_holds_has_a_memory_budget():
    frame = pd.DataFrame({"series": [npy(np.zeros(1000))] * 3})  # 4 kB decoded per row (float32)
    assert embed_raw_column(frame, TinyEncoder(), META, limits(memory_bytes=50_000)).shape == (3, 8)
    with pytest.raises(BadRequest, match="row 1: the request's decoded input passes the 10,000-byte memory budget"):
        embed_raw_column(frame, TinyEncoder(), META, limits(memory_bytes=10_000))


def test_paths_resolve_links_and_dotdot_before_the_root_check(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "secret.npy"
    root.mkdir()
    outside.write_bytes(b"x")
    (root / "ok.npy").write_bytes(b"x")
    (root / "link.npy").symlink_to(outside)
    roots = (root.resolve(),)
    with pytest.raises(BadRequest, match="not accepted"):
        allowed_path(f"file://{root / 'ok.npy'}", 0, ())
    assert allowed_path(f"file://{root / 'ok.npy'}", 0, roots) == (root / "ok.npy").resolve()
    for uri in (f"file://{root}/../secret.npy", f"file://{root / 'link.npy'}", "file:///etc/passwd"):
        with pytest.raises(BadRequest, match="outside the directories"):
            allowed_path(uri, 0, roots)
    with pytest.raises(BadRequest, match="file:///absolute/path"):
        allowed_path("file://otherhost/etc/passwd", 0, roots)


class _Broken:
    def predict_vectors(self, X):
        raise RuntimeError("secret detail from /srv/model/code.py")


def test_unexpected_errors_become_a_generic_500_without_a_traceback():
    from mlflow.exceptions import MlflowException

    model = HeadModel()
    model.head, model.meta, model.encoder, model.limits = _Broken(), {**META, "input": "vector"}, None, limits()
    with pytest.raises(MlflowException) as err:
        model.predict(None, pd.DataFrame({"vector": [[0.0] * 8]}))
    body = err.value.serialize_as_json()
    assert err.value.get_http_status_code() == 500 and "internal error" in body
    assert "secret detail" not in body and "Traceback" not in body and "stack_trace" not in body
    with pytest.raises(MlflowException) as bad:
        model.predict(None, pd.DataFrame({"vector": [[0.0] * 3]}))
    assert bad.value.get_http_status_code() == 400 and "8 values" in bad.value.message


def test_base64_as_tools_write_it_is_taken_and_the_rest_named():
    """``base64 FILE`` wraps at 76 characters, URL-safe encoders use -_ and often leave the padding out."""
    standard = npy(np.arange(40))
    wrapped = "\n".join(standard[i : i + 76] for i in range(0, len(standard), 76))
    urlsafe = base64.urlsafe_b64encode(base64.b64decode(standard)).decode().rstrip("=")
    frame = pd.DataFrame({"series": [standard, wrapped, urlsafe]})
    X = embed_raw_column(frame, TinyEncoder(), META, limits())
    assert np.allclose(X[0], X[1]) and np.allclose(X[0], X[2])
    with pytest.raises(BadRequest, match=r"row 0: 'series' is neither base64 \(standard or URL-safe\) nor a file://"):
        embed_raw_column(pd.DataFrame({"series": ["not base64!!!"]}), TinyEncoder(), META, limits())
    with pytest.raises(BadRequest, match=r"^row 0: series refused: "):  # the reason once, with its row once
        embed_raw_column(pd.DataFrame({"series": [base64.b64encode(b"hello").decode()]}), TinyEncoder(), META,
                         limits())  # fmt: skip


def test_the_served_models_import_without_mlflow_s_type_hint_advice():
    """MLflow's 'Add type hints to the predict method' warning printed in every train, register and serve."""
    import subprocess
    import sys

    probe = (
        "import warnings\nwith warnings.catch_warnings(record=True) as w:\n    warnings.simplefilter('always')\n"
        "    import embedforge.tasks.pyfunc, embedforge.tasks.train_slides\n"
        "print(sum('Add type hints' in str(x.message) for x in w))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "0", out.stdout + out.stderr[-2000:]
