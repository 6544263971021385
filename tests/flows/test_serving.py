"""A registered speech head served over REST: raw audio in, height and sex out; bad requests get 4xx."""

import base64

import pytest

from tests.serving_helpers import Server, register_speech_head

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(prefect_harness, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    tracking, wav = register_speech_head(root, "hc-serve")
    audio = Server("hc-serve@champion", tracking, root / "audio.log", EMBEDFORGE_MAX_AUDIO_BYTES="400000")
    head = Server("hc-serve-head@champion", tracking, root / "head.log")
    try:
        audio.wait_ready()
        head.wait_ready()
        yield audio, head, wav
    finally:
        audio.stop()
        head.stop()


def test_raw_audio_in_height_and_sex_out(servers):
    audio, _, wav = servers
    status, body = audio.post({"dataframe_records": [{"audio": base64.b64encode(wav.read_bytes()).decode()}]})
    assert status == 200, body
    (pred,) = body["predictions"]
    assert pred["sex"] in ("m", "f") and 120 < pred["height_cm"] < 230 and 0.5 <= pred["sex_prob"] <= 1


def test_bad_requests_get_4xx_with_a_message_and_the_server_keeps_answering(servers):
    audio, head, wav = servers
    good = {"dataframe_records": [{"audio": base64.b64encode(wav.read_bytes()).decode()}]}
    cases = {
        "malformed JSON": (audio, b'{"dataframe_records": [', ""),
        "non-audio payload": (
            audio,
            {"dataframe_records": [{"audio": base64.b64encode(b"hello " * 50).decode()}]},
            "not decodable audio",
        ),
        "not base64": (audio, {"dataframe_records": [{"audio": "%%%"}]}, "neither base64"),
        "oversized payload": (
            audio,
            {"dataframe_records": [{"audio": base64.b64encode(bytes(500_000)).decode()}]},
            "byte limit",
        ),
        "wrong column": (audio, {"dataframe_records": [{"wav": "x"}]}, ""),
        "wrong vector shape": (head, {"dataframe_records": [{"vector": [0.1, 0.2, 0.3]}]}, "256 values"),
    }
    for name, (server, body, expected) in cases.items():
        status, answer = server.post(body)
        assert 400 <= status < 500, (name, status, answer)
        assert expected in str(answer), (name, answer)
    status, _ = audio.post(good)
    assert status == 200
    vector = [0.0] * 255 + [1.0]
    status, body = head.post({"dataframe_records": [{"vector": vector}]})
    assert status == 200 and len(body["predictions"]) == 1
