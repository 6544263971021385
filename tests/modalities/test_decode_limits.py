"""Every decoder refuses from the header what would cost too much to decode (issue 17's bombs), and bounds
what it does decode: pixels of a tile, channels / rate / duration of audio, frame size of video."""

from __future__ import annotations

import io

import numpy as np
import pytest

from embedforge.modalities.base import ItemError


def png(width: int, height: int, mode: str = "1") -> bytes:
    """A one-colour PNG: a few KB of file for any number of pixels."""
    from PIL import Image

    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, format="PNG")
    return out.getvalue()


def flac(seconds: float, rate: int, channels: int) -> bytes:
    """Silence written block by block: a tiny file whose decoded float32 size is seconds x rate x channels x 4
    (FLAC holds at most 8 channels: more go to a WAV)."""
    import soundfile as sf

    out, kind = io.BytesIO(), "FLAC" if channels <= 8 else "WAV"
    with sf.SoundFile(out, "w", samplerate=rate, channels=channels, format=kind, subtype="PCM_16") as f:
        block = np.zeros((rate, channels), np.int16)
        for _ in range(int(seconds)):
            f.write(block)
    return out.getvalue()


def test_an_image_bomb_is_refused_from_its_header(monkeypatch):
    from embedforge.modalities.pathology.slides import decode_image_tile

    bomb = png(9000, 9000)
    assert len(bomb) < 100_000
    with pytest.raises(ItemError, match=r"row 0: image of 9000 x 9000 pixels is over the 1,048,576-pixel tile limit"):
        decode_image_tile(bomb, "row 0")
    assert decode_image_tile(png(512, 256, "RGB"), "row 1").image.shape == (256, 512, 3)
    monkeypatch.setenv("EMBEDFORGE_MAX_TILE_PIXELS", "10000")
    with pytest.raises(ItemError, match="over the 10,000-pixel"):
        decode_image_tile(png(512, 256, "RGB"), "row 1")


def test_a_query_tile_file_has_the_same_limit(tmp_path):
    from embedforge.modalities.pathology.slides import read_image_tile

    path = tmp_path / "huge.png"
    path.write_bytes(png(5000, 5000))
    with pytest.raises(ItemError, match=r"huge\.png: image of 5000 x 5000 pixels"):
        read_image_tile(str(path))


@pytest.mark.parametrize(
    ("seconds", "rate", "channels", "message"),
    [
        (2, 16000, 9, "9 audio channels, the limit is 8"),
        (1, 384000, 1, "sample rate 384000 Hz, the limit is 192000 Hz"),
        (120, 192000, 8, "120.0 s of audio, the limit is 60 s"),
    ],
)
def test_audio_over_a_header_limit_is_refused_unread(seconds, rate, channels, message):
    from embedforge.modalities.speech.audio import decode_audio

    with pytest.raises(ItemError, match=f"row 0: {message}"):
        decode_audio(flac(seconds, rate, channels), "row 0", max_seconds=60)


def test_files_a_run_reads_have_the_channel_and_rate_limits(tmp_path):
    from embedforge.modalities.speech.audio import read_audio

    path = tmp_path / "many.flac"
    path.write_bytes(flac(1, 16000, 12))
    with pytest.raises(ItemError, match=r"many\.flac: 12 audio channels"):
        read_audio(path)


def test_a_request_is_mixed_to_mono_while_decoding_exactly_as_to_mono_mixes_it():
    import soundfile as sf

    from embedforge.modalities.speech.audio import MONO_BLOCK, decode_audio, to_mono

    rng = np.random.default_rng(0)
    wave = (rng.uniform(-0.5, 0.5, (MONO_BLOCK * 2 + 123, 8)) * 32767).astype(np.int16)
    out = io.BytesIO()
    sf.write(out, wave, 48000, format="WAV", subtype="PCM_16")
    full, _ = sf.read(io.BytesIO(out.getvalue()), dtype="float32", always_2d=True)
    got = decode_audio(out.getvalue(), "row 0", max_seconds=60)
    assert got.waveform.shape == (1, len(wave)) and got.sample_rate == 48000
    np.testing.assert_array_equal(got.waveform[0], to_mono(np.ascontiguousarray(full.T)))


def test_a_video_over_the_frame_size_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    from embedforge.modalities.video import synth
    from embedforge.modalities.video.raw import decode_request

    data = synth.write_video(tmp_path / "wide.mp4", synth.index_frames(3, size=96), codec="libx264").read_bytes()
    assert decode_request(data, "row 0").source == data
    monkeypatch.setenv("EMBEDFORGE_MAX_VIDEO_PIXELS", str(95 * 95))
    with pytest.raises(ItemError, match=r"row 0: video frames of 96 x 96 pixels are over the 9,025-pixel limit"):
        decode_request(data, "row 0")


def test_large_frames_are_downscaled_while_decoding(tmp_path, monkeypatch):
    from embedforge.modalities.video import synth
    from embedforge.modalities.video.decode import Video, sample_frames

    path = synth.write_video(tmp_path / "big.mp4", synth.index_frames(4, size=128), codec="libx264")
    full = sample_frames(Video(str(path)), "big", k=2).images
    assert full.shape == (2, 128, 128, 3)
    monkeypatch.setenv("EMBEDFORGE_VIDEO_DECODE_PIXELS", str(64 * 64))
    small = sample_frames(Video(str(path)), "big", k=2).images
    assert small.shape == (2, 64, 64, 3)  # the same frames, a quarter of the pixels
    np.testing.assert_allclose(small.mean(axis=(1, 2, 3)), full.mean(axis=(1, 2, 3)), atol=1.0)
