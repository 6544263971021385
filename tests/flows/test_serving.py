"""A registered speech head served over REST: raw audio in, height and sex out; bad requests get 4xx."""

import base64
import io

import numpy as np
import pytest

from tests.serving_helpers import Server, register_speech_head

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(prefect_harness, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    tracking, wav = register_speech_head(root, "hc-serve")
    allowed = root / "allowed"
    allowed.mkdir()
    (allowed / "ok.wav").write_bytes(wav.read_bytes())
    (allowed / "escape.wav").symlink_to(wav)  # a link out of the root
    limits = {"EMBEDFORGE_MAX_RAW_BYTES": "400000", "EMBEDFORGE_MAX_REQUEST_BYTES": "600000"}
    audio = Server("hc-serve@champion", tracking, root / "audio.log", **limits)
    rooted = Server(
        "hc-serve@champion",
        tracking,
        root / "rooted.log",
        EMBEDFORGE_SERVE_ALLOWED_ROOTS=str(allowed),
        EMBEDFORGE_MAX_MEDIA_SECONDS="3",
    )
    head = Server("hc-serve-head@champion", tracking, root / "head.log")
    try:
        for server in (audio, rooted, head):
            server.wait_ready()
        yield {"audio": audio, "rooted": rooted, "head": head, "wav": wav, "allowed": allowed}
    finally:
        for server in (audio, rooted, head):
            server.stop()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rows(*values: str) -> dict:
    return {"dataframe_records": [{"audio": v} for v in values]}


def assert_refused(status, answer, expected: str) -> None:
    """A 4xx whose body carries the message and no trace of the server's code."""
    assert 400 <= status < 500, (status, answer)
    assert expected in str(answer), answer
    assert "Traceback" not in str(answer) and "stack_trace" not in str(answer) and 'File "' not in str(answer), answer


def test_raw_audio_in_height_and_sex_out(servers):
    status, body = servers["audio"].post(rows(b64(servers["wav"].read_bytes())))
    assert status == 200, body
    (pred,) = body["predictions"]
    assert pred["sex"] in ("m", "f") and 120 < pred["height_cm"] < 230 and 0.5 <= pred["sex_prob"] <= 1


def test_bad_requests_get_4xx_with_a_message_and_the_server_keeps_answering(servers):
    audio, head, wav = servers["audio"], servers["head"], servers["wav"]
    cases = {
        "malformed JSON": (audio, b'{"dataframe_records": [', ""),
        "non-audio payload": (audio, rows(b64(b"hello " * 50)), "audio refused"),
        "not base64": (audio, rows("%%%"), "neither base64"),
        "oversized payload": (audio, rows(b64(bytes(500_000))), "byte limit"),
        "oversized request": (audio, rows(b64(bytes(350_000)), b64(bytes(350_000))), "request limit"),
        "wrong column": (audio, {"dataframe_records": [{"wav": "x"}]}, ""),
        "a column beside the input": (
            audio,
            {"dataframe_records": [{"audio": b64(wav.read_bytes()), "sample_rate": 8000}]},
            "unknown input column(s) sample_rate",
        ),
        "labels as a column": (head, {"dataframe_records": [{"vector": [0.0] * 256, "labels": "a,b"}]}, "labels"),
        "wrong vector shape": (head, {"dataframe_records": [{"vector": [0.1, 0.2, 0.3]}]}, "(-1, 256)"),
        "non-finite vector": (head, {"dataframe_records": [{"vector": [float("inf")] * 256}]}, "NaN or inf"),
    }
    for name, (server, body, expected) in cases.items():
        status, answer = server.post(body)
        assert 400 <= status < 500, (name, status, answer)
        assert expected in str(answer), (name, answer)
    status, _ = audio.post(rows(b64(wav.read_bytes())))
    assert status == 200
    status, body = head.post({"dataframe_records": [{"vector": [0.0] * 255 + [1.0]}]})
    assert status == 200 and len(body["predictions"]) == 1
    status, same = head.post({"inputs": [[0.0] * 255 + [1.0]]})  # the tensor signature's plain list of vectors
    assert status == 200 and same == body


def test_local_paths_are_refused_by_default_without_telling_what_exists(servers):
    audio, wav = servers["audio"], servers["wav"]
    for uri in (f"file://{wav}", "file:///etc/shadow", "file:///etc/passwd", "file:///no/such/file.wav"):
        status, answer = audio.post(rows(uri))
        assert_refused(status, answer, "local file paths are not accepted")


def test_local_paths_only_inside_the_allowed_roots(servers):
    rooted, wav, allowed = servers["rooted"], servers["wav"], servers["allowed"]
    status, body = rooted.post(rows(f"file://{allowed / 'ok.wav'}"))
    assert status == 200, body
    outside = (
        f"file://{wav}",
        "file:///etc/passwd",
        f"file://{allowed}/../{wav.relative_to(allowed.parent)}",  # .. out of the root
        f"file://{allowed / 'escape.wav'}",  # a symlink out of the root
    )
    for uri in outside:
        status, answer = rooted.post(rows(uri))
        assert_refused(status, answer, "outside the directories")
    status, answer = rooted.post(rows(f"file://{allowed / 'missing.wav'}"))
    assert_refused(status, answer, "no such file")
    status, body = rooted.post(rows(b64(wav.read_bytes())))
    assert status == 200, body


def test_decoded_media_longer_than_the_limit_is_refused(servers):
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.random.default_rng(0).normal(0, 0.1, 16000 * 4).astype(np.float32), 16000, format="WAV")
    status, answer = servers["rooted"].post(rows(b64(buf.getvalue())))
    assert_refused(status, answer, "limit is 3 s")


def test_bodies_over_the_request_limit_are_refused_before_parsing_and_parse_errors_carry_no_trace(servers):
    audio, head = servers["audio"], servers["head"]
    status, answer = audio.post(b'{"dataframe_records": [{"audio": "' + b"A" * 3_000_000 + b'"}]}')
    assert_refused(status, answer, "byte limit")
    assert status == 413
    status, answer = head.post_raw(b'{"inputs": [[1, 2, "SECRET-ECHO' + b"Z" * 5000, "application/json")
    assert status == 400 and "SECRET-ECHO" not in str(answer) and len(answer["message"]) <= 1000, answer
    status, answer = head.post_raw(b"vector\n[1, 2\n", "text/csv")
    assert 400 <= status < 500 and "Traceback" not in str(answer) and "stack_trace" not in str(answer), answer


def test_a_nul_byte_in_a_path_and_json_nested_100k_deep_are_the_callers_errors(servers):
    rooted, allowed = servers["rooted"], servers["allowed"]
    for uri in (f"file://{allowed}/ok.wav\x00.txt", f"file://{allowed}/ok%00.wav"):
        status, answer = rooted.post(rows(uri))
        assert_refused(status, answer, "NUL byte")
    deep = b'{"dataframe_records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, answer = servers["head"].post_raw(deep, "application/json")
    assert_refused(status, answer, "nested deeper than 64")
    status, _ = rooted.post(rows(f"file://{allowed / 'ok.wav'}"))
    assert status == 200  # still answering


def test_audio_bombs_are_refused_from_the_header_and_the_server_stays_small(servers):
    from tests.flows.test_serving_bombs import refused_within_budget
    from tests.modalities.test_decode_limits import flac

    bomb = flac(120, 192000, 8)  # 737 MB of float32 if every channel were decoded at once
    refused_within_budget(servers["rooted"], "audio", bomb, "120.0 s of audio, the limit is 3 s")
    refused_within_budget(servers["rooted"], "audio", flac(1, 16000, 16), "16 audio channels, the limit is 8")
    status, answer = servers["rooted"].post(rows(b64(voice_8ch_192k(servers["wav"]))))  # within the limits: scored
    assert status == 200 and 120 < answer["predictions"][0]["height_cm"] < 230, answer


def voice_8ch_192k(wav) -> bytes:
    """The test voice resampled to 192 kHz on 8 channels, as FLAC: the most a request may carry per second."""
    import soundfile as sf

    from embedforge.modalities.speech.audio import read_audio, resample, to_mono

    audio = read_audio(wav)
    wave = resample(to_mono(audio.waveform), audio.sample_rate, 192000)
    out = io.BytesIO()
    sf.write(out, np.repeat(wave[:, None], 8, axis=1), 192000, format="FLAC")
    return out.getvalue()
