"""Audio reading: bad files become ItemErrors naming the file; mono mixing and resampling are exact enough."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from embedforge.modalities.base import Audio, ItemError
from embedforge.modalities.speech.audio import prepare, read_audio, resample, to_mono


def tone(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_reads_pcm_wav_as_channels_by_samples(write_wav):
    path = write_wav("a.wav", np.stack([tone(440, 0.5, 16000), tone(220, 0.5, 16000)]))
    audio = read_audio(path)
    assert audio.sample_rate == 16000
    assert audio.waveform.shape == (2, 8000) and audio.waveform.dtype == np.float32
    np.testing.assert_allclose(audio.waveform[0], tone(440, 0.5, 16000), atol=1e-4)


def test_reads_flac(write_wav, tmp_path):
    path = tmp_path / "a.flac"
    sf.write(str(path), tone(300, 0.25, 22050), 22050, format="FLAC")
    audio = read_audio(path)
    assert audio.sample_rate == 22050 and audio.waveform.shape == (1, 5512)


def test_truncated_wav_is_an_item_error_naming_the_file(write_wav):
    path = write_wav("cut.wav", tone(440, 1.0, 16000))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ItemError, match=r"spk/cut\.wav.*truncated"):
        read_audio(path, item_id="spk/cut.wav")


def test_wav_cut_inside_its_header_is_an_item_error(write_wav):
    path = write_wav("head.wav", tone(440, 0.1, 16000))
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(ItemError, match=r"head\.wav"):
        read_audio(path)


def test_empty_file_is_an_item_error(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(ItemError, match=r"empty\.wav.*empty"):
        read_audio(path)


def test_garbage_bytes_are_an_item_error(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(ItemError, match=r"noise\.wav.*cannot decode"):
        read_audio(path)


def test_zero_length_audio_is_an_item_error(write_wav):
    path = write_wav("zero.wav", np.zeros(0, np.float32))
    with pytest.raises(ItemError, match=r"zero\.wav.*zero-length"):
        read_audio(path)


def test_nan_samples_are_an_item_error(write_wav):
    wave = tone(440, 0.1, 16000)
    wave[100] = np.nan
    wave[200] = np.inf
    path = write_wav("nan.wav", wave, subtype="FLOAT")
    with pytest.raises(ItemError, match=r"nan\.wav.*2 NaN/inf"):
        read_audio(path)


def test_missing_file_is_an_item_error(tmp_path):
    with pytest.raises(ItemError, match="no such audio file"):
        read_audio(tmp_path / "gone.wav")


def test_to_mono_averages_channels():
    wave = np.stack([np.ones(10, np.float32), -np.ones(10, np.float32) * 0.5])
    np.testing.assert_allclose(to_mono(wave), np.full(10, 0.25))
    assert to_mono(wave[0]).shape == (10,)


def test_resample_keeps_the_tone_and_the_duration():
    x = tone(1000, 1.0, 44100)
    y = resample(x, 44100, 16000)
    assert y.shape == (16000,) and y.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(y[2000:-2000] * np.hanning(12000)))
    assert abs(np.argmax(spectrum) * 16000 / 12000 - 1000) < 2
    assert abs(np.abs(y[2000:-2000]).max() - 0.5) < 0.01


def test_prepare_mixes_resamples_and_checks():
    audio = Audio(np.stack([tone(500, 0.5, 48000), tone(500, 0.5, 48000)]), 48000)
    out = prepare(audio, 16000, "x")
    assert out.shape == (8000,)
    with pytest.raises(ItemError, match=r"bad-item.*NaN"):
        prepare(Audio(np.full((1, 100), np.nan, np.float32), 16000), 16000, "bad-item")
