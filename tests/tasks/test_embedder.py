"""A served embedder: the encoder alone behind the serving boundary, answering the vectors its tables hold."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from embedforge.modalities.text.sample import Text
from embedforge.registry.encoders import build_encoder
from embedforge.tasks.embedder import register_embedder
from tests.serving_helpers import Server

pytestmark = pytest.mark.slow
TEXTS = ["how do I copy files", "a recipe for bread", "Ünïcode and emoji 🙂 survive"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_registered_text_embedder_answers_the_encoders_vectors_over_http(tmp_path):
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = register_embedder(encoder="text/all-minilm-l6-v2", tracking_uri=tracking, registered_name="minilm")
    assert out["dim"] == 384 and out["models"]["text"]["alias"] == "champion"
    import mlflow

    mlflow.set_tracking_uri(tracking)
    example = mlflow.models.get_model_info("models:/minilm@champion").saved_input_example_info
    assert example is not None  # the modality's example query as a request: MLflow shows it and answered it
    enc = build_encoder("text/all-minilm-l6-v2")
    expected = enc.encode([enc.preprocess(Text(t), f"t{i}") for i, t in enumerate(TEXTS)])
    server = Server("minilm@champion", tracking, tmp_path / "serve.log")
    try:
        server.wait_ready()
        status, answer = server.post({"dataframe_records": [{"text": b64(t)} for t in TEXTS]})
        assert status == 200, answer
        got = np.array([p["vector"] for p in answer["predictions"]], dtype=np.float32)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        status, answer = server.post({"dataframe_records": [{"text": b64("   ")}]})
        assert status == 400 and "empty text" in answer["message"] and "Traceback" not in str(answer)
    finally:
        server.stop()


def test_an_unknown_encoder_is_refused_before_anything_is_logged(tmp_path):
    with pytest.raises(LookupError):
        register_embedder(encoder="text/no-such-encoder", tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")
