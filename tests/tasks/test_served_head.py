"""The registered head-only HeightCeleb model answers as before folding: same JSON, same request formats, 4xx."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from embedforge.tasks.pyfunc import Records
from embedforge.tasks.train import PerRowHeight, _log_models

DIM = 16
IDENTITY = {"name": "speech/ge2e", "fingerprint": "test", "dim": DIM, "weights": None}


def _json(frame) -> str:
    import io

    from mlflow.pyfunc.scoring_server import predictions_to_json

    out = io.StringIO()
    predictions_to_json(frame, out)
    return out.getvalue()


def test_records_answer_with_the_json_a_plain_frame_gives():
    columns = {
        "height_cm": np.array([170.25, np.nan, 1e-300]),
        "sex": np.array(["m", "f", "f"]),
        "sex_prob": np.array([0.5, 0.75, 1.0]),
        "n": np.array([1, 2, 3]),
        "ok": np.array([True, False, True]),
    }
    frame = Records(columns, copy=False)
    assert _json(frame) == _json(pd.DataFrame(columns))
    assert type(frame[frame["ok"]]) is pd.DataFrame and type(frame.head(1)) is pd.DataFrame
    assert repr(frame.to_dict()) == repr(pd.DataFrame(columns).to_dict())  # other orients: pandas' own (NaN != NaN)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The head logged as before (array column, sklearn path) and as now (tensor input, folded), one store."""
    import mlflow

    from embedforge.modalities.speech.heightceleb import HeightHead
    from embedforge.tasks.tracking import head_signature, log_head, use_tracking

    rng = np.random.default_rng(2)
    X = rng.standard_normal((90, DIM)).astype(np.float32) * rng.uniform(0.5, 3, DIM).astype(np.float32)
    head = HeightHead().fit(X, 170 + 4 * X[:, 1], np.where(np.arange(90) % 2, "m", "f"), np.arange(90) // 3)
    use_tracking(f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/m.db", "served-head")
    with warnings.catch_warnings(), mlflow.start_run():
        warnings.simplefilter("ignore")
        _log_models(head, IDENTITY, None, "hc", "champion", X[:2])
        old = PerRowHeight(head)
        old.affine_ = None
        meta = {"input": "vector", "encoder": IDENTITY, "encoder_weights": None, "task": "heightceleb"}
        log_head(old, meta, head_signature(old, meta, X[:2]), "hc-old-head", "champion")
    load = mlflow.pyfunc.load_model
    return load("models:/hc-head@champion"), load("models:/hc-old-head@champion"), rng.normal(0, 3, (7, DIM))


def _answer(model, body: dict):
    from mlflow.pyfunc.scoring_server import invocations

    response = invocations(json.dumps(body), "application/json", model, model.metadata.get_input_schema())
    assert response.status == 200, response.response
    return pd.DataFrame(json.loads(response.response)["predictions"])


def test_the_folded_model_answers_as_the_sklearn_one(models):
    new, old, Q = models
    assert new.unwrap_python_model().head.affine_ is not None
    records = {"dataframe_records": [{"vector": list(v)} for v in Q]}
    before = _answer(old, records)
    assert list(before.columns) == ["height_cm", "sex", "sex_prob"] and set(before["sex"]) == {"f", "m"}
    bodies = (
        records,
        {"dataframe_split": {"columns": ["vector"], "data": [[list(v)] for v in Q]}},
        {"inputs": Q.tolist()},
    )
    for body in bodies:
        now = _answer(new, body)
        assert list(now.columns) == list(before.columns) and list(now["sex"]) == list(before["sex"])
        np.testing.assert_allclose(now["height_cm"], before["height_cm"], rtol=0, atol=1e-6)
        np.testing.assert_allclose(now["sex_prob"], before["sex_prob"], rtol=0, atol=1e-9)
    in_process = new.predict(pd.DataFrame({"vector": list(Q)}))
    assert isinstance(in_process, pd.DataFrame) and in_process["height_cm"].between(100, 250).all()


def test_bad_vectors_are_refused_with_a_message(models):
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import invocations

    new, _, _ = models
    schema = new.metadata.get_input_schema()
    cases = {
        "(-1, 16)": {"dataframe_records": [{"vector": [0.5] * (DIM - 1)}]},
        "NaN or inf": {"dataframe_records": [{"vector": [float("nan")] * DIM}]},
        "could not be converted": {"dataframe_records": [{"vector": ["tall"] * DIM}]},
    }
    for expected, body in cases.items():
        with pytest.raises(MlflowException, match=expected.replace("(", r"\(").replace(")", r"\)")) as err:
            invocations(json.dumps(body), "application/json", new, schema)
        assert err.value.get_http_status_code() == 400 and "Traceback" not in err.value.message
