"""Decompression bombs sent to real served models over HTTP: each is refused with a 4xx from its header, and
the server's peak memory stays within a budget of what it held before (issue 17: an 8 KB PNG once cost 2.3 GB,
a 76 KB one killed the server)."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from tests.modalities.test_decode_limits import png
from tests.serving_helpers import Server, memory_mb, register_raw_model

pytestmark = pytest.mark.slow

BUDGET_MB = 250  # what one refused (or small) request may add to the server's peak memory


@pytest.fixture(scope="module")
def servers(prefect_harness, tmp_path_factory):
    root = tmp_path_factory.mktemp("bombs")
    tracking = f"sqlite:///{root}/mlflow.db"
    register_raw_model(tracking, "pathology/efficientnet-lite0", "tiles")
    register_raw_model(tracking, "video/efficientnet-lite0", "clips", frames=2, size=64)
    started = {name: Server(f"{name}@champion", tracking, root / f"{name}.log") for name in ("tiles", "clips")}
    try:
        for server in started.values():
            server.wait_ready()
        yield started
    finally:
        for server in started.values():
            server.stop()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def refused_within_budget(server: Server, column: str, payload: bytes, expected: str) -> None:
    rss, peak = memory_mb(server.proc.pid)
    status, answer = server.post({"dataframe_records": [{column: b64(payload)}]})
    assert 400 <= status < 500 and expected in str(answer), (status, answer)
    assert "Traceback" not in str(answer)
    grown = memory_mb(server.proc.pid)[1] - max(peak, rss + BUDGET_MB)
    assert grown <= 0, f"server peak memory passed its budget by {grown:.0f} MB"
    assert server.post({"dataframe_records": [{column: b64(b"x")}]})[0] == 400  # still answering


def test_an_image_bomb_is_refused_and_the_server_stays_small(servers):
    bomb = png(9000, 9000)  # 81 Mpx in a few KB
    assert len(bomb) < 80_000
    refused_within_budget(servers["tiles"], "tile", bomb, "9000 x 9000 pixels is over the 1,048,576-pixel tile limit")


def test_a_tile_within_the_limit_is_scored(servers):
    tile = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(tile).save(out, format="PNG")
    status, answer = servers["tiles"].post({"dataframe_records": [{"tile": b64(out.getvalue())}]})
    assert status == 200 and answer["predictions"][0]["label"] in ("a", "b"), answer


def test_a_video_bomb_is_refused_from_its_header(servers, tmp_path):
    from embedforge.modalities.video import synth

    frames = np.zeros((3, 2200, 4400, 3), np.uint8)  # 9.7 Mpx frames, over the 8.8 Mpx (4096 x 2160) limit
    bomb = synth.write_video(tmp_path / "bomb.mp4", frames, codec="libx264").read_bytes()
    del frames
    refused_within_budget(servers["clips"], "video", bomb, "4400 x 2200 pixels are over the 8,847,360-pixel limit")
